"""Build an offline reveal.js slide deck of every chapter from its committed outputs:
``make slides`` (or ``python tools/build_decks.py [--out FOLDER]``).

Each deck is ``build/slides/<chapter>.slides.html`` (``jupyter nbconvert --to slides`` with the
course's template, ``tools/templates/course_slides``), beside a ``vendor/`` folder holding
reveal.js and MathJax: copy the whole ``build/slides`` folder to a USB stick and a deck opens
in a browser with no network. Slides follow the cells' slide metadata (``tag_slides.py``).
The speaker notes (``s`` in the deck opens reveal.js's speaker view) are not in the learner's
notebooks: each deck is built from a copy of its chapter with the notes of its lecture plan in
``docs/teaching.md`` inserted (``tag_slides.lecturer_copy``). Nothing is executed: the deck
shows the outputs saved in the notebook, the explorers as their pictures. A slide too tall for
1280 × 800 is split into sub-slides at build time (``split_slides``: code, then its outputs;
long text at its paragraphs; a quiz a few questions a slide; long code folded), so that none
has to be shrunk much to fit; the notebooks are not changed. The chapters' links
to the glossary open ``glossary.html``, written beside the decks (each term's chapter there
links to its deck).
"""

from __future__ import annotations

import argparse
import base64
import copy
import html
import re
import struct
import sys
from dataclasses import dataclass
from pathlib import Path

import nbformat
from glossary import chapter_titles, glossary_html, load_glossary, relink
from nbconvert import SlidesExporter
from tag_slides import chapter_plan, lecturer_copy
from web_export import (
    BUILD,
    TEMPLATES,
    chapter_title,
    chapters,
    copy_vendor,
    fonts_css,
    fresh_folder,
    read,
)

# A slide whose content is taller than the screen would be shrunk (fitSlide) until it is
# unreadable from the back of a room. So before nbconvert sees it, each slide's cells are cut
# into units that may stand on a slide of their own -- the blocks of a text cell (paragraphs,
# list items, equations, tables), a code cell's input, each of its outputs, each question of a
# quiz -- their heights are estimated (in the deck's pixels at full size: lines of code and text
# as measured in Chromium at 1280 × 800, pictures from their PNG headers) and a slide taller
# than SLIDE_BUDGET is split into the fewest consecutive sub-slides that fit, as even as they
# can be; each continuation is titled with the heading it continues, "… (cont.)". Code longer
# than LONG_CODE lines shows its first SHOWN_CODE lines, the rest folded under a <details>
# (the full code is in the notebook). The estimate is a guess: fitSlide still shrinks what it
# underestimates, and tests/browser/test_decks_fit.py measures the result.

SLIDE_BUDGET = 780      # px of content a slide of 1280 × 800 holds, with room for misjudging
LONG_CODE = 25          # a longer code cell is folded on its slide ...
SHOWN_CODE = 15         # ... after this many lines

CODE_LINE, CODE_CHARS, CODE_PAD = 22.7, 96, 24     # code and text outputs (monospace)
TEXT_LINE, TEXT_CHARS, TEXT_GAP = 26.0, 100, 20    # a paragraph of a text cell
ITEM_LINE, ITEM_CHARS = 32.0, 100                  # a list item
ROW_H, ROW_CHARS = 36.0, 110                       # a table row
MATH_LINE = 25.0                                   # a line of a display equation
HEADING = {1: 90.0, 2: 62.0, 3: 54.0, 4: 50.0}       # heading with its margins
MD_PAD = 15.0                                      # a text cell's own padding
CONTINUATION = HEADING[3] + MD_PAD                 # a continuation's "… (cont.)" heading
OUT_PAD = 15.0                                     # around a text output
IMAGE_PAD, IMAGE_WIDTH = 55.0, 1150                # around a picture; its widest
QUIZ_LINE, QUIZ_CHARS = 34.0, 95                   # a quiz's question or option line
FENCE = re.compile(r"^\s*(```|~~~)")
ITEM = re.compile(r"^(?:[-*+]|\d+[.)])\s")


@dataclass
class Unit:
    """What may open a slide of its own: lines [start, end) of a text cell, a code cell's
    input, one of its outputs or some questions of a quiz output."""
    cell: int
    height: float
    lines: tuple[int, int] | None = None    # a text cell's lines
    output: int | None = None               # a code cell's output (None: its input)
    items: tuple[int, int] | None = None    # a quiz's questions [first, last)
    title: str | None = None                # the heading it opens, for its continuations
    keep_with_next: bool = False            # a heading: never last on its slide


def shown_text(text: str) -> str:
    """Roughly the text a markdown line shows: no link targets, emphasis or code marks."""
    text = re.sub(r"\]\([^)]*\)", "]", text)
    text = re.sub(r"<[^>]+>", "", text)
    return re.sub(r"[*_`$\\\[\]]", "", text)


def wrapped(lines: list[str], chars: int) -> int:
    """How many screen lines ``lines`` take when each wraps at ``chars`` characters."""
    return sum(max(1, -(-len(line.rstrip()) // chars)) for line in lines)


def markdown_blocks(source: str) -> list[tuple[int, int]]:
    """The blocks of a text cell as line ranges [start, end) that a slide may end between:
    paragraphs, headings, equations and tables, and each top-level list item; fenced code,
    display maths and HTML blocks (``<details>``) are never cut."""
    lines = source.split("\n")
    starts, fence, math, html_depth, blank = [0], None, False, 0, False
    for i, line in enumerate(lines):
        stripped = line.strip()
        inside = fence is not None or math or html_depth > 0
        if i and not inside and stripped and (
                blank or re.match(r"#{1,6}\s", line) or ITEM.match(line)):
            starts.append(i)
        blank = not stripped
        if fence is not None:
            if stripped.startswith(fence):
                fence = None
            continue
        marker = FENCE.match(line)
        if marker:
            fence = marker[1]
            continue
        if stripped.count("$$") % 2:
            math = not math
        html_depth += len(re.findall(r"<(details|table|div)\b", line))
        html_depth -= len(re.findall(r"</(details|table|div)>", line))
        html_depth = max(html_depth, 0)
    starts = sorted(set(starts))
    return [(a, b) for a, b in zip(starts, starts[1:] + [len(lines)], strict=True)
            if any(line.strip() for line in lines[a:b])]


def block_height(lines: list[str]) -> float:
    """The estimated height of one block of a text cell (``markdown_blocks``)."""
    lines = [line for line in lines if line.strip()]
    first = lines[0]
    heading = re.match(r"(#{1,6})\s", first)
    if heading:
        level = len(heading[1])
        return HEADING.get(level, HEADING[4]) * max(1, -(-len(shown_text(first)) // 70))
    if FENCE.match(first):
        return len(lines) * CODE_LINE + CODE_PAD + TEXT_GAP
    if first.lstrip().startswith("$$"):
        return len(lines) * MATH_LINE + 10 + TEXT_GAP
    if first.startswith("|"):
        rows = [line for line in lines if not re.match(r"^\|[\s:|-]+\|?$", line)]
        return sum(max(1, -(-len(shown_text(r)) // ROW_CHARS)) for r in rows) * ROW_H + 30
    if ITEM.match(first):
        return wrapped([shown_text(" ".join(line.strip() for line in lines))],
                       ITEM_CHARS) * ITEM_LINE
    text = shown_text(" ".join(line.strip() for line in lines))
    return wrapped([text], TEXT_CHARS) * TEXT_LINE + TEXT_GAP


def heading_text(line: str) -> str | None:
    """The text of a markdown heading line, without its HTML (an anchor's ``<a id>``)."""
    heading = re.match(r"#{1,6}\s+(.*?)\s*#*\s*$", line)
    return re.sub(r"<[^>]+>", "", heading[1]).strip() if heading else None


def png_height(data: str) -> float:
    """The height a PNG (base64) takes on the slide: its pixel size from the header, narrowed
    to the slide's width."""
    header = base64.b64decode(data[:44])
    width, height = struct.unpack(">II", header[16:24])
    return height * min(1.0, IMAGE_WIDTH / max(width, 1))


QUIZ = re.compile(r"(?s)^(?P<head>.*?<ol[^>]*>)(?P<items>.*)(?P<tail></ol>.*)$")


def quiz_items(text: str) -> tuple[str, list[str], str] | None:
    """A quiz output's HTML cut into what comes before its questions (up to ``<ol>``), each
    question (a top-level ``<li>``) and what comes after; None for other HTML."""
    if "course-quiz" not in text:
        return None
    parts = QUIZ.match(text)
    if not parts:
        return None
    items, depth, start = [], 0, None
    for tag in re.finditer(r"<(/?)li\b[^>]*>", parts["items"]):
        if not tag[1]:
            if depth == 0:
                start = tag.start()
            depth += 1
        else:
            depth -= 1
            if depth == 0:
                items.append(parts["items"][start:tag.end()])
    if not items or "".join(items) != re.sub(r"\s+(?=<li)|(?<=</li>)\s+", "", parts["items"]):
        return None
    return parts["head"], items, parts["tail"]


def html_height(text: str) -> float:
    """A rough height of an HTML output: its block elements' text, as lines; a folded
    ``<details>`` shows its summary only."""
    text = re.sub(r"(?s)<details>\s*<summary>(.*?)</summary>.*?</details>", r"<p>\1</p>", text)
    blocks = [shown_text(b) for b in re.split(r"<(?:p|li|h\d|tr|br)\b[^>]*>", text)]
    return wrapped([b for b in blocks if b.strip()], QUIZ_CHARS) * QUIZ_LINE


def output_height(output) -> float:
    if output.output_type == "stream":
        return wrapped(output.text.rstrip("\n").split("\n"), CODE_CHARS) * CODE_LINE + OUT_PAD
    data = output.get("data", {})
    if "image/png" in data:
        return png_height(data["image/png"]) + IMAGE_PAD
    if "text/html" in data:
        return html_height(data["text/html"]) + OUT_PAD
    if output.output_type == "error":
        return wrapped(output.get("traceback", []), CODE_CHARS) * CODE_LINE + OUT_PAD
    text = data.get("text/markdown") or data.get("text/plain") or ""
    return wrapped(str(text).split("\n"), CODE_CHARS) * CODE_LINE + OUT_PAD


def slide_type(cell) -> str:
    return cell.metadata.get("slideshow", {}).get("slide_type", "-")


def shown_source(cell) -> list[str]:
    """The lines of a code cell shown on its slide (a long one is cut at SHOWN_CODE)."""
    lines = cell.source.split("\n")
    return lines[:SHOWN_CODE] if len(lines) > LONG_CODE else lines


def cell_units(cells, index: int) -> list[Unit]:
    """``cells[index]`` cut into units (``Unit``), with their estimated heights."""
    cell = cells[index]
    if cell.cell_type == "markdown":
        lines = cell.source.split("\n")
        units = []
        for start, end in markdown_blocks(cell.source):
            title = heading_text(lines[start])
            units.append(Unit(index, block_height(lines[start:end]), lines=(start, end),
                              title=title, keep_with_next=title is not None))
        if units:
            units[0].height += MD_PAD
        return units
    if cell.cell_type != "code":
        return []
    units = []
    if cell.source.strip():
        height = wrapped(shown_source(cell), CODE_CHARS) * CODE_LINE + CODE_PAD
        if len(cell.source.split("\n")) > LONG_CODE:
            height += CODE_LINE + 10       # the folded rest's summary line
        units.append(Unit(index, height))
    for number, output in enumerate(cell.get("outputs", [])):
        quiz = quiz_items(output.get("data", {}).get("text/html", ""))
        if quiz:
            head, items, _ = quiz
            title = re.search(r"<h\d[^>]*>(.*?)</h\d>", head)
            for at, item in enumerate(items):
                units.append(Unit(index, html_height(item) + (html_height(head) if not at
                                                               else 0) + OUT_PAD,
                                  output=number, items=(at, at + 1),
                                  title=html.unescape(re.sub(r"<[^>]+>", "", title[1]))
                                  if title and not at else None))
        else:
            units.append(Unit(index, output_height(output), output=number))
    return units


def pack(units: list[Unit], budget: float, continuation: float) -> list[int]:
    """Where to cut ``units`` into slides: the indices that open a new slide (0 first). The
    slides overflow ``budget`` the least (a unit taller than it stands alone, and fitSlide
    shrinks it), then are the fewest, then have the lowest tallest slide; each after the first
    has a ``continuation`` heading on top, and a heading is never last on a slide."""
    count = len(units)
    best: list[tuple[float, int, float, int] | None] = [None] * (count + 1)
    best[0] = (0.0, 0, 0.0, 0)
    for end in range(1, count + 1):
        if units[end - 1].keep_with_next and end < count:
            continue
        for start in range(end):
            if best[start] is None:
                continue
            height = sum(u.height for u in units[start:end]) + (continuation if start else 0)
            over, slides, tallest, _ = best[start]
            candidate = (over + max(0.0, height - budget), slides + 1, max(tallest, height),
                         start)
            if best[end] is None or candidate[:3] < best[end][:3]:
                best[end] = candidate
    cuts, end = [], count
    while end:
        end = best[end][3]
        cuts.append(end)
    return sorted(cuts)


def slide_groups(cells) -> list[list[int]]:
    """The cells' indices, slide by slide: a slide or sub-slide opens a group."""
    groups: list[list[int]] = []
    for index, cell in enumerate(cells):
        if not groups or slide_type(cell) in ("slide", "subslide"):
            groups.append([])
        groups[-1].append(index)
    return groups


def visible(cell) -> bool:
    return slide_type(cell) not in ("skip", "notes")


def fragment(cell, units: list[Unit], part: int):
    """The piece of ``cell`` that ``units`` (some of its units, on one slide) show; ``part``
    counts the cell's pieces (0: the first, which keeps the cell's id)."""
    piece = copy.deepcopy(cell)
    if part:
        piece.id = f"{cell.id}-{part + 1}"[-64:]
    if cell.cell_type == "markdown":
        lines = cell.source.split("\n")
        start, end = min(u.lines[0] for u in units), max(u.lines[1] for u in units)
        piece.source = "\n".join(lines[start:end]).strip("\n")
        return piece
    if not any(u.output is None for u in units):
        piece.source = ""
        piece.metadata["transient"] = {"remove_source": True}  # nbconvert shows no input
    numbers = list(dict.fromkeys(u.output for u in units if u.output is not None))
    piece.outputs = []
    for number in numbers:
        output = copy.deepcopy(cell.outputs[number])
        shown = [u.items for u in units if u.output == number and u.items is not None]
        if shown:
            head, items, tail = quiz_items(output["data"]["text/html"])
            first, last = min(a for a, _ in shown), max(b for _, b in shown)
            if first:  # a later slide of the quiz: numbered on, titled by its continuation
                head = re.sub(r"(?s)<h\d[^>]*>.*?</h\d>", "", head, count=1)
                head = re.sub(r"<ol\b([^>]*)>\s*$", rf'<ol start="{first + 1}"\1>', head)
            output["data"]["text/html"] = head + "".join(items[first:last]) + tail
        piece.outputs.append(output)
    return piece


def long_code(cell):
    """``cell`` with its code cut at SHOWN_CODE lines if it is longer than LONG_CODE, the rest
    kept in its metadata (``course_deck``) for the template to fold under a ``<details>``."""
    lines = cell.source.split("\n")
    if cell.cell_type != "code" or len(lines) <= LONG_CODE:
        return cell
    cell = copy.deepcopy(cell)
    cell.source = "\n".join(lines[:SHOWN_CODE])
    cell.metadata["course_deck"] = {"folded": "\n".join(lines[SHOWN_CODE:]),
                                    "folded_lines": len(lines) - SHOWN_CODE}
    return cell


def split_slides(cells: list, budget: float | None = None) -> list:
    """The deck's cells: ``cells`` (with their slide metadata) with every slide estimated
    taller than ``budget`` (default ``SLIDE_BUDGET``) split into consecutive sub-slides
    (``pack``), each continuation opened by a heading "<the heading it continues> (cont.)"
    unless it opens with one, and long code folded (``long_code``). Nothing is dropped: every
    line and output of ``cells`` is on a slide, in order, the long code's end folded. The
    notes and skipped cells stay on the first slide of the cell before them."""
    budget = SLIDE_BUDGET if budget is None else budget
    result, title, continued = [], None, 0
    for group in slide_groups(cells):
        units = [u for i in group if visible(cells[i]) for u in cell_units(cells, i)]
        total = sum(u.height for u in units)
        cuts = pack(units, budget, CONTINUATION) if units and total > budget else [0]
        bounds = list(zip(cuts, [*cuts[1:], len(units)], strict=True))
        pieces: list[list[tuple[int, list[Unit] | None]]] = [[] for _ in bounds]
        home = 0
        for index in group:
            mine = [(k, [u for u in units[a:b] if u.cell == index])
                    for k, (a, b) in enumerate(bounds)]
            mine = [(k, shown) for k, shown in mine if shown]
            if len(mine) == 1:
                mine = [(mine[0][0], None)]  # the whole cell on one slide
            if not mine:  # notes, skipped or empty cells: with the cell before them
                mine = [(home, None)]
            home = mine[0][0]
            for k, shown in mine:
                pieces[k].append((index, shown))
        parts: dict[int, int] = {}
        for k, piece in enumerate(pieces):
            opened = k == 0
            opens = (piece[0][1] or cell_units(cells, piece[0][0]))[0] if k else None
            if not opened and title and opens.title is None:
                continued += 1
                heading = nbformat.v4.new_markdown_cell(f"### {title} (cont.)")
                heading.id = f"cont-{continued}"
                heading.metadata["slideshow"] = {"slide_type": "subslide"}
                result.append(heading)
                opened = True
            for index, shown in piece:
                cell = cells[index]
                if shown is None:
                    out = copy.deepcopy(cell)
                    shown = cell_units(cells, index) if visible(cell) else []
                else:
                    out = fragment(cell, shown, parts.get(index, 0))
                    parts[index] = parts.get(index, 0) + 1
                out = long_code(out)
                if visible(out) and k:
                    out.metadata.setdefault("slideshow", {})["slide_type"] = (
                        "-" if opened else "subslide")
                    opened = True
                result.append(out)
                for unit in shown:
                    title = unit.title or title
    return result


def slide_count(notebook) -> int:
    """The deck's number of slides: every cell that opens a slide or a subslide, once the
    tall slides are split (``split_slides``)."""
    return sum(slide_type(c) in ("slide", "subslide") for c in split_slides(notebook.cells))


def build_deck(path: Path, out: Path, vendor: str = "vendor",
               glossary: str = "glossary.html") -> tuple[Path, int]:
    """Write ``out/<stem>.slides.html`` for the chapter at ``path``, with its speaker notes
    (the lecturer's copy, ``tag_slides.lecturer_copy``); returns it and its slide count.
    ``vendor`` is where the deck finds the vendored scripts (``copy_vendor``) and ``glossary``
    the glossary page, both relative to ``out``."""
    notebook = lecturer_copy(read(path), chapter_plan(path))
    notebook.cells = split_slides(notebook.cells)
    count = sum(slide_type(c) in ("slide", "subslide") for c in notebook.cells)
    exporter = SlidesExporter(template_name="course_slides",
                              extra_template_basedirs=[str(TEMPLATES)],
                              extra_template_paths=[str(TEMPLATES)],
                              reveal_url_prefix=f"{vendor}/reveal.js", reveal_theme="white")
    title = chapter_title(notebook)
    resources = {"course": {"vendor": vendor, "title": title}}
    body, _ = exporter.from_notebook_node(notebook, resources=resources)
    # nbconvert's template titles every deck "Notebook slides": the tab shows the chapter.
    body = re.sub(r"<title>.*?</title>", lambda _: f"<title>{html.escape(title)}</title>",
                  body, count=1, flags=re.S)
    target = out / f"{path.stem}.slides.html"
    target.write_text(relink(body, glossary), encoding="utf-8")
    return target, count


def write_glossary(out: Path) -> None:
    """``out/glossary.html``, the page the decks' glossary links open: each term's chapter
    links to its deck."""
    body = glossary_html(load_glossary(), chapter_titles(), lambda stem: f"{stem}.slides.html")
    out.joinpath("glossary.html").write_text(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        "<title>Attention, from memory to Transformers: glossary</title>"
        f"\n<style>\n{fonts_css()}</style></head>\n<body>"
        f'<p><a href="index.html">Slide decks</a></p>\n{body}\n</body></html>\n',
        encoding="utf-8")


def write_index(out: Path, decks: list[tuple[str, Path, int]]) -> None:
    """A page listing the decks, so the folder opens on something."""
    rows = "\n".join(f'<li><a href="{html.escape(deck.name)}">{html.escape(title)}</a> '
                     f"({count} slides)</li>"
                     for title, deck, count in decks)
    out.joinpath("index.html").write_text(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        "<title>Attention, from memory to Transformers: slides</title>"
        f"\n<style>\n{fonts_css()}</style></head>\n<body>"
        "<h1>Attention, from memory to Transformers: slide decks</h1>\n"
        "<p>Open a deck; arrows move, <b>s</b> opens the speaker notes, <b>?</b> lists the "
        f"keys.</p>\n<ol>\n{rows}\n</ol>\n"
        '<p>The notes\' terms in English and Chinese: the <a href="glossary.html">glossary</a>.'
        "</p>\n</body></html>\n", encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=BUILD / "slides",
                        help="the folder to write (emptied first; default build/slides)")
    args = parser.parse_args(argv)
    out = fresh_folder(args.out)
    copy_vendor(out)
    decks = []
    for path in chapters():
        deck, count = build_deck(path, out)
        decks.append((chapter_title(read(path)), deck, count))
        print(f"{deck.name:45s} {count:3d} slides  {deck.stat().st_size / 1e6:5.2f} MB")
    write_index(out, decks)
    write_glossary(out)
    print(f"{len(decks)} decks in {out}; open {out / 'index.html'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
