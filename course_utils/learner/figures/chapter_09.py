"""Chapter 09's figure: the blocked computation, one tile of scores at a time.

:func:`blocked_computation` is a step-through over the key blocks of one block of queries. The
n × n score matrix S = QKᵀ/√d is cut into tiles (``chunk`` queries × ``chunk`` keys); step k
shows tiles 1 … k of the query block's row of tiles done, tile k highlighted (computed now),
the scores of one query row seen so far, and that row's running maximum m and running sum ℓ
after each block, with the rescale e^(m − m′) that brings the old sum to the new maximum
(the online softmax,
:class:`~course_utils.mechanisms.efficient.OnlineSoftmax`, run as
:func:`~course_utils.mechanisms.efficient.chunked_attention` runs it). At the last step m and ℓ
are the full softmax's maximum and sum Σ e^(s − max) of the row.
:func:`blocked_numbers` computes what is drawn; :func:`draw_blocked_step` draws one step.
The still parts (labels, the update rule, the table's lines) are rendered once into pixels
(:func:`still_layer`) that every step pastes, so a move of the slider redraws little.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from matplotlib.axes import Axes
from matplotlib.colors import ListedColormap
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle

from ...mechanisms.efficient import OnlineSoftmax
from ..heatmaps import DPI
from .step_through import Pixels, StepThrough, still_pixels

__all__ = ["BlockedSoftmax", "blocked_numbers", "blocked_steps", "table_row", "still_layer",
           "Pixels", "draw_blocked_step", "figure_size", "blocked_computation", "MAX_BLOCKS"]

MAX_BLOCKS = 16                      # more key blocks than this would not fit the table
FUTURE, DONE, NOW = "#eeeeee", "#9ecae1", "#ffbf00"
STATES = ListedColormap([FUTURE, DONE, NOW])
RUNNING = "#c44e52"                  # the running maximum m


# ------------------------------------------------------------------------------- the numbers
@dataclass(frozen=True)
class BlockedSoftmax:
    """One query row followed through the blocked computation of its block of queries.

    ``scores (n_k,)``: the row's scores q·kᵢ/√d; per key block b (``blocks`` of them):
    ``block_max (blocks,)`` the largest score in the block, ``m (blocks,)`` and ``l (blocks,)``
    the running maximum and sum after the block, ``rescale (blocks,)`` the factor e^(m − m′)
    applied to the old sum at the block (0 at block 1: there was nothing to rescale);
    ``output (d_v,)`` the row's attention output a / ℓ; ``row`` the query (0-based),
    ``chunk`` the block size, ``n_q`` the number of queries."""

    scores: torch.Tensor
    block_max: torch.Tensor
    m: torch.Tensor
    l: torch.Tensor  # noqa: E741 (the notes' ℓ)
    rescale: torch.Tensor
    output: torch.Tensor
    row: int
    chunk: int
    n_q: int

    @property
    def n_k(self) -> int:
        return self.scores.shape[0]

    @property
    def blocks(self) -> int:
        return self.m.shape[0]

    def keys(self, block: int) -> range:
        """The keys of block ``block`` (0-based)."""
        return range(block * self.chunk, min(self.n_k, (block + 1) * self.chunk))


def blocked_numbers(query: torch.Tensor, key: torch.Tensor, value: torch.Tensor,
                    chunk_size: int, row: int = 0) -> BlockedSoftmax:
    """Run the online softmax over the key blocks for the block of queries holding ``row``, as
    :func:`~course_utils.mechanisms.efficient.chunked_attention` does, and keep that row's m
    and ℓ after every block. ``query (n_q, d)``, ``key (n_k, d)``, ``value (n_k, d_v)``: one
    head's tensors."""
    query, key, value = (t.detach() for t in (query, key, value))
    if query.dim() != 2 or key.dim() != 2 or value.dim() != 2:
        raise ValueError("pass one head's query (n_q, d), key (n_k, d) and value (n_k, d_v); "
                         f"got {tuple(query.shape)}, {tuple(key.shape)}, {tuple(value.shape)}")
    n_q, n_k = query.shape[0], key.shape[0]
    if not 0 <= row < n_q:
        raise ValueError(f"row must be a query index in 0 … {n_q - 1}, got {row}")
    blocks = math.ceil(n_k / chunk_size)
    if not 1 <= blocks <= MAX_BLOCKS:
        raise ValueError(f"the keys make {blocks} blocks of {chunk_size}; the figure draws "
                         f"1 … {MAX_BLOCKS}: pick a larger chunk_size")
    start = row // chunk_size * chunk_size
    q = query[start:start + chunk_size] * (1 / math.sqrt(query.shape[-1]))
    state = OnlineSoftmax(q.shape[:-1], value.shape[-1], q.dtype, q.device)
    r = row - start
    block_max, m, total, rescale = [], [], [], []
    for k0 in range(0, n_k, chunk_size):
        scores = q @ key[k0:k0 + chunk_size].T                      # (chunk, chunk): one tile
        before = state.max[r, 0].clone()
        state.update(scores, value[k0:k0 + chunk_size])
        block_max.append(scores[r].max())
        m.append(state.max[r, 0].clone())
        total.append(state.total[r, 0].clone())
        rescale.append(torch.exp(before - state.max[r, 0]))
    return BlockedSoftmax(q[r] @ key.T, torch.stack(block_max), torch.stack(m),
                          torch.stack(total), torch.stack(rescale), state.result()[r], row,
                          chunk_size, n_q)


def blocked_steps(numbers: BlockedSoftmax) -> tuple[str, ...]:
    """One caption per key block."""
    return tuple(f"key block {b + 1}: keys {keys[0]}–{keys[-1]}"
                 for b, keys in enumerate(map(numbers.keys, range(numbers.blocks))))


# ------------------------------------------------------------------------------ the drawing
# One axes in inches (x right, y up), no ticks: a redraw draws few artists, fast.
GRID_X, GRID_Y, GRID = 0.85, 0.55, 3.1        # the tile grid: left, bottom, side
STRIP_Y, STRIP_H = 4.05, 0.95                 # the row's scores, above the grid's key blocks
TABLE_X, TABLE_TOP = 4.45, 3.95               # the running numbers, one line per key block
FONT = 8.5                                    # the table's monospaced size (points)
CHAR = 0.602 * FONT / 72                      # one monospaced character, inches
FIELDS = (("block", "block", 6), ("keys", "keys", 11), ("block_max", "max of block", 14),
          ("m", "$m$ after", 11), ("rescale", "$e^{m-m'}$", 11), ("l", "$\\ell$ after", 11))


def _layout(numbers: BlockedSoftmax) -> tuple[float, float]:
    """The figure's width and height (inches)."""
    line = _line(numbers)
    table_bottom = TABLE_TOP - 0.3 - numbers.blocks * line - 1.25
    return TABLE_X + sum(width for *_, width in FIELDS) * CHAR + 0.2, \
        STRIP_Y + STRIP_H + 0.75 + max(0.0, -table_bottom)


def _line(numbers: BlockedSoftmax) -> float:
    return min(0.2, 2.6 / numbers.blocks)


def _edges(numbers: BlockedSoftmax) -> tuple[np.ndarray, np.ndarray]:
    """The tiles' edges in inches, to scale (x: key blocks left to right, y: query blocks top
    to bottom); the last tiles are narrower when chunk does not divide n."""
    k = np.minimum(np.arange(numbers.blocks + 1) * numbers.chunk, numbers.n_k)
    q = np.minimum(np.arange(math.ceil(numbers.n_q / numbers.chunk) + 1) * numbers.chunk,
                   numbers.n_q)
    return GRID_X + GRID * k / numbers.n_k, GRID_Y + GRID - GRID * q / numbers.n_q


def _score_to_y(numbers: BlockedSoftmax) -> Callable[[object], np.ndarray]:
    """Score → height in the strip, from the row's lowest score to its highest."""
    low, high = numbers.scores.min().item(), numbers.scores.max().item()
    return lambda s: STRIP_Y + (np.asarray(s) - low) * STRIP_H / (high - low or 1.0)


def _key_to_x(numbers: BlockedSoftmax, keys: object) -> np.ndarray:
    return GRID_X + np.asarray(keys) * GRID / numbers.n_k


def _rows_top() -> float:
    return TABLE_TOP - 0.3


def _number(value: float, rescale: bool = False) -> str:
    return "—" if rescale and value == 0 else f"{value:.3f}"


def table_row(numbers: BlockedSoftmax, block: int) -> str:
    """Line ``block`` (0-based) of the table: the block, its keys, its largest score, and m,
    e^(m − m′), ℓ after it, each right-aligned in its monospaced field."""
    keys = numbers.keys(block)
    cells = (str(block + 1), f"{keys[0]}–{keys[-1]}", _number(numbers.block_max[block].item()),
             _number(numbers.m[block].item()), _number(numbers.rescale[block].item(), True),
             _number(numbers.l[block].item()))
    return "".join(cell.rjust(width - 1) + " " for cell, (*_, width) in zip(cells, FIELDS,
                                                                            strict=True))


# ----------------------------------------------------------- the still parts (every step)
def _still(ax: Axes, numbers: BlockedSoftmax, rows: int) -> None:
    """What every step shares: labels, the update rule, the table's header and its first
    ``rows`` lines (the rows a step has not reached are hidden, not redrawn)."""
    xs, ys = _edges(numbers)
    for b in range(numbers.blocks):
        ax.text((xs[b] + xs[b + 1]) / 2, GRID_Y - 0.06, str(b + 1), ha="center", va="top",
                fontsize=8)
    for b in range(len(ys) - 1):
        ax.text(GRID_X - 0.07, (ys[b] + ys[b + 1]) / 2, str(b + 1), ha="right",
                va="center", fontsize=8)
    ax.text(GRID_X + GRID / 2, GRID_Y - 0.27, f"key block ({numbers.chunk} keys each)",
            ha="center", va="top", fontsize=9)
    ax.text(GRID_X - 0.3, GRID_Y + GRID / 2, f"query block ({numbers.chunk} queries each)",
            ha="center", va="center", rotation=90, fontsize=9)
    ax.text(GRID_X + GRID / 2, GRID_Y + GRID + 0.08, f"scores $S = QK^\\top/\\sqrt{{d}}$: "
            f"{numbers.n_q} × {numbers.n_k}, tiles of {numbers.chunk} × {numbers.chunk}",
            ha="center", va="bottom", fontsize=9, gid="grid")
    y = _score_to_y(numbers)
    ax.hlines(y(0.0), GRID_X, GRID_X + GRID, color="#bbbbbb", lw=0.6, linestyles=":")
    ax.text(GRID_X - 0.05, y(0.0), "0", ha="right", va="center", fontsize=7, color="#777777")
    ax.text(GRID_X, STRIP_Y + STRIP_H + 0.12, f"query {numbers.row}'s scores $s$, block by "
            "block, and their running maximum $m$", fontsize=9, va="bottom", color="#333333")
    ax.text(TABLE_X, STRIP_Y + STRIP_H / 2, "the online softmax, for each query: a new block "
            "of scores $s'$ updates\n$m' = \\max(m,\\ \\max s'),\\quad \\ell' = \\ell\\, "
            "e^{m-m'} + \\Sigma\\, e^{s'-m'}$", va="center", fontsize=9.5, linespacing=1.8,
            gid="rule")
    line, top = _line(numbers), _rows_top()
    right = np.cumsum([width for *_, width in FIELDS]) * CHAR + TABLE_X
    for (name, header, _), end in zip(FIELDS, right, strict=True):
        ax.text(end - CHAR, top + 0.06, header, ha="right", va="bottom", fontsize=8.5,
                color=RUNNING if name in ("m", "l") else "black", gid=f"header:{name}")
    for b in range(rows):
        ax.text(TABLE_X, top - (b + 0.5) * line, table_row(numbers, b), va="center",
                fontsize=FONT, family="monospace", gid=f"block{b + 1}")
    ax.text(TABLE_X, top - numbers.blocks * line - 0.75, "in memory at each step: one tile "
            "of scores and, per query, m, ℓ\nand the running weighted sum of values",
            va="top", fontsize=9, color="#555555", linespacing=1.4)


def still_layer(numbers: BlockedSoftmax, dpi: int = DPI) -> np.ndarray:
    """The still parts with every table row, rendered once: ``(height, width, 4)`` RGBA
    pixels on a transparent ground, the figure's size at ``dpi``."""
    return still_pixels(lambda fig: _still(_inch_axes(fig), numbers, numbers.blocks),
                        _layout(numbers), dpi)


def _shown(layer: np.ndarray, numbers: BlockedSoftmax, step: int, dpi: float) -> np.ndarray:
    """``layer`` with the table rows after ``step`` made transparent."""
    line, top = _line(numbers), _rows_top()
    height = layer.shape[0] / dpi
    first, last = (round((height - y) * dpi) for y in (top - step * line,
                                                       top - numbers.blocks * line))
    shown = layer.copy()
    shown[first:last + 1, int(TABLE_X * dpi) - 2:, 3] = 0
    return shown


# ----------------------------------------------------------- the moving parts (this step)
def _tiles(ax: Axes, numbers: BlockedSoftmax, step: int) -> None:
    """The n × n scores as tiles: the first ``step - 1`` tiles of the row's block row are
    done, tile ``step`` is computed now, every other tile is still to come; the followed
    query's row is a red line through the tiles done."""
    xs, ys = _edges(numbers)
    qb = numbers.row // numbers.chunk
    state = np.zeros((len(ys) - 1, numbers.blocks))
    state[qb, :step - 1] = 1
    state[qb, step - 1] = 2
    ax.pcolormesh(xs, ys, state, cmap=STATES, vmin=0, vmax=2, edgecolors="white", lw=1.5)
    ax.add_patch(Rectangle((xs[step - 1], ys[qb + 1]), xs[step] - xs[step - 1],
                           ys[qb] - ys[qb + 1], fill=False, edgecolor="black", lw=1.6))
    ax.text((xs[step - 1] + xs[step]) / 2, (ys[qb] + ys[qb + 1]) / 2,
            f"$S_{{{qb + 1},{step}}}$", ha="center", va="center", fontsize=9, gid="tile")
    y_row = ys[qb] - (numbers.row - qb * numbers.chunk + 0.5) * (ys[qb] - ys[qb + 1]) \
        / min(numbers.chunk, numbers.n_q - qb * numbers.chunk)
    ax.plot([GRID_X, xs[step]], [y_row, y_row], color=RUNNING, lw=1.2)


def _strip(ax: Axes, numbers: BlockedSoftmax, step: int) -> None:
    """Above the grid's key blocks: the followed row's scores of the blocks seen so far (this
    block's in orange), and its running maximum m (a red line per block)."""
    scores, y = numbers.scores.numpy(), _score_to_y(numbers)
    seen = numbers.keys(step - 1)
    ax.plot(_key_to_x(numbers, np.arange(seen.start) + 0.5), y(scores[:seen.start]), ".",
            ms=1.5, color="#6baed6")
    ax.plot(_key_to_x(numbers, np.arange(seen.start, seen.stop) + 0.5),
            y(scores[seen.start:seen.stop]), ".", ms=2, color="#e08a00")
    edges = _key_to_x(numbers, [numbers.keys(b)[0] for b in range(step)] + [seen.stop])
    ax.hlines(y(numbers.m[:step].numpy()), edges[:-1], edges[1:], color=RUNNING, lw=1.5)
    ax.text(edges[-1] + 0.04, y(numbers.m[step - 1].item()), "$m$", color=RUNNING,
            fontsize=9, va="center")


def _table_now(ax: Axes, numbers: BlockedSoftmax, step: int) -> None:
    """The current block's line highlighted; at the last step, the check against the full
    softmax of the row."""
    line, top = _line(numbers), _rows_top()
    width = sum(width for *_, width in FIELDS) * CHAR
    ax.add_patch(Rectangle((TABLE_X - 0.05, top - step * line), width + 0.1, line,
                           facecolor=NOW, alpha=0.45, edgecolor="none"))
    if step == numbers.blocks:
        full_max = numbers.scores.max()
        full_sum = torch.exp(numbers.scores - full_max).sum()
        ax.text(TABLE_X, top - numbers.blocks * line - 0.12, f"the full softmax of query "
                f"{numbers.row}'s row: max = {full_max:.3f}, Σ e^(s − max) = "
                f"{full_sum:.3f}:\nthe same m and ℓ, computed one tile at a time", va="top",
                fontsize=9, color=RUNNING, gid="check", linespacing=1.4)


def _inch_axes(fig: Figure) -> Axes:
    """One axes over the whole figure, in inches from the bottom-left corner, no ticks."""
    width, height = fig.get_size_inches()
    ax = fig.add_axes((0, 0, 1, 1))
    ax.set_xlim(0, width), ax.set_ylim(0, height), ax.set_axis_off()
    return ax


def draw_blocked_step(fig: Figure, step: int, numbers: BlockedSoftmax,
                      still: np.ndarray | None = None) -> Axes:
    """Draw step ``step`` (1 … ``numbers.blocks``) on ``fig``, sized by :func:`figure_size`:
    the row's scores and running maximum, the tiles, and the table of m and ℓ. ``still``: the
    :func:`still_layer` rendered at ``fig``'s dpi, pasted instead of drawing the still parts
    again (fast); without it they are drawn as artists. Returns the axes."""
    if not 1 <= step <= numbers.blocks:
        raise ValueError(f"step must be in 1 … {numbers.blocks}, got {step}")
    ax = _inch_axes(fig)
    caption = blocked_steps(numbers)[step - 1]
    ax.text(0.12, fig.get_size_inches()[1] - 0.25, f"Step {step} of {numbers.blocks} · "
            f"{caption}, for the block of queries that holds query {numbers.row}",
            fontsize=11, va="center", gid="title")
    _strip(ax, numbers, step)
    _tiles(ax, numbers, step)
    _table_now(ax, numbers, step)
    if still is None:
        _still(ax, numbers, step)
    else:
        fig.add_artist(Pixels(_shown(still, numbers, step, fig.dpi)))
    return ax


def figure_size(numbers: BlockedSoftmax) -> tuple[float, float]:
    """The figure's (width, height) in inches."""
    return _layout(numbers)


def blocked_computation(query: torch.Tensor, key: torch.Tensor, value: torch.Tensor,
                        chunk_size: int, row: int = 0, *, dpi: int = DPI,
                        play: bool = True) -> StepThrough:
    """The blocked computation as a :class:`StepThrough`, one step per key block (saved
    picture: step 1). ``query (n_q, d)``, ``key (n_k, d)``, ``value (n_k, d_v)``: one head of
    the chapter's tensors; ``row`` the query followed. The still parts are rendered once
    (:func:`still_layer`); a step draws only what moves. ``walk.numbers`` holds what is drawn
    (a :class:`BlockedSoftmax`)."""
    numbers = blocked_numbers(query, key, value, chunk_size, row)
    still = still_layer(numbers, dpi)
    walk = StepThrough(lambda fig, step: draw_blocked_step(fig, step, numbers, still),
                       blocked_steps(numbers), figsize=figure_size(numbers), dpi=dpi,
                       play=play)
    walk.numbers = numbers
    return walk
