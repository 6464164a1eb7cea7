"""Shared fixtures. ``import greenclient`` comes first: it monkey-patches the test process."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator

# Selenium (the [test] extra, for the browser tests) depends on trio, which registers
# a hypothesis plugin; hypothesis would import trio when first imported, and trio's
# import fails on eventlet's patched socket module. greenclient's tests need no plugin.
os.environ.setdefault("HYPOTHESIS_NO_PLUGINS", "1")

import pytest

import greenclient  # noqa: F401  (must precede everything that makes sockets or locks)
from greenclient.server import ReferenceServer

# The test kit's fixtures (greenserver), as an application's test suite gets them.
pytest_plugins = ["greenclient.testing"]


@pytest.fixture
def server() -> Iterator[ReferenceServer]:
    """A reference server on 127.0.0.1 with a free port, stopped after the test."""
    with ReferenceServer("127.0.0.1", 0) as srv:
        yield srv


def require_tool(name: str, package: str | None = None) -> str:
    """Return the path of an external program, or skip (fail when GREENCLIENT_REQUIRE_TOOLS=1).

    CI sets GREENCLIENT_REQUIRE_TOOLS=1 so that a missing Scala or ncat is an
    error there, while a developer without them gets a clear skip.
    """
    path = shutil.which(name)
    if path is None:
        message = f"{name} is not installed (Debian: apt-get install {package or name})"
        if os.environ.get("GREENCLIENT_REQUIRE_TOOLS") == "1":
            pytest.fail(message + "; GREENCLIENT_REQUIRE_TOOLS=1 makes this an error")
        pytest.skip(message)
    return path
