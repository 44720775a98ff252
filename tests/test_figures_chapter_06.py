"""Chapter 06's figure: the word embeddings X ⊕ the encoding matrix PE = the model's input.

The figure is checked by what it holds (its three labelled matrices, the numbers printed in
their cells and coloured in their images, the outlined row and PE's sin/cos pairs and ωᵢ), not
by its pixels.
"""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from course_utils.learner.figures.chapter_06 import (  # noqa: E402
    PAIR_COLOR,
    PANELS,
    input_plus_encoding,
)
from course_utils.mechanisms.positional import frequencies, sinusoidal_encoding  # noqa: E402

N, D, POSITION = 6, 16, 1


@pytest.fixture
def tensors() -> tuple[torch.Tensor, torch.Tensor]:
    """Chapter 06's section 1: x = randn(1, 6, 16) from seed 0, PE for 6 positions."""
    x = torch.randn(1, N, D, generator=torch.Generator().manual_seed(0))
    return x[0], sinusoidal_encoding(N, D)


@pytest.fixture
def figure(tensors):
    fig = input_plus_encoding(*tensors, position=POSITION)
    yield fig
    plt.close(fig)


def panel(fig: Figure, gid: str):
    (ax,) = [ax for ax in fig.axes if ax.get_gid() == gid]
    return ax


def printed(ax, gid: str) -> torch.Tensor:
    """The numbers printed in the cells of matrix ``gid``, as an (n, d) tensor."""
    cells = {t.get_gid(): float(t.get_text()) for t in ax.texts
             if str(t.get_gid()).startswith(f"{gid}[")}
    return torch.tensor([[cells[f"{gid}[{i},{j}]"] for j in range(D)] for i in range(N)],
                        dtype=torch.float64)


def test_three_matrices_with_their_shapes_and_the_operators(figure):
    assert isinstance(figure, Figure)
    titles = [panel(figure, gid).get_title(loc="left") for gid, _ in PANELS]
    assert titles[0].startswith("X — the word embeddings") and "6 × 16" in titles[0]
    assert titles[1].startswith("PE = sinusoidal_encoding(6, 16)")
    assert titles[2].startswith("X + PE — the model's input") and "(6 × 16)" in titles[2]
    assert [t.get_text() for t in figure.texts] == ["⊕", "="]
    rows = [label.get_text() for label in panel(figure, "PE").get_yticklabels()]
    assert rows == [f"p = {p}" for p in range(N)]


def test_cells_print_and_colour_the_real_numbers(figure, tensors):
    x, pe = tensors
    for gid, matrix in (("X", x), ("PE", pe), ("X+PE", x + pe)):
        ax = panel(figure, gid)
        assert torch.allclose(printed(ax, gid), matrix.double(), atol=0.005 + 1e-9)
        (image,) = ax.images
        assert torch.allclose(torch.from_numpy(image.get_array().data), matrix.double(),
                              atol=1e-6)


def test_one_position_outlined_through_all_three(figure):
    for gid, _ in PANELS:
        ax = panel(figure, gid)
        (row,) = [p for p in ax.patches if p.get_gid() == "row"]
        assert row.get_xy() == (-0.5, POSITION - 0.5)
        assert (row.get_width(), row.get_height()) == (D, 1)
        assert ax.get_yticklabels()[POSITION].get_fontweight() == "bold"


def test_pe_shows_its_sin_cos_pairs_and_their_frequencies(figure, tensors):
    ax = panel(figure, "PE")
    pairs = [p for p in ax.patches if str(p.get_gid()).startswith("pair")]
    assert len(pairs) == D // 2
    for i, box in enumerate(sorted(pairs, key=lambda p: p.get_x())):
        left, right = box.get_x(), box.get_x() + box.get_width()
        covers = [j for j in range(D) if left < j < right]   # the cell centres inside
        assert covers == [2 * i, 2 * i + 1]                   # one box per (sin, cos) pair
    pe_row = printed(ax, "PE")[POSITION]
    omega = frequencies(D, dtype=torch.float64)
    assert torch.allclose(pe_row[0::2], torch.sin(POSITION * omega), atol=0.005 + 1e-9)
    assert torch.allclose(pe_row[1::2], torch.cos(POSITION * omega), atol=0.005 + 1e-9)
    (top,) = ax.child_axes
    assert [t.get_text() for t in top.get_xticklabels()] == ["sin", "cos"] * (D // 2)
    speeds = [t.get_text() for t in ax.get_xticklabels()]
    assert speeds[0] == "ω₀ = 1" and speeds[-1] == f"ω₇ = {omega[-1].item():.2g}"
    assert len(speeds) == D // 2
    (note,) = [t for t in ax.texts if t.get_gid() == "frequency"]
    assert "fast" in note.get_text() and "slow" in note.get_text()
    (pair_note,) = [t for t in ax.texts if t.get_gid() == "row_note"]
    assert "sin 1·ωᵢ, cos 1·ωᵢ" in pair_note.get_text() and pair_note.get_color() == PAIR_COLOR


def test_what_it_cannot_draw_is_refused(tensors):
    x, pe = tensors
    with pytest.raises(ValueError, match="one shape"):
        input_plus_encoding(x[:5], pe)
    with pytest.raises(ValueError, match="one shape"):
        input_plus_encoding(x[None], pe[None])
    with pytest.raises(ValueError, match="not sinusoidal_encoding"):
        input_plus_encoding(x, pe.flip(0))
    with pytest.raises(ValueError, match="a row 0…5"):
        input_plus_encoding(x, pe, position=6)


def test_figure_closes_cleanly(tensors):
    before = plt.get_fignums()
    fig = input_plus_encoding(*tensors, position=3)
    assert fig.number in plt.get_fignums()
    plt.close(fig)
    assert plt.get_fignums() == before
