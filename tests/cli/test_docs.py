"""The docs stay inside the repository: every `docs/<page>.md#section` the code cites exists, every page
is indexed, and nothing points at design notes or reference files a user of the repository does not have."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"
SCANNED = [
    "adqa_data",
    "benchmarks",
    "tests",
    "pipelines",
    "manifests",
    "notebooks",
    "docs",
    ".ci",
    "README.md",
]
SUFFIXES = {".py", ".md", ".yaml", ".yml", ".sh", ".toml", ".ipynb", ".txt", ""}
# outside pointers, spelled in pieces so this file does not match itself
OUTSIDE = re.compile("|".join([r"design" + r"\.md", r"reference" + r"/0\d\d", r"\.\./" + r"shared"]))
CITE = re.compile(r"docs/([a-z_]+\.md)(?:#([A-Za-z0-9_-]+))?")


def _files() -> list[Path]:
    out = []
    for name in SCANNED:
        p = ROOT / name
        paths = [p] if p.is_file() else sorted(p.rglob("*")) if p.is_dir() else []
        out += [f for f in paths if f.is_file() and f.suffix in SUFFIXES and "__pycache__" not in f.parts]
    return out


def _slug(heading: str) -> str:
    """GitHub's anchor for a Markdown heading: lower case, punctuation dropped, spaces to hyphens."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def _anchors(page: Path) -> set[str]:
    return {_slug(m) for m in re.findall(r"^#{1,6} (.+)$", page.read_text(), re.M)}


def test_slugs_follow_githubs_rule():
    assert _slug("DCASE 2026 Task 5 development set") == "dcase-2026-task-5-development-set"
    assert _slug("MiMo-Audio tokenizer") == "mimo-audio-tokenizer"
    assert _slug("Model, codec and runtime facts") == "model-codec-and-runtime-facts"


def test_every_cited_docs_section_exists():
    missing = []
    for f in _files():
        for page, anchor in CITE.findall(f.read_text(errors="replace")):
            target = DOCS / page
            if not target.is_file() or (anchor and anchor not in _anchors(target)):
                missing.append(f"{f.relative_to(ROOT)}: docs/{page}{'#' + anchor if anchor else ''}")
    assert missing == []


def test_nothing_points_outside_the_repository():
    hits = [
        f"{f.relative_to(ROOT)}:{i}: {line.strip()}"
        for f in _files()
        for i, line in enumerate(f.read_text(errors="replace").splitlines(), 1)
        if OUTSIDE.search(line)
    ]
    assert hits == []


def test_every_page_is_indexed():
    index = (DOCS / "README.md").read_text()
    pages = sorted(p.name for p in DOCS.glob("*.md") if p.name != "README.md")
    assert pages and all(f"({p})" in index for p in pages)
    for page, anchor in re.findall(r"\(([a-z_]+\.md)#([A-Za-z0-9_-]+)\)", index):
        assert anchor in _anchors(DOCS / page), f"docs/README.md links {page}#{anchor}, which does not exist"
