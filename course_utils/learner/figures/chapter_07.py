"""Chapter 07's figure: the encoder block, post-norm (the notes') beside pre-norm.

:func:`encoder_blocks` draws two encoder blocks side by side, read from bottom to top as in the
notes' Transformer figure: on the left the notes' post-norm :class:`EncoderBlock`
(x ← LN(x + MHA(x)), x ← LN(x + FFN(x))), on the right a pre-norm block (x ← x + MHA(LN(x)),
x ← x + FFN(LN(x))). The residual **skip path** — the identity route from x to the block's
output — is drawn in one colour in both: in post-norm it crosses both LayerNorms, in pre-norm
it is a plain sum that meets none. The boxes carry the course's class names and the sizes read
from the blocks passed in.
"""

from __future__ import annotations

from dataclasses import dataclass

import matplotlib.pyplot as plt
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.patches import Circle, FancyArrowPatch, FancyBboxPatch

from ...mechanisms.transformer import EncoderBlock

__all__ = ["encoder_blocks", "SKIP_COLOR"]

SKIP_COLOR = "#d62728"  # the skip path (residual stream), in both blocks
FLOW_COLOR = "#444444"  # the sublayers' path
FILL = {"attention": "#fde9c8", "ffn": "#d8ecf8", "norm": "#e4f2dc"}
# Lengths in inches: the axes' data units are drawn one to an inch.
BOX_WIDTH = 2.0
SKIP_X = 1.35  # where the skip path runs, right of the boxes
GAP = 0.24  # vertical space between two elements of the stream
ADD_RADIUS = 0.14
HALF_WIDTH = 2.3  # each block's half of the figure spans x = -2.3 … 2.3
BELOW, ABOVE = 0.62, 0.72  # room under x (the footnote) and over the output (the title)



@dataclass(frozen=True)
class Layout:
    """One arrangement of the block, bottom to top: its elements as (kind, attribute of the
    block), and the elements before which a residual connection leaves the stream."""

    elements: tuple[tuple[str, str], ...]
    branches: tuple[int, ...]
    pre_norm: bool


POST_NORM = Layout((("attention", "attention"), ("add", "1"), ("norm", "norm1"),
                    ("ffn", "ffn"), ("add", "2"), ("norm", "norm2")), (0, 3), False)
PRE_NORM = Layout((("norm", "norm1"), ("attention", "attention"), ("add", "1"),
                   ("norm", "norm2"), ("ffn", "ffn"), ("add", "2")), (0, 3), True)


@dataclass(frozen=True)
class Sizes:
    """The sizes a block was built with, read from its modules."""

    d_model: int
    num_heads: int
    d_ff: int

    @classmethod
    def of(cls, block: EncoderBlock) -> Sizes:
        return cls(block.attention.d_model, block.attention.num_heads,
                   block.ffn.linear1.out_features)


def encoder_blocks(post_norm: EncoderBlock, pre_norm: EncoderBlock) -> Figure:
    """The post-norm block (left) beside the pre-norm block (right), skip paths highlighted.

    Args:
        post_norm: the notes' block, an :class:`EncoderBlock` (its class name titles the left
            half); its sizes (``attention.d_model``, ``attention.num_heads``,
            ``ffn.linear1.out_features``) label the boxes. Its input and output are
            ``(batch, n, d_model)``.
        pre_norm: a pre-norm block with ``EncoderBlock``'s parts (chapter 07's
            ``PreNormBlock``), drawn on the right with its own class name and sizes.

    Returns the figure: one axis per block; each element is a patch whose ``gid`` names the
    block's attribute (``"attention"``, ``"norm1"``, ``"ffn"``, ``"norm2"``, ``"add1"``,
    ``"add2"``), and a LayerNorm on the skip path has the skip path's colour as its edge.
    """
    for name, block in (("post_norm", post_norm), ("pre_norm", pre_norm)):
        if not isinstance(block, EncoderBlock):
            raise TypeError(f"{name} must be an EncoderBlock (or a subclass such as "
                            f"PreNormBlock), got {type(block).__name__}")
    height = BELOW + output_y(stack(POST_NORM, Sizes.of(post_norm))) + ABOVE
    height = max(height, BELOW + output_y(stack(PRE_NORM, Sizes.of(pre_norm))) + ABOVE)
    fig, axes = plt.subplots(1, 2, figsize=(4 * HALF_WIDTH, height))
    fig.subplots_adjust(left=0, right=1, top=1, bottom=0, wspace=0)
    draw_block(axes[0], POST_NORM, type(post_norm).__name__, Sizes.of(post_norm),
               "post-norm (the notes')", "x ← LN(x + MHA(x)),  x ← LN(x + FFN(x))")
    draw_block(axes[1], PRE_NORM, type(pre_norm).__name__, Sizes.of(pre_norm),
               "pre-norm", "x ← x + MHA(LN(x)),  x ← x + FFN(LN(x))")
    return fig


def box_label(kind: str, sizes: Sizes) -> tuple[str, float]:
    """The text of an element's box and the box's height."""
    if kind == "attention":
        return (f"MultiHeadAttention\nself-attention: q = k = v\n"
                f"h = {sizes.num_heads} heads, d_model = {sizes.d_model}", 0.62)
    if kind == "ffn":
        return (f"FeedForward\nW₂ ReLU(W₁x + b₁) + b₂\n"
                f"d_model {sizes.d_model} → d_ff = {sizes.d_ff} → {sizes.d_model}", 0.62)
    return f"nn.LayerNorm({sizes.d_model})", 0.3


def stack(layout: Layout, sizes: Sizes) -> list[tuple[float, float]]:
    """Each element's (centre y, height), bottom to top; the input x sits at y = 0."""
    placed, top = [], 0.1  # the top of the input label
    for kind, _ in layout.elements:
        height = 2 * ADD_RADIUS if kind == "add" else box_label(kind, sizes)[1]
        centre = top + GAP + height / 2
        placed.append((centre, height))
        top = centre + height / 2
    return placed


def output_y(placed: list[tuple[float, float]]) -> float:
    """Where the block's output label sits: a gap above the last element."""
    centre, height = placed[-1]
    return centre + height / 2 + GAP + 0.1


def skip_route(layout: Layout) -> set[int]:
    """The indices of the elements on the skip path.

    Each residual connection leaves the stream just before its branch (``layout.branches``)
    and rejoins it at its ``add``; the skip path is x → branch → add → … → out: the sums, and
    whatever lies between a sum and the next branch (post-norm: a LayerNorm).
    """
    elements = layout.elements
    on_path = set()
    for add in (i for i, (kind, _) in enumerate(elements) if kind == "add"):
        later = [b for b in layout.branches if b > add]
        on_path.update(range(add, later[0] if later else len(elements)))
    return on_path


def draw_block(ax: Axes, layout: Layout, class_name: str, sizes: Sizes, kind_of_norm: str,
               formula: str) -> None:
    """One block on ``ax``: its stream bottom to top, the skip path in :data:`SKIP_COLOR`."""
    elements, placed, on_path = layout.elements, stack(layout, sizes), skip_route(layout)
    out_y = output_y(placed)
    figure_height = ax.figure.get_size_inches()[1]
    ax.set(xlim=(-HALF_WIDTH, HALF_WIDTH), ylim=(-BELOW, figure_height - BELOW),
           aspect="equal")
    ax.axis("off")
    ax.text(0, out_y + 0.25, f"{class_name} · {kind_of_norm}\n{formula}", ha="center",
            va="bottom", fontsize=10, linespacing=1.4)
    ax.text(0, 0, f"x   (batch, n, {sizes.d_model})", ha="center", va="center", fontsize=9)
    ax.text(0, out_y, f"out   (batch, n, {sizes.d_model})", ha="center", va="center", fontsize=9)
    for i, ((kind, attribute), (y, height)) in enumerate(zip(elements, placed, strict=True)):
        if kind == "add":
            _add(ax, y, attribute, elements[i - 1][0], layout.pre_norm)
        else:
            _box(ax, y, height, kind, attribute, sizes, i in on_path)
    ends = [0.1] + [y + h / 2 for y, h in placed]  # where each segment starts: x, then each top
    starts = [y - h / 2 for y, h in placed] + [out_y - 0.1]  # where each ends: bottoms, out
    for i, (lower, upper) in enumerate(zip(ends, starts, strict=True)):
        if i in layout.branches:  # the skip path leaves the stream here
            split = (lower + upper) / 2
            _line(ax, (0, lower), (0, split), SKIP_COLOR, 2.2)
            _arrow(ax, (0, split), (0, upper), FLOW_COLOR, 1.2)
            add = next(j for j in range(i, len(elements)) if elements[j][0] == "add")
            _bypass(ax, split, placed[add][0])
        else:
            skip = (i == 0 or i - 1 in on_path) and (i == len(elements) or i in on_path)
            _arrow(ax, (0, lower), (0, upper), SKIP_COLOR if skip else FLOW_COLOR,
                   2.2 if skip else 1.2)
    crossed = sum(elements[i][0] == "norm" for i in on_path)
    ax.text(0, -0.4, (f"skip path (red) crosses {crossed} LayerNorms" if crossed else
                       "skip path (red): a plain sum, no LayerNorm on it"),
            ha="center", va="center", fontsize=9, color=SKIP_COLOR, weight="bold")


def _add(ax: Axes, y: float, number: str, sublayer: str, pre_norm: bool) -> None:
    """A sum x + sublayer(·), on the skip path, labelled with what it adds."""
    ax.add_patch(Circle((0, y), ADD_RADIUS, facecolor="white", edgecolor=SKIP_COLOR,
                        linewidth=2, gid=f"add{number}"))
    ax.text(0, y, "+", ha="center", va="center", fontsize=11, color=SKIP_COLOR)
    name = "MHA" if sublayer == "attention" else "FFN"
    ax.text(-ADD_RADIUS - 0.1, y, f"add: x + {name}({'LN(x)' if pre_norm else 'x'})",
            ha="right", va="center", fontsize=8, color=SKIP_COLOR)


def _box(ax: Axes, y: float, height: float, kind: str, attribute: str, sizes: Sizes,
         skip: bool) -> None:
    """A module's box, labelled with its class and sizes; its attribute name to the left."""
    ax.add_patch(FancyBboxPatch(
        (-BOX_WIDTH / 2, y - height / 2), BOX_WIDTH, height,
        boxstyle="round,pad=0,rounding_size=0.08", facecolor=FILL[kind],
        edgecolor=SKIP_COLOR if skip else FLOW_COLOR, linewidth=2.2 if skip else 1,
        gid=attribute))
    ax.text(0, y, box_label(kind, sizes)[0], ha="center", va="center", fontsize=8,
            linespacing=1.25)
    ax.text(-BOX_WIDTH / 2 - 0.06, y, attribute, ha="right", va="center", fontsize=8,
            color="#777777", style="italic")


def _line(ax: Axes, start: tuple[float, float], end: tuple[float, float], color: str,
          width: float) -> None:
    ax.plot(*zip(start, end, strict=True), color=color, linewidth=width,
            solid_capstyle="butt")


def _arrow(ax: Axes, start: tuple[float, float], end: tuple[float, float], color: str,
           width: float) -> None:
    ax.add_patch(FancyArrowPatch(start, end, arrowstyle="-|>", mutation_scale=11,
                                 color=color, linewidth=width, shrinkA=0, shrinkB=0))


def _bypass(ax: Axes, branch_y: float, add_y: float) -> None:
    """The residual connection: from the branch point right, up, and left into the sum."""
    ax.add_patch(Circle((0, branch_y), 0.04, color=SKIP_COLOR))
    _line(ax, (0, branch_y), (SKIP_X, branch_y), SKIP_COLOR, 2.2)
    _line(ax, (SKIP_X, branch_y), (SKIP_X, add_y), SKIP_COLOR, 2.2)
    _arrow(ax, (SKIP_X, add_y), (ADD_RADIUS, add_y), SKIP_COLOR, 2.2)
    ax.text(SKIP_X + 0.06, (branch_y + add_y) / 2, "residual: x", rotation=90, ha="left",
            va="center", fontsize=8, color=SKIP_COLOR)
