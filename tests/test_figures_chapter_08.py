"""Chapter 08's figures: the NTM's step, its six stages as a step-through, and the Part I recap.

Checked by what they hold (labelled boxes, the course's names, the weights drawn as bars and
printed, the memory shown, what each stage fills in), not by their pixels; the replayed step is
checked against ``NTM.forward``.
"""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import base64  # noqa: E402

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from course_utils.learner.figures.chapter_08 import (  # noqa: E402
    BAR_W,
    RECAP_ROWS,
    STAGES,
    TOP_ROWS,
    NTMStep,
    draw_ntm_stage,
    draw_ntm_step,
    draw_part_one_recap,
    erased_memory,
    ntm_stages,
    ntm_step,
    stage_notes,
)
from course_utils.learner.figures.step_through import StepThrough  # noqa: E402
from course_utils.mechanisms.ntm import NTM, read, write  # noqa: E402
from course_utils.worlds.toy_tasks import copy_task_batch  # noqa: E402


@pytest.fixture(scope="module")
def model() -> NTM:
    """Sizes unlike the chapter's, so a hard-coded number would show."""
    torch.manual_seed(1)
    return NTM(9, 8, controller_size=12, memory_rows=10, memory_width=6).eval()


@pytest.fixture(scope="module")
def sequence() -> torch.Tensor:
    x, _ = copy_task_batch(1, 4, torch.Generator().manual_seed(0))
    return x                                                     # (1, 9, 9)


@pytest.fixture(autouse=True)
def close_figures():
    """Every figure a test draws is closed after it."""
    before = set(plt.get_fignums())
    yield
    for number in set(plt.get_fignums()) - before:
        plt.close(number)


def all_texts(fig: Figure) -> list[str]:
    return [t.get_text() for ax in fig.axes for t in ax.texts]


def test_the_replayed_step_is_the_models_forward(model, sequence):
    with torch.no_grad():
        out = model(sequence)
    for t in (0, 3, sequence.shape[1] - 1):
        step = ntm_step(model, sequence, t)
        assert torch.allclose(step.write_weights, out.write_weights[0, t], atol=1e-6)
        assert torch.allclose(step.read_weights, out.read_weights[0, t], atol=1e-6)
        assert torch.allclose(step.output, out.outputs[0, t], atol=1e-6)
        assert torch.equal(step.x, sequence[0, t])
        new = write(step.memory_before[None], step.write_weights[None], step.erase[None],
                    step.add[None])[0]
        assert torch.allclose(step.memory, new)                      # M_t = write(M_t−1, …)
        assert torch.allclose(step.read_vector, read(step.memory[None],
                                                     step.read_weights[None])[0])
    assert torch.equal(ntm_step(model, sequence, 0).read_prev, torch.zeros(6))   # r₀ = 0
    assert torch.equal(ntm_step(model, sequence, 4).read_prev,
                       ntm_step(model, sequence, 3).read_vector)


def test_ntm_step_refuses_what_it_cannot_replay(model, sequence):
    with pytest.raises(TypeError, match="NTM"):
        ntm_step(object(), sequence, 0)
    with pytest.raises(ValueError, match="shape"):
        ntm_step(model, sequence.repeat(2, 1, 1), 0)
    with pytest.raises(ValueError, match="t must be"):
        ntm_step(model, sequence, sequence.shape[1])


@pytest.fixture
def step(model, sequence) -> NTMStep:
    return ntm_step(model, sequence, 3)


def test_the_step_names_the_course_parts(step):
    fig = draw_ntm_step(step, "a test caption")
    assert isinstance(fig, Figure)
    shown = "\n".join(all_texts(fig))
    for name in ("NTM.controller", "LSTMCell(9 + 6 → 12)", "NTM.write_head", "NTM.read_head",
                 "write(): M ← M ∘ (1 − w eᵀ) + w aᵀ", "read(): $r_t$ = Σᵢ wᵢ Mᵢ",
                 "NTM.out", "memory $M_t$  (N = 10 rows × M = 6)", "t = 3",
                 "a test caption", "$r_{t-1}$", "$x_t$"):
        assert name in shown, name
    boxes = {p.get_gid() for p in fig.axes[0].patches if type(p).__name__ == "FancyBboxPatch"}
    assert boxes == {"x", "read_prev", "controller", "write_head", "read_head", "read_vector",
                     "output"}


def bar_widths(fig: Figure, gid: str) -> list[float] | None:
    """The weights drawn as the bars ``gid`` (a bar's length over :data:`BAR_W`), or None."""
    bars = [c for ax in fig.axes for c in ax.collections if c.get_gid() == gid]
    if not bars:
        return None
    assert len(bars) == 1
    return [np.ptp(path.vertices[:, 0]) / BAR_W for path in bars[0].get_paths()]


def printed(fig: Figure, gid: str) -> list[str]:
    return [t.get_text() for ax in fig.axes for t in ax.texts if t.get_gid() == gid]


def test_both_heads_weights_are_the_bars_and_the_printed_numbers(step):
    fig = draw_ntm_step(step)
    for gid, weights in (("write_weights", step.write_weights),
                         ("read_weights", step.read_weights)):
        assert bar_widths(fig, gid) == pytest.approx(weights.tolist())
        top = weights.argsort(descending=True, stable=True)[:TOP_ROWS].tolist()
        assert printed(fig, gid) == [f"row {i}: {weights[i]:.2f}" for i in top]


def test_the_memory_and_the_vectors_hold_the_real_numbers(step):
    fig = draw_ntm_step(step)
    images = {im.get_gid(): im.get_array() for ax in fig.axes for im in ax.images}
    assert torch.allclose(torch.as_tensor(images["memory"]), step.memory)
    expected = {"x": step.x, "read_prev": step.read_prev, "h": step.h[:20], "e": step.erase,
                "a": step.add, "read_vector": step.read_vector,
                "output": torch.sigmoid(step.output)}
    for gid, vector in expected.items():
        assert images[gid][0].tolist() == pytest.approx(vector.tolist()), gid


def test_the_recap_has_four_rows_of_one_pattern(model):
    fig = draw_part_one_recap(model)
    assert isinstance(fig, Figure)
    ax = fig.axes[0]
    chapters = [t.get_text() for t in ax.texts if t.get_gid() == "chapter"]
    assert chapters == ["02", "03", "03", "08"]
    tasks = [t.get_text().replace("\n", " ") for t in ax.texts if t.get_gid() == "task"]
    assert tasks == ["machine translation", "image captioning", "reading comprehension",
                     "Neural Turing Machine"]
    for column in ("query", "keys / values", "α = softmax(score)", "Σ: weighted sum", "feeds"):
        assert len([t for t in ax.texts if t.get_gid() == column]) == 4, column
    sums = [t.get_text() for t in ax.texts if t.get_gid() == "Σ: weighted sum"]
    assert sums == ["c = Σ αᵢ hⁱ", "c = Σ αᵢ rᵢ", "o = Σ pᵢ cᵢ", "r = Σ wᵢ Mᵢ"]
    assert "memory rows M₀…M₉" in "\n".join(t.get_text() for t in ax.texts)    # 10 rows
    assert len([p for p in ax.patches if p.get_gid() == "flow"]) == 4 * 4
    assert len(RECAP_ROWS) == 4


def test_the_recap_without_a_model_and_refusing_another(model):
    fig = draw_part_one_recap()
    assert "memory rows Mᵢ\n(keys = values)" in [t.get_text() for t in fig.axes[0].texts]
    with pytest.raises(TypeError, match="NTM"):
        draw_part_one_recap(object())


def test_figures_close_cleanly(step, model):
    before = plt.get_fignums()
    for fig in (draw_ntm_step(step), draw_part_one_recap(model)):
        plt.close(fig)
    assert plt.get_fignums() == before


# ------------------------------------------------------------- the six stages, stepped
@pytest.fixture(scope="module")
def walk(model, sequence):
    walk = ntm_stages(ntm_step(model, sequence, 3), "a test caption")
    yield walk
    walk.set(step=1)
    plt.close("all")


def images(fig: Figure) -> dict:
    return {im.get_gid(): np.asarray(im.get_array()) for ax in fig.axes for im in ax.images}


def now(fig: Figure) -> set[str]:
    """The boxes outlined as this stage's own."""
    return {p.get_gid() for ax in fig.axes for p in ax.patches
            if p.get_edgecolor()[:3] == pytest.approx((1.0, 0x7F / 255, 0x0E / 255))}


def test_the_erase_then_the_add_give_the_written_memory(step):
    erased = erased_memory(step)
    assert torch.allclose(erased + step.write_weights[:, None] * step.add[None], step.memory)
    assert torch.allclose(erased, step.memory_before * (1 - step.write_weights[:, None]
                                                        * step.erase[None]))


def test_the_step_through_has_six_stages_and_saves_stage_1(walk):
    assert isinstance(walk, StepThrough) and walk.step == 1
    assert walk.steps == STAGES and len(STAGES) == 6
    slider = walk.controls["step"]
    assert (slider.min, slider.max, slider.value) == (1, 6, 1)
    assert printed(walk.figure, "title")[0].startswith("Stage 1 of 6 (t = 3) · the controller")
    bundle = walk._repr_mimebundle_()
    assert base64.b64decode(bundle["image/png"]) == walk.default_png
    assert bundle["text/plain"] == "Step-through (run the notebook to move the controls)"


def test_each_stage_fills_in_what_the_step_has_computed_by_then(walk):
    step = walk.numbers
    memory = {1: step.memory_before, 2: step.memory_before, 3: erased_memory(step),
              4: step.memory, 5: step.memory, 6: step.memory}
    own = {1: {"x", "read_prev", "controller"}, 2: {"write_head"},
           3: {"memory_frame"}, 4: {"memory_frame"}, 5: {"read_head", "read_vector"},
           6: {"output"}}
    try:
        for stage in (1, 2, 3, 4, 5, 6):
            walk.set(step=stage)
            fig = walk.figure
            assert printed(fig, "title")[0].startswith(f"Stage {stage} of 6 (t = 3) · ")
            assert printed(fig, "note") == [stage_notes(step)[stage - 1]]
            shown = images(fig)
            assert torch.allclose(torch.as_tensor(shown["memory"]), memory[stage])
            assert ("e" in shown and "a" in shown) == (stage >= 2)
            assert ("read_vector" in shown) == (stage >= 5)
            assert ("output" in shown) == (stage >= 6)
            assert shown["x"][0].tolist() == pytest.approx(step.x.tolist())
            write, read = bar_widths(fig, "write_weights"), bar_widths(fig, "read_weights")
            assert (write is not None) == (stage >= 2) and (read is not None) == (stage >= 5)
            if write is not None:
                assert write == pytest.approx(step.write_weights.tolist())
            if read is not None:
                assert read == pytest.approx(step.read_weights.tolist())
            assert now(fig) == own[stage], stage
    finally:
        walk.set(step=1)


def test_the_stage_notes_print_the_real_numbers(step):
    notes = stage_notes(step)
    row_w, row_r = int(step.write_weights.argmax()), int(step.read_weights.argmax())
    assert len(notes) == 6
    assert f"row {row_w} ({step.write_weights[row_w]:.2f})" in notes[1]
    assert f"row {row_r} ({step.read_weights[row_r]:.2f})" in notes[4]
    change = (step.memory - erased_memory(step)).abs().max()
    assert f"up to {change:.2f}" in notes[3]
    bits = "".join("1" if p > 0.5 else "0" for p in torch.sigmoid(step.output).tolist())
    assert bits in notes[5]


def test_the_stages_refuse_bad_arguments(step):
    fig = Figure()
    for stage in (0, 7, True, 2.0):
        with pytest.raises(ValueError, match="stage must be in 1 … 6"):
            draw_ntm_stage(fig, stage, step)
    with pytest.raises(TypeError, match="NTMStep"):
        ntm_stages(object())
