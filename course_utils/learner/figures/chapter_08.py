"""Chapter 08's figures: the Neural Turing Machine, one step, and the Part I summary slide.

* :func:`ntm_step` replays an :class:`~course_utils.mechanisms.ntm.NTM` on one sequence up to a
  step t, through the model's own ``controller``, ``write_head``, ``read_head`` and ``out`` and
  the course's :func:`~course_utils.mechanisms.ntm.write` and
  :func:`~course_utils.mechanisms.ntm.read`, and keeps every tensor of that step
  (:class:`NTMStep`): the weightings, e, a, the memory, r and the output are those of
  ``NTM.forward``.
* :func:`draw_ntm_step` draws that step as the notes' slide: the controller reading
  [x_t; r_{t−1}], the write head (w_w, e, a) writing the memory, the memory M_t as a heatmap
  with both heads' weightings as bars beside its rows, the read head's r_t = Σ wᵢ Mᵢ and the
  output.
* :func:`draw_part_one_recap` draws the notes' Part I summary: translation (02), captioning and
  reading comprehension (03) and the NTM (08) as four rows of one pattern,
  query → keys/values → α → Σ → what the sum feeds.
"""

from __future__ import annotations

from dataclasses import dataclass

import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.patches import FancyArrowPatch, FancyBboxPatch
from torch import Tensor

from ...mechanisms.ntm import NTM, read, write
from ..heatmaps import DPI

__all__ = ["NTMStep", "ntm_step", "draw_ntm_step", "draw_part_one_recap", "RECAP_ROWS",
           "TOP_ROWS"]

FONT = 8
STRIP_CMAP = "RdBu_r"          # every strip: blue −1 … white 0 … red +1
WRITE_COLOR, READ_COLOR = "tab:red", "tab:blue"
BOX_FACE = "#f4f4f4"
TOP_ROWS = 3                   # the largest weights of each head printed beside its bars
W, H = 16.0, 10.6              # the diagram's data units: the axes fill the figure


@dataclass(frozen=True)
class NTMStep:
    """The tensors of step ``t`` of one sequence (N rows of width M, C controller units).

    ``x (input_size,)``: the input x_t; ``read_prev (M,)``: r_{t−1}; ``h (C,)``: the
    controller's new state h_t; ``write_weights (N,)``, ``erase (M,)``, ``add (M,)``: the write
    head's w_w, e, a; ``memory_before (N, M)``: M_{t−1}; ``memory (N, M)``: M_t, after the write;
    ``read_weights (N,)``: w_r; ``read_vector (M,)``: r_t; ``output (output_size,)``: the logits
    y_t (σ gives the bits' probabilities).
    """

    t: int
    x: Tensor
    read_prev: Tensor
    h: Tensor
    write_weights: Tensor
    erase: Tensor
    add: Tensor
    memory_before: Tensor
    memory: Tensor
    read_weights: Tensor
    read_vector: Tensor
    output: Tensor


@torch.no_grad()
def ntm_step(model: NTM, x: Tensor, t: int) -> NTMStep:
    """Run ``model`` on one sequence ``x (1, time, input_size)`` up to step ``t`` (0-based) as
    ``NTM.forward`` does — memory 10⁻⁶ everywhere, both weightings on row 0, r₀ = 0 — and
    return step t's tensors (:class:`NTMStep`)."""
    if not isinstance(model, NTM):
        raise TypeError(f"model must be a course_utils NTM, got {type(model).__name__}")
    if x.dim() != 3 or x.shape[0] != 1 or x.shape[2] != model.input_size:
        raise ValueError(f"x must have shape (1, time, {model.input_size}), got "
                         f"{tuple(x.shape)}")
    if not 0 <= t < x.shape[1]:
        raise ValueError(f"t must be a step of the sequence, 0 … {x.shape[1] - 1}; got {t}")
    memory = torch.full((1, model.rows, model.width), 1e-6, dtype=x.dtype)
    w_write = torch.zeros(1, model.rows, dtype=x.dtype)
    w_write[:, 0] = 1.0
    w_read = w_write
    r = torch.zeros(1, model.width, dtype=x.dtype)
    state = None
    for step in range(t + 1):
        r_prev, before = r, memory
        state = model.controller(torch.cat([x[:, step], r], dim=-1), state)
        h = state[0]
        w_write, erase, add = model.write_head(h, memory, w_write)
        memory = write(memory, w_write, erase, add)
        (w_read,) = model.read_head(h, memory, w_read)
        r = read(memory, w_read)
    output = model.out(torch.cat([h, r], dim=-1))
    return NTMStep(t, x[0, t], r_prev[0], h[0], w_write[0], erase[0], add[0], before[0],
                   memory[0], w_read[0], r[0], output[0])


# ------------------------------------------------------------------------------- drawing
def box(ax: Axes, x: float, y: float, width: float, height: float, gid: str,
        face: str = BOX_FACE, edge: str = "0.3") -> None:
    """A rounded box with lower-left corner ``(x, y)``; ``gid`` names it."""
    patch = FancyBboxPatch((x, y), width, height, boxstyle="round,pad=0.02,rounding_size=0.15",
                           facecolor=face, edgecolor=edge, linewidth=1.0, zorder=1)
    patch.set_gid(gid)
    ax.add_patch(patch)


def strip(ax: Axes, x: float, y: float, width: float, height: float, vector: Tensor, gid: str,
          vmin: float = -1.0, vmax: float = 1.0) -> None:
    """``vector (d,)``, all of it, as a row of coloured cells in the rectangle (x, y, w, h)."""
    image = ax.imshow(vector.detach().cpu().numpy()[None, :], cmap=STRIP_CMAP, vmin=vmin,
                      vmax=vmax, aspect="auto", interpolation="nearest", zorder=3,
                      extent=(x, x + width, y, y + height))
    image.set_gid(gid)


def labelled_strip(ax: Axes, x: float, y: float, width: float, label: str, vector: Tensor,
                   gid: str, **limits: float) -> None:
    """A box holding ``label`` and, under it, ``vector`` as a strip (1.1 units high)."""
    box(ax, x, y, width, 1.1, gid)
    ax.text(x + width / 2, y + 0.78, label, ha="center", va="center", fontsize=FONT, zorder=4)
    strip(ax, x + 0.12, y + 0.15, width - 0.24, 0.35, vector, gid, **limits)


def arrow(ax: Axes, *points: tuple[float, float], color: str = "0.35", gid: str = "",
          linestyle: str = "-") -> None:
    """An arrow through ``points`` (straight segments, the head at the last point)."""
    for a, b in zip(points[:-2], points[1:-1], strict=True):
        ax.plot([a[0], b[0]], [a[1], b[1]], color=color, lw=1.1, ls=linestyle, zorder=0.5,
                gid=gid)
    patch = FancyArrowPatch(points[-2], points[-1], arrowstyle="-|>", mutation_scale=10,
                            color=color, lw=1.1, linestyle=linestyle, shrinkA=0, shrinkB=0,
                            zorder=0.5)
    patch.set_gid(gid)
    ax.add_patch(patch)


def weight_bars(fig: Figure, rect: tuple[float, float, float, float], weights: Tensor,
                color: str, gid: str, left: bool) -> Axes:
    """The weighting ``weights (N,)`` as horizontal bars, one per memory row (row 0 on top),
    in the data rectangle ``rect = (x, y, width, height)``; the :data:`TOP_ROWS` largest are
    printed. ``left``: the bars grow leftwards, towards the memory on their right."""
    x, y, width, height = rect
    ax = fig.add_axes((x / W, y / H, width / W, height / H))
    w = weights.detach().cpu().numpy()
    n = len(w)
    bars = ax.barh(np.arange(n), w, height=0.85, color=color)
    for bar in bars:
        bar.set_gid(gid)
    ax.set_ylim(n - 0.5, -0.5)
    ax.set_xlim((1, 0) if left else (0, 1))
    ax.set_yticks([])
    ax.set_xticks([])
    for side in ("top", "left", "right"):
        ax.spines[side].set_visible(False)
    ax.patch.set_alpha(0)
    for k, row in enumerate(np.argsort(-w, kind="stable")[:TOP_ROWS]):
        ax.text(0.42 if left else 0.58, 0.62 - 0.06 * k, f"row {row}: {w[row]:.2f}",
                transform=ax.transAxes, ha="center", va="top", fontsize=FONT - 0.5,
                color=color, gid=gid, bbox={"boxstyle": "round,pad=0.1", "facecolor": "white",
                                            "edgecolor": "none", "alpha": 0.8})
    return ax


def draw_ntm_step(step: NTMStep, caption: str = "") -> Figure:
    """The NTM's step ``step.t`` as the notes' slide, with its real numbers.

    Left: x_t and r_{t−1} into the controller (``NTM.controller``, an ``LSTMCell``), its state
    h_t (first 20 numbers). Top: the write head (``NTM.write_head``) with e and a, and
    ``write()``'s M ← M ∘ (1 − w eᵀ) + w aᵀ. Middle: the memory M_t (N × M heatmap) with the
    write weighting w_w as red bars on its left and the read weighting w_r as blue bars on its
    right (the largest values printed). Bottom and right: the read head (``NTM.read_head``),
    ``read()``'s r_t = Σ wᵢ Mᵢ, and the output σ(``NTM.out``([h_t; r_t])). ``caption`` goes
    under the title. Vectors are strips, blue −1 … red +1. Returns the pyplot Figure.
    """
    n, m = step.memory.shape
    fig = plt.figure(figsize=(11.0, 6.2), dpi=DPI)
    ax = fig.add_axes((0, 0, 1, 1))
    ax.set_xlim(0, W)
    ax.set_ylim(0, H)
    ax.set_axis_off()
    t = step.t
    ax.text(W / 2, H - 0.3, f"The NTM, one step (t = {t}): [$x_t$; $r_{{t-1}}$] → controller → "
            "write → read → output", ha="center", va="center", fontsize=FONT + 3)
    if caption:
        ax.text(W / 2, H - 0.75, caption, ha="center", va="center", fontsize=FONT,
                color="0.3")
    # ---------------------------------------------------------------- the controller (left)
    labelled_strip(ax, 0.3, 8.2, 3.0, f"$x_t$: the input at t = {t} ({len(step.x)})", step.x,
                   "x")
    labelled_strip(ax, 0.3, 6.5, 3.0, f"$r_{{t-1}}$: the last read ({len(step.read_prev)})",
                   step.read_prev, "read_prev")
    box(ax, 0.3, 3.6, 3.0, 2.2, "controller", face="#e8f0e0")
    ax.text(1.8, 5.3, "controller: NTM.controller", ha="center", va="center",
            fontsize=FONT, zorder=4)
    ax.text(1.8, 4.85, f"LSTMCell({len(step.x)} + {m} → {len(step.h)})", ha="center",
            va="center", fontsize=FONT, zorder=4)
    ax.text(1.8, 4.4, f"$h_t$ (first {min(20, len(step.h))} of {len(step.h)})", ha="center",
            va="center", fontsize=FONT - 0.5, color="0.3", zorder=4)
    strip(ax, 0.45, 3.8, 2.7, 0.35, step.h[:20], "h")
    arrow(ax, (1.8, 8.2), (1.8, 7.6), gid="x->read_prev")
    arrow(ax, (1.8, 6.5), (1.8, 5.8), gid="inputs->controller")
    ax.text(1.95, 6.1, "[$x_t$; $r_{t-1}$]", ha="left", va="center", fontsize=FONT - 0.5,
            color="0.3")
    # --------------------------------------------------------------- the write head (top)
    box(ax, 3.9, 7.0, 3.3, 2.6, "write_head", face="#fbe5e1", edge=WRITE_COLOR)
    ax.text(5.55, 9.3, "write head: NTM.write_head", ha="center", va="center", fontsize=FONT,
            zorder=4)
    ax.text(5.55, 8.95, "$w_w$ (red bars), erase e, add a", ha="center", va="center",
            fontsize=FONT - 0.5, color="0.3", zorder=4)
    for k, (name, vector) in enumerate((("e", step.erase), ("a", step.add))):
        y = 8.25 - 0.75 * k
        ax.text(4.1, y + 0.17, name, ha="left", va="center", fontsize=FONT, zorder=4)
        strip(ax, 4.4, y, 2.6, 0.35, vector, name)
    ax.text(5.55, 6.6, "write(): M ← M ∘ (1 − w eᵀ) + w aᵀ", ha="center", va="center",
            fontsize=FONT, color=WRITE_COLOR)
    arrow(ax, (3.3, 5.5), (3.9, 7.6), gid="h->write_head")
    # ------------------------------------------------------------------ the memory (middle)
    mem_x, mem_y, mem_w, mem_h = 8.9, 1.2, 2.5, 7.6
    bar_w = 1.25
    weight_bars(fig, (mem_x - bar_w - 0.08, mem_y, bar_w, mem_h), step.write_weights,
                WRITE_COLOR, "write_weights", left=True)
    weight_bars(fig, (mem_x + mem_w + 0.08, mem_y, bar_w, mem_h), step.read_weights,
                READ_COLOR, "read_weights", left=False)
    mem_ax = fig.add_axes((mem_x / W, mem_y / H, mem_w / W, mem_h / H))
    values = step.memory.detach().cpu().numpy()
    limit = float(np.abs(values).max()) or 1.0
    image = mem_ax.imshow(values, cmap=STRIP_CMAP, vmin=-limit, vmax=limit, aspect="auto",
                          interpolation="nearest")
    image.set_gid("memory")
    mem_ax.set_yticks(range(0, n, max(1, n // 8)))
    mem_ax.set_xticks([0, m - 1])
    mem_ax.tick_params(labelsize=FONT - 1, length=2, pad=1)
    mem_ax.set_xlabel(f"width M = {m}", fontsize=FONT, labelpad=1)
    ax.text(mem_x + mem_w / 2, mem_y + mem_h + 0.55, f"memory $M_t$  (N = {n} rows × M = {m})",
            ha="center", va="center", fontsize=FONT + 0.5)
    ax.text(mem_x + mem_w / 2, mem_y + mem_h + 0.2, f"after the write; colour ±{limit:.2f}",
            ha="center", va="center", fontsize=FONT - 0.5, color="0.3")
    ax.text(mem_x - bar_w / 2 - 0.08, mem_y + mem_h + 0.55, "$w_w$", ha="center", va="center",
            fontsize=FONT + 1, color=WRITE_COLOR)
    ax.text(mem_x + mem_w + bar_w / 2 + 0.08, mem_y + mem_h + 0.55, "$w_r$", ha="center",
            va="center", fontsize=FONT + 1, color=READ_COLOR)
    arrow(ax, (7.2, 8.3), (mem_x - bar_w - 0.1, 8.3), color=WRITE_COLOR, gid="write")
    # ------------------------------------------------------------- the read head (bottom)
    box(ax, 3.9, 1.2, 3.3, 1.9, "read_head", face="#e1ebf7", edge=READ_COLOR)
    ax.text(5.55, 2.55, "read head: NTM.read_head", ha="center", va="center", fontsize=FONT,
            zorder=4)
    ax.text(5.55, 1.85, "addresses $M_t$ (after the write)\n→ $w_r$ (blue bars)", ha="center",
            va="center", fontsize=FONT - 0.5, color="0.3", zorder=4)
    arrow(ax, (3.3, 4.0), (3.9, 2.6), gid="h->read_head")
    under = mem_x + mem_w + 0.08 + bar_w / 2
    arrow(ax, (7.2, 1.5), (7.45, 1.5), (7.45, 0.62), (under, 0.62), (under, mem_y - 0.03),
          color=READ_COLOR, gid="read_head->w_r")
    ax.text(5.55, 0.85, "content, gate, shift, sharpen: section 2", ha="center", va="center",
            fontsize=FONT - 1, color="0.4")
    # ------------------------------------------------------------ the read and the output
    right = mem_x + mem_w + bar_w + 0.35
    labelled_strip(ax, right, 5.0, W - right - 0.2, f"read(): $r_t$ = Σᵢ wᵢ Mᵢ ({m})",
                   step.read_vector, "read_vector")
    arrow(ax, (right - 0.3, 5.55), (right, 5.55), color=READ_COLOR, gid="w_r->read")
    ax.text(right + (W - right - 0.2) / 2, 4.7, "→ the controller, as $r_{t-1}$ at t + 1",
            ha="center", va="center", fontsize=FONT - 0.5, color="0.3")
    probs = torch.sigmoid(step.output)
    labelled_strip(ax, right, 2.2, W - right - 0.2,
                   f"$y_t$ = σ(NTM.out[$h_t$; $r_t$]) ({len(probs)})", probs, "output")
    ax.text(right + (W - right - 0.2) / 2, 1.9, "the bits' probabilities, 0 … 1",
            ha="center", va="center", fontsize=FONT - 0.5, color="0.3")
    arrow(ax, (right + 1.0, 5.0), (right + 1.0, 3.3), color=READ_COLOR, gid="read->output")
    arrow(ax, (1.8, 3.6), (1.8, 0.35), (right + 2.2, 0.35), (right + 2.2, 2.2),
          gid="h->output")
    ax.text(right + 1.6, 0.45, "$h_t$", ha="center", va="bottom", fontsize=FONT, color="0.3")
    return fig


# ------------------------------------------------------------------------ the Part I recap
#: The notes' Part I summary: chapter → (task, query, keys / values, α, Σ, what the sum feeds).
RECAP_ROWS = (
    ("02", "machine\ntranslation", "decoder state zᵗ⁻¹", "encoder states h¹…hⁿ\n(keys = values)",
     "score(z, hⁱ),\nsoftmax over words", "c = Σ αᵢ hⁱ", "the GRU → zᵗ,\nthe next word"),
    ("03", "image\ncaptioning", "decoder state z", "16 CNN region\nfeatures r₁…r₁₆",
     "score(z, rᵢ),\nsoftmax over regions", "c = Σ αᵢ rᵢ", "the GRU →\nthe next word"),
    ("03", "reading\ncomprehension", "question u\n(then u + o)",
     "sentences: keys mᵢ,\nvalues cᵢ", "p = softmax(uᵀ mᵢ)\nover sentences", "o = Σ pᵢ cᵢ",
     "the next hop u + o,\nthen the answer"),
    ("08", "Neural Turing\nMachine", "head's key k\n(from the controller)",
     "memory rows Mᵢ\n(keys = values)", "w: cosine · β, gate,\nshift, sharpen", "r = Σ wᵢ Mᵢ",
     "the controller at t + 1,\nthe output"),
)
SUBSCRIPTS = str.maketrans("0123456789", "₀₁₂₃₄₅₆₇₈₉")
RECAP_COLORS = {"02": "#fde3c8", "03": "#d9ecd0", "08": "#dcd6f2"}
COLUMNS = ("query", "keys / values", "α = softmax(score)", "Σ: weighted sum", "feeds")


def draw_part_one_recap(model: NTM | None = None) -> Figure:
    """The notes' Part I summary slide: four parallel rows of query → keys/values → α → Σ →
    feeds (:data:`RECAP_ROWS`), one per application, each tagged with its chapter number.
    With ``model`` (an :class:`~course_utils.mechanisms.ntm.NTM`) the NTM's row prints its
    memory's real number of rows. Returns the pyplot Figure."""
    rows = [list(row) for row in RECAP_ROWS]
    if model is not None:
        if not isinstance(model, NTM):
            raise TypeError(f"model must be a course_utils NTM, got {type(model).__name__}")
        last = str(model.rows - 1).translate(SUBSCRIPTS)
        rows[3][3] = f"memory rows M₀…M{last}\n(keys = values)"
    fig, ax = plt.subplots(figsize=(11.0, 4.6), dpi=DPI)
    fig.subplots_adjust(left=0, right=1, top=1, bottom=0)
    ax.set_xlim(0, 22)
    ax.set_ylim(0, 9.4)
    ax.set_axis_off()
    ax.text(11, 9.0, "Part I in one pattern: a query scores the keys, softmax gives α, and "
            "the α-weighted sum of the values feeds what comes next", ha="center", va="center",
            fontsize=FONT + 2)
    lefts = (3.7, 7.35, 11.0, 14.65, 17.95)
    widths = (3.0, 3.0, 3.0, 2.65, 3.85)
    for left, width, title in zip(lefts, widths, COLUMNS, strict=True):
        ax.text(left + width / 2, 8.25, title, ha="center", va="center", fontsize=FONT + 1,
                fontweight="bold")
    for k, (chapter, task, *cells) in enumerate(rows):
        y = 6.3 - 1.95 * k
        tag = FancyBboxPatch((0.2, y + 0.35), 0.8, 0.6, boxstyle="round,pad=0,rounding_size=0.12",
                             facecolor=RECAP_COLORS[chapter], edgecolor="black", lw=0.8)
        tag.set_gid(f"chapter{chapter}")
        ax.add_patch(tag)
        ax.text(0.6, y + 0.65, chapter, ha="center", va="center", fontsize=FONT + 1,
                fontweight="bold", gid="chapter")
        ax.text(1.2, y + 0.65, task, ha="left", va="center", fontsize=FONT, gid="task")
        for j, (left, width, text) in enumerate(zip(lefts, widths, cells, strict=True)):
            box(ax, left, y, width, 1.3, f"{COLUMNS[j]}{k}", face=RECAP_COLORS[chapter])
            ax.text(left + width / 2, y + 0.65, text, ha="center", va="center", fontsize=FONT,
                    zorder=4, gid=COLUMNS[j])
            if j:
                end = lefts[j - 1] + widths[j - 1]
                arrow(ax, (end + 0.05, y + 0.65), (left - 0.05, y + 0.65), gid="flow")
    return fig
