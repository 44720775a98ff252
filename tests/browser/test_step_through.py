"""End-to-end test of a step-through figure in a real JupyterLab: the slider steps the picture.

Chapter 04's walk-through for token 1 (``figures/chapter_04.self_attention_walkthrough``: a
:class:`~course_utils.learner.figures.step_through.StepThrough` over the notes' nine steps,
saved picture step 1) is run with the whole chapter, then its slider is moved by the keyboard,
as a learner would: one step on, then back. After the move on, the slider must read step 2
and the image must show another picture (its decoded pixels, since ipywidgets gives every
update a new ``blob:`` URL); after the move back, step 1 again, and the very picture it
started with.

Each move's latency is measured in the page: from the key press (the ``keydown`` event's
time stamp) to the frame after the new image was decoded (the image's ``src`` changes, its
``decode()`` resolves, then two animation frames: the first is the frame that paints it).
The numbers are printed (``-s`` shows them); the test only asserts a bound that no busy CI
machine crosses, :data:`LATENCY_BOUND_MS`. ``benchmarks/`` measures the kernel's part alone.

Run: ``.venv/bin/pytest -p no:cacheprovider -q -s tests/browser/test_step_through.py``; needs
Debian's ``chromium`` (see conftest.py for the fixtures and environment variables).
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from explorer_latency import explorer_box, timed_move
from test_lab import (
    WIDGET_TIMEOUT_MS,
    assert_every_cell_ran,
    assert_no_widget_error,
    explorer_parts,
    open_notebook,
    run_all_cells,
)

try:
    from playwright.sync_api import expect
except ImportError:  # the `browser` fixture skips the test (fails it on CI) and says why
    expect = None

if TYPE_CHECKING:
    from playwright.sync_api import Locator, Page

NOTEBOOK = "04_self_attention.ipynb"
STEPS = 9                     # the notes' nine slides of the walk-through
STEP_THROUGH = "img.course-step-through, .course-step-through img"  # StepThrough's image
LATENCY_BOUND_MS = 5_000      # generous: a loaded CI machine, a whole figure redrawn

# The decoded pixels of the image (drawn on a canvas: a blob: URL is same-origin, so the
# canvas is readable), as "width×height:FNV-1a hash". Waits until the image is loaded.
PIXEL_DIGEST_JS = """
async (img) => {
    await img.decode();
    const canvas = document.createElement('canvas');
    canvas.width = img.naturalWidth;
    canvas.height = img.naturalHeight;
    const context = canvas.getContext('2d');
    context.drawImage(img, 0, 0);
    const pixels = context.getImageData(0, 0, canvas.width, canvas.height).data;
    let hash = 0x811c9dc5;
    for (let i = 0; i < pixels.length; i++) hash = Math.imul(hash ^ pixels[i], 0x01000193) >>> 0;
    return `${canvas.width}x${canvas.height}:${hash.toString(16)}`;
}
"""

def pixel_digest(image: Locator) -> str:
    return image.evaluate(PIXEL_DIGEST_JS)


def move(image: Locator, handle: Locator, key: str) -> dict[str, float]:
    """Press ``key`` on the slider's handle; wait for the new image to be painted. Returns
    the latencies in ms: ``to_src`` (key press → new src) and ``to_paint`` (→ painted)."""
    latency = timed_move(image, explorer_box(image), handle, "slider",
                         forward=key == "ArrowRight")
    assert latency is not None, f"the {key} press sent no new picture"
    return latency


def expect_step(handle: Locator, readout: Locator, step: int) -> None:
    expect(handle, f"the slider is not at step {step}").to_have_attribute(
        "aria-valuetext", str(step), timeout=WIDGET_TIMEOUT_MS)
    expect(readout, f"the slider's label does not read step {step}").to_have_text(
        str(step), timeout=WIDGET_TIMEOUT_MS)


def test_step_through_slider_steps_the_picture(page: Page, lab_server) -> None:
    notebook = open_notebook(page, lab_server.workspace_url(NOTEBOOK))
    assert_every_cell_ran(notebook, run_all_cells(page, notebook))

    image = notebook.locator(STEP_THROUGH)
    expect(image, "the chapter shows no live step-through").to_have_count(
        1, timeout=WIDGET_TIMEOUT_MS)
    assert_no_widget_error(notebook)
    image.scroll_into_view_if_needed()
    expect(image).to_be_visible()
    _, controls = explorer_parts(image)
    slider = controls.locator(".widget-slider")
    expect(slider, "the step-through has no slider").to_have_count(1)
    expect(slider.locator("label"), "the slider is not the step's").to_have_text("step")
    handle = slider.locator(".noUi-handle").first
    readout = slider.locator(".widget-readout")
    expect(handle, f"the slider does not end at step {STEPS}").to_have_attribute(
        "aria-valuemax", re.compile(rf"^{STEPS}(\.0)?$"))  # noUiSlider writes "9.0"
    expect_step(handle, readout, 1)
    first = pixel_digest(image)

    on = move(image, handle, "ArrowRight")
    expect_step(handle, readout, 2)
    second = pixel_digest(image)
    assert second != first, "the slider moved to step 2, but the picture is step 1's"

    back = move(image, handle, "ArrowLeft")
    expect_step(handle, readout, 1)
    assert pixel_digest(image) == first, "back at step 1, the picture is not step 1's"
    assert_no_widget_error(notebook)

    print(f"\nstep-through latency, key press → new image painted: step 1→2 "
          f"{on['to_paint']:.0f} ms (src set after {on['to_src']:.0f} ms), step 2→1 "
          f"{back['to_paint']:.0f} ms (src set after {back['to_src']:.0f} ms)")
    for name, latency in (("1→2", on), ("2→1", back)):
        assert 0 < latency["to_src"] <= latency["to_paint"] < LATENCY_BOUND_MS, (
            f"step {name}: the new picture took {latency['to_paint']:.0f} ms to be painted "
            f"(bound {LATENCY_BOUND_MS} ms)")
