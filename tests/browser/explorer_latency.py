"""How fast an explorer answers the hand, measured in the page: from the input event to the
frame that paints the new picture.

Used by ``test_lab.py`` (every chapter: every explorer it shows, each control moved a few
times) and, through it, by ``make bench`` (``benchmarks/run_benchmarks.py``), which prints
the browser's latency beside the kernel's redraw time.

One move: the probe (``ARM_JS``) listens on the explorer's box for the first ``keydown``
(a slider's handle), ``change`` or ``input`` event (a dropdown) and takes that event's time
stamp as the input; it watches the image's ``src`` (ipywidgets gives every new picture a new
``blob:`` URL), waits for the new picture to be decoded, then for two animation frames: the
first is the frame that paints it. A move that leaves the picture as it was (a slider step
that changes nothing drawn) sends no new picture: it is skipped after
:data:`UNCHANGED_WAIT_MS`, not counted.

With ``COURSE_LATENCY_REPORT`` set to a file, every measured explorer is appended to it as
one JSON line: the notebook, the explorer's code cell (its index among the notebook's cells),
its kind and the latencies in ms.
"""

from __future__ import annotations

import json
import os
import statistics
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from playwright.sync_api import Locator

# Every explorer's image: HeatmapExplorer, OverlayExplorer and PanelExplorer use the first
# class, StepThrough the second.
EXPLORER_IMAGES = ("img.course-heatmap, .course-heatmap img, img.course-step-through, "
                   ".course-step-through img")
MOVES_PER_CONTROL = 3
UNCHANGED_WAIT_MS = 3_000  # a move that sends no new picture within this is not counted
PAINT_TIMEOUT_MS = 30_000  # a picture that takes longer fails the test
# The bound test_lab asserts on each explorer's median: far above the course's aim (120 ms,
# which make bench reports against) so that a loaded CI machine does not cross it, far below
# what a learner would call broken.
LATENCY_BOUND_MS = 1_000

ARM_JS = """
([img, box]) => {
    const record = {};
    window.__courseLatency = record;
    const onInput = event => { if (record.input === undefined) record.input = event.timeStamp; };
    for (const type of ['keydown', 'change', 'input'])
        box.addEventListener(type, onInput, {capture: true, once: true});
    const before = img.src;
    const observer = new MutationObserver(() => {
        if (img.src === before) return;
        observer.disconnect();
        record.src = performance.now();
        const painted = () => requestAnimationFrame(() => requestAnimationFrame(() => {
            record.painted = performance.now();
        }));
        img.decode().then(painted, painted);  // a revoked URL still ends the measure
    });
    observer.observe(img, {attributes: true, attributeFilter: ['src']});
    window.__courseLatencyStop = () => observer.disconnect();
}
"""
PAINTED_JS = "() => window.__courseLatency && window.__courseLatency.painted !== undefined"
CELL_INDEX_JS = """
img => [...document.querySelectorAll('.jp-NotebookPanel:not(.lm-mod-hidden) .jp-Notebook .jp-Cell')]
         .indexOf(img.closest('.jp-Cell'))
"""


def explorer_box(image: Locator) -> Locator:
    """The explorer's box (``VBox([HBox(controls), Image])``) around its image."""
    return image.locator("xpath=ancestor::div[contains(@class, 'widget-vbox')][1]")


def move_once(control: Locator, kind: str, forward: bool) -> None:
    """One move of a control, as a hand makes it: an arrow key on a slider's handle, the
    next (or previous) entry of a dropdown."""
    if kind == "slider":
        control.press("ArrowRight" if forward else "ArrowLeft")
        return
    values = control.locator("option").evaluate_all("os => os.map(o => o.value)")
    at = values.index(control.input_value())
    step = 1 if forward else -1
    if not 0 <= at + step < len(values):
        step = -step
    control.select_option(values[at + step])


def timed_move(image: Locator, box: Locator, control: Locator, kind: str,
               forward: bool) -> dict[str, float] | None:
    """Make one move; the ms from its input event to the new picture's ``src`` (``to_src``)
    and to the frame that paints it (``to_paint``), or None when the picture did not
    change."""
    page = image.page
    page.evaluate(ARM_JS, [image.element_handle(), box.element_handle()])
    move_once(control, kind, forward)
    try:
        page.wait_for_function(PAINTED_JS, timeout=UNCHANGED_WAIT_MS, polling="raf")
    except Exception:  # noqa: BLE001 - playwright's TimeoutError: still drawing, or no change
        record = page.evaluate("() => window.__courseLatency")
        if "src" not in record:  # no new picture yet: a move that changed nothing drawn?
            page.wait_for_timeout(UNCHANGED_WAIT_MS)
            record = page.evaluate("() => window.__courseLatency")
            if "src" not in record:
                page.evaluate("() => window.__courseLatencyStop()")
                return None
        page.wait_for_function(PAINTED_JS, timeout=PAINT_TIMEOUT_MS, polling="raf")
    record = page.evaluate("() => window.__courseLatency")
    assert "input" in record, "the move's input event never reached the explorer"
    return {"to_src": record["src"] - record["input"],
            "to_paint": record["painted"] - record["input"]}


def controls_of(box: Locator) -> list[tuple[Locator, str]]:
    """The explorer's sliders (their handles) and dropdowns, in order."""
    row = box.locator("xpath=./div[contains(@class, 'widget-hbox')][1]")
    found = []
    for widget in row.locator(":scope > .widget-slider, :scope > .widget-dropdown").all():
        if "widget-slider" in (widget.get_attribute("class") or ""):
            found.append((widget.locator(".noUi-handle").first, "slider"))
        else:
            found.append((widget.locator("select"), "dropdown"))
    return found


def measure_explorer(image: Locator, moves: int = MOVES_PER_CONTROL) -> list[float]:
    """Move each control of the explorer of ``image`` ``moves`` times, then back; the
    latency of every move that changed the picture, in ms."""
    box = explorer_box(image)
    image.scroll_into_view_if_needed()
    latencies = []
    for control, kind in controls_of(box):
        if kind == "slider":
            at_max = control.get_attribute("aria-valuenow") == control.get_attribute(
                "aria-valuemax")
            control.focus()
        else:
            at_max = False
        for forward in [not at_max] * moves + [at_max] * moves:  # there and back
            latency = timed_move(image, box, control, kind, forward)
            if latency is not None:
                latencies.append(latency["to_paint"])
    return latencies


def measure_notebook(notebook: Locator, name: str) -> list[dict]:
    """Measure every explorer the notebook shows; one record per explorer (appended to
    ``COURSE_LATENCY_REPORT`` when it is set)."""
    records = []
    for image in notebook.locator(EXPLORER_IMAGES).all():
        kind = "step-through" if "course-step-through" in (
            image.get_attribute("class") or "") else "explorer"
        latencies = measure_explorer(image)
        records.append({"notebook": name, "cell": image.evaluate(CELL_INDEX_JS), "kind": kind,
                        "latencies_ms": [round(x, 1) for x in latencies]})
    report = os.environ.get("COURSE_LATENCY_REPORT")
    if report:
        with Path(report).open("a", encoding="utf-8") as out:
            for record in records:
                out.write(json.dumps(record) + "\n")
    return records


def summary(latencies: list[float]) -> str:
    """``median / max`` ms, for the printed report."""
    if not latencies:
        return "no move changed the picture"
    return f"median {statistics.median(latencies):.0f} ms, max {max(latencies):.0f} ms " \
           f"({len(latencies)} moves)"
