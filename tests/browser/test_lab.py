"""End-to-end test: chapter 01 runs in a real JupyterLab and its widgets respond.

It opens the chapter in headless Chromium, runs every cell, checks that no cell failed and
no widget failed to render, moves the first heatmap explorer's slider (its image must be
redrawn) and answers the first quiz question right, then wrong.

Run: ``.venv/bin/python -m pytest tests/browser -q -p no:cacheprovider``; needs Debian's
``chromium`` (see conftest.py for the fixtures and environment variables).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
import yaml

try:
    from playwright.sync_api import expect
except ImportError:  # the `browser` fixture skips the test (fails it on CI) and says why
    expect = None

if TYPE_CHECKING:
    from playwright.sync_api import Locator, Page

NOTEBOOK = "01_attention_and_memory.ipynb"
QUIZ = Path(NOTEBOOK).stem  # the chapter's quiz file: quizzes/<QUIZ>.yaml

LOAD_TIMEOUT_MS = 60_000     # JupyterLab's page load and the kernel start
RUN_ALL_TIMEOUT_MS = 180_000  # the chapter trains tiny models (~30 s on a CPU)
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


def change_first_control(controls: Locator) -> None:
    """Move the first slider by a few steps with the keyboard, or pick another dropdown entry."""
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
        return
    dropdowns = controls.locator(".widget-dropdown select")
    assert dropdowns.count(), "the heatmap explorer has neither a slider nor a dropdown"
    select = dropdowns.first
    current = select.input_value()
    other = next(v for v in select.locator("option").evaluate_all("os => os.map(o => o.value)")
                 if v != current)
    select.select_option(other)
    expect(select).to_have_value(other)


def check_heatmap_explorer(page: Page, notebook: Locator) -> None:
    """Change the first explorer's first control; its heatmap image must be redrawn."""
    image = notebook.locator(HEATMAP).first
    # HeatmapExplorer.widget = VBox([HBox(controls), Image]).
    explorer = image.locator("xpath=ancestor::div[contains(@class, 'widget-vbox')][1]")
    controls = explorer.locator("xpath=./div[contains(@class, 'widget-hbox')][1]")
    before = image.get_attribute("src")
    assert before, "the heatmap image has no src"

    change_first_control(controls)
    expect(image, "the heatmap was not redrawn after its control changed") \
        .not_to_have_attribute("src", before, timeout=WIDGET_TIMEOUT_MS)
    page.wait_for_function("img => img.complete && img.naturalWidth > 0",
                           arg=image.element_handle(), timeout=WIDGET_TIMEOUT_MS)


def first_question(quiz_dir: Path) -> tuple[int, int, str]:
    """The first quiz question: index of its correct and of a wrong option, and the
    correct option's explanation (read from the YAML, so the test follows the quiz)."""
    quiz = yaml.safe_load((quiz_dir / f"{QUIZ}.yaml").read_text(encoding="utf-8"))
    question = quiz["questions"][0]
    assert question["kind"] == "single", "the test expects the first question to be 'single'"
    correct = [i for i, option in enumerate(question["options"]) if option["correct"]]
    wrong = [i for i, option in enumerate(question["options"]) if not option["correct"]]
    return correct[0], wrong[0], question["options"][correct[0]]["explanation"]


def check_quiz(notebook: Locator, quiz_dir: Path) -> None:
    """Answer the first question right, then wrong; the feedback must follow."""
    correct, wrong, explanation = first_question(quiz_dir)
    question = notebook.locator(".course-quiz-question").first
    radios = question.locator(".widget-radio-box input[type=radio]")
    check = question.get_by_role("button", name="Check")
    verdict = question.locator(".quiz-verdict")
    feedback = question.locator(".widget-html:has(.quiz-verdict)")

    radios.nth(correct).check()
    check.click()
    expect(verdict).to_have_text("✓ Correct.", timeout=WIDGET_TIMEOUT_MS)
    shown = " ".join(feedback.inner_text().split())
    told = shown.removeprefix("✓ Correct.").strip()
    assert told, f"the feedback gives no explanation: {shown!r}"
    assert " ".join(explanation.split()) in told, f"unexpected explanation: {shown!r}"

    radios.nth(wrong).check()
    check.click()
    expect(verdict).to_have_text("✗ Not quite.", timeout=WIDGET_TIMEOUT_MS)


def check_saved_outputs(notebook: Locator, quiz_dir: Path) -> None:
    """Freshly cloned, before any cell runs (an untrusted notebook, no widget state): the
    saved outputs show the static fallbacks, the explorer's PNG and the quiz with its answers
    folded, and no widget error."""
    assert_no_widget_error(notebook)
    expect(notebook.locator(".jp-OutputArea-output img").first).to_be_visible()
    questions = yaml.safe_load((quiz_dir / f"{QUIZ}.yaml").read_text())["questions"]
    folded = notebook.locator(".course-quiz details")
    expect(folded).to_have_count(len(questions))
    assert not folded.first.evaluate("d => d.open"), "quiz answers should start folded"


def test_chapter_01_in_jupyterlab(page: Page, lab_server) -> None:
    if not (lab_server.root / NOTEBOOK).is_file():
        pytest.fail(f"{NOTEBOOK} is missing from the served notebooks folder "
                    f"(set COURSE_BROWSER_NOTEBOOKS to serve another one)", pytrace=False)

    notebook = open_notebook(page, lab_server.lab_url(f"lab/tree/{NOTEBOOK}"))
    check_saved_outputs(notebook, lab_server.quiz_dir)
    cells = run_all_cells(page, notebook)
    assert_every_cell_ran(notebook, cells)

    wait_for_widgets(notebook)
    assert_no_widget_error(notebook)

    check_heatmap_explorer(page, notebook)
    check_quiz(notebook, lab_server.quiz_dir)
    assert_no_widget_error(notebook)
