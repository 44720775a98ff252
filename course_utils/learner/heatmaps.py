"""Heatmaps of attention weights: the static figures of a chapter.

* :func:`heatmap` draws a weight matrix ``(n_q, n_k)`` with row (query) and column (key)
  labels on a matplotlib axis.
* :func:`overlay` lights an image by attention over its regions (chapter 03's captioner);
  :func:`spotlight` computes the lit picture.

The live versions, widgets over a figure that repaints in place, are in
:mod:`course_utils.learner.explorers`; they draw with the helpers here (:func:`as_matrix`,
:func:`label_axes`, …).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from matplotlib.axes import Axes
from matplotlib.patches import Rectangle
from matplotlib.ticker import MaxNLocator

__all__ = ["use_course_style", "heatmap", "overlay", "spotlight"]

DPI = 80
CMAP = "viridis"
MAX_TICKS = 24  # an unlabelled axis longer than this gets a few round ticks, not one per cell


def use_course_style(dpi: int = DPI) -> None:
    """Small, readable figures for the notebooks (keeps saved notebooks small)."""
    import matplotlib

    matplotlib.rcParams.update({
        "figure.dpi": dpi,
        "savefig.dpi": dpi,
        "figure.figsize": (5.0, 3.5),
        "axes.titlesize": "medium",
        "font.size": 10,
        "svg.hashsalt": "course",  # stable SVG ids if a figure is ever saved as SVG
    })


def as_matrix(weights: object, name: str = "weights") -> np.ndarray:
    """A tensor, array or nested list of weights as a float matrix ``(n_q, n_k)`` (a vector
    becomes one row)."""
    if isinstance(weights, torch.Tensor):
        weights = weights.detach().cpu().numpy()
    array = np.asarray(weights, dtype=float)
    if array.ndim == 1:
        array = array[None, :]
    if array.ndim != 2:
        raise ValueError(f"{name} must be a matrix (n_q, n_k) or a vector (n_k,); got shape "
                         f"{array.shape}")
    return array


def check_labels(labels: Sequence[str] | None, n: int, name: str) -> list[str] | None:
    """``labels`` as strings, checked to be ``n`` of them (``name`` is the argument)."""
    if labels is None:
        return None
    labels = [str(label) for label in labels]
    if len(labels) != n:
        raise ValueError(f"{name} has {len(labels)} labels but the weights have {n} "
                         f"{'rows' if name == 'row_labels' else 'columns'}")
    return labels


def text_color(value: float, vmin: float, vmax: float) -> str:
    """White text on the dark end of viridis, black on the bright end."""
    return "white" if (value - vmin) < 0.6 * (vmax - vmin) else "black"


def label_axes(ax: Axes, n_q: int, n_k: int, rows: Sequence[str] | None,
               cols: Sequence[str] | None) -> None:
    """Tick the axes: one tick per cell (labelled if labels are given; a cell labelled ""
    gets no tick), or a few round ticks on a long unlabelled axis."""
    for axis, n, labels in ((ax.xaxis, n_k, cols), (ax.yaxis, n_q, rows)):
        if labels:  # a tick per labelled cell; "" leaves a cell unticked (e.g. every 10th)
            ticked = [i for i, label in enumerate(labels) if label != ""]
            axis.set_ticks(ticked, [labels[i] for i in ticked])
        elif n <= MAX_TICKS:
            axis.set_ticks(range(n), range(n))
        else:  # a long axis without labels (e.g. 80 time steps): a few round ticks
            axis.set_major_locator(MaxNLocator(nbins=8, integer=True))
    ax.tick_params(axis="x", labelrotation=45 if cols and max(map(len, cols)) > 3 else 0)


def annotates(shape: tuple[int, int], annotate: bool | None) -> bool:
    """Whether a ``(n_q, n_k)`` heatmap writes its weights in the cells: ``annotate``, or by
    default when the matrix is at most 12 × 12."""
    return annotate if annotate is not None else (shape[0] <= 12 and shape[1] <= 12)


def annotate_cells(ax: Axes, matrix: np.ndarray, vmin: float, vmax: float,
                   annotate: bool | None) -> None:
    """Write each weight in its cell (by default when the matrix is at most 12 × 12)."""
    if annotates(matrix.shape, annotate):
        for (i, j), value in np.ndenumerate(matrix):
            ax.text(j, i, f"{value:.2f}", ha="center", va="center", fontsize=8,
                    color=text_color(value, vmin, vmax))


def heatmap(
    weights: object,
    row_labels: Sequence[str] | None = None,
    col_labels: Sequence[str] | None = None,
    ax: Axes | None = None,
    title: str | None = None,
    xlabel: str = "keys",
    ylabel: str = "queries",
    vmin: float = 0.0,
    vmax: float = 1.0,
    annotate: bool | None = None,
    colorbar: bool = True,
) -> Axes:
    """Draw attention weights as a heatmap, one row per query, one column per key.

    Args:
        weights: ``(n_q, n_k)`` (or ``(n_k,)``) tensor or array.
        row_labels: ``n_q`` labels (queries); col_labels: ``n_k`` labels (keys).
        ax: the axis to draw on; a new figure (via pyplot) when None.
        annotate: write each weight in its cell; default when the matrix is at most 12 × 12.

    Returns:
        The axis; ``ax.images[0]`` is the image, ``ax.texts`` the cell annotations.
    """
    matrix = as_matrix(weights)
    n_q, n_k = matrix.shape
    rows = check_labels(row_labels, n_q, "row_labels")
    cols = check_labels(col_labels, n_k, "col_labels")
    if ax is None:
        import matplotlib.pyplot as plt

        _, ax = plt.subplots(figsize=(1.2 + 0.55 * n_k, 1.0 + 0.45 * n_q), layout="constrained")
    image = ax.imshow(matrix, cmap=CMAP, vmin=vmin, vmax=vmax, aspect="auto")
    label_axes(ax, n_q, n_k, rows, cols)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if title:
        ax.set_title(title)
    annotate_cells(ax, matrix, vmin, vmax, annotate)
    if colorbar:
        ax.figure.colorbar(image, ax=ax, fraction=0.046, pad=0.04)
    return ax


# --------------------------------------------------------------------------- overlays
def as_image(image: object) -> np.ndarray:
    """``(3, H, W)`` tensor or ``(H, W, 3)`` array in [0, 1] → ``(H, W, 3)`` array."""
    if isinstance(image, torch.Tensor):
        image = image.detach().cpu()
        image = image.permute(1, 2, 0) if image.dim() == 3 and image.shape[0] == 3 else image
        image = image.numpy()
    array = np.asarray(image, dtype=float)
    if array.ndim != 3 or array.shape[2] != 3:
        raise ValueError(f"image must be (3, H, W) or (H, W, 3), got shape {array.shape}")
    return array


def spotlight(image: object, weights: object, floor: float = 0.35, vmax: float = 1.0
              ) -> np.ndarray:
    """Light the image by attention: every region keeps ``floor + (1 − floor) · w / vmax`` of
    its brightness (clipped to 1), so attended regions stay bright and the rest goes dark.

    ``image`` ``(3, H, W)`` or ``(H, W, 3)`` in [0, 1], ``weights`` ``(rows, cols)`` over a
    grid of regions, row-major like the image → ``(H, W, 3)`` array.
    """
    picture = as_image(image)
    grid = as_matrix(weights)
    height, width = picture.shape[:2]
    rows, cols = grid.shape
    if height % rows or width % cols:
        raise ValueError(f"a {rows} × {cols} grid of regions does not tile a {height} × {width} "
                         "image")
    light = floor + (1.0 - floor) * np.clip(grid / vmax, 0.0, 1.0)
    light = light.repeat(height // rows, axis=0).repeat(width // cols, axis=1)  # (H, W)
    return picture * light[..., None]


def max_cell(grid: np.ndarray, height: int, width: int) -> tuple[float, float]:
    """Top-left corner (x, y) in pixels of the most attended region of ``grid``."""
    rows, cols = grid.shape
    r, c = np.unravel_index(int(np.argmax(grid)), grid.shape)
    return c * width / cols, r * height / rows


def overlay(image: object, weights: object, ax: Axes | None = None, title: str | None = None,
            floor: float = 0.35, vmax: float = 1.0, grid: bool = True,
            mark_max: bool = True) -> Axes:
    """Draw attention over image regions as a spotlight (see :func:`spotlight`): each
    region's brightness is multiplied by ``floor + (1 − floor) · α``, so attended regions stay
    bright and the others are dimmed; grid lines mark the regions and, with ``mark_max``, a
    frame marks the most attended one.

    Args:
        image: ``(3, H, W)`` tensor or ``(H, W, 3)`` array in [0, 1].
        weights: ``(rows, cols)`` attention over the regions, row-major like the image.

    Returns:
        The axis; ``ax.images[0]`` is the lit picture, ``ax.patches[0]`` the frame.
    """
    lit = spotlight(image, weights, floor, vmax)
    grid_weights = as_matrix(weights)
    rows, cols = grid_weights.shape
    height, width = lit.shape[:2]
    if ax is None:
        import matplotlib.pyplot as plt

        _, ax = plt.subplots(figsize=(2.6, 2.6), layout="constrained")
    ax.imshow(lit, extent=(0, width, height, 0), interpolation="nearest")
    if grid:
        for r in range(1, rows):
            ax.axhline(r * height / rows, color="white", lw=0.4, alpha=0.35)
        for c in range(1, cols):
            ax.axvline(c * width / cols, color="white", lw=0.4, alpha=0.35)
    if mark_max:
        ax.add_patch(Rectangle(max_cell(grid_weights, height, width), width / cols,
                              height / rows, fill=False, edgecolor="#00e5ff", lw=1.2))
    ax.set_xticks([])
    ax.set_yticks([])
    if title:
        ax.set_title(title)
    return ax
