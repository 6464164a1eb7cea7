"""The public API: every exported name exists, is documented, and nothing is exported twice."""

from __future__ import annotations

import importlib
import inspect

import pytest

import greenclient

MODULES = [
    "errors",
    "framing",
    "codec",
    "protocol",
    "client",
    "events",
    "backoff",
    "transport",
    "inbox",
    "outbox",
    "server",
    "demo",
    "routing",
    "messaging",
    "typed",
    "testing",
]


def test_every_exported_name_exists_and_is_documented() -> None:
    assert len(set(greenclient.__all__)) == len(greenclient.__all__)
    for name in greenclient.__all__:
        obj = getattr(greenclient, name)
        if name == "END":
            assert repr(obj) == "greenclient.END"
            continue
        assert inspect.getdoc(obj), f"greenclient.{name} has no docstring"


@pytest.mark.parametrize("module_name", MODULES)
def test_module_all_names_exist_and_are_documented(module_name: str) -> None:
    module = importlib.import_module(f"greenclient.{module_name}")
    assert module.__doc__, f"greenclient.{module_name} has no module docstring"
    for name in module.__all__:
        obj = getattr(module, name)
        if inspect.isclass(obj) or inspect.isfunction(obj):
            assert inspect.getdoc(obj), f"greenclient.{module_name}.{name} has no docstring"


def test_errors_form_one_tree() -> None:
    errors = importlib.import_module("greenclient.errors")
    for name in errors.__all__:
        cls = getattr(errors, name)
        assert issubclass(cls, greenclient.GreenClientError)
        assert name in greenclient.__all__
        assert name in (errors.__doc__ or ""), f"{name} is missing from the tree drawing"


def test_import_patches_eventlet() -> None:
    import eventlet.patcher

    assert eventlet.patcher.is_monkey_patched("socket")
    assert eventlet.patcher.is_monkey_patched("thread")


def test_version_is_declared() -> None:
    assert greenclient.__version__.count(".") == 2
