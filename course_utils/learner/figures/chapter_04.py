"""Chapter 04's figures: the notes' self-attention slides, drawn with the chapter's numbers.

* :func:`self_attention_walkthrough`: the notes' nine-slide walk-through for one token as a
  step-through (a slider over the steps; saved picture: step 1). Inputs a¹ … aⁿ (the columns of
  I), q¹ = W^q a¹, kⁱ = W^k aⁱ, the scores α₁,ᵢ = q¹·kⁱ/√d_k, softmax → α̂₁,ᵢ, vⁱ = W^v aⁱ and
  b¹ = Σᵢ α̂₁,ᵢ vⁱ, every vector a box of its numbers (2 decimals), arrows for the products;
  each step highlights what it computes. :func:`draw_walkthrough_step` draws one step.
* :func:`matrix_form`: Q = W^q I, K = W^k I, V = W^v I, A = KᵀQ/√d_k, Â = softmax(A) down each
  column, O = V Â, each matrix a box sized by its shape and coloured by its real values.

The chapter's convention (the notes'): tokens are **columns**, I is (d_model, n), W^q is
(d_k, d_model); column j of A holds query j's scores, so the softmax runs down each column.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.patches import FancyArrowPatch, FancyBboxPatch, Rectangle

from ..heatmaps import DPI
from .step_through import StepThrough

__all__ = ["Walkthrough", "walkthrough_numbers", "walkthrough_steps", "draw_walkthrough_step",
           "self_attention_walkthrough", "matrix_form"]

ENTRY = 0.18          # inches per number in a vector box
BOX = 0.44            # width of a vector box
COLUMN = 0.98         # inches per token
LEFT = 1.55           # the left column: q and the row labels
ROLE = {"a": "#4c72b0", "q": "#dd8452", "k": "#1f77b4", "v": "#2ca02c", "s": "#8c564b",
        "b": "#c44e52"}
FUTURE, DONE, NOW = "future", "done", "now"
HIGHLIGHT = "#ff7f0e"
LINESPACING = 1.48    # lines of a 7.5-point text ENTRY inches apart


# ------------------------------------------------------------------------------- the numbers
@dataclass(frozen=True)
class Walkthrough:
    """The walk-through's tensors for query token ``query`` (0-based): ``a (n, d_model)`` (row
    i is aⁱ), ``q (d_k,)``, ``k (n, d_k)``, ``v (n, d_v)``, ``alpha (n,)`` the scores,
    ``alpha_hat (n,)`` their softmax, ``weighted (n, d_v)`` the α̂·v, ``b (d_v,)``."""

    a: torch.Tensor
    q: torch.Tensor
    k: torch.Tensor
    v: torch.Tensor
    alpha: torch.Tensor
    alpha_hat: torch.Tensor
    weighted: torch.Tensor
    b: torch.Tensor
    query: int

    @property
    def n(self) -> int:
        return self.a.shape[0]


def walkthrough_numbers(inputs: torch.Tensor, W_q: torch.Tensor, W_k: torch.Tensor,
                        W_v: torch.Tensor, query: int = 0) -> Walkthrough:
    """The chapter's section-1 computation for token ``query``. ``inputs``: I ``(d_model, n)``,
    one column per token; ``W_q``, ``W_k (d_k, d_model)``, ``W_v (d_v, d_model)``."""
    I, W_q, W_k, W_v = (t.detach() for t in (inputs, W_q, W_k, W_v))  # noqa: E741
    if not 0 <= query < I.shape[1]:
        raise ValueError(f"query must be a token index in 0 … {I.shape[1] - 1}, got {query}")
    a = I.T
    q = W_q @ I[:, query]
    k = torch.stack([W_k @ I[:, i] for i in range(I.shape[1])])
    v = torch.stack([W_v @ I[:, i] for i in range(I.shape[1])])
    alpha = torch.stack([q @ k[i] / math.sqrt(W_k.shape[0]) for i in range(I.shape[1])])
    alpha_hat = torch.exp(alpha) / torch.exp(alpha).sum()
    weighted = alpha_hat[:, None] * v
    return Walkthrough(a, q, k, v, alpha, alpha_hat, weighted, weighted.sum(0), query)


def walkthrough_steps(n: int, d_k: int, query: int = 0) -> tuple[str, ...]:
    """The nine captions, in the notes' order (values come after the softmax)."""
    j, last = query + 1, n
    return (
        f"the inputs $a^1 \\ldots a^{{{last}}}$ (the columns of $I$)",
        f"the query of token {j}: $q^{{{j}}} = W^q a^{{{j}}}$",
        "a key for every token: $k^i = W^k a^i$",
        f"one score: $\\alpha_{{{j},1}} = q^{{{j}}} \\cdot k^1 / \\sqrt{{{d_k}}}$",
        f"every score: $\\alpha_{{{j},i}} = q^{{{j}}} \\cdot k^i / \\sqrt{{{d_k}}}$",
        f"softmax over $i$: $\\hat\\alpha_{{{j},i}}$ (they sum to 1)",
        "a value for every token: $v^i = W^v a^i$",
        f"each value weighted: $\\hat\\alpha_{{{j},i}}\\, v^i$",
        f"the output: $b^{{{j}}} = \\Sigma_i\\, \\hat\\alpha_{{{j},i}}\\, v^i$ (token {j}'s new "
        "representation)",
    )


# ------------------------------------------------------------------------------ drawing kit
def number(value: float) -> str:
    """A drawn number: 2 decimals, and no "-0.00"."""
    text = f"{value:.2f}"
    return "0.00" if text == "-0.00" else text


def _state(step: int, first: int) -> str:
    """A part computed at step ``first`` is future before it, now at it, done after it."""
    return FUTURE if step < first else NOW if step == first else DONE


def _box(ax: Axes, x: float, top: float, values: Sequence[float], role: str, state: str,
         name: str, label: str | None = None) -> tuple[float, float, float]:
    """A column of numbers centred on ``x`` from ``top`` down; returns (left, right, bottom).
    Future boxes are dashed and empty; the numbers are one text, one line each, gid ``name``."""
    height = len(values) * ENTRY
    color = ROLE[role]
    style = {FUTURE: dict(facecolor="white", edgecolor="#c8c8c8", linestyle="--", lw=0.8),
             DONE: dict(facecolor="white", edgecolor=color, lw=0.9),
             NOW: dict(facecolor=color + "40", edgecolor=color, lw=2.0)}[state]
    ax.add_patch(FancyBboxPatch((x - BOX / 2, top - height), BOX, height,
                                boxstyle="round,pad=0.0,rounding_size=0.04", **style))
    if state != FUTURE:  # one text of one line per number (a text costs more than a line)
        ax.text(x, top - height / 2, "\n".join(map(number, values)), ha="center",
                va="center", fontsize=7.5, linespacing=LINESPACING, gid=name,
                color="black" if state == NOW else "#555555",
                fontweight="bold" if state == NOW else "normal")
    if label is not None:
        ax.text(x, top + 0.03, label, ha="center", va="bottom", fontsize=9,
                color=color if state != FUTURE else "#aaaaaa")
    return x - BOX / 2, x + BOX / 2, top - height


def _arrow(ax: Axes, start: tuple[float, float], end: tuple[float, float], color: str,
           lw: float = 1.3, zorder: float = 3, **kwargs: object) -> None:
    ax.add_patch(FancyArrowPatch(start, end, arrowstyle="-|>", mutation_scale=9, color=color,
                                 lw=lw, shrinkA=0, shrinkB=0, zorder=zorder, **kwargs))


@dataclass(frozen=True)
class _Layout:
    """Where the walk-through's rows lie (inches from the bottom-left corner)."""

    xs: tuple[float, ...]
    x_q: float
    x_b: float
    width: float
    height: float
    a_top: float
    kv_top: float
    s_top: float
    bus: float
    band_top: float
    hat_top: float
    w_top: float
    gather: float

    @classmethod
    def of(cls, n: int, d_model: int, d_v: int) -> _Layout:
        xs = tuple(LEFT + COLUMN / 2 + i * COLUMN for i in range(n))
        x_b = xs[-1] + COLUMN / 2 + 0.7
        height = 4.1 + (d_model + 2 * d_v) * ENTRY
        a_top = height - 0.85
        kv_top = a_top - d_model * ENTRY - 0.55
        s_top = kv_top - d_v * ENTRY - 0.45
        bus = s_top - ENTRY - 0.2
        band_top = bus - 0.15
        hat_top = band_top - 0.26 - 0.3
        w_top = hat_top - ENTRY - 0.45
        return cls(xs, LEFT - 0.35, x_b, x_b + 0.55, height, a_top, kv_top, s_top, bus,
                   band_top, hat_top, w_top, w_top - d_v * ENTRY - 0.22)


def _figure_size(n: int, d_model: int, d_v: int) -> tuple[float, float]:
    layout = _Layout.of(n, d_model, d_v)
    return layout.width, layout.height


# --------------------------------------------------------------------------- the walk-through
def draw_walkthrough_step(fig: Figure, step: int, numbers: Walkthrough) -> Axes:
    """Draw step ``step`` (1 … 9) of the walk-through on ``fig`` (one axes in inches).

    Parts computed before the step are drawn plain, the step's own parts coloured with their
    arrows, later parts as dashed empty boxes (the plan of the slide)."""
    n, d_model = numbers.a.shape
    d_v = numbers.v.shape[1]
    if not 1 <= step <= 9:
        raise ValueError(f"step must be in 1 … 9, got {step}")
    lay = _Layout.of(n, d_model, d_v)
    ax = fig.add_axes((0, 0, 1, 1))
    ax.set_xlim(0, lay.width), ax.set_ylim(0, lay.height), ax.set_axis_off()
    j = numbers.query
    steps = walkthrough_steps(n, numbers.k.shape[1], j)
    ax.text(0.15, lay.height - 0.3, f"Step {step} of 9 · {steps[step - 1]}", fontsize=11,
            va="center", gid="title")

    # Step 1: the inputs; 2: the query; 3: the keys; 7: the values.
    for i, x in enumerate(lay.xs):
        _, _, a_bottom = _box(ax, x, lay.a_top, numbers.a[i].tolist(), "a", _state(step, 1),
                              f"a{i + 1}", f"$a^{{{i + 1}}}$")
        for offset, role, tensor, first in ((-0.22, "k", numbers.k, 3),
                                            (0.22, "v", numbers.v, 7)):
            state = _state(step, first)
            _box(ax, x + offset, lay.kv_top, tensor[i].tolist(), role, state,
                 f"{role}{i + 1}", f"${role}^{{{i + 1}}}$")
            if state == NOW:
                _arrow(ax, (x, a_bottom), (x + offset, lay.kv_top + 0.2), ROLE[role])
                if i == 0:
                    ax.text(x + offset * 2.2, (a_bottom + lay.kv_top + 0.2) / 2,
                            f"$W^{role}$", ha="center", va="center", fontsize=9,
                            color=ROLE[role])
    q_state = _state(step, 2)
    _box(ax, lay.x_q, lay.kv_top, numbers.q.tolist(), "q", q_state, f"q{j + 1}",
         f"$q^{{{j + 1}}}$")
    if q_state == NOW:
        source = lay.xs[j] - BOX / 2, lay.a_top - d_model * ENTRY
        _arrow(ax, source, (lay.x_q + 0.05, lay.kv_top + 0.2), ROLE["q"],
               connectionstyle="arc3,rad=-0.2")
        ax.text(lay.x_q - 0.3, lay.kv_top + 0.35, "$W^q$", fontsize=9, color=ROLE["q"],
                ha="center")

    _draw_scores(ax, lay, numbers, step)
    _draw_output(ax, lay, numbers, step)
    return ax


def _draw_scores(ax: Axes, lay: _Layout, numbers: Walkthrough, step: int) -> None:
    """Steps 4–6: the scores (q from below along a bus, k from above) and their softmax."""
    j, x0 = numbers.query + 1, lay.x_q
    ax.text(0.1, lay.s_top - ENTRY / 2, f"$\\alpha_{{{j},i}}$", va="center", fontsize=10)
    ax.text(0.1, lay.hat_top - ENTRY / 2, f"$\\hat\\alpha_{{{j},i}}$", va="center",
            fontsize=10)
    for i, x in enumerate(lay.xs):
        # α₁,₁ is computed at step 4 and shown again with every other score at step 5
        state = NOW if step == 5 else _state(step, 4 if i == 0 else 5)
        xk = x - 0.22
        _box(ax, xk, lay.s_top, [numbers.alpha[i].item()], "s", state, f"alpha{i + 1}")
        if state == NOW:
            _arrow(ax, (xk, lay.kv_top - numbers.k.shape[1] * ENTRY), (xk, lay.s_top),
                   ROLE["k"])
            _arrow(ax, (xk, lay.bus), (xk, lay.s_top - ENTRY), ROLE["q"])
        _box(ax, xk, lay.hat_top, [numbers.alpha_hat[i].item()], "s", _state(step, 6),
             f"alpha_hat{i + 1}")
    if step in (4, 5):  # the bus that carries q to every score
        end = lay.xs[0] - 0.22 if step == 4 else lay.xs[-1] - 0.22
        ax.plot([x0, x0, end], [lay.kv_top - numbers.q.shape[0] * ENTRY, lay.bus, lay.bus],
                color=ROLE["q"], lw=1.3, zorder=2)
    band = _state(step, 6)
    left, right = lay.xs[0] - 0.22 - BOX / 2, lay.xs[-1] - 0.22 + BOX / 2
    ax.add_patch(FancyBboxPatch((left, lay.band_top - 0.26), right - left, 0.26,
                                boxstyle="round,pad=0.0,rounding_size=0.06",
                                facecolor=ROLE["s"] + ("40" if band == NOW else "10"),
                                edgecolor=ROLE["s"] if band != FUTURE else "#c8c8c8",
                                linestyle="--" if band == FUTURE else "-"))
    ax.text((left + right) / 2, lay.band_top - 0.13,
            f"softmax over $i$:  $\\hat\\alpha_{{{j},i}} = e^{{\\alpha_{{{j},i}}}} / "
            f"\\Sigma_{{i'}}\\, e^{{\\alpha_{{{j},i'}}}}$", ha="center", va="center", fontsize=9,
            color="black" if band != FUTURE else "#aaaaaa")
    if band != FUTURE:
        ax.text(lay.xs[-1] + 0.1, lay.hat_top - ENTRY / 2,
                f"Σ = {numbers.alpha_hat.sum().item():.2f}", va="center", fontsize=8.5,
                color=ROLE["s"], gid="sum")


def _draw_output(ax: Axes, lay: _Layout, numbers: Walkthrough, step: int) -> None:
    """Steps 8–9: the weighted values α̂·v and their sum b."""
    j, d_v = numbers.query + 1, numbers.v.shape[1]
    ax.text(0.1, lay.w_top - d_v * ENTRY / 2, f"$\\hat\\alpha_{{{j},i}}\\, v^i$",
            va="center", fontsize=10)
    state = _state(step, 8)
    for i, x in enumerate(lay.xs):
        xv = x + 0.22
        _box(ax, xv, lay.w_top, numbers.weighted[i].tolist(), "v", state, f"weighted{i + 1}")
        if state == NOW:  # the product α̂ × v: α̂ from its box, v from above (behind the rest)
            _arrow(ax, (x - 0.22, lay.hat_top - ENTRY), (xv - 0.1, lay.w_top), ROLE["s"])
            _arrow(ax, (xv, lay.kv_top - d_v * ENTRY), (xv, lay.w_top), ROLE["v"], lw=0.9,
                   zorder=1, alpha=0.45, linestyle=":")
        if step == 9:
            ax.plot([xv, xv], [lay.w_top - d_v * ENTRY, lay.gather], color=ROLE["b"], lw=1.2)
    b_state = _state(step, 9)
    _box(ax, lay.x_b, lay.w_top, numbers.b.tolist(), "b", b_state, f"b{j}", f"$b^{{{j}}}$")
    if b_state == NOW:
        ax.plot([lay.xs[0] + 0.22, lay.x_b], [lay.gather, lay.gather], color=ROLE["b"],
                lw=1.2)
        _arrow(ax, (lay.x_b, lay.gather), (lay.x_b, lay.w_top - d_v * ENTRY), ROLE["b"])
        ax.text((lay.xs[-1] + 0.44 + lay.x_b - BOX / 2) / 2, lay.gather + 0.04, "$\\Sigma_i$",
                ha="center", va="bottom", fontsize=9, color=ROLE["b"])


def self_attention_walkthrough(inputs: torch.Tensor, W_q: torch.Tensor, W_k: torch.Tensor,
                               W_v: torch.Tensor, query: int = 0, *, dpi: int = DPI,
                               play: bool = True) -> StepThrough:
    """The nine-step walk-through for token ``query`` as a :class:`StepThrough` (saved
    picture: step 1). ``inputs``: I ``(d_model, n)``, ``W_q``, ``W_k (d_k, d_model)``, ``W_v (d_v,
    d_model)``: the chapter's tensors; ``walk.numbers`` holds what is drawn."""
    numbers = walkthrough_numbers(inputs, W_q, W_k, W_v, query)
    n, d_model = numbers.a.shape
    walk = StepThrough(lambda fig, step: draw_walkthrough_step(fig, step, numbers),
                       walkthrough_steps(n, numbers.k.shape[1], query),
                       figsize=_figure_size(n, d_model, numbers.v.shape[1]), dpi=dpi,
                       play=play)
    walk.numbers = numbers
    return walk


# ------------------------------------------------------------------------------ matrix form
CELL = 0.13   # inches per matrix entry


def _matrix(ax: Axes, values: torch.Tensor, x: float, y: float, name: str,
            column: int | None = None) -> float:
    """Matrix ``values (rows, cols)`` as coloured cells, its left edge at ``x`` and centred on
    height ``y``; name above, shape below, column ``column`` outlined. Returns its right edge."""
    rows, cols = values.shape
    top = y + rows * CELL / 2
    array = values.detach().double().numpy()
    limit = float(np.abs(array).max()) or 1.0
    ax.imshow(array, extent=(x, x + cols * CELL, top - rows * CELL, top), cmap="RdBu_r",
              vmin=-limit, vmax=limit, interpolation="nearest", zorder=1)
    ax.add_patch(Rectangle((x, top - rows * CELL), cols * CELL, rows * CELL, fill=False,
                           lw=1.0, edgecolor="black", zorder=2))
    if column is not None:
        ax.add_patch(Rectangle((x + column * CELL, top - rows * CELL), CELL, rows * CELL,
                               fill=False, lw=1.8, edgecolor=HIGHLIGHT, zorder=3))
    ax.text(x + cols * CELL / 2, top + 0.05, name, ha="center", va="bottom", fontsize=10)
    ax.text(x + cols * CELL / 2, top - rows * CELL - 0.05, f"{rows} × {cols}", ha="center",
            va="top", fontsize=8.5, color="#444444", gid=f"shape:{name}")
    return x + cols * CELL


def _symbol(ax: Axes, x: float, y: float, text: str, width: float = 0.3) -> float:
    ax.text(x + width / 2, y, text, ha="center", va="center", fontsize=12)
    return x + width


def matrix_form(inputs: torch.Tensor, W_q: torch.Tensor, W_k: torch.Tensor, W_v: torch.Tensor,
                *, dpi: int = DPI) -> Figure:
    """The notes' matrix form, every matrix a box sized by its shape and coloured by its real
    values (red positive, blue negative), token 1's column outlined.

    ``inputs``: I ``(d_model, n)``, ``W_q``, ``W_k (d_k, d_model)``, ``W_v (d_v, d_model)``:
    tokens are columns; Q, K (d_k, n), V (d_v, n), A = KᵀQ/√d_k and Â = softmax(A) down each
    column (n, n), O = V Â (d_v, n). ``fig.matrices`` holds the matrices drawn, by name."""
    I, W_q, W_k, W_v = (t.detach() for t in (inputs, W_q, W_k, W_v))  # noqa: E741
    Q, K, V = W_q @ I, W_k @ I, W_v @ I
    A = K.T @ Q / math.sqrt(W_k.shape[0])
    A_hat = torch.softmax(A, dim=0)
    O = V @ A_hat  # noqa: E741
    d_model, n = I.shape
    d_k = W_k.shape[0]
    left_w = 0.3 + (2 * n + d_model) * CELL + 0.75
    row_h = max(d_model, d_k) * CELL + 0.55
    right_w = (2 * n + n) * CELL + 1.3
    big_h = n * CELL + 0.6
    width = 0.2 + left_w + 0.3 + right_w
    height = 0.55 + max(3 * row_h, 3 * big_h) + 0.35
    fig = plt.figure(figsize=(width, height), dpi=dpi)
    ax = fig.add_axes((0, 0, 1, 1))
    ax.set_axis_off()
    ax.text(0.15, height - 0.22, f"The matrix form, to scale: tokens are columns (n = {n}, "
            f"d_model = {d_model}, d_k = d_v = {d_k}); orange: token 1's column",
            fontsize=10.5, va="center")
    top = height - 0.55
    for index, (name, W, R) in enumerate((("Q", W_q, Q), ("K", W_k, K), ("V", W_v, V))):
        y = top - (index + 0.5) * row_h - 0.05
        x = _matrix(ax, R, 0.2, y, f"${name}$", 0 if name == "Q" else None)
        x = _symbol(ax, x, y, "=")
        x = _matrix(ax, W, x, y, f"$W^{name.lower()}$") + 0.1
        _matrix(ax, I, x, y, "$I$", 0)
    x0 = 0.2 + left_w + 0.3
    y = top - 0.5 * big_h - 0.05
    x = _symbol(ax, _matrix(ax, A, x0, y, "$A$", 0), y, "=")
    x = _matrix(ax, K.T, x, y, "$K^\\top$") + 0.1
    x = _matrix(ax, Q, x, y, "$Q$", 0)
    _symbol(ax, x, y, f"$/\\ \\sqrt{{{d_k}}}$", 0.55)
    y -= big_h
    x = _symbol(ax, _matrix(ax, A_hat, x0, y, "$\\hat A$", 0), y, "=")
    ax.text(x, y + 0.12, "softmax($A$) down each column", va="center", fontsize=10)
    _arrow(ax, (x + 0.15, y - 0.05), (x + 0.15, y - 0.45), ROLE["s"])
    ax.text(x + 0.3, y - 0.25, "each column sums to 1", va="center", fontsize=9,
            color=ROLE["s"])
    y -= big_h
    x = _symbol(ax, _matrix(ax, O, x0, y, "$O$", 0), y, "=")
    x = _matrix(ax, V, x, y, "$V$") + 0.1
    _matrix(ax, A_hat, x, y, "$\\hat A$", 0)
    ax.set_xlim(0, width), ax.set_ylim(0, height)
    ax.set_aspect("auto")
    fig.matrices = {"I": I, "W^q": W_q, "W^k": W_k, "W^v": W_v, "Q": Q, "K": K, "V": V,
                    "A": A, "Â": A_hat, "O": O}
    return fig
