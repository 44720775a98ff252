"""Chapter 06's slide, drawn by code: the positional encoding is *added* to the input.

The notes' slide: the word embeddings X (n × d_model) ⊕ the encoding matrix PE (n × d_model)
= the model's input X + PE. :func:`input_plus_encoding` draws the three matrices stacked, one
above the other so that column j of X, of PE and of X + PE line up, each as a grid of its real
numbers (coloured on one shared scale, blue negative, red positive). PE's columns are labelled
sin / cos and each column pair by its angular speed ωᵢ = base^(−2i/d_model): fast on the left,
slow on the right. One position p is outlined through all three matrices, and in PE its sin/cos
pairs (sin pωᵢ, cos pωᵢ) are boxed one by one.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.axes import Axes
from matplotlib.colors import Normalize
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle
from torch import Tensor

from ...mechanisms.positional import frequencies, sinusoidal_encoding

__all__ = ["input_plus_encoding", "PANELS", "ROW_COLOR", "PAIR_COLOR"]

#: The three matrices, top to bottom: (gid, title). ``{n}``, ``{d}`` are filled in.
PANELS = (
    ("X", "X — the word embeddings  (n × d_model = {n} × {d})"),
    ("PE", "PE = sinusoidal_encoding({n}, {d}) — one row per position  ({n} × {d})"),
    ("X+PE", "X + PE — the model's input  ({n} × {d})"),
)
CMAP = "RdBu_r"
ROW_COLOR = "black"       # the outlined position, through all three matrices
PAIR_COLOR = "#ff7f0e"    # its sin/cos pairs in PE
SUBSCRIPTS = str.maketrans("0123456789", "₀₁₂₃₄₅₆₇₈₉")
# Lengths in inches.
CELL_W, CELL_H = 0.44, 0.24
LEFT, RIGHT = 0.62, 2.0   # room for the row labels / for the row note and the colour bar
TOP, BOTTOM = 0.52, 0.50   # room above X (title, column numbers) / under X + PE (its axis label)
GAPS = (0.74, 0.95)        # X → PE (⊕, PE's title and sin/cos), PE → X + PE (ω, =, a title)


def check_matrices(embeddings: Tensor, encoding: Tensor, position: int, base: float) -> None:
    """X and PE: matrices of one shape (n, d_model), PE the course's sinusoids (the labels say
    so), and ``position`` a row of them."""
    if embeddings.ndim != 2 or embeddings.shape != encoding.shape:
        raise ValueError(f"X and PE must be matrices (n, d_model) of one shape; got "
                         f"{tuple(embeddings.shape)} and {tuple(encoding.shape)}")
    n, d = encoding.shape
    expected = sinusoidal_encoding(n, d, base=base, dtype=torch.float64)
    if not torch.allclose(encoding.detach().double().cpu(), expected, atol=1e-5):
        raise ValueError(f"PE is not sinusoidal_encoding({n}, {d}, base={base:g}): the figure "
                         "labels its columns sin/cos and ωᵢ")
    if not 0 <= position < n:
        raise ValueError(f"position must be a row 0…{n - 1}, got {position}")


def number_grid(ax: Axes, matrix: np.ndarray, norm: Normalize, gid: str) -> None:
    """``matrix (n, d)`` as coloured cells, each with its number (two decimals); the image and
    the numbers carry ``gid`` (a number: ``gid[i,j]``)."""
    image = ax.imshow(matrix, cmap=CMAP, norm=norm, aspect="auto", interpolation="nearest")
    image.set_gid(gid)
    for (i, j), value in np.ndenumerate(matrix):
        dark = abs(norm(value) - 0.5) > 0.32
        ax.text(j, i, f"{value:.2f}", ha="center", va="center", fontsize=6.8,
                color="white" if dark else "black", gid=f"{gid}[{i},{j}]")


def outline_row(ax: Axes, position: int, d: int) -> None:
    """The outline of row ``position`` (one position) across all ``d`` columns."""
    ax.add_patch(Rectangle((-0.5, position - 0.5), d, 1, fill=False, edgecolor=ROW_COLOR,
                           linewidth=2.4, clip_on=False, zorder=5, gid="row"))


def pair_boxes(ax: Axes, position: int, d: int) -> None:
    """In PE's outlined row, one box per column pair (2i, 2i+1): the point (sin pωᵢ, cos pωᵢ)."""
    for i in range(d // 2):
        ax.add_patch(Rectangle((2 * i - 0.42, position - 0.36), 1.84, 0.72, fill=False,
                               edgecolor=PAIR_COLOR, linewidth=1.5, zorder=6, gid=f"pair{i}"))


def row_ticks(ax: Axes, n: int, position: int) -> None:
    """Row labels ``p = 0…n−1``; the outlined position's in bold."""
    ax.set_yticks(range(n), [f"p = {p}" for p in range(n)], fontsize=8)
    ax.get_yticklabels()[position].set_fontweight("bold")
    ax.tick_params(axis="y", length=0)


def frequency_labels(ax: Axes, omega: np.ndarray, base: float, d: int) -> None:
    """Under PE: ωᵢ centred under each column pair, and the fast → slow arrow."""
    ax.set_xticks([2 * i + 0.5 for i in range(len(omega))],
                  [f"ω{str(i).translate(SUBSCRIPTS)} = {w:.2g}" for i, w in enumerate(omega)],
                  fontsize=7.5)
    ax.tick_params(axis="x", length=0, pad=3)
    ax.annotate("", xy=(0.98, -0.33), xytext=(0.02, -0.33), xycoords="axes fraction",
                arrowprops={"arrowstyle": "-|>", "color": "0.35", "linewidth": 1.2})
    ax.text(0.5, -0.30, f"angular speed per position ωᵢ = {base:g}^(−2i/{d}):  fast ← → slow",
            transform=ax.transAxes, ha="center", va="bottom", fontsize=8, color="0.2",
            gid="frequency", bbox={"boxstyle": "round,pad=0.15", "facecolor": "white",
                                   "edgecolor": "none"})



def sin_cos_ticks(ax: Axes, d: int) -> None:
    """Above PE: sin over the even columns, cos over the odd ones."""
    top = ax.secondary_xaxis("top")
    top.set_xticks(range(d), ["sin" if j % 2 == 0 else "cos" for j in range(d)], fontsize=7.5)
    top.tick_params(length=0, pad=2)


def input_plus_encoding(embeddings: Tensor, encoding: Tensor, position: int = 1,
                        base: float = 10000.0) -> Figure:
    """The notes' slide with the chapter's numbers: ``embeddings`` X ``(n, d_model)`` ⊕
    ``encoding`` PE ``(n, d_model)`` (``sinusoidal_encoding(n, d_model, base)``) = X + PE,
    stacked so that their columns line up, each cell printed; row ``position`` outlined through
    all three and its sin/cos pairs boxed in PE. Returns the figure (drawn with pyplot:
    ``plt.show()`` shows it, ``plt.close`` frees it)."""
    check_matrices(embeddings, encoding, position, base)
    x = embeddings.detach().cpu().double().numpy()
    pe = encoding.detach().cpu().double().numpy()
    matrices = (x, pe, x + pe)
    n, d = pe.shape
    omega = frequencies(d, base, torch.float64).numpy()
    limit = max(float(np.abs(m).max()) for m in matrices)
    norm = Normalize(-limit, limit)
    panel_h, width = n * CELL_H, d * CELL_W
    height = TOP + 3 * panel_h + sum(GAPS) + BOTTOM
    fig = plt.figure(figsize=(LEFT + width + RIGHT, height))
    W = LEFT + width + RIGHT
    tops = [TOP, TOP + panel_h + GAPS[0], TOP + 2 * panel_h + sum(GAPS)]
    axes = []
    for k, ((gid, title), matrix) in enumerate(zip(PANELS, matrices, strict=True)):
        y0 = 1 - (tops[k] + panel_h) / height
        ax = fig.add_axes((LEFT / W, y0, width / W, panel_h / height), gid=gid)
        number_grid(ax, matrix, norm, gid)
        outline_row(ax, position, d)
        row_ticks(ax, n, position)
        ax.set_xticks([])
        ax.set_title(title.format(n=n, d=d), loc="left", fontsize=9.5,
                     pad=20 if gid != "X+PE" else 4)
        axes.append(ax)
    x_ax, pe_ax, sum_ax = axes
    top = x_ax.secondary_xaxis("top")
    top.set_xticks(range(d), [str(j) for j in range(d)], fontsize=7.5)
    top.tick_params(length=0, pad=2)
    x_ax.set_title(x_ax.get_title(loc="left"), loc="left", fontsize=9.5, pad=14)
    sin_cos_ticks(pe_ax, d)
    pair_boxes(pe_ax, position, d)
    frequency_labels(pe_ax, omega, base, d)
    sum_ax.set_xticks(range(d), [str(j) for j in range(d)], fontsize=7.5)
    sum_ax.tick_params(axis="x", length=0)
    sum_ax.set_xlabel("column j (dimension)", fontsize=8.5)
    for k, symbol in ((1, "⊕"), (2, "=")):
        fig.text(0.25 / W, 1 - (tops[k] - 0.30) / height, symbol, ha="center", va="center",
                 fontsize=20, gid=f"operator{k}")
    notes = {"X": f"position {position}", "PE": f"position {position}: pairs\n"
             f"(sin {position}·ωᵢ, cos {position}·ωᵢ)", "X+PE": f"position {position}"}
    for ax in axes:
        ax.text(d - 0.5 + 0.25, position, "← " + notes[ax.get_gid()], ha="left", va="center",
                fontsize=8, color=PAIR_COLOR if ax is pe_ax else ROW_COLOR, clip_on=False,
                gid="row_note")
    bar = fig.add_axes(((LEFT + width + 1.25) / W, (BOTTOM + 0.3) / height, 0.12 / W,
                        (height - TOP - BOTTOM - 0.6) / height))
    fig.colorbar(plt.cm.ScalarMappable(norm=norm, cmap=CMAP), cax=bar)
    bar.tick_params(labelsize=7)
    bar.set_ylabel("value (one scale for all three)", fontsize=7.5)
    return fig

