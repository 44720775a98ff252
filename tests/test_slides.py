"""Every chapter presents as a slideshow: slide metadata on every cell, by the rules of
tools/tag_slides.py (set-up, long code, solutions and the progress section skipped). The
speaker notes are the lecturer's: none in the learner's notebooks, every lecture plan row's
note in the lecturer's copies (``make lecturer``) and in the offline decks (``make slides``)."""

from __future__ import annotations

import base64
import html
import json
import os
import re
import struct
import sys
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tools"))
import build_decks  # noqa: E402
import glossary  # noqa: E402
import tag_slides  # noqa: E402

CHAPTERS = tag_slides.chapters()


def note_headlines(path: Path) -> list[str]:
    """The bold start of each of the chapter's notes ("Speaker notes · Warm-up, 5 min.")."""
    return [text.split("**")[1] for _, text in tag_slides.chapter_plan(path)]


def test_there_are_chapters():
    assert len(CHAPTERS) >= 9


def test_the_metadata_is_up_to_date(capsys):
    assert tag_slides.main(["--check"]) == 0, capsys.readouterr().out


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.stem)
def test_chapter_slides(path):
    cells = nbformat.read(path, as_version=4).cells
    kinds = [c.metadata.get("slideshow", {}).get("slide_type") for c in cells]
    assert set(kinds) <= {"slide", "subslide", "-", "skip"}, "every cell needs a type"
    assert not any(map(tag_slides.is_speaker_notes, cells)), "speaker notes are the lecturer's"
    assert not any("Speaker notes" in c.source for c in cells), "speaker notes are the lecturer's"
    assert kinds[0] == "slide" and cells[0].source.startswith("# Chapter")
    slides, shown = kinds.count("slide"), sum(k in ("slide", "subslide") for k in kinds)
    assert 4 <= slides <= 20 and 8 <= shown <= 60, (slides, shown)
    first_code = next(i for i, c in enumerate(cells) if c.cell_type == "code")
    assert kinds[first_code] == "skip"                       # the set-up cell
    for cell, kind in zip(cells, kinds, strict=True):
        if cell.cell_type == "code" and kind != "skip":
            assert len(cell.source.splitlines()) <= tag_slides.LONG_CODE
        if cell.source.lstrip().startswith("<details>") or "progress()" in cell.source:
            assert kind == "skip"                            # answers and progress: not shown
        if "show_quiz(" in cell.source or "Explorer(" in cell.source:
            assert kind != "skip"                            # the widgets are the lecture


def test_check_fails_when_speaker_notes_come_back(tmp_path, monkeypatch, capsys):
    path = CHAPTERS[0]
    notebook = tag_slides.lecturer_copy(nbformat.read(path, as_version=4),
                                        tag_slides.chapter_plan(path))
    (tmp_path / "notebooks").mkdir()
    nbformat.write(notebook, tmp_path / "notebooks" / path.name)
    monkeypatch.setattr(tag_slides, "ROOT", tmp_path)
    assert tag_slides.main(["--check"]) == 1
    assert "speaker notes" in capsys.readouterr().out


def test_lecturer_copies_have_every_note_and_keep_the_outputs(tmp_path):
    assert tag_slides.main(["--lecturer", str(tmp_path)]) == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == [p.name for p in CHAPTERS]
    moved = os.path.relpath(glossary.GLOSSARY_MD, tmp_path.resolve())
    for path in CHAPTERS:
        learner = nbformat.read(path, as_version=4)
        for cell in learner.cells:  # the glossary links, pointed at docs/glossary.md from there
            if cell.cell_type == "markdown":
                cell.source = glossary.relink(cell.source, moved)
        copy = nbformat.read(tmp_path / path.name, as_version=4)
        nbformat.validate(copy)
        notes = [c for c in copy.cells if tag_slides.is_speaker_notes(c)]
        plan = tag_slides.chapter_plan(path)
        assert len(plan) >= 3 and [c.source for c in notes] == [t for _, t in plan], path.name
        assert all(c.metadata["slideshow"]["slide_type"] == "notes" for c in notes)
        for heading, text in plan:  # each note right after the heading it belongs to
            at = next(i for i, c in enumerate(copy.cells) if c.source == text)
            assert copy.cells[at - 1].source.replace("`", "").startswith(heading), text
        others = [c for c in copy.cells if not tag_slides.is_speaker_notes(c)]
        assert others == learner.cells, f"{path.name}: the rest of the copy differs"
    assert tag_slides.main(["--check"]) == 0  # the learner's notebooks are untouched


def test_lecturer_copies_link_the_glossary_from_where_they_are(tmp_path):
    out = tmp_path / "build" / "lecturer"
    tag_slides.write_lecturer_copies(CHAPTERS[:1], out)
    cells = nbformat.read(out / CHAPTERS[0].name, as_version=4).cells
    targets = [m[1] for c in cells if c.cell_type == "markdown"
               for m in re.finditer(r"\]\(([^)#]*glossary\.md)[#)]", c.source)]
    assert targets and all((out / t).resolve() == glossary.GLOSSARY_MD for t in targets)


def test_decks_have_their_chapters_title_and_every_note(tmp_path):
    assert build_decks.main(["--out", str(tmp_path)]) == 0
    for path in CHAPTERS:
        deck = html.unescape((tmp_path / f"{path.stem}.slides.html").read_text("utf-8"))
        title = re.search(r"<title>(.*?)</title>", deck, re.S)[1]
        assert title == build_decks.chapter_title(nbformat.read(path, as_version=4)), title
        assert 'navigationMode: "linear"' in deck   # the arrow keys walk the sub-slides too
        assert "width: 1280," in deck and "height: 800," in deck and "fitSlide(" in deck
        headlines = note_headlines(path)
        assert deck.count('<aside class="notes"') == len(headlines) >= 3, path.name
        for headline in headlines:
            assert headline in deck, f"{path.stem}: no note {headline!r}"


def test_the_rules_on_a_small_notebook():
    new = nbformat.v4
    cells = [new.new_markdown_cell("# Chapter 99"), new.new_code_cell("import torch"),
             new.new_markdown_cell("## 1 · A part"), new.new_markdown_cell("Why."),
             new.new_code_cell("x = 1"), new.new_code_cell("\n".join(["y = 2"] * 31)),
             new.new_markdown_cell("### 1.1 · Detail"),
             new.new_markdown_cell("<details><summary>Solutions</summary></details>"),
             new.new_markdown_cell("## Your progress"), new.new_code_cell("progress()")]
    assert tag_slides.slide_types(cells) == ["slide", "skip", "slide", "subslide", "-", "skip",
                                            "subslide", "skip", "skip", "skip"]


GUIDE = """### Chapter 04 · Self-attention

| part | minutes | what to run live | what to show / ask |
|---|---:|---|---|
| Warm-up | 5 | `## 1 · One token`, `### 1.1` | Ask: "which word?" |
| Homework | 2 (+ homework) | `## Exercises` | Two exercises. |
| Talk | 3 | the whiteboard | no heading: no note |

| length | other table |
|---:|---:|
| 10 | 0.00 |
"""


def test_lecture_plans_give_one_note_per_row_that_names_a_heading():
    plans = tag_slides.lecture_plans(GUIDE)
    assert plans == {"04": [
        ("## 1 · One token", '**Speaker notes · Warm-up, 5 min.** Ask: "which word?"'),
        ("## Exercises", "**Speaker notes · Homework, 2 min (+ homework).** Two exercises."),
    ]}


def test_speaker_notes_follow_their_heading_and_are_not_duplicated():
    new = nbformat.v4
    cells = [new.new_markdown_cell("# Chapter 04"), new.new_markdown_cell("## 1 · One token"),
             new.new_code_cell("x = 1"), new.new_markdown_cell("## Exercises")]
    plan = tag_slides.lecture_plans(GUIDE)["04"]
    once = tag_slides.with_speaker_notes(cells, plan)
    assert [c.source[:19] for c in once] == [
        "# Chapter 04", "## 1 · One token", "**Speaker notes · W", "x = 1", "## Exercises",
        "**Speaker notes · H"]
    twice = tag_slides.with_speaker_notes(once, plan)
    assert [c.id for c in twice] == [c.id for c in once]        # stable: nothing rewritten
    assert tag_slides.slide_types(twice)[2] == "notes"
    with pytest.raises(ValueError, match="no cell has"):
        tag_slides.with_speaker_notes(cells[:1], plan)


def test_a_heading_inside_a_text_cell_starts_a_new_cell():
    new = nbformat.v4
    cells = [new.new_markdown_cell("Intro text.\n\n## 2 · Next part\n\nBody."),
             new.new_markdown_cell("```python\n# a comment, not a heading\n```"),
             new.new_markdown_cell("<details><summary>S</summary>\n\n### inside\n</details>\n\n"
                                   "## Summary\n\nDone.")]
    split = tag_slides.split_at_headings(cells)
    assert [c.source for c in split] == [
        "Intro text.", "## 2 · Next part\n\nBody.", cells[1].source,
        "<details><summary>S</summary>\n\n### inside\n</details>", "## Summary\n\nDone."]


# --------------------------------------------------------------------------- tall slides
def tiny_png(width: int, height: int) -> str:
    """A PNG's first bytes (signature and IHDR), base64: all that the height estimate reads."""
    header = (b"\x89PNG\r\n\x1a\n" + struct.pack(">I", 13) + b"IHDR"
              + struct.pack(">II", width, height) + bytes(9))
    return base64.b64encode(header).decode()


def shown_content(cells) -> tuple[list[str], list[str]]:
    """What a deck of ``cells`` shows, in order: the non-blank lines of every shown cell (a long
    code cell's folded end included; the "(cont.)" headings left out) and every output (a
    quiz's questions one by one)."""
    lines, outputs = [], []
    for cell in cells:
        if build_decks.slide_type(cell) in ("skip", "notes") or cell.id.startswith("cont-"):
            continue
        source = cell.source.split("\n")
        folded = cell.metadata.get("course_deck", {}).get("folded")
        if folded is not None:
            source += folded.split("\n")
        lines += [line for line in source if line.strip()]
        for output in cell.get("outputs", []):
            quiz = build_decks.quiz_items(output.get("data", {}).get("text/html", ""))
            outputs += quiz[1] if quiz else [json.dumps(output, sort_keys=True)]
    return lines, outputs


def slide_of(cells) -> list[int]:
    """The slide (counted from 0) each cell is on."""
    kinds = [build_decks.slide_type(c) in ("slide", "subslide") for c in cells]
    return [sum(kinds[:i + 1]) - 1 for i in range(len(cells))]


def tall_chapter() -> list:
    new = nbformat.v4
    quiz = ("<div class='course-quiz'><h4>Quiz: Tall</h4><ol>"
            + "".join(f"<li><p>Question {q}?</p><ul><li><b>a)</b> yes</li><li><b>b)</b> no</li>"
                      f"</ul><details><summary>Show the answer</summary><p>a) {q}</p></details>"
                      "</li>" for q in range(1, 9))
            + "</ol></div>")
    cells = [
        new.new_markdown_cell("# Chapter 99 · Tall\n\nShort."),
        new.new_markdown_cell("## 1 · Long text\n\n"
                              + "\n\n".join(f"Paragraph {i}: " + "word " * 80 for i in range(12))
                              + "\n\n1. first item\n2. second item"),
        new.new_code_cell("\n".join(f"x{i} = {i}" for i in range(40)), outputs=[
            new.new_output("stream", name="stdout", text="".join(f"row {i}\n" for i in range(20))),
            new.new_output("display_data", data={"image/png": tiny_png(900, 600),
                                                 "text/plain": "<Figure>"}),
        ]),
        new.new_markdown_cell("## Quiz"),
        new.new_code_cell("show_quiz('99')", outputs=[
            new.new_output("display_data", data={"text/html": quiz, "text/plain": "quiz"})]),
        new.new_markdown_cell("## Summary\n\nDone."),
    ]
    for cell, kind in zip(cells, ["slide", "slide", "-", "slide", "-", "slide"], strict=True):
        cell.metadata["slideshow"] = {"slide_type": kind}
    return cells


def test_a_tall_slide_becomes_several_and_nothing_is_lost():
    cells = tall_chapter()
    deck = build_decks.split_slides(cells)
    nbformat.validate(nbformat.v4.new_notebook(cells=deck))
    assert shown_content(deck) == shown_content(cells)       # every line and output, in order
    slides = slide_of(deck)
    assert slides[-1] + 1 > 4 + 3, "the long text, the code and the quiz are each split"
    assert [c.source for c in deck if c.id.startswith("cont-")][:1] == ["### 1 · Long text (cont.)"]
    assert "### Quiz: Tall (cont.)" in [c.source for c in deck]
    # the code is folded after SHOWN_CODE lines, its outputs on slides after it
    code = next(c for c in deck if c.source.startswith("x0 = 0"))
    assert len(code.source.split("\n")) == build_decks.SHOWN_CODE and not code.outputs
    assert code.metadata["course_deck"]["folded_lines"] == 40 - build_decks.SHOWN_CODE
    rest = [c for c in deck if c.metadata.get("transient", {}).get("remove_source")]
    assert rest and all(c.cell_type == "code" and c.outputs for c in rest)
    # each slide's estimate fits (no single unit here is taller than a slide)
    for number in set(slides):
        shown = [c for c, s in zip(deck, slides, strict=True) if s == number]
        assert sum(u.height for i in range(len(shown))
                   for u in build_decks.cell_units(shown, i)) <= build_decks.SLIDE_BUDGET
    # a later slide of the quiz goes on numbering, without the quiz's own title
    parts = [c.outputs[0]["data"]["text/html"] for c in deck
             if c.cell_type == "code" and "course-quiz" in str(c.outputs)]
    assert len(parts) >= 2 and "<h4>" in parts[0] and "<h4>" not in parts[1]
    assert re.search(r'<ol start="\d+">', parts[1])
    # the first slide keeps the cells' ids and types; a short slide is not touched
    assert deck[0] == cells[0] and deck[-1] == cells[-1]
    assert [c.id for c in deck] == list(dict.fromkeys(c.id for c in deck))  # ids unique


def test_nothing_splits_a_slide_that_fits():
    new = nbformat.v4
    cells = [new.new_markdown_cell("# Chapter 99"), new.new_code_cell("x = 1")]
    cells[0].metadata["slideshow"] = {"slide_type": "slide"}
    assert build_decks.split_slides(cells) == cells


def test_markdown_blocks_never_cut_code_maths_or_details():
    source = ("Intro.\n\n```python\nx = 1\n\ny = 2\n```\n\n$$a =\n\nb$$\n\n"
              "<details><summary>S</summary>\n\nhidden\n</details>\n\n- one\n- two\n  more")
    lines = source.split("\n")
    blocks = ["\n".join(lines[a:b]).strip() for a, b in build_decks.markdown_blocks(source)]
    assert blocks == ["Intro.", "```python\nx = 1\n\ny = 2\n```", "$$a =\n\nb$$",
                      "<details><summary>S</summary>\n\nhidden\n</details>", "- one",
                      "- two\n  more"]


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.stem)
def test_every_chapters_deck_shows_everything(path):
    """The split deck of every chapter shows every line and output its slides had, and has
    as many slides with the lecturer's notes in as without (``slide_count``, the browser
    test's count, is taken on the learner's notebook)."""
    learner = nbformat.read(path, as_version=4)
    deck = build_decks.split_slides(learner.cells)
    assert shown_content(deck) == shown_content(learner.cells)
    lecturer = tag_slides.lecturer_copy(learner, tag_slides.chapter_plan(path))
    split = build_decks.split_slides(lecturer.cells)
    assert build_decks.slide_count(learner) == sum(
        build_decks.slide_type(c) in ("slide", "subslide") for c in split)
    before = {c.id: lecturer.cells[i - 1].id for i, c in enumerate(lecturer.cells)
              if tag_slides.is_speaker_notes(c)}
    assert {c.id: split[i - 1].id for i, c in enumerate(split)
            if tag_slides.is_speaker_notes(c)} == before   # each note after its heading
