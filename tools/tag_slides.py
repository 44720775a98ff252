"""Give every chapter's cells their slide metadata, so that each chapter presents as a slideshow
(JupyterLab + jupyterlab-rise: *View → Render as slideshow*, or ``alt-r``) with its widgets
live, and ``jupyter nbconvert --to slides`` makes a deck of it.

The rules, the same for every chapter (a later chapter follows them by running this tool):

* the title cell and every ``## `` section opens a **slide**; a ``### `` subsection and every
  other text cell opens a **subslide**, and the code after it stays on that subslide (``-``);
* **skipped** in the slideshow (kept in the notebook): the set-up cell (the first code cell),
  code longer than ``LONG_CODE`` lines, the exercises' solutions (a ``<details>`` cell) and the
  "Your progress" section;
* **speaker notes** (``notes``, tagged ``speaker-notes``): after the heading that each row of
  the chapter's lecture plan in ``docs/teaching.md`` names first, a cell with that row's
  minutes and "what to show / ask". The guide is their one source: edit it and rerun the tool.

Usage: ``python tools/tag_slides.py`` (rewrites the metadata) or ``--check`` (exit 1 and list
the cells whose metadata differ; the tests run it).
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parent.parent
GUIDE = ROOT / "docs" / "teaching.md"
LONG_CODE = 30
NOTES_TAG = "speaker-notes"


def is_speaker_notes(cell) -> bool:
    return NOTES_TAG in cell.metadata.get("tags", [])


def lecture_plans(guide: str) -> dict[str, list[tuple[str, str]]]:
    """Per chapter number ("04"), the lecture plan's rows as (heading, notes text): the first
    heading the row names under "what to run live" and the row's minutes and questions."""
    plans: dict[str, list[tuple[str, str]]] = {}
    chapter = None
    in_plan = False
    for line in guide.splitlines():
        title = re.match(r"### Chapter (\d\d) · ", line)
        if title:
            chapter, in_plan = title[1], False
        elif line.startswith("| part | minutes |"):
            in_plan = chapter is not None
        elif in_plan and line.startswith("|") and not line.startswith("|---"):
            part, minutes, live, show = (c.strip() for c in line.strip("|").split(" | ", 3))
            heading = re.search(r"`(#{2,3} [^`]+)`", live)
            if heading:
                minutes = re.sub(r"^(\d+)", r"\1 min", minutes)  # "3 (+ homework)" too
                show = show.replace("(see below)", "(its questions: the instructor guide)")
                plans.setdefault(chapter, []).append(
                    (heading[1], f"**Speaker notes · {part}, {minutes}.** {show}"))
        elif in_plan and not line.startswith("|"):
            in_plan = False
    return plans


def split_at_headings(cells: list) -> list:
    """``cells`` with every text cell that has a heading after its first line split there, so
    that each section heading starts a cell (and so a slide). Headings in fenced code or
    inside ``<details>`` … ``</details>`` do not count."""
    result = []
    for cell in cells:
        if cell.cell_type != "markdown":
            result.append(cell)
            continue
        parts, fenced, folded = [[]], False, False
        for line in cell.source.splitlines():
            fenced ^= line.lstrip().startswith("```")
            folded = (folded or "<details" in line) and "</details>" not in line
            if (not fenced and not folded and re.match(r"#{1,3} ", line)
                    and any(x.strip() for x in parts[-1])):
                parts.append([])
            parts[-1].append(line)
        texts = ["\n".join(p).strip("\n") for p in parts]
        if len(texts) == 1:
            result.append(cell)
            continue
        cell.source = texts[0]
        result.append(cell)
        result += [nbformat.v4.new_markdown_cell(text) for text in texts[1:]]
    return result


def with_speaker_notes(cells: list, plan: list[tuple[str, str]]) -> list:
    """``cells`` with one notes cell after each heading the plan names (existing notes cells
    with the same text are kept, so their ids do not change)."""
    old = {c.source: c for c in cells if is_speaker_notes(c)}
    cells = [c for c in cells if not is_speaker_notes(c)]
    for heading, text in reversed(plan):
        at = next((i for i, c in enumerate(cells) if c.cell_type == "markdown"
                   and c.source.lstrip().replace("`", "").startswith(heading)), None)
        if at is None:
            raise ValueError(f"the lecture plan names a heading no cell has: {heading!r}")
        note = old.get(text) or nbformat.v4.new_markdown_cell(
            text, metadata={"tags": [NOTES_TAG]})
        cells.insert(at + 1, note)
    return cells


def slide_types(cells: list) -> list[str]:
    """The slide type of every cell: ``slide``, ``subslide``, ``-`` or ``skip``."""
    types = []
    first_code = next((i for i, c in enumerate(cells) if c.cell_type == "code"), None)
    skipping = False  # inside the "Your progress" section
    for i, cell in enumerate(cells):
        text = cell.source.lstrip()
        if is_speaker_notes(cell):
            types.append("notes")
        elif cell.cell_type == "markdown":
            if text.startswith("## "):
                skipping = text.startswith("## Your progress")
            if skipping or text.startswith("<details>"):
                types.append("skip")
            elif i == 0 or text.startswith(("# ", "## ")):
                types.append("slide")
            else:
                types.append("subslide")
        elif skipping or i == first_code or len(cell.source.splitlines()) > LONG_CODE:
            types.append("skip")
        else:
            types.append("-")
    return types


def chapters() -> list[Path]:
    return sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))


def main(argv: list[str]) -> int:
    check = "--check" in argv
    wrong = []
    plans = lecture_plans(GUIDE.read_text(encoding="utf-8"))
    for path in chapters():
        notebook = nbformat.read(path, as_version=4)
        changed = False
        before = [c.source for c in notebook.cells]
        cells = with_speaker_notes(split_at_headings(notebook.cells),
                                   plans.get(path.name[:2], []))
        if [c.source for c in cells] != before:
            wrong.append(f"{path.name}: a heading inside a text cell, or speaker notes that "
                         f"differ from the lecture plan in {GUIDE.relative_to(ROOT)}")
            notebook.cells = cells
            changed = True
        for index, (cell, kind) in enumerate(zip(notebook.cells, slide_types(notebook.cells),
                                                 strict=True)):
            if cell.metadata.get("slideshow", {}).get("slide_type") != kind:
                wrong.append(f"{path.name} cell {index}: should be {kind!r}")
                cell.metadata["slideshow"] = {"slide_type": kind}
                changed = True
        if changed and not check:
            nbformat.write(notebook, path)
    if check and wrong:
        print("slide metadata out of date (run python tools/tag_slides.py):", *wrong[:20],
              sep="\n  ")
        return 1
    if not check:
        print(f"{len(wrong)} cells retagged in {len(chapters())} chapters")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
