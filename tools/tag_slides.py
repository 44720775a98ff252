"""Give every chapter's cells their slide metadata, so that each chapter presents as a slideshow
(JupyterLab + jupyterlab-rise: *View → Render as slideshow*, or ``alt-r``) with its widgets
live, and ``jupyter nbconvert --to slides`` makes a deck of it.

The rules, the same for every chapter (a later chapter follows them by running this tool):

* the title cell and every ``## `` section opens a **slide**; a ``### `` subsection and every
  other text cell opens a **subslide**, and the code after it stays on that subslide (``-``);
* **skipped** in the slideshow (kept in the notebook): the set-up cell (the first code cell),
  code longer than ``LONG_CODE`` lines, the exercises' solutions (a ``<details>`` cell) and the
  "Your progress" section;
* **speaker notes** are never in the learner's notebooks (the tool removes any it finds).
  They live in the lecture plans of ``docs/teaching.md``, their one source, and go only into
  the lecturer's copies: ``lecturer_copy`` inserts, after the heading that each row of the
  chapter's plan names first, a ``notes`` cell (tagged ``speaker-notes``) with that row's
  minutes and "what to show / ask". ``build_decks.py`` (``make slides``, ``s`` in a deck) and
  ``python tools/tag_slides.py --lecturer`` (``make lecturer``: ``build/lecturer/NN_*.ipynb``,
  outputs kept, for RISE) use it.

Usage: ``python tools/tag_slides.py`` (rewrites the metadata), ``--check`` (exit 1 and list
the cells whose metadata differ, or the notes cells a notebook holds; the tests run it) or
``--lecturer [FOLDER]`` (write the lecturer's copies; default ``build/lecturer``).
"""

from __future__ import annotations

import argparse
import copy
import os
import re
import sys
from pathlib import Path

import nbformat
from glossary import GLOSSARY_MD, relink

ROOT = Path(__file__).resolve().parent.parent
GUIDE = ROOT / "docs" / "teaching.md"
LECTURER = ROOT / "build" / "lecturer"
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


def without_speaker_notes(cells: list) -> list:
    """``cells`` less the speaker-notes cells: what the learner's notebook holds."""
    return [c for c in cells if not is_speaker_notes(c)]


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


def chapter_plan(path: Path) -> list[tuple[str, str]]:
    """The lecture plan's rows (heading, notes text) of the chapter at ``path`` (its file name
    starts with the chapter number), from the instructor guide; [] for a chapter it lacks."""
    return lecture_plans(GUIDE.read_text(encoding="utf-8")).get(path.name[:2], [])


def lecturer_copy(notebook, plan: list[tuple[str, str]]):
    """A copy of ``notebook`` (outputs kept; the notebook itself is not changed) with a
    speaker-notes cell after each heading the ``plan`` names and every cell's slide type set:
    what the decks and ``make lecturer`` present."""
    result = copy.deepcopy(notebook)
    cells = with_speaker_notes(without_speaker_notes(result.cells), plan)
    notes = (c for c in cells if is_speaker_notes(c))
    for number, cell in enumerate(notes, start=1):
        cell.id = f"{NOTES_TAG}-{number}"  # the same ids at every build
    for cell, kind in zip(cells, slide_types(cells), strict=True):
        cell.metadata["slideshow"] = {"slide_type": kind}
    result.cells = cells
    return result


def write_lecturer_copies(paths: list[Path], out: Path) -> list[Path]:
    """Write the lecturer's copy of each chapter at ``paths`` to ``out/<its name>``
    (``out`` is created; the chapters' glossary links point at ``docs/glossary.md`` from
    there); returns the files written."""
    out.mkdir(parents=True, exist_ok=True)
    glossary = Path(os.path.relpath(GLOSSARY_MD, out.resolve())).as_posix()
    written = []
    for path in paths:
        notebook = lecturer_copy(nbformat.read(path, as_version=4), chapter_plan(path))
        for cell in notebook.cells:
            if cell.cell_type == "markdown":
                cell.source = relink(cell.source, glossary)
        nbformat.write(notebook, out / path.name)
        written.append(out / path.name)
    return written


def chapters() -> list[Path]:
    return sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true",
                        help="change nothing; exit 1 and list what is out of date")
    parser.add_argument("--lecturer", nargs="?", const=LECTURER, type=Path, metavar="FOLDER",
                        help="write the lecturer's copies, with speaker notes, to FOLDER "
                             "(default build/lecturer) and change nothing else")
    return parser.parse_args(argv)


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    if args.lecturer:
        written = write_lecturer_copies(chapters(), args.lecturer)
        print(f"{len(written)} lecturer's copies, with speaker notes, in {args.lecturer}; "
              "open one in JupyterLab and present it with alt-r")
        return 0
    check = args.check
    wrong = []
    for path in chapters():
        notebook = nbformat.read(path, as_version=4)
        changed = False
        before = [c.source for c in notebook.cells]
        cells = without_speaker_notes(split_at_headings(notebook.cells))
        if [c.source for c in cells] != before:
            wrong.append(f"{path.name}: a heading inside a text cell, or speaker notes (they "
                         "belong in the lecturer's copies only: make lecturer)")
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
