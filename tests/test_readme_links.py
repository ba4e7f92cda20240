"""The README links and names only files that exist (a newcomer follows them)."""

from __future__ import annotations

import re

import pytest

from tests.conftest import REPO_ROOT

_TOP_FOLDERS = (
    "server/",
    "pipeline/",
    "clients/",
    "models/",
    "bench/",
    "tests/",
    "deploy/",
    "docs/",
    "proto/",
)
# Names with a placeholder (PORT, NAME), a glob or a template are patterns, not files.
_PATTERN = re.compile(r"[A-Z]{3,}|[*{<]")


def _referenced(text: str) -> set[str]:
    links = set(re.findall(r"\]\(([^)#\s]+)", text))
    named = {name for name in re.findall(r"`([^`\s]+)`", text) if name.startswith(_TOP_FOLDERS)}
    refs = set()
    for ref in links | named:
        if ref.startswith(("http://", "https://", "mailto:")):
            continue
        path = ref.split(":")[0].rstrip(".,")  # "server/app.py:42", "file.py," in a sentence
        if not _PATTERN.search(path):
            refs.add(path)
    return refs


@pytest.mark.parametrize("document", ["README.md", "models/README.md"])
def test_every_file_the_document_names_exists(document: str) -> None:
    path = REPO_ROOT / document
    if not path.exists():
        pytest.skip(f"no {document}")
    refs = _referenced(path.read_text())
    assert refs, "the pattern finds the document's references"
    missing = sorted(ref for ref in refs if not (REPO_ROOT / ref).exists())
    assert missing == [], f"{document} names files that do not exist: {missing}"
