"""What the offline slide decks (``build_decks.py``) and the course site (``build_site.py``)
share: the chapters, their titles, the nbconvert templates in ``tools/templates`` and the local
copies of reveal.js and MathJax in ``vendor/`` (see ``vendor_web.py``), copied beside the
pages so that a folder opens from a USB stick with no network."""

from __future__ import annotations

import shutil
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parent.parent
TEMPLATES = Path(__file__).resolve().parent / "templates"
VENDOR = ROOT / "vendor"
BUILD = ROOT / "build"


def chapters() -> list[Path]:
    """The chapter notebooks, in order: ``notebooks/NN_*.ipynb``."""
    return sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))


def read(path: Path) -> nbformat.NotebookNode:
    return nbformat.read(path, as_version=4)


def chapter_title(notebook: nbformat.NotebookNode) -> str:
    """The title cell's heading without its ``#``: "Chapter 04 · Self-attention"."""
    first = notebook.cells[0].source.lstrip().splitlines()[0]
    if not first.startswith("# "):
        raise ValueError(f"the first cell should be the chapter's '# ' title, not {first!r}")
    return first[2:].strip()


def fonts_css() -> str:
    """The course's font lists (``templates/course_fonts.css``): Latin fonts, then the CJK
    fonts of common systems, so the Chinese terms are drawn wherever such a font is installed;
    the site's ``course.css`` opens with it and every deck page inlines it."""
    return (TEMPLATES / "course_fonts.css").read_text(encoding="utf-8")


def course_css() -> str:
    """The site's stylesheet: the font lists, then ``templates/course.css``."""
    return fonts_css() + "\n" + (TEMPLATES / "course.css").read_text(encoding="utf-8")


def copy_vendor(out: Path) -> Path:
    """Copy ``vendor/`` (without its README and hash list) to ``out/vendor``; returns it."""
    target = out / "vendor"
    shutil.rmtree(target, ignore_errors=True)
    shutil.copytree(VENDOR, target, ignore=shutil.ignore_patterns("README.md", "SHA256SUMS"))
    return target


def fresh_folder(path: Path) -> Path:
    """Empty ``path`` (a folder under ``build/``) and return it."""
    if path.exists():
        shutil.rmtree(path)
    path.mkdir(parents=True)
    return path
