"""Chapter 08's figures: the NTM's step and the Part I recap.

Checked by what they hold (labelled boxes, the course's names, the weights drawn as bars and
printed, the memory shown), not by their pixels; the replayed step is checked against
``NTM.forward``.
"""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from course_utils.learner.figures.chapter_08 import (  # noqa: E402
    RECAP_ROWS,
    TOP_ROWS,
    NTMStep,
    draw_ntm_step,
    draw_part_one_recap,
    ntm_step,
)
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


def test_both_heads_weights_are_the_bars_and_the_printed_numbers(step):
    fig = draw_ntm_step(step)
    for gid, weights in (("write_weights", step.write_weights),
                         ("read_weights", step.read_weights)):
        axes = [ax for ax in fig.axes if any(p.get_gid() == gid for p in ax.patches)]
        assert len(axes) == 1
        bars = [p for p in axes[0].patches if p.get_gid() == gid]
        assert [b.get_width() for b in bars] == pytest.approx(weights.tolist())
        printed = [t.get_text() for t in axes[0].texts if t.get_gid() == gid]
        top = weights.argsort(descending=True, stable=True)[:TOP_ROWS].tolist()
        assert printed == [f"row {i}: {weights[i]:.2f}" for i in top]


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
