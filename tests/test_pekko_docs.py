"""The Scala and pom.xml quoted in README.rst and tests/pekko/README.rst are the compiled code.

Every ``.. code-block:: scala`` of those pages must appear, line for line, in a
source file of tests/pekko (the one CI compiles), and every ``.. code-block:: xml``
in its pom.xml. Indentation, blank lines and the sources' region marks are not
compared.
"""

from __future__ import annotations

import re

import pytest

from .scala_server import PEKKO_PROJECT, ROOT

PAGES = [ROOT / "README.rst", PEKKO_PROJECT / "README.rst"]
BLOCK = re.compile(r"^\.\. code-block:: (scala|xml)\n\n((?:(?: {4}.*)?\n)+)", re.MULTILINE)


def lines(text: str) -> list[str]:
    """The non-blank lines, stripped; the sources' ``// -- readme:`` region marks left out."""
    stripped = (line.strip() for line in text.splitlines())
    return [line for line in stripped if line and not line.startswith("// -- readme:")]


def contains(haystack: list[str], needle: list[str]) -> bool:
    return any(
        haystack[i : i + len(needle)] == needle for i in range(len(haystack) - len(needle) + 1)
    )


def quoted_blocks() -> list[tuple[str, str, str]]:
    """(page, language, code) for every scala and xml block of the pages."""
    return [
        (page.name if page.parent == ROOT else str(page.relative_to(ROOT)), m[1], m[2])
        for page in PAGES
        for m in BLOCK.finditer(page.read_text(encoding="utf-8"))
    ]


def test_the_pages_quote_the_pekko_servers() -> None:
    languages = {(page, language) for page, language, _ in quoted_blocks()}
    assert {("README.rst", "scala"), ("README.rst", "xml")} <= languages
    assert {("tests/pekko/README.rst", "scala"), ("tests/pekko/README.rst", "xml")} <= languages


@pytest.mark.parametrize(("page", "language", "code"), quoted_blocks())
def test_quoted_code_is_the_compiled_code(page: str, language: str, code: str) -> None:
    if language == "xml":
        sources = [PEKKO_PROJECT / "pom.xml"]
    else:
        sources = sorted((PEKKO_PROJECT / "src").rglob("*.scala"))
    quoted = lines(code)
    assert any(contains(lines(path.read_text(encoding="utf-8")), quoted) for path in sources), (
        f"a {language} block of {page} is not in {[p.name for p in sources]}:\n{code}"
    )
