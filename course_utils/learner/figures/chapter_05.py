"""Chapter 05's figure: the notes' 2-head example for one token, drawn with the layer's numbers.

:func:`two_head_example` draws the notes' slide for token i of a self-attention
:class:`MultiHeadAttention`: its query qⁱ = ``w_query(x)[0, i]`` is cut by ``split_heads`` into
q^{i,1} and q^{i,2}; every token's key and value are cut the same way into k^{j,1}, k^{j,2} and
v^{j,1}, v^{j,2}. Each head is a band of its own colour: head 1's query scores **only head 1's
keys** (its weights α̂^{1}_{i,j}) and sums only head 1's values into b^{i,1}; head 2 likewise.
``merge_heads`` concatenates b^{i,1} and b^{i,2}, and ``w_out`` (W^O) mixes them into bⁱ, row i
of the layer's output. Every vector is a box of its numbers (2 decimals).

In the course it is the projections that are split (one W^Q whose output columns are cut into
heads): the notes' q^{i,1} = W^{q,1} qⁱ is the same thing, W^{q,1} W^q being head 1's block.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import matplotlib.pyplot as plt
import torch
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.patches import FancyArrowPatch, FancyBboxPatch

from ...mechanisms.attention import MultiHeadAttention, merge_heads, split_heads
from ..heatmaps import DPI

__all__ = ["TwoHeads", "two_head_numbers", "two_head_example", "number", "HEAD_COLORS"]

HEAD_COLORS = ("#dd8452", "#4c72b0", "#2ca02c", "#8172b3")  # head 1, 2, (3, 4)
OUT_COLOR = "#c44e52"
ENTRY = 0.18      # inches per number in a vector box
BOX = 0.42        # width of a vector box
COLUMN = 1.05     # inches per token
KV = 0.23         # k left of the token's centre, v right of it
LINESPACING = 1.48  # lines of a 7.5-point text ENTRY inches apart


# ------------------------------------------------------------------------------- the numbers
@dataclass(frozen=True)
class TwoHeads:
    """What the figure draws, for query token ``query`` (0-based) of ``n`` tokens and ``h``
    heads of size ``d_h``: ``q (d_model,)`` = qⁱ, ``q_heads (h, d_h)`` its cuts,
    ``k_heads``, ``v_heads (h, n, d_h)`` every token's keys and values per head,
    ``weights (h, n)`` each head's α̂ for token i, ``b_heads (h, d_h)`` the heads' outputs,
    ``concat (d_model,)`` = Concat(b^{i,1}, b^{i,2}) and ``b (d_model,)`` = bⁱ."""

    q: torch.Tensor
    q_heads: torch.Tensor
    k_heads: torch.Tensor
    v_heads: torch.Tensor
    weights: torch.Tensor
    b_heads: torch.Tensor
    concat: torch.Tensor
    b: torch.Tensor
    query: int

    @property
    def heads(self) -> int:
        return self.q_heads.shape[0]

    @property
    def n(self) -> int:
        return self.k_heads.shape[1]


def two_head_numbers(mha: MultiHeadAttention, x: torch.Tensor, query: int) -> TwoHeads:
    """Self-attention of ``x (1, n, d_model)`` (or ``(n, d_model)``) by ``mha``, head by head,
    for token ``query`` (0-based): the chapter's section-3 computation, with the layer's own
    ``w_query``, ``w_key``, ``w_value``, ``split_heads``, ``merge_heads`` and ``w_out``."""
    if not isinstance(mha, MultiHeadAttention):
        raise TypeError(f"mha must be a MultiHeadAttention, got {type(mha).__name__}")
    if not 2 <= mha.num_heads <= len(HEAD_COLORS):
        raise ValueError(f"the figure draws 2 … {len(HEAD_COLORS)} heads, the layer has "
                         f"{mha.num_heads}")
    x = x.detach()
    if x.dim() == 2:
        x = x[None]
    if x.dim() != 3 or x.shape[0] != 1 or x.shape[2] != mha.d_model:
        raise ValueError(f"x must be (1, n, {mha.d_model}), got {tuple(x.shape)}")
    if not 0 <= query < x.shape[1]:
        raise ValueError(f"query must be a token index in 0 … {x.shape[1] - 1}, got {query}")
    h = mha.num_heads
    with torch.no_grad():
        Q = mha.w_query(x)                                        # (1, n, d_model)
        q_heads = split_heads(Q, h)[0, :, query]                  # (h, d_h)
        k_heads = split_heads(mha.w_key(x), h)[0]                 # (h, n, d_h)
        v_heads = split_heads(mha.w_value(x), h)[0]               # (h, n, d_h)
        scores = torch.einsum("hnd,hd->hn", k_heads, q_heads) / math.sqrt(mha.head_size)
        weights = torch.softmax(scores, dim=-1)                   # (h, n): one row per head
        b_heads = torch.einsum("hn,hnd->hd", weights, v_heads)    # (h, d_h)
        concat = merge_heads(b_heads[None, :, None, :])[0, 0]     # (d_model,)
        b = mha.w_out(concat)                                     # (d_model,)
    return TwoHeads(Q[0, query], q_heads, k_heads, v_heads, weights, b_heads, concat, b, query)


# ------------------------------------------------------------------------------ drawing kit
def number(value: float) -> str:
    """A drawn number: 2 decimals, and no "-0.00"."""
    text = f"{value:.2f}"
    return "0.00" if text == "-0.00" else text


def _box(ax: Axes, x: float, top: float, values: Sequence[float], colors: Sequence[str],
         name: str, label: str | None = None, width: float = BOX) -> tuple[float, float]:
    """A column of numbers centred on ``x`` from ``top`` down, cut into equal parts, one per
    colour (one part: one colour); the numbers are one text, gid ``name``. Returns its
    (left, bottom)."""
    height = len(values) * ENTRY
    part = height / len(colors)
    for index, color in enumerate(colors):
        ax.add_patch(FancyBboxPatch((x - width / 2, top - (index + 1) * part), width, part,
                                    boxstyle="round,pad=0.0,rounding_size=0.03",
                                    facecolor=color + "22", edgecolor=color, lw=1.0,
                                    gid=f"{name}:{index + 1}" if len(colors) > 1 else name))
    ax.text(x, top - height / 2, "\n".join(number(v) for v in values), ha="center",
            va="center", fontsize=7.5, linespacing=LINESPACING, gid=name)
    if label is not None:
        ax.text(x, top + 0.03, label, ha="center", va="bottom", fontsize=8.5,
                color=colors[0] if len(colors) == 1 else "black")
    return x - width / 2, top - height


def _arrow(ax: Axes, start: tuple[float, float], end: tuple[float, float], color: str,
           lw: float = 1.2, **kwargs: object) -> None:
    ax.add_patch(FancyArrowPatch(start, end, arrowstyle="-|>", mutation_scale=9, color=color,
                                 lw=lw, shrinkA=0, shrinkB=0, zorder=3, **kwargs))


@dataclass(frozen=True)
class _Layout:
    """Where everything lies, in inches from the bottom-left corner."""

    x_qi: float
    x_qh: float
    xs: tuple[float, ...]
    x_bh: float
    x_cat: float
    x_b: float
    width: float
    height: float
    band_tops: tuple[float, ...]
    band_height: float
    box_drop: float     # from a band's top to its boxes' top
    alpha_drop: float   # from a band's top to its α̂ row's top

    @classmethod
    def of(cls, n: int, d_h: int, heads: int) -> _Layout:
        left = 2.25
        xs = tuple(left + COLUMN / 2 + j * COLUMN for j in range(n))
        x_bh = xs[-1] + COLUMN / 2 + 0.82
        x_cat = x_bh + 1.0
        x_b = x_cat + 1.15
        box_drop = 0.5
        alpha_drop = box_drop + d_h * ENTRY + 0.32
        band_height = alpha_drop + ENTRY + 0.26
        gap, top, bottom = 0.34, 1.2, 0.3
        height = top + heads * band_height + (heads - 1) * gap + bottom
        band_tops = tuple(height - top - index * (band_height + gap) for index in range(heads))
        return cls(0.5, 1.38, xs, x_bh, x_cat, x_b, x_b + 0.6, height, band_tops, band_height,
                   box_drop, alpha_drop)

    @property
    def middle(self) -> float:
        """Half-way between the centres of the first band's boxes and the last's."""
        boxes = self.alpha_drop - self.box_drop - 0.32  # d_h · ENTRY
        return (self.band_tops[0] + self.band_tops[-1]) / 2 - self.box_drop - boxes / 2


# ---------------------------------------------------------------------------------- the figure
def two_head_example(mha: MultiHeadAttention, x: torch.Tensor, query: int, *,
                     dpi: int = DPI) -> Figure:
    """The notes' 2-head example for token ``query`` (0-based) of self-attention by ``mha``.

    Args:
        mha: a :class:`MultiHeadAttention` with 2 heads (up to 4 are drawn, one band each);
            its ``w_query``, ``w_key``, ``w_value`` and ``w_out`` give the numbers.
        x: the tokens, ``(1, n, d_model)`` or ``(n, d_model)``; queries, keys and values are
            all computed from x (q = k = v source, as in the chapter's ``mha(x, x, x)``).
        query: token i's index in x (0-based; drawn as token i = query + 1, the notes' count).

    Returns the figure; ``fig.numbers`` (a :class:`TwoHeads`) holds what is drawn. Every
    vector's numbers are a text whose gid names it: ``"q"``, ``"q1"``, ``"k3,1"`` (k^{3,1}),
    ``"v3,1"``, ``"alpha3,1"`` (α̂^{1}_{i,3}), ``"b1"`` (b^{i,1}), ``"concat"``, ``"b"``; each
    head's band is a patch with gid ``"head1"``, ``"head2"``, ….
    """
    numbers = two_head_numbers(mha, x, query)
    h, n, d_h = numbers.k_heads.shape
    lay = _Layout.of(n, d_h, h)
    fig = plt.figure(figsize=(lay.width, lay.height), dpi=dpi)
    ax = fig.add_axes((0, 0, 1, 1))
    ax.set_xlim(0, lay.width), ax.set_ylim(0, lay.height), ax.set_axis_off()
    i = query + 1
    ax.text(0.15, lay.height - 0.22,
            f"The notes' {h}-head example for token i = {i}: each head's query meets only its "
            "own head's keys and values", fontsize=10.5, va="center", gid="title")
    ax.text(0.15, lay.height - 0.42,
            f"{type(mha).__name__}(d_model={mha.d_model}, num_heads={h}): split_heads cuts "
            f"w_query(x), w_key(x), w_value(x) into {h} heads of {d_h} columns each;\n"
            "merge_heads concatenates the heads' outputs $b^{i,h}$, and w_out ($W^O$) mixes them "
            f"into bⁱ, row i of the layer's output", fontsize=8.5, va="top",
            color="#444444", linespacing=1.3, gid="subtitle")
    colors = HEAD_COLORS[:h]
    for j, xj in enumerate(lay.xs):  # the tokens, a¹ … aⁿ, above the bands
        ax.text(xj, lay.band_tops[0] + 0.12, f"$a^{{{j + 1}}}$" + ("  (= $a^i$)" if j == query
                                                                      else ""),
                ha="center", va="bottom", fontsize=9.5, gid=f"a{j + 1}",
                fontweight="bold" if j == query else "normal",
                color=OUT_COLOR if j == query else "black")
    for head in range(h):
        _draw_head(ax, lay, numbers, head)
    _draw_query(ax, lay, numbers, colors)
    _draw_output(ax, lay, numbers, colors)
    fig.numbers = numbers
    return fig


def _draw_query(ax: Axes, lay: _Layout, numbers: TwoHeads, colors: Sequence[str]) -> None:
    """qⁱ (one box, a part per head) at the left, and split_heads's arrows to each q^{i,h}."""
    d_model = numbers.q.shape[0]
    top = lay.middle + d_model * ENTRY / 2
    left, bottom = _box(ax, lay.x_qi, top, numbers.q.tolist(), colors, "q", "$q^i$")
    ax.text(lay.x_qi, bottom - 0.05, "split_heads", ha="center", va="top", fontsize=8,
            color="#444444", gid="split_heads")
    part = d_model * ENTRY / numbers.heads
    for head, color in enumerate(colors):
        start = (left + BOX, top - (head + 0.5) * part)
        box_top = lay.band_tops[head] - lay.box_drop
        end = (lay.x_qh - BOX / 2, box_top - numbers.q_heads.shape[1] * ENTRY / 2)
        _arrow(ax, start, end, color)


def _draw_head(ax: Axes, lay: _Layout, numbers: TwoHeads, head: int) -> None:
    """One head's band: q^{i,h}, every token's k^{j,h} and v^{j,h}, the α̂ row, b^{i,h}."""
    color, number_ = HEAD_COLORS[head], head + 1
    d_h = numbers.q_heads.shape[1]
    band_top = lay.band_tops[head]
    left, right = lay.x_qh - 0.4, lay.x_bh + 0.4
    ax.add_patch(FancyBboxPatch((left, band_top - lay.band_height), right - left,
                                lay.band_height, boxstyle="round,pad=0.0,rounding_size=0.08",
                                facecolor=color + "12", edgecolor=color, lw=1.2, zorder=0,
                                gid=f"head{number_}"))
    ax.text(left + 0.1, band_top - 0.06, f"head {number_}: columns "
            f"{head * d_h + 1}–{(head + 1) * d_h} of w_query, w_key, w_value", ha="left",
            va="top", fontsize=8.5, color=color, fontweight="bold", gid=f"band{number_}")
    top = band_top - lay.box_drop
    _box(ax, lay.x_qh, top, numbers.q_heads[head].tolist(), [color], f"q{number_}",
         f"$q^{{i,{number_}}}$")
    alpha_top = band_top - lay.alpha_drop
    bus = alpha_top - ENTRY - 0.12
    ax.text(lay.xs[0] - 0.46, alpha_top - ENTRY / 2, f"$\\hat\\alpha^{{{number_}}}_{{i,j}}$",
            ha="right", va="center", fontsize=9, color=color)
    for j, xj in enumerate(lay.xs):
        for offset, role in ((-KV, "k"), (KV, "v")):
            _box(ax, xj + offset, top, getattr(numbers, f"{role}_heads")[head, j].tolist(),
                 [color], f"{role}{j + 1},{number_}", f"${role}^{{{j + 1},{number_}}}$")
        _arrow(ax, (xj - KV, top - d_h * ENTRY), (xj - KV, alpha_top), color, lw=0.9)
        _box(ax, xj, alpha_top, [numbers.weights[head, j].item()], [color],
             f"alpha{j + 1},{number_}", width=0.5)
        _arrow(ax, (xj, bus), (xj, alpha_top - ENTRY), color, lw=0.9)
    # the bus that carries q^{i,h} to every score: this head's keys only
    ax.plot([lay.x_qh, lay.x_qh, lay.xs[-1]], [top - d_h * ENTRY, bus, bus], color=color,
            lw=1.2, zorder=2)
    # Σ_j α̂ v: from the last value to b^{i,h}
    middle = top - d_h * ENTRY / 2
    _arrow(ax, (lay.xs[-1] + KV + BOX / 2 + 0.04, middle), (lay.x_bh - BOX / 2, middle), color)
    ax.text((lay.xs[-1] + KV + BOX / 2 + lay.x_bh - BOX / 2) / 2, middle - 0.06,
            f"$\\Sigma_j\\,\\hat\\alpha^{{{number_}}}_{{i,j}}v^{{j,{number_}}}$", ha="center",
            va="top", fontsize=8, color=color)
    _box(ax, lay.x_bh, top, numbers.b_heads[head].tolist(), [color], f"b{number_}",
         f"$b^{{i,{number_}}}$")
    ax.text(lay.xs[-1] + 0.38, alpha_top - ENTRY / 2,
            f"Σ = {numbers.weights[head].sum().item():.2f}", ha="left", va="center",
            fontsize=8, color=color, gid=f"sum{number_}")
    if head:  # between two bands: no score crosses from one head to another
        ax.text((lay.xs[0] + lay.xs[-1]) / 2, band_top + 0.17,
                f"no score across heads: $q^{{i,{number_ - 1}}}$ never meets "
                f"$k^{{j,{number_}}}$, $q^{{i,{number_}}}$ never meets $k^{{j,{number_ - 1}}}$",
                ha="center", va="center", fontsize=8, style="italic", color="#666666",
                gid=f"apart{number_}")


def _draw_output(ax: Axes, lay: _Layout, numbers: TwoHeads, colors: Sequence[str]) -> None:
    """merge_heads: [b^{i,1}; b^{i,2}] (a part per head), then w_out (W^O) → bⁱ."""
    d_model, d_h = numbers.concat.shape[0], numbers.b_heads.shape[1]
    top = lay.middle + d_model * ENTRY / 2
    label = "$[" + "; ".join(f"b^{{i,{h + 1}}}" for h in range(numbers.heads)) + "]$"
    left, bottom = _box(ax, lay.x_cat, top, numbers.concat.tolist(), colors, "concat", label)
    ax.text(lay.x_cat, bottom - 0.05, "merge_heads", ha="center", va="top", fontsize=8,
            color="#444444", gid="merge_heads")
    part = d_model * ENTRY / numbers.heads
    for head, color in enumerate(colors):
        b_top = lay.band_tops[head] - lay.box_drop
        _arrow(ax, (lay.x_bh + BOX / 2, b_top - d_h * ENTRY / 2),
               (left, top - (head + 0.5) * part), color)
    _, b_bottom = _box(ax, lay.x_b, top, numbers.b.tolist(), [OUT_COLOR], "b", "$b^i$")
    y = top - d_model * ENTRY / 2
    _arrow(ax, (lay.x_cat + BOX / 2, y), (lay.x_b - BOX / 2, y), OUT_COLOR, lw=1.4)
    ax.text((lay.x_cat + lay.x_b) / 2, y + 0.05, "w_out", ha="center", va="bottom",
            fontsize=8.5, color=OUT_COLOR, gid="w_out")
    ax.text((lay.x_cat + lay.x_b) / 2, y - 0.05, "$W^O$", ha="center", va="top",
            fontsize=9, color=OUT_COLOR)
    ax.text(lay.x_b, b_bottom - 0.05, f"output[0, {numbers.query}]", ha="center", va="top",
            fontsize=8, color="#444444", gid="output")
