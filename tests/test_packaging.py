"""What a packager or a new user gets: licence, metadata, extras, changelog, a suite that
skips cleanly without its external tools. (CI builds the sdist and wheel and checks
their contents with .ci/check_dist.py, then runs this suite from the unpacked sdist.)"""

from __future__ import annotations

import ast
import configparser
import importlib.metadata
import os
import re
import subprocess
import sys
from pathlib import Path

import greenclient

ROOT = Path(__file__).resolve().parent.parent


def setup_cfg() -> configparser.ConfigParser:
    config = configparser.ConfigParser(interpolation=None)
    config.read(ROOT / "setup.cfg", encoding="utf-8")
    return config


def listed(value: str) -> list[str]:
    return [line.strip() for line in value.splitlines() if line.strip()]


def requirement_names(value: str) -> set[str]:
    return {re.split(r"[<>=!~;\[ ]", line, maxsplit=1)[0].lower() for line in listed(value)}


def test_the_licence_text_is_mit_as_declared() -> None:
    text = (ROOT / "LICENSE").read_text(encoding="utf-8")
    assert text.startswith("MIT License\n")
    assert "Permission is hereby granted, free of charge" in text
    metadata = setup_cfg()["metadata"]
    assert metadata["license_expression"] == "MIT"
    assert metadata["license"] == "MIT"  # for setuptools older than PEP 639 support
    assert listed(metadata["license_files"]) == ["LICENSE"]


def test_classifiers_name_the_framework_and_every_supported_python() -> None:
    metadata = setup_cfg()["metadata"]
    classifiers = listed(metadata["classifiers"])
    assert "Framework :: Eventlet" in classifiers
    versions = [c.rsplit(" ", 1)[1] for c in classifiers if re.fullmatch(r".*:: 3\.\d+", c)]
    assert versions == ["3.10", "3.11", "3.12", "3.13", "3.14"]
    assert setup_cfg()["options"]["python_requires"] == ">=3.10"
    # PEP 639: with a licence expression, a licence classifier is an error for setuptools.
    assert not [c for c in classifiers if c.startswith("License ::")]


def test_changelog_has_an_entry_for_this_version() -> None:
    text = (ROOT / "CHANGELOG.rst").read_text(encoding="utf-8")
    assert re.search(rf"^{re.escape(greenclient.__version__)} \(", text, re.M)


def test_test_extra_holds_only_what_the_tests_need() -> None:
    extras = setup_cfg()["options.extras_require"]
    test = requirement_names(extras["test"])
    assert test.isdisjoint({"mypy", "ruff", "matplotlib", "tqdm", "twisted", "build", "twine"})
    assert {"mypy", "ruff"} <= requirement_names(extras["dev"])
    # Every third-party module a test imports comes from the test extra or eventlet.
    distributions = importlib.metadata.packages_distributions()
    needed: set[str] = set()
    for path in (ROOT / "tests").glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            for name in names:
                top = name.split(".")[0]
                if top in sys.stdlib_module_names or top in {"greenclient", "tests"}:
                    continue
                needed.update(d.lower() for d in distributions.get(top, [top]))
    provided = test | requirement_names(setup_cfg()["options"]["install_requires"])
    provided |= {"greenlet", "dnspython", "_pytest", "pluggy"}  # eventlet's and pytest's own
    assert needed - provided == set()


def test_ci_installs_what_it_runs() -> None:
    script = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    installed: set[str] = set()
    for extras in re.findall(r"pip install (?:-q )?(?:-e )?'\.\[([\w,]+)\]'", script):
        for extra in extras.split(","):
            installed |= requirement_names(setup_cfg()["options.extras_require"][extra])
    run = set(re.findall(r"python3 -m (\w+)", script)) - {"pip", "venv"}
    assert run - installed == set(), "CI runs modules it does not install"


def test_interop_tests_skip_cleanly_without_their_tools() -> None:
    """What a packager without Scala, ncat, Maven or Chromium sees: skips saying why."""
    env = {k: v for k, v in os.environ.items() if k != "GREENCLIENT_REQUIRE_TOOLS"}
    env["PATH"] = str(Path(sys.executable).parent)  # python, and none of those tools
    argv = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-rs", "-q"]
    argv += ["-m", "scala or ncat or pekko", "tests/test_scala.py", "tests/test_ncat.py"]
    argv += ["tests/test_web_relay.py"]
    proc = subprocess.run(argv, capture_output=True, timeout=120, cwd=ROOT, env=env, check=False)
    out = proc.stdout.decode("utf-8", "replace")
    assert proc.returncode == 0, out[-3000:]
    assert " failed" not in out
    assert " error" not in out
    assert " skipped" in out
    for package in ("scala", "ncat", "maven"):
        assert f"is not installed (Debian: apt-get install {package})" in out
