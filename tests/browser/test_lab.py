"""End-to-end test: each chapter runs in a real JupyterLab and its widgets respond.

For every chapter it opens the notebook in headless Chromium, checks the saved static
outputs, runs every cell, checks that no cell failed and no widget failed to render, changes
the first heatmap explorer's first control (a slider by keyboard, or a dropdown; its image
must be redrawn) and answers the quiz's first question right, then wrong (and the first
question of every other kind the quiz has, so the radio, checkbox and number-box paths are
all exercised). Chapter 02 also drives its alignment explorer: another sentence, then the
dot-product score, each must redraw the heatmap. Then every explorer of the chapter (step-
throughs too) has each control moved a few times and back, and the time from the input event
to the painted picture is measured (``explorer_latency.py``; ``make bench`` tabulates it).

A last test presents the lecturer's copy of chapter 04 (``make lecturer``: the chapter with
its speaker notes) as a jupyterlab-rise slideshow and drives its explorer on the slide. One
JupyterLab server serves every chapter; each chapter gets a fresh page (and its kernel is shut
down after it).

Run: ``.venv/bin/python -m pytest tests/browser -q -p no:cacheprovider``; needs Debian's
``chromium`` (see conftest.py for the fixtures and environment variables).
"""

from __future__ import annotations

import json
import os
import re
import statistics
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
import yaml
from explorer_latency import LATENCY_BOUND_MS, measure_notebook, summary

try:
    from playwright.sync_api import expect
except ImportError:  # the `browser` fixture skips the test (fails it on CI) and says why
    expect = None

if TYPE_CHECKING:
    from playwright.sync_api import Locator, Page

# The chapters under test; each one's quiz is quizzes/<notebook stem>.yaml.
NOTEBOOKS = ["01_attention_and_memory.ipynb", "02_seq2seq_attention.ipynb",
             "03_attention_applications.ipynb", "04_self_attention.ipynb",
             "05_multi_head_attention.ipynb", "06_positional_encoding.ipynb",
             "07_transformer_encoder.ipynb", "08_neural_turing_machines.ipynb",
             "09_the_cost_of_attention.ipynb", "10_transformer.ipynb",
             "11_pretrained_transformer.ipynb"]

LOAD_TIMEOUT_MS = 60_000     # JupyterLab's page load and the kernel start
RUN_ALL_TIMEOUT_MS = 180_000  # 01 trains tiny models (~30 s on a CPU); 02 loads checkpoints
WIDGET_TIMEOUT_MS = 10_000   # a widget's answer to a click or a key
HEATMAP = "img.course-heatmap, .course-heatmap img"  # HeatmapExplorer's image
STDERR = '.jp-OutputArea-output[data-mime-type="application/vnd.jupyter.stderr"]'

# The state of the notebook's code cells: each one's prompt ("[3]:", "[*]:", "[ ]:") and
# whether its source is empty (an empty cell is never given an execution count).
CODE_CELLS_JS = """
(notebook) => [...notebook.querySelectorAll('.jp-CodeCell')].map(cell => ({
    prompt: cell.querySelector('.jp-InputArea-prompt').textContent.trim(),
    empty: cell.querySelector('.jp-InputArea-editor').textContent.trim() === '',
}))
"""
# Run All is over when some cell has a count (they were cleared) and none is queued or
# running ("[*]"). A cell that raises aborts the rest, which end blank: over too. A dialog
# (e.g. "Select Kernel") would block the run: stop waiting, so the test fails at once.
RUN_FINISHED_JS = """
(notebook) => {
    if (document.querySelector('.jp-Dialog')) return true;
    const prompts = [...notebook.querySelectorAll('.jp-CodeCell .jp-InputArea-prompt')]
        .map(prompt => prompt.textContent);
    return prompts.some(p => /\\[\\d+\\]/.test(p)) && !prompts.some(p => p.includes('*'));
}
"""


def click_menu(page: Page, menu: str, item: str) -> None:
    """Click ``item`` in the main menu bar's ``menu`` (e.g. Run → Run All Cells)."""
    page.locator(".lm-MenuBar-item", has_text=re.compile(rf"^{re.escape(menu)}$")).click()
    page.locator(".lm-Menu-item:visible .lm-Menu-itemLabel",
                 has_text=re.compile(rf"^{re.escape(item)}$")).click()


def open_notebook(page: Page, url: str) -> Locator:
    """Open the notebook page and wait for its kernel to be idle; returns ``.jp-Notebook``."""
    page.goto(url)
    panel = page.locator(".jp-NotebookPanel:not(.lm-mod-hidden)")
    expect(panel.locator(".jp-Notebook .jp-Cell").first).to_be_visible(timeout=LOAD_TIMEOUT_MS)
    # The status bar's "Python 3 (ipykernel) | Idle" ("No Kernel | ..." until it starts; the
    # toolbar's execution indicator already says idle before there is a kernel).
    kernel_status = page.locator('#jp-main-statusbar [title^="Change kernel"]')
    expect(kernel_status).to_have_text(re.compile(r"^(?!No Kernel).+ \| Idle$"),
                                       timeout=LOAD_TIMEOUT_MS)
    assert_no_dialog(page)
    # The menu commands act on the current notebook: no other may be open (restored from a
    # workspace, say).
    expect(page.locator(".jp-NotebookPanel"), "another notebook is open").to_have_count(1)
    return panel.locator(".jp-Notebook")


def assert_no_dialog(page: Page) -> None:
    dialogs = page.locator(".jp-Dialog")
    assert dialogs.count() == 0, f"JupyterLab shows a dialog: {dialogs.all_inner_texts()}"


def run_all_cells(page: Page, notebook: Locator) -> list[dict]:
    """Clear the saved outputs, run every cell, wait for the end; returns the cells' states."""
    click_menu(page, "Edit", "Clear Outputs of All Cells")
    stale = [c["prompt"] for c in notebook.evaluate(CODE_CELLS_JS) if re.search(r"\d", c["prompt"])]
    assert not stale, f"execution counts left after clearing the outputs: {stale}"

    click_menu(page, "Run", "Run All Cells")
    page.wait_for_function(RUN_FINISHED_JS, arg=notebook.element_handle(),
                           timeout=RUN_ALL_TIMEOUT_MS, polling=500)
    assert_no_dialog(page)
    return notebook.evaluate(CODE_CELLS_JS)


def assert_every_cell_ran(notebook: Locator, cells: list[dict]) -> None:
    tracebacks = [t for t in notebook.locator(STDERR).all_inner_texts() if "Traceback" in t]
    assert not tracebacks, "a cell raised:\n" + "\n\n".join(t[-2000:] for t in tracebacks)

    counts = []
    for number, cell in enumerate(cells, start=1):
        match = re.fullmatch(r"\[(\d+)\]:", cell["prompt"])
        if match:
            counts.append(int(match[1]))
        elif not cell["empty"]:
            raise AssertionError(f"code cell #{number} did not run (prompt {cell['prompt']!r})")
    assert counts == sorted(counts) and len(set(counts)) == len(counts), (
        f"cells did not run once each, top to bottom: execution counts {counts}")


def assert_no_widget_error(notebook: Locator) -> None:
    """ipywidgets shows a view that failed as an error icon ("Click to show javascript
    error.") and a missing model as "Error displaying widget: ..."."""
    failed = notebook.locator(".jupyter-widgets-error-widget")
    messages = []
    for error in failed.all():
        error.click()  # unfolds the JavaScript error
        messages.append(error.inner_text())
    messages += notebook.get_by_text("Error displaying widget").all_inner_texts()
    assert not messages, "a widget failed to render:\n" + "\n".join(messages)


def wait_for_widgets(notebook: Locator) -> None:
    """Wait until the first heatmap explorer and quiz question are drawn (or a widget failed)."""
    failed = notebook.locator(".jupyter-widgets-error-widget")
    for selector in (HEATMAP, ".course-quiz-question"):
        drawn_or_failed = notebook.locator(selector).or_(failed).first
        expect(drawn_or_failed, f"no {selector} was drawn").to_be_visible(
            timeout=WIDGET_TIMEOUT_MS)


# The bytes of a heatmap image (ipywidgets shows them as a blob: URL, which is new on every
# update even when the bytes are not): their length and FNV-1a hash, to tell a redraw that
# changed the picture from one that did not. ipywidgets revokes the old URL on the next
# update (a slider moved by 3 steps redraws up to 3 times), so a failed fetch re-reads src.
IMAGE_DIGEST_JS = """
async (img) => {
    for (let attempt = 1; ; attempt++) {
        try {
            const bytes = new Uint8Array(await (await fetch(img.src)).arrayBuffer());
            let hash = 0x811c9dc5;
            for (const byte of bytes) hash = Math.imul(hash ^ byte, 0x01000193) >>> 0;
            return `${bytes.length}:${hash.toString(16)}`;
        } catch (error) {
            if (attempt >= 10) throw error;
            await new Promise(resolve => setTimeout(resolve, 200));
        }
    }
}
"""


def image_digest(image: Locator) -> str:
    """A digest of the image's current bytes, once it is loaded."""
    image.page.wait_for_function("img => img.complete && img.naturalWidth > 0",
                                 arg=image.element_handle(), timeout=WIDGET_TIMEOUT_MS)
    return image.evaluate(IMAGE_DIGEST_JS)


def expect_redrawn(image: Locator, before_src: str, seen: list[str], what: str) -> str:
    """Wait for a new ``src``; the new picture must differ from every one in ``seen``.
    Returns the new picture's digest."""
    expect(image, f"the heatmap was not redrawn after {what}") \
        .not_to_have_attribute("src", before_src, timeout=WIDGET_TIMEOUT_MS)
    digest = image_digest(image)
    assert digest not in seen, f"the heatmap was redrawn after {what}, but shows an old picture"
    return digest


def explorer_parts(image: Locator) -> tuple[Locator, Locator]:
    """The explorer box of a heatmap image and its row of controls."""
    # HeatmapExplorer.widget = VBox([HBox(controls), Image]).
    explorer = image.locator("xpath=ancestor::div[contains(@class, 'widget-vbox')][1]")
    controls = explorer.locator("xpath=./div[contains(@class, 'widget-hbox')][1]")
    return explorer, controls


def select_other(select: Locator, last: bool = False) -> str:
    """Pick the first (or the last) entry of a dropdown other than its current one; waits
    until the dropdown shows it. Returns the entry's value."""
    current = select.input_value()
    values = select.locator("option").evaluate_all("os => os.map(o => o.value)")
    others = [v for v in values if v != current]
    assert others, f"the dropdown has no entry besides {current!r}"
    choice = others[-1 if last else 0]
    select.select_option(choice)
    expect(select).to_have_value(choice)
    return choice


def change_first_control(controls: Locator) -> str:
    """Move the first slider by a few steps with the keyboard, or pick another entry of the
    first dropdown. Returns what was done, for the messages."""
    sliders = controls.locator(".widget-slider")
    if sliders.count():
        handle = sliders.first.locator(".noUi-handle").first
        value = handle.get_attribute("aria-valuenow")
        at_max = value == handle.get_attribute("aria-valuemax")
        handle.focus()
        for _ in range(3):
            handle.press("ArrowLeft" if at_max else "ArrowRight")
        expect(handle, "the slider did not move").not_to_have_attribute(
            "aria-valuenow", value, timeout=WIDGET_TIMEOUT_MS)
        return f"its slider moved from {value}"
    dropdowns = controls.locator(".widget-dropdown select")
    assert dropdowns.count(), "the heatmap explorer has neither a slider nor a dropdown"
    return f"its dropdown changed to {select_other(dropdowns.first)!r}"


def check_heatmap_explorer(notebook: Locator) -> None:
    """Change the first explorer's first control; its heatmap image must be redrawn."""
    image = notebook.locator(HEATMAP).first
    _, controls = explorer_parts(image)
    before = image.get_attribute("src")
    assert before, "the heatmap image has no src"
    digest = image_digest(image)

    done = change_first_control(controls)
    expect_redrawn(image, before, [digest], done)


def check_alignment_explorer(notebook: Locator) -> None:
    """Chapter 02: another sentence redraws the alignment heatmap (new labels, perhaps a new
    shape), and so does switching the score to dot-product."""
    sentence = notebook.locator(".widget-dropdown:has(> label:text-is('sentence')) select")
    expect(sentence, "no 'sentence' dropdown").to_have_count(1)
    explorer = sentence.locator("xpath=ancestor::div[contains(@class, 'widget-vbox')][1]")
    image = explorer.locator(HEATMAP)
    expect(image, "the 'sentence' dropdown has no heatmap below it").to_have_count(1)
    # The score dropdown ("additive" / "dot"), found by its entries, not its label.
    scoring = explorer.locator(".widget-dropdown select:has(option[value='dot'])")
    expect(scoring, "the alignment explorer has no dropdown with a 'dot' entry") \
        .to_have_count(1)

    seen = [image_digest(image)]
    src = image.get_attribute("src")
    # The last other sentence: check_heatmap_explorer picked the first other one, so with
    # three sentences or more this shows one that neither the notebook nor it showed.
    chosen = select_other(sentence, last=True)
    seen.append(expect_redrawn(image, src, seen, f"choosing the sentence {chosen!r}"))

    if scoring.input_value() == "dot":  # dot already: go back to the other score first
        src = image.get_attribute("src")
        other = select_other(scoring)
        seen.append(expect_redrawn(image, src, seen, f"switching the score to {other!r}"))
    src = image.get_attribute("src")
    scoring.select_option("dot")
    expect(scoring).to_have_value("dot")
    expect_redrawn(image, src, seen, "switching the score to 'dot'")
    expect(sentence, "the sentence changed with the score").to_have_value(chosen)


def load_questions(quiz_dir: Path, quiz: str) -> list[dict]:
    """The quiz's questions, read from the copied YAML (so the test follows the quiz)."""
    return yaml.safe_load((quiz_dir / f"{quiz}.yaml").read_text(encoding="utf-8"))["questions"]


def normalise(text: str) -> str:
    return " ".join(text.split())


def answer_question(widget: Locator, question: dict, right: bool) -> str | None:
    """Enter a right or a wrong answer to ``question`` (a single, multiple or numeric one)
    in its widget. Returns an explanation the feedback must then contain (None: any)."""
    kind = question["kind"]
    if kind == "numeric":
        # A text box (not FloatText). float(): YAML reads "1e-3" (no dot) as a string.
        box = widget.locator(".widget-text input[type=text]")
        expect(box, "a numeric question needs one number box").to_have_count(1)
        number = repr(float(question["answer"]) + (0 if right else 1000))
        box.fill(number)
        expect(box).to_have_value(number)
        return question["explanation"] if right else None

    options = question["options"]
    correct = [i for i, option in enumerate(options) if option["correct"]]
    wrong = [i for i, option in enumerate(options) if not option["correct"]]
    assert correct and wrong, f"question {question['id']!r} needs right and wrong options"
    if kind == "single":
        radios = widget.locator(".widget-radio-box input[type=radio]")
        expect(radios).to_have_count(len(options))
        pick = correct[0] if right else wrong[0]
        radios.nth(pick).check()
        return options[pick]["explanation"]
    if kind == "multiple":
        boxes = widget.locator(".widget-checkbox input[type=checkbox]")
        expect(boxes).to_have_count(len(options))
        # Right: exactly the correct options. Wrong: those and a wrong one too.
        ticked = set(correct) if right else {*correct, wrong[0]}
        for i in range(len(options)):
            boxes.nth(i).set_checked(i in ticked)
        return question["explanation"] if right else options[wrong[0]]["explanation"]
    raise AssertionError(f"question {question['id']!r} has an unknown kind {kind!r}")


def check_question(widget: Locator, question: dict) -> None:
    """Answer one question right, then wrong; the verdict and explanation must follow."""
    check = widget.get_by_role("button", name="Check")
    verdict = widget.locator(".quiz-verdict")
    feedback = widget.locator(".widget-html:has(.quiz-verdict)")
    name = f"question {question['id']!r} ({question['kind']})"

    explanation = answer_question(widget, question, right=True)
    check.click()
    expect(verdict, f"{name}: the right answer").to_have_text("✓ Correct.",
                                                              timeout=WIDGET_TIMEOUT_MS)
    shown = normalise(feedback.inner_text())
    told = shown.removeprefix("✓ Correct.").strip()
    assert told, f"{name}: the feedback gives no explanation: {shown!r}"
    for expected in {explanation, question["explanation"]}:
        assert normalise(expected) in told, f"{name}: unexpected explanation: {shown!r}"

    hint = answer_question(widget, question, right=False)
    check.click()
    expect(verdict, f"{name}: the wrong answer").to_have_text("✗ Not quite.",
                                                              timeout=WIDGET_TIMEOUT_MS)
    shown = normalise(feedback.inner_text())
    if hint is not None:
        assert normalise(hint) in shown, f"{name}: the wrong answer's hint is missing: {shown!r}"
    assert shown.endswith("Try again."), f"{name}: no second try offered: {shown!r}"


def check_quiz(notebook: Locator, quiz_dir: Path, quiz: str) -> None:
    """Answer the first question right, then wrong; then the first question of each other
    kind (single, multiple, numeric) the quiz has, so each kind of input is driven."""
    questions = load_questions(quiz_dir, quiz)
    widgets = notebook.locator(".course-quiz-question")
    expect(widgets, "the quiz does not show every question").to_have_count(len(questions))
    first_of_kind: dict[str, int] = {}
    for index, question in enumerate(questions):
        first_of_kind.setdefault(question["kind"], index)
    for index in sorted({0, *first_of_kind.values()}):
        check_question(widgets.nth(index), questions[index])


def check_saved_outputs(notebook: Locator, quiz_dir: Path, quiz: str) -> None:
    """Freshly cloned, before any cell runs (an untrusted notebook, no widget state): the
    saved outputs show the static fallbacks, the explorer's PNG and the quiz with its answers
    folded, and no widget error."""
    assert_no_widget_error(notebook)
    expect(notebook.locator(".jp-OutputArea-output img").first).to_be_visible()
    questions = load_questions(quiz_dir, quiz)
    folded = notebook.locator(".course-quiz details")
    expect(folded).to_have_count(len(questions))
    assert not folded.first.evaluate("d => d.open"), "quiz answers should start folded"


@pytest.mark.parametrize("notebook_name", NOTEBOOKS)
def test_chapter_in_jupyterlab(page: Page, lab_server, notebook_name: str) -> None:
    if not (lab_server.root / notebook_name).is_file():
        pytest.fail(f"{notebook_name} is missing from the served notebooks folder "
                    f"(set COURSE_BROWSER_NOTEBOOKS to serve another one)", pytrace=False)
    quiz = Path(notebook_name).stem  # the chapter's quiz: quizzes/<stem>.yaml

    notebook = open_notebook(page, lab_server.workspace_url(notebook_name))
    check_saved_outputs(notebook, lab_server.quiz_dir, quiz)
    cells = run_all_cells(page, notebook)
    assert_every_cell_ran(notebook, cells)

    wait_for_widgets(notebook)
    assert_no_widget_error(notebook)

    check_heatmap_explorer(notebook)
    if quiz == "02_seq2seq_attention":
        check_alignment_explorer(notebook)
    check_explorer_latency(notebook, notebook_name)
    check_quiz(notebook, lab_server.quiz_dir, quiz)
    assert_no_widget_error(notebook)
    check_progress_recorded(quiz)


def check_explorer_latency(notebook: Locator, notebook_name: str) -> None:
    """Every explorer of the chapter answers every control: each is moved a few times and
    back, and the time from the input event to the painted picture is measured (printed with
    ``-s``; ``make bench`` tabulates it). Asserted: each explorer's pictures change, and their
    median latency stays under a bound no busy machine crosses."""
    records = measure_notebook(notebook, notebook_name)
    assert records, "the chapter shows no explorer"
    for record in records:
        where = f"the {record['kind']} in cell {record['cell']}"
        print(f"\n{notebook_name}, {where}: {summary(record['latencies_ms'])}")
        assert record["latencies_ms"], f"{where}: no move of its controls changed its picture"
        median = statistics.median(record["latencies_ms"])
        assert median < LATENCY_BOUND_MS, (
            f"{where}: a move takes {median:.0f} ms (median) to reach the screen")


def check_progress_recorded(quiz: str) -> None:
    """The answers given in the browser were remembered (tests/conftest.py points the progress
    file of every process they start at a throwaway file)."""
    path = Path(os.environ["COURSE_PROGRESS_FILE"])
    assert path.is_file(), f"no progress was recorded in {path}"
    answered = json.loads(path.read_text(encoding="utf-8"))["quizzes"].get(quiz, {})
    assert answered, f"the quiz answers of {quiz} were not recorded in {path}"


def count_notes(path: Path) -> int:
    """The number of speaker-notes cells (slide type ``notes``) in the notebook at ``path``."""
    cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
    return sum(c["metadata"].get("slideshow", {}).get("slide_type") == "notes" for c in cells)


def test_chapter_as_a_live_slideshow(page: Page, lab_server, lecturer_folder: str) -> None:
    """The lecturer's way: run the lecturer's copy of the chapter (``make lecturer``) in
    JupyterLab and save it, then present it with jupyterlab-rise. The title slide shows, the
    speaker notes are there, the right arrow moves on, and on the explorer's slide the widget
    is live (its models come from the running kernel): another choice in its dropdown redraws
    the heatmap."""
    name = f"{lecturer_folder}/04_self_attention.ipynb"
    notebook = open_notebook(page, lab_server.workspace_url(name))
    assert_every_cell_ran(notebook, run_all_cells(page, notebook))
    wait_for_widgets(notebook)
    click_menu(page, "File", "Save Notebook")
    expect(page.locator(".jp-mod-dirty"), "the notebook was not saved").to_have_count(
        0, timeout=WIDGET_TIMEOUT_MS)

    page.goto(lab_server.lab_url(f"rise/{name}"))
    title = page.get_by_role("heading", name="Chapter 04 · Self-attention")
    expect(title, "the slideshow's title slide did not show").to_be_visible(
        timeout=LOAD_TIMEOUT_MS)
    page.wait_for_timeout(1000)  # let reveal.js finish laying out before navigating
    notes = page.locator(".reveal aside.notes")  # the speaker notes, for reveal.js's notes view
    expect(notes, "the slideshow lacks speaker notes").to_have_count(
        count_notes(lab_server.root / name))
    page.keyboard.press("ArrowRight")
    expect(title, "the right arrow did not move to the next slide").to_be_hidden(
        timeout=WIDGET_TIMEOUT_MS)

    # The explorer's image only exists as a live widget (the saved output is a plain PNG).
    image = page.locator(HEATMAP).first
    expect(image, "the slideshow shows no live heatmap explorer").to_be_attached(
        timeout=WIDGET_TIMEOUT_MS)
    for _ in range(40):  # walk to the explorer's slide
        if image.is_visible():
            break
        page.keyboard.press("ArrowRight")
        page.wait_for_timeout(300)
    expect(image, "no slide showed the explorer").to_be_visible()
    assert_no_widget_error(page.locator(".reveal"))
    _, controls = explorer_parts(image)
    before, digest = image.get_attribute("src"), image_digest(image)
    expect_redrawn(image, before, [digest], change_first_control(controls))
