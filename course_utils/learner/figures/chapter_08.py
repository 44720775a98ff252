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
* :func:`ntm_stages` is the same slide as a step-through over the six stages of that step, in
  the order ``NTM.forward`` runs them (:data:`STAGES`: controller, write weighting, erase,
  add, read, output; saved picture: stage 1): only what the step has computed by a stage is
  filled in, the memory shown as M_{t−1}, then M̃ after the erase, then M_t, and a line of the
  stage's real numbers under it. :func:`draw_ntm_stage` draws one stage.
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
from matplotlib.collections import PolyCollection
from matplotlib.figure import Figure
from matplotlib.patches import FancyArrowPatch, FancyBboxPatch, Rectangle
from torch import Tensor

from ...mechanisms.ntm import NTM, read, write
from ..heatmaps import DPI
from .step_through import StepThrough

__all__ = ["NTMStep", "ntm_step", "draw_ntm_step", "draw_part_one_recap", "RECAP_ROWS",
           "TOP_ROWS", "BAR_W", "STAGES", "erased_memory", "stage_notes", "draw_ntm_stage",
           "ntm_stages"]

FONT = 8
STRIP_CMAP = "RdBu_r"          # every strip: blue −1 … white 0 … red +1
WRITE_COLOR, READ_COLOR = "tab:red", "tab:blue"
BOX_FACE = "#f4f4f4"
TOP_ROWS = 3                   # the largest weights of each head printed beside its bars
W, H = 16.0, 10.6              # the diagram's data units: the axes fill the figure
BAR_W = 1.25                   # a weight of 1 is a bar this wide (data units)


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


def weight_bars(ax: Axes, rect: tuple[float, float, float, float], weights: Tensor,
                color: str, gid: str, left: bool) -> PolyCollection:
    """The weighting ``weights (N,)`` as horizontal bars on ``ax``, one per memory row (row 0
    on top), in the data rectangle ``rect = (x, y, width, height)``: a weight of 1 spans the
    width. One ``PolyCollection`` (gid ``gid``, N rectangles: drawn in one go) over a base
    line; the :data:`TOP_ROWS` largest weights are printed. ``left``: the bars grow leftwards,
    from the rectangle's right edge (towards the memory on their right)."""
    x, y, width, height = rect
    w = weights.detach().cpu().numpy().astype(float)
    n = len(w)
    pitch = height / n
    top = y + height - pitch * (np.arange(n) + 0.5)            # row i's centre
    base = np.full(n, x + width if left else x)
    end = base - w * width if left else base + w * width
    low, high = top - 0.425 * pitch, top + 0.425 * pitch
    bars = PolyCollection(np.stack([np.stack([base, low], 1), np.stack([end, low], 1),
                                    np.stack([end, high], 1), np.stack([base, high], 1)], 1),
                          facecolors=color, edgecolors="none", zorder=2)
    bars.set_gid(gid)
    ax.add_collection(bars, autolim=False)
    ax.plot([x, x + width], [y, y], color="black", lw=0.8, zorder=2)
    for k, row in enumerate(np.argsort(-w, kind="stable")[:TOP_ROWS]):
        ax.text(x + (0.42 if left else 0.58) * width, y + (0.62 - 0.06 * k) * height,
                f"row {row}: {w[row]:.2f}", ha="center", va="top", fontsize=FONT - 0.5,
                color=color, gid=gid, zorder=4,
                bbox={"boxstyle": "round,pad=0.1", "facecolor": "white", "edgecolor": "none",
                      "alpha": 0.8})
    return bars


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
    fig = plt.figure(figsize=FIGSIZE, dpi=DPI)
    _draw_ntm(fig, step, caption, None)
    return fig


FIGSIZE = (11.0, 6.2)
#: The stages of one NTM step, in the order ``NTM.forward`` runs them.
STAGES = (
    "the controller reads [$x_t$; $r_{t-1}$] → $h_t$",
    "the write head addresses the memory: $w_w$, and emits e and a",
    "erase: $\\tilde M = M_{t-1} \\circ (1 - w_w e^\\top)$",
    "add: $M_t = \\tilde M + w_w a^\\top$",
    "the read head addresses $M_t$: $w_r$, and reads $r_t = \\Sigma_i\\, w_{r,i}\\, M_{t,i}$",
    "the output: $y_t = \\sigma$(NTM.out[$h_t$; $r_t$])",
)
FUTURE, NOW, DONE = "future", "now", "done"
NOW_EDGE = "#ff7f0e"


def erased_memory(step: NTMStep) -> Tensor:
    """M̃ = M_{t−1} ∘ (1 − w_w eᵀ): the memory between the erase and the add (N, M)."""
    return step.memory_before * (1 - step.write_weights[:, None] * step.erase[None, :])


def stage_notes(step: NTMStep) -> tuple[str, ...]:
    """One line per stage with the step's real numbers (what the stage did)."""
    w_w, w_r = step.write_weights, step.read_weights
    row_w, row_r = int(w_w.argmax()), int(w_r.argmax())
    erased = erased_memory(step)
    held = step.memory_before[row_w].abs().max().item()
    removed = (step.memory_before - erased).abs().max().item()
    added = (step.memory - erased).abs().max().item()
    bits = "".join(str(int(b)) for b in (torch.sigmoid(step.output) > 0.5).tolist())
    return (
        f"$h_t$ = LSTMCell([$x_t$; $r_{{t-1}}$], $h_{{t-1}}$): {len(step.h)} numbers that "
        "drive both heads",
        f"$w_w$ is largest on row {row_w} ({w_w[row_w]:.2f}): the write goes there",
        f"row {row_w} held values up to {held:.2f}; the erase removes at most {removed:.2f} "
        "from any entry" + ("  (a blank row: nothing to erase)" if held < 0.005 else ""),
        f"row {row_w} receives {w_w[row_w]:.2f} · a: the add changes an entry by up to "
        f"{added:.2f}",
        f"$w_r$ is largest on row {row_r} ({w_r[row_r]:.2f}): "
        f"$r_t$ is mostly row {row_r} of $M_t$",
        f"$y_t$ > ½ on bits {bits}  (the copy task scores $y_t$ only after the delimiter)",
    )


def _state(stage: int | None, first: int) -> str:
    """A part first computed at stage ``first``: future before it, now at it, done after it
    (every part is done in the static figure, ``stage=None``)."""
    if stage is None:
        return DONE
    return FUTURE if stage < first else NOW if stage == first else DONE


def _box(ax: Axes, x: float, y: float, width: float, height: float, gid: str, state: str,
         face: str = BOX_FACE, edge: str = "0.3") -> None:
    """:func:`box`, styled by its state: dashed and empty in the future, outlined now."""
    if state == FUTURE:
        patch = FancyBboxPatch((x, y), width, height,
                               boxstyle="round,pad=0.02,rounding_size=0.15", facecolor="white",
                               edgecolor="0.75", linewidth=0.9, linestyle="--", zorder=1)
        patch.set_gid(gid)
        ax.add_patch(patch)
    else:
        box(ax, x, y, width, height, gid, face=face,
            edge=NOW_EDGE if state == NOW else edge)
        if state == NOW:
            ax.patches[-1].set_linewidth(2.4)


def _text(ax: Axes, x: float, y: float, text: str, state: str, **kwargs: object) -> None:
    if state == FUTURE:
        kwargs["color"] = "0.7"
    ax.text(x, y, text, **kwargs)


def _draw_ntm(fig: Figure, step: NTMStep, caption: str, stage: int | None) -> Axes:
    """The slide on ``fig`` (sized :data:`FIGSIZE`); ``stage`` (1 … 6): only what the step has
    computed by that stage of :data:`STAGES` is filled in, the stage's own parts outlined in
    orange, the rest dashed and empty; ``None``: everything (the static figure)."""
    n, m = step.memory.shape
    ax = fig.add_axes((0, 0, 1, 1))
    ax.set_xlim(0, W)
    ax.set_ylim(0, H)
    ax.set_axis_off()
    t = step.t
    controller, write_head, erase_add, read_head, output = (
        _state(stage, k) for k in (1, 2, 3, 5, 6))
    if stage is None:
        ax.text(W / 2, H - 0.3, f"The NTM, one step (t = {t}): [$x_t$; $r_{{t-1}}$] → "
                "controller → write → read → output", ha="center", va="center",
                fontsize=FONT + 3)
    else:
        ax.text(0.2, H - 0.3, f"Stage {stage} of {len(STAGES)} (t = {t}) · "
                f"{STAGES[stage - 1]}", ha="left", va="center", fontsize=FONT + 3,
                gid="title")
        ax.text(W / 2, 0.1, stage_notes(step)[stage - 1], ha="center", va="bottom",
                fontsize=FONT + 1, color=NOW_EDGE, gid="note")
    if caption:
        ax.text(W / 2 if stage is None else 0.2, H - 0.75, caption,
                ha="center" if stage is None else "left", va="center", fontsize=FONT,
                color="0.3")
    # ---------------------------------------------------------------- the controller (left)
    for y, label, vector, gid in ((8.2, f"$x_t$: the input at t = {t} ({len(step.x)})",
                                   step.x, "x"),
                                  (6.5, f"$r_{{t-1}}$: the last read ({len(step.read_prev)})",
                                   step.read_prev, "read_prev")):
        _box(ax, 0.3, y, 3.0, 1.1, gid, controller)
        ax.text(1.8, y + 0.78, label, ha="center", va="center", fontsize=FONT, zorder=4)
        strip(ax, 0.42, y + 0.15, 2.76, 0.35, vector, gid)
    _box(ax, 0.3, 3.6, 3.0, 2.2, "controller", controller, face="#e8f0e0")
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
    _box(ax, 3.9, 7.0, 3.3, 2.6, "write_head", write_head, face="#fbe5e1", edge=WRITE_COLOR)
    _text(ax, 5.55, 9.3, "write head: NTM.write_head", write_head, ha="center", va="center",
          fontsize=FONT, zorder=4)
    _text(ax, 5.55, 8.95, "$w_w$ (red bars), erase e, add a", write_head, ha="center",
          va="center", fontsize=FONT - 0.5, color="0.3", zorder=4)
    for k, (name, vector) in enumerate((("e", step.erase), ("a", step.add))):
        y = 8.25 - 0.75 * k
        _text(ax, 4.1, y + 0.17, name, write_head, ha="left", va="center", fontsize=FONT,
              zorder=4)
        if write_head != FUTURE:
            strip(ax, 4.4, y, 2.6, 0.35, vector, name)
    if stage is None:
        ax.text(5.55, 6.6, "write(): M ← M ∘ (1 − w eᵀ) + w aᵀ", ha="center", va="center",
                fontsize=FONT, color=WRITE_COLOR)
    else:
        for k, (text, first) in enumerate((("write(): M ← M ∘ (1 − w eᵀ)", 3),
                                           ("+ w aᵀ", 4))):
            state = _state(stage, first)
            _text(ax, 4.2 + 2.55 * k, 6.6, text, state, ha="left" if k == 0 else "left",
                  va="center", fontsize=FONT + (1 if state == NOW else 0), color=WRITE_COLOR,
                  fontweight="bold" if state == NOW else "normal", gid=f"write{k + 1}")
    arrow(ax, (3.3, 5.5), (3.9, 7.6), gid="h->write_head",
          color="0.75" if write_head == FUTURE else "0.35")
    # ------------------------------------------------------------------ the memory (middle)
    mem_x, mem_y, mem_w, mem_h = 8.9, 1.2, 2.5, 7.6
    bar_w = BAR_W
    if write_head != FUTURE:
        weight_bars(ax, (mem_x - bar_w - 0.08, mem_y, bar_w, mem_h), step.write_weights,
                    WRITE_COLOR, "write_weights", left=True)
    if read_head != FUTURE:
        weight_bars(ax, (mem_x + mem_w + 0.08, mem_y, bar_w, mem_h), step.read_weights,
                    READ_COLOR, "read_weights", left=False)
    if stage is None:
        shown, name = step.memory, "memory $M_t$"
        limit = float(step.memory.abs().max()) or 1.0
        note = "after the write"
    else:
        erased = erased_memory(step)
        shown, name, note = ((step.memory_before, "memory $M_{t-1}$", "before the write")
                             if stage <= 2 else
                             (erased, "memory $\\tilde M$", "erased, not yet added")
                             if stage == 3 else (step.memory, "memory $M_t$", "after the write"))
        limit = max(float(x.abs().max()) for x in (step.memory_before, erased, step.memory)) \
            or 1.0
    # The memory in the main axes (no axes of its own: a redraw builds one axes, not two).
    image = ax.imshow(shown.detach().cpu().numpy(), cmap=STRIP_CMAP, vmin=-limit, vmax=limit,
                      aspect="auto", interpolation="nearest", zorder=1,
                      extent=(mem_x, mem_x + mem_w, mem_y, mem_y + mem_h))
    image.set_gid("memory")
    now = stage in (3, 4)
    frame = Rectangle((mem_x, mem_y), mem_w, mem_h, fill=False, zorder=3,
                      edgecolor=NOW_EDGE if now else "black", lw=2.4 if now else 0.8)
    frame.set_gid("memory_frame")
    ax.add_patch(frame)
    pitch = mem_h / n
    for row in range(0, n, max(1, n // 8)):                   # row numbers, as ticks would be
        ax.text(mem_x - 0.04, mem_y + mem_h - (row + 0.5) * pitch, str(row), ha="right",
                va="center", fontsize=FONT - 1, zorder=4, gid="row_tick")
    for column, x in ((0, mem_x + mem_w / m / 2), (m - 1, mem_x + mem_w - mem_w / m / 2)):
        ax.text(x, mem_y - 0.05, str(column), ha="center", va="top", fontsize=FONT - 1)
    ax.text(mem_x + mem_w / 2, mem_y - 0.3, f"width M = {m}", ha="center", va="top",
            fontsize=FONT)
    ax.text(mem_x + mem_w / 2, mem_y + mem_h + 0.55, f"{name}  (N = {n} rows × M = {m})",
            ha="center", va="center", fontsize=FONT + 0.5, gid="memory_title")
    ax.text(mem_x + mem_w / 2, mem_y + mem_h + 0.2, f"{note}; colour ±{limit:.2f}",
            ha="center", va="center", fontsize=FONT - 0.5, color="0.3")
    _text(ax, mem_x - bar_w / 2 - 0.08, mem_y + mem_h + 0.55, "$w_w$", write_head,
          ha="center", va="center", fontsize=FONT + 1, color=WRITE_COLOR)
    _text(ax, mem_x + mem_w + bar_w / 2 + 0.08, mem_y + mem_h + 0.55, "$w_r$", read_head,
          ha="center", va="center", fontsize=FONT + 1, color=READ_COLOR)
    arrow(ax, (7.2, 8.3), (mem_x - bar_w - 0.1, 8.3), gid="write",
          color="0.8" if erase_add == FUTURE else WRITE_COLOR)
    # ------------------------------------------------------------- the read head (bottom)
    _box(ax, 3.9, 1.2, 3.3, 1.9, "read_head", read_head, face="#e1ebf7", edge=READ_COLOR)
    _text(ax, 5.55, 2.55, "read head: NTM.read_head", read_head, ha="center", va="center",
          fontsize=FONT, zorder=4)
    _text(ax, 5.55, 1.85, "addresses $M_t$ (after the write)\n→ $w_r$ (blue bars)", read_head,
          ha="center", va="center", fontsize=FONT - 0.5, color="0.3", zorder=4)
    faint = "0.75" if read_head == FUTURE else "0.35"
    arrow(ax, (3.3, 4.0), (3.9, 2.6), gid="h->read_head", color=faint)
    under = mem_x + mem_w + 0.08 + bar_w / 2
    arrow(ax, (7.2, 1.5), (7.45, 1.5), (7.45, 0.62), (under, 0.62), (under, mem_y - 0.03),
          color="0.8" if read_head == FUTURE else READ_COLOR, gid="read_head->w_r")
    _text(ax, 5.55, 0.85, "content, gate, shift, sharpen: section 2", read_head, ha="center",
          va="center", fontsize=FONT - 1, color="0.4")
    # ------------------------------------------------------------ the read and the output
    right = mem_x + mem_w + bar_w + 0.35
    _box(ax, right, 5.0, W - right - 0.2, 1.1, "read_vector", read_head)
    _text(ax, right + (W - right - 0.2) / 2, 5.78, f"read(): $r_t$ = Σᵢ wᵢ Mᵢ ({m})",
          read_head, ha="center", va="center", fontsize=FONT, zorder=4)
    if read_head != FUTURE:
        strip(ax, right + 0.12, 5.15, W - right - 0.44, 0.35, step.read_vector, "read_vector")
    arrow(ax, (right - 0.3, 5.55), (right, 5.55), gid="w_r->read",
          color="0.8" if read_head == FUTURE else READ_COLOR)
    _text(ax, right + (W - right - 0.2) / 2, 4.7, "→ the controller, as $r_{t-1}$ at t + 1",
          read_head, ha="center", va="center", fontsize=FONT - 0.5, color="0.3")
    probs = torch.sigmoid(step.output)
    _box(ax, right, 2.2, W - right - 0.2, 1.1, "output", output)
    _text(ax, right + (W - right - 0.2) / 2, 2.98,
          f"$y_t$ = σ(NTM.out[$h_t$; $r_t$]) ({len(probs)})", output, ha="center",
          va="center", fontsize=FONT, zorder=4)
    if output != FUTURE:
        strip(ax, right + 0.12, 2.35, W - right - 0.44, 0.35, probs, "output")
    _text(ax, right + (W - right - 0.2) / 2, 1.9, "the bits' probabilities, 0 … 1", output,
          ha="center", va="center", fontsize=FONT - 0.5, color="0.3")
    faint = "0.8" if output == FUTURE else "0.35"
    arrow(ax, (right + 1.0, 5.0), (right + 1.0, 3.3), gid="read->output",
          color="0.8" if output == FUTURE else READ_COLOR)
    arrow(ax, (1.8, 3.6), (1.8, 0.35), (right + 2.2, 0.35), (right + 2.2, 2.2),
          gid="h->output", color=faint)
    _text(ax, right + 1.6, 0.45, "$h_t$", output, ha="center", va="bottom", fontsize=FONT,
          color="0.3")
    return ax


def draw_ntm_stage(fig: Figure, stage: int, step: NTMStep, caption: str = "") -> Axes:
    """Stage ``stage`` (1 … 6, :data:`STAGES`) of the NTM's step ``step`` on ``fig`` (sized
    :data:`FIGSIZE`): the slide of :func:`draw_ntm_step` with only what the step has computed
    by that stage filled in (the memory as M_{t−1}, then M̃ after the erase, then M_t), the
    stage's parts outlined in orange, and a line of the stage's real numbers
    (:func:`stage_notes`). Returns the main axes."""
    if isinstance(stage, bool) or not isinstance(stage, int) or \
            not 1 <= stage <= len(STAGES):
        raise ValueError(f"stage must be in 1 … {len(STAGES)}, got {stage!r}")
    return _draw_ntm(fig, step, caption, stage)


def ntm_stages(step: NTMStep, caption: str = "", *, dpi: int = DPI,
               play: bool = True) -> StepThrough:
    """The NTM's step ``step`` as a :class:`StepThrough` over its six stages (:data:`STAGES`;
    saved picture: stage 1). ``walk.numbers`` holds what is drawn (the :class:`NTMStep`)."""
    if not isinstance(step, NTMStep):
        raise TypeError(f"step must be an NTMStep (from ntm_step), got {type(step).__name__}")
    walk = StepThrough(lambda fig, stage: draw_ntm_stage(fig, stage, step, caption), STAGES,
                       figsize=FIGSIZE, dpi=dpi, play=play)
    walk.numbers = step
    return walk


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
