"""Chapter 04's figures: the self-attention walk-through (a step-through) and the matrix form.

No pixel comparisons: the tests read what is drawn (texts, patches, images) and check it
against the chapter's tensors.
"""

from __future__ import annotations

import base64
import io
import math

import ipywidgets as widgets
import matplotlib.pyplot as plt
import numpy as np
import PIL.Image
import pytest
import torch

from course_utils.learner.figures.chapter_04 import (
    draw_walkthrough_step,
    matrix_form,
    number,
    self_attention_walkthrough,
    walkthrough_numbers,
    walkthrough_steps,
)
from course_utils.learner.figures.step_through import StepThrough


@pytest.fixture(scope="module")
def chapter():
    """Section 1's tensors, built as the chapter builds them (n = 10, d_model = 8, d_k = 4)."""
    n, d_model, d_k = 10, 8, 4
    g = torch.Generator().manual_seed(0)
    I = torch.randn(d_model, n, generator=g)  # noqa: E741 (the notes' I)
    W_q = torch.randn(d_k, d_model, generator=g) / math.sqrt(d_model)
    W_k = torch.randn(d_k, d_model, generator=g) / math.sqrt(d_model)
    W_v = torch.randn(d_k, d_model, generator=g) / math.sqrt(d_model)
    return I, W_q, W_k, W_v


@pytest.fixture(scope="module")
def walk(chapter):
    return self_attention_walkthrough(*chapter)


def texts(figure) -> list[str]:
    return [t.get_text() for ax in figure.axes for t in ax.texts] + \
        [t.get_text() for t in figure.texts]


def drawn(figure, gid: str) -> list[str]:
    """The numbers of the box whose text has ``gid``, one per line."""
    (text,) = [t for ax in figure.axes for t in ax.texts if t.get_gid() == gid]
    return text.get_text().split("\n")


# ------------------------------------------------------------------------------ the numbers
def test_the_numbers_are_the_chapters_loop(chapter):
    I, W_q, W_k, W_v = chapter  # noqa: E741
    numbers = walkthrough_numbers(*chapter)
    q1 = W_q @ I[:, 0]
    k = [W_k @ I[:, i] for i in range(10)]
    v = [W_v @ I[:, i] for i in range(10)]
    alpha = torch.stack([q1 @ k[i] / math.sqrt(4) for i in range(10)])
    alpha_hat = torch.exp(alpha) / torch.exp(alpha).sum()
    b1 = sum(alpha_hat[i] * v[i] for i in range(10))
    assert torch.equal(numbers.q, q1) and torch.equal(numbers.alpha, alpha)
    assert torch.equal(numbers.alpha_hat, alpha_hat)
    assert torch.allclose(numbers.b, b1, atol=1e-6)
    Q, K, V = W_q @ I, W_k @ I, W_v @ I               # and column 1 of the matrix form
    assert torch.allclose(numbers.b, (V @ torch.softmax(K.T @ Q / 2, dim=0))[:, 0], atol=1e-6)


def test_number_never_prints_minus_zero():
    assert [number(x) for x in (-0.001, 0.004, 1.234, -1.236)] == \
        ["0.00", "0.00", "1.23", "-1.24"]


# ------------------------------------------------------------------------- each step drawn
@pytest.mark.parametrize("step", range(1, 10))
def test_each_step_draws_its_caption_and_returns_the_axes(chapter, step):
    numbers = walkthrough_numbers(*chapter)
    fig = plt.figure(figsize=(12, 7))
    try:
        ax = draw_walkthrough_step(fig, step, numbers)
        caption = walkthrough_steps(10, 4)[step - 1]
        assert f"Step {step} of 9 · {caption}" in texts(fig)
        assert ax.patches, "no boxes drawn"
    finally:
        plt.close(fig)
    assert not plt.fignum_exists(fig.number)


def test_the_boxes_hold_the_real_numbers_rounded(chapter):
    numbers = walkthrough_numbers(*chapter)
    fig = plt.figure(figsize=(12, 7))
    try:
        draw_walkthrough_step(fig, 9, numbers)
        assert drawn(fig, "a1") == [number(x) for x in chapter[0][:, 0].tolist()]
        assert drawn(fig, "q1") == [number(x) for x in numbers.q.tolist()]
        assert drawn(fig, "k10") == [number(x) for x in numbers.k[9].tolist()]
        assert drawn(fig, "v3") == [number(x) for x in numbers.v[2].tolist()]
        for i in range(10):
            assert drawn(fig, f"alpha{i + 1}") == [number(numbers.alpha[i].item())]
            assert drawn(fig, f"alpha_hat{i + 1}") == [number(numbers.alpha_hat[i].item())]
        assert drawn(fig, "b1") == [number(x) for x in numbers.b.tolist()]
        assert "Σ = 1.00" in texts(fig)
    finally:
        plt.close(fig)


def test_later_steps_are_empty_boxes(chapter):
    """At step 1 only the inputs carry numbers; the query, keys, scores … are dashed plans."""
    fig = plt.figure(figsize=(12, 7))
    try:
        draw_walkthrough_step(fig, 1, walkthrough_numbers(*chapter))
        gids = {t.get_gid() for t in fig.axes[0].texts} - {None}
        assert gids == {"title"} | {f"a{i}" for i in range(1, 11)}
        dashed = [p for p in fig.axes[0].patches if p.get_linestyle() == "--"]
        assert len(dashed) == 1 + 10 * 5 + 1 + 1      # q, k v α α̂ α̂v per token, b, band
    finally:
        plt.close(fig)


def test_a_step_out_of_range_is_refused(chapter):
    fig = plt.figure()
    try:
        with pytest.raises(ValueError, match="step"):
            draw_walkthrough_step(fig, 10, walkthrough_numbers(*chapter))
    finally:
        plt.close(fig)


# ------------------------------------------------------------------------ the step-through
def test_the_step_through_starts_at_step_1_and_saves_it(walk):
    assert isinstance(walk, StepThrough) and walk.step == 1
    assert texts(walk.figure)[0].startswith("Step 1 of 9")
    bundle = walk._repr_mimebundle_()
    assert bundle["text/plain"] == "Step-through (run the notebook to move the controls)"
    png = base64.b64decode(bundle["image/png"])
    assert png == walk.default_png
    width, height = PIL.Image.open(io.BytesIO(png)).size
    assert (width, height) == walk.figure.canvas.get_width_height()


def test_moving_the_slider_redraws_another_step(walk):
    before = texts(walk.figure)
    try:
        walk.set(step=5)
        after = texts(walk.figure)
        assert after != before and after[0].startswith("Step 5 of 9")
        assert drawn(walk.figure, "alpha3") == [number(walk.numbers.alpha[2].item())]
        assert walk.image.value != walk.default_png
        walk.set(step=1)
        assert texts(walk.figure) == before
        assert base64.b64decode(walk._repr_mimebundle_()["image/png"]) == walk.default_png
    finally:
        walk.set(step=1)


def test_the_slider_and_the_play_button_cover_every_step(walk):
    slider = walk.controls["step"]
    assert (slider.min, slider.max, slider.value) == (1, 9, 1)
    assert isinstance(walk.play, widgets.Play) and (walk.play.min, walk.play.max) == (1, 9)
    assert list(walk.widget.children[0].children) == [walk.play, slider]
    assert "course-step-through" in walk.image._dom_classes
    assert "course-heatmap" not in walk.image._dom_classes


def test_step_through_takes_a_count_or_captions():
    drawn_steps = []

    def draw(fig, step):
        drawn_steps.append(step)
        fig.text(0.5, 0.5, f"step {step}")

    walk = StepThrough(draw, 3, figsize=(2, 1), play=False)
    assert drawn_steps == [1, 2, 3]  # every step drawn once, up front
    walk.set(step=3)
    assert drawn_steps == [1, 2, 3], "a move only swaps the kept picture"
    assert walk.steps == ("step 1", "step 2", "step 3")
    assert [t.get_text() for t in walk.figure.texts] == ["step 3"]  # drawn when asked for
    assert drawn_steps == [1, 2, 3, 3]
    assert [t.get_text() for t in walk.figure.texts] == ["step 3"] and len(drawn_steps) == 4
    assert StepThrough(draw, ["one", "two"], figsize=(2, 1)).steps == ("one", "two")
    with pytest.raises(ValueError):
        StepThrough(draw, 0)
    with pytest.raises(TypeError):
        StepThrough(draw, "three")


def test_each_step_shows_the_picture_drawn_for_it():
    """The kept pictures are the steps' own: moving to a step shows what drawing it gives,
    in any order, and coming back to step 1 shows the saved picture."""
    def draw(fig, step):  # a bar as long as the step (a text's pixels depend on the fonts'
        ax = fig.add_axes((0, 0, 1, 1))  # hinting of earlier drawings)
        ax.barh(0, step, color="k")
        ax.set(xlim=(0, 4), ylim=(-1, 1))
        ax.set_axis_off()

    walk = StepThrough(draw, 4, figsize=(2, 1), play=False)
    fresh = StepThrough(draw, 4, figsize=(2, 1), play=False)
    pictures = {}
    for step in (3, 2, 4, 1):
        walk.set(step=step)
        pictures[step] = bytes(walk.image.value)
        fresh.set(step=step)
        assert fresh.figure.axes[0].patches[0].get_width() == step  # drawn anew when asked
        assert pictures[step] == fresh._paint(), f"step {step} shows another picture"
    assert len(set(pictures.values())) == 4 and pictures[1] == walk.default_png
    assert max(walk.update_times_ms) < 50  # a swap of bytes, not a drawing


# ---------------------------------------------------------------------------- matrix form
def test_matrix_form_draws_every_matrix_to_scale(chapter):
    I, W_q, W_k, W_v = chapter  # noqa: E741
    fig = matrix_form(*chapter)
    try:
        shapes = {t.get_gid()[6:]: t.get_text() for t in fig.axes[0].texts
                  if (t.get_gid() or "").startswith("shape:")}
        assert shapes == {"$Q$": "4 × 10", "$K$": "4 × 10", "$V$": "4 × 10",
                          "$W^q$": "4 × 8", "$W^k$": "4 × 8", "$W^v$": "4 × 8",
                          "$I$": "8 × 10", "$A$": "10 × 10", "$K^\\top$": "10 × 4",
                          "$\\hat A$": "10 × 10", "$O$": "4 × 10"}
        for image in fig.axes[0].images:              # each box: one cell per entry, square
            rows, cols = image.get_array().shape
            left, right, bottom, top = image.get_extent()
            assert math.isclose(right - left, cols * 0.13) and \
                math.isclose(top - bottom, rows * 0.13)
        assert any("down each column" in t for t in texts(fig))
    finally:
        plt.close(fig)
    assert not plt.fignum_exists(fig.number)


def test_matrix_form_shows_the_real_matrices(chapter):
    I, W_q, W_k, W_v = chapter  # noqa: E741
    fig = matrix_form(*chapter)
    try:
        m = fig.matrices
        A_hat = torch.softmax((W_k @ I).T @ (W_q @ I) / 2, dim=0)
        assert torch.allclose(m["Â"], A_hat) and torch.allclose(m["Â"].sum(0), torch.ones(10))
        assert torch.allclose(m["O"], (W_v @ I) @ A_hat)
        arrays = [np.asarray(image.get_array()) for image in fig.axes[0].images]
        assert any(np.array_equal(a, W_q.double().numpy()) for a in arrays)
        assert any(np.array_equal(a, m["O"].double().numpy()) for a in arrays)
        assert len(arrays) == 3 * 3 + 3 + 1 + 3        # Q K V = W I; A = KᵀQ; Â; O = V Â
    finally:
        plt.close(fig)
