"""Chapter 09's figure: the blocked computation, a step-through over the key blocks.

No pixel comparisons: the tests read what is drawn (texts, patches, the tile states) and check
it against the online softmax of the chapter's tensors.
"""

from __future__ import annotations

import base64
import math
import time

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
from matplotlib.collections import QuadMesh  # noqa: E402

from course_utils.learner.figures.chapter_09 import (  # noqa: E402
    Pixels,
    blocked_computation,
    blocked_numbers,
    blocked_steps,
    draw_blocked_step,
    figure_size,
    still_layer,
    table_row,
)
from course_utils.learner.figures.step_through import StepThrough  # noqa: E402
from course_utils.mechanisms.efficient import chunked_attention  # noqa: E402


@pytest.fixture(scope="module")
def chapter():
    """Section 3's tensors, as the chapter builds them (qkv(1000): batch 1, 8 heads, d = 64)."""
    g = torch.Generator().manual_seed(0)
    return [torch.randn(1, 8, 1000, 64, generator=g) for _ in range(3)]


@pytest.fixture(scope="module")
def head(chapter):
    return [t[0, 0] for t in chapter]


@pytest.fixture(scope="module")
def numbers(head):
    return blocked_numbers(*head, 128)


@pytest.fixture(scope="module")
def walk(head):
    return blocked_computation(*head, 128)


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def texts(figure) -> dict[str, str]:
    return {t.get_gid(): t.get_text() for ax in figure.axes for t in ax.texts if t.get_gid()}


def drawn(step: int, numbers, still=None):
    fig = plt.figure(figsize=figure_size(numbers))
    ax = draw_blocked_step(fig, step, numbers, still)
    return fig, ax


# ------------------------------------------------------------------------------ the numbers
def test_the_last_m_and_l_are_the_full_softmax_max_and_sum(head, numbers):
    q, k, _ = head
    row = q[0] / math.sqrt(64) @ k.T
    assert numbers.blocks == 8 and numbers.n_k == 1000 and numbers.n_q == 1000
    assert torch.allclose(numbers.scores, row, atol=1e-6)
    assert torch.allclose(numbers.m[-1], row.max(), atol=1e-6)
    assert torch.allclose(numbers.l[-1], torch.exp(row - row.max()).sum(), rtol=1e-5)


def test_each_block_follows_the_update_rule(numbers):
    for b in range(numbers.blocks):
        keys = numbers.keys(b)
        block = numbers.scores[keys.start:keys.stop]
        assert torch.allclose(numbers.block_max[b], block.max(), atol=1e-6)
        assert torch.allclose(numbers.m[b], numbers.scores[:keys.stop].max(), atol=1e-6)
        assert torch.allclose(numbers.l[b], torch.exp(numbers.scores[:keys.stop]
                                                      - numbers.m[b]).sum(), rtol=1e-5)
        if b:
            assert torch.allclose(numbers.rescale[b], torch.exp(numbers.m[b - 1] - numbers.m[b]))
    assert numbers.rescale[0] == 0 and (numbers.rescale[1:] <= 1).all()
    assert (numbers.rescale[1:] < 1).any(), "the example should show the maximum growing"


def test_the_output_is_chunked_attentions(chapter, numbers):
    out = chunked_attention(*chapter, chunk_size=128)[0, 0, 0]
    assert torch.allclose(numbers.output, out, atol=1e-6)


def test_other_rows_and_refusals(head):
    q, k, v = head
    later = blocked_numbers(q, k, v, 128, row=300)         # query block 3
    row = q[300] / 8 @ k.T
    assert torch.allclose(later.m[-1], row.max(), atol=1e-6)
    with pytest.raises(ValueError, match="row"):
        blocked_numbers(q, k, v, 128, row=1000)
    with pytest.raises(ValueError, match="blocks"):
        blocked_numbers(q, k, v, 10)                      # 100 blocks: too many to draw
    with pytest.raises(ValueError, match="one head"):
        blocked_numbers(q[None], k, v, 128)


# ------------------------------------------------------------------------- each step drawn
@pytest.mark.parametrize("step", [1, 3, 8])
def test_each_step_shows_its_tiles_and_its_lines(numbers, step):
    fig, ax = drawn(step, numbers)
    shown = texts(fig)
    assert shown["title"] == f"Step {step} of 8 · {blocked_steps(numbers)[step - 1]}, for " \
        "the block of queries that holds query 0"
    assert shown["tile"] == f"$S_{{1,{step}}}$"
    (mesh,) = [c for c in ax.collections if isinstance(c, QuadMesh)]
    state = np.asarray(mesh.get_array()).reshape(8, 8)
    assert state[0, :step - 1].tolist() == [1] * (step - 1) and state[0, step - 1] == 2
    assert state[0, step:].sum() == 0 and state[1:].sum() == 0
    rows = [g for g in shown if g.startswith("block")]
    assert rows == [f"block{b + 1}" for b in range(step)]
    assert ("check" in shown) == (step == 8)


def test_the_lines_print_the_real_m_and_l(numbers):
    fig, _ = drawn(8, numbers)
    shown = texts(fig)
    for b in range(8):
        cells = shown[f"block{b + 1}"].split()
        assert cells == table_row(numbers, b).split()
        assert cells[0] == str(b + 1)
        assert cells[2:] == [f"{numbers.block_max[b]:.3f}", f"{numbers.m[b]:.3f}",
                             "—" if b == 0 else f"{numbers.rescale[b]:.3f}",
                             f"{numbers.l[b]:.3f}"]
    assert shown["block3"].split()[1] == "256–383" and shown["block8"].split()[1] == "896–999"
    row = numbers.scores
    assert f"max = {row.max():.3f}" in shown["check"]
    assert f"Σ e^(s − max) = {torch.exp(row - row.max()).sum():.3f}" in shown["check"]
    assert f"{numbers.m[-1]:.3f}" == f"{row.max():.3f}"
    assert f"{numbers.l[-1]:.3f}" == f"{torch.exp(row - row.max()).sum():.3f}"
    assert "\\ell' = \\ell\\, e^{m-m'}" in shown["rule"]
    assert shown["grid"].endswith("1000 × 1000, tiles of 128 × 128")


def test_a_step_out_of_range_is_refused(numbers):
    fig = plt.figure()
    with pytest.raises(ValueError, match="step"):
        draw_blocked_step(fig, 9, numbers)


def test_the_still_layer_replaces_the_still_texts(numbers):
    still = still_layer(numbers)
    width, height = plt.figure(figsize=figure_size(numbers), dpi=80).canvas.get_width_height()
    assert still.shape == (height, width, 4)                      # the figure's pixels
    assert still[..., 3].max() == 255 and still[0, 0, 3] == 0     # transparent ground
    fig, _ = drawn(2, numbers, still)
    assert set(texts(fig)) == {"title", "tile"}                   # the rest is pixels
    (pixels,) = [a for a in fig.artists if isinstance(a, Pixels)]
    assert pixels.pixels.shape == still.shape
    assert (pixels.pixels[..., 3] <= still[..., 3]).all()         # later rows hidden
    assert (pixels.pixels[..., 3] < still[..., 3]).any()
    fig.canvas.draw()
    plt.close(fig)
    assert not plt.fignum_exists(fig.number)


# ------------------------------------------------------------------------ the step-through
def test_the_step_through_saves_step_1(walk):
    assert isinstance(walk, StepThrough) and walk.step == 1
    assert texts(walk.figure)["title"].startswith("Step 1 of 8 · key block 1: keys 0–127")
    bundle = walk._repr_mimebundle_()
    assert base64.b64decode(bundle["image/png"]) == walk.default_png
    slider = walk.controls["step"]
    assert (slider.min, slider.max) == (1, 8)


def test_moving_the_slider_redraws_fast(walk):
    try:
        start = time.process_time()
        for step in range(2, 9):
            walk.set(step=step)
            assert texts(walk.figure)["tile"] == f"$S_{{1,{step}}}$"
        per_step = (time.process_time() - start) / 7
        assert per_step < 0.2, f"{per_step * 1000:.0f} ms of processor time per step"
        assert walk.image.value != walk.default_png
    finally:
        walk.set(step=1)
    assert walk.image.value == walk.default_png
