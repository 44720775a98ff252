"""Live heatmaps: widgets (sliders, dropdowns) over a figure that repaints in place.

* :class:`HeatmapExplorer` puts widgets over one heatmap. A change of a control recomputes the
  weights and **updates the existing figure in place** (``AxesImage.set_data`` and the cell
  texts), renders it once to PNG and swaps the bytes of an ``ipywidgets.Image``: no new figure,
  no flicker. Its saved output also carries a PNG of the default state, so a reader without a
  kernel (GitHub, exported HTML, an untrusted notebook) still sees the figure.
* :class:`OverlayExplorer` is the live version of :func:`~course_utils.learner.heatmaps.overlay`
  (chapter 03's captioner), built on the same in-place repainting.
* :class:`PanelExplorer` puts widgets over several heatmaps side by side (chapter 08's
  memory traces: input, output, write and read weightings over time), optionally with one
  colour bar they share.

Every explorer first puts its sliders on their steps (:func:`snap_to_step`), as a browser
does when it shows them: the saved picture of the default state is drawn with the value the
slider shows, e.g. τ = 10^−0.5 ≈ 0.316 for a log slider asked to start at 0.3.

:class:`Explorer` is the part they share; ``isinstance(x, Explorer)`` finds every explorer a
notebook made (the benchmarks drive them so).
"""

from __future__ import annotations

import base64
import io
import math
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import PIL.Image
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from .heatmaps import (
    DPI,
    annotates,
    as_image,
    as_matrix,
    check_labels,
    heatmap,
    label_axes,
    max_cell,
    overlay,
    spotlight,
    text_color,
)

__all__ = ["Frame", "Explorer", "HeatmapExplorer", "Overlay", "OverlayExplorer", "Panel",
           "PanelExplorer", "snap_to_step"]


BACKGROUNDS_KEPT = 32  # label sets whose still pixels an explorer keeps (~0.5 MB each)


def _on_grid(value: float, start: float, step: float, stop: float) -> float | None:
    """``value`` moved to the nearest ``start + k · step`` within ``[start, stop]``, or None
    when it is already there (up to rounding)."""
    k = (value - start) / step
    if abs(k - round(k)) < 1e-9 and start <= value <= stop:
        return None
    k = min(max(round(k), 0), math.floor((stop - start) / step + 1e-9))
    return round(start + k * step, 12)  # 0.3, not 0.30000000000000004


def snap_to_step(control: object) -> None:
    """Move a slider's value onto its steps, as the slider in a browser does when it is first
    shown (and then sends back to the kernel): an ``IntSlider``/``FloatSlider`` holds
    ``min + k · step``, a ``FloatLogSlider`` holds ``base ** (min + k · step)``. A value
    already on a step is kept as it is; other widgets are left alone."""
    import ipywidgets as w

    if isinstance(control, w.FloatLogSlider):
        if not control.step or control.value <= 0:
            return
        exponent = _on_grid(math.log(control.value, control.base), control.min, control.step,
                            control.max)
        if exponent is not None:
            control.value = control.base ** exponent
    elif isinstance(control, (w.IntSlider, w.FloatSlider)):
        if not control.step:
            return
        value = _on_grid(control.value, control.min, control.step, control.max)
        if value is not None:
            control.value = int(round(value)) if isinstance(control, w.IntSlider) else value


class _LabelSprites:
    """Rasterised cell labels, cached by (text, colour) and alpha-blended into a frame."""

    def __init__(self, dpi: int, font: object) -> None:
        self.figure = Figure(figsize=(1.0, 0.4), dpi=dpi)
        FigureCanvasAgg(self.figure)
        self.figure.patch.set_alpha(0.0)
        self.text = self.figure.text(0.5, 0.5, "", ha="center", va="center",
                                     fontproperties=font)
        self.cache: dict[tuple[str, str], tuple[np.ndarray, np.ndarray]] = {}

    def sprite(self, label: str, color: str) -> tuple[np.ndarray, np.ndarray]:
        """``(rgb (h, w, 3) float, alpha (h, w, 1) float)`` of the label, cropped."""
        key = (label, color)
        if key not in self.cache:
            self.text.set_text(label)
            self.text.set_color(color)
            self.figure.canvas.draw()
            rgba = np.asarray(self.figure.canvas.buffer_rgba()).astype(float) / 255.0
            rows, cols = np.nonzero(rgba[..., 3])
            crop = rgba[rows.min():rows.max() + 1, cols.min():cols.max() + 1] if rows.size \
                else rgba[:1, :1]
            self.cache[key] = (crop[..., :3], crop[..., 3:])
        return self.cache[key]

    def paste(self, frame: np.ndarray, label: str, color: str, row: float, col: float) -> None:
        """Blend the label centred at pixel (row, col) of ``frame`` (h, w, 4) uint8, in place."""
        rgb, alpha = self.sprite(label, color)
        h, w = alpha.shape[:2]
        top, left = int(round(row - h / 2)), int(round(col - w / 2))
        region = frame[top:top + h, left:left + w, :3]
        if region.shape[:2] != (h, w):  # a label that would stick out of the frame
            return
        region[...] = (rgb * 255.0 * alpha + region * (1.0 - alpha)).astype(np.uint8)


@dataclass(frozen=True)
class Frame:
    """What an explorer's ``compute`` may return: the weights ``(n_q, n_k)`` and, optionally,
    a title and new row/column labels (e.g. the words of another sentence)."""

    weights: object
    title: str | None = None
    row_labels: Sequence[str] | None = None
    col_labels: Sequence[str] | None = None


class Explorer:
    """Controls over one figure that repaints in place: the part every explorer shares.

    A subclass draws its figure in ``_draw_first(frame)`` (and sets ``self._moving``, the
    artists that change), and updates them in ``_update(frame)``. The still parts are drawn
    once and kept as pixels (blitting); a redraw restores them and paints only the moving
    artists, then swaps the PNG bytes of one ``ipywidgets.Image``.
    """

    kind = "Explorer"

    def __init__(self, compute: Callable[..., object], controls: Mapping[str, object],
                 figsize: tuple[float, float], dpi: int) -> None:
        import ipywidgets as w

        if not controls:
            raise ValueError("controls must hold at least one widget")
        for name, control in controls.items():
            if not isinstance(control, w.ValueWidget):
                raise TypeError(f"control {name!r} must be an ipywidgets value widget, got "
                                f"{type(control).__name__}")
        self.compute = compute
        self.controls = dict(controls)
        for control in self.controls.values():
            # The value the learner will see on the slider: the default picture and the first
            # live frame are drawn with it, not with a value the slider cannot hold.
            snap_to_step(control)
        self.update_times_ms: list[float] = []
        self._base: object | None = None  # the still pixels without the ticks (_redraw_ticks)
        self._kept: OrderedDict[tuple, object] = OrderedDict()  # labels seen → still pixels
        # A bare Figure (not pyplot's): it is never shown by the inline backend, only rendered.
        self.figure = Figure(figsize=figsize, dpi=dpi)
        FigureCanvasAgg(self.figure)
        self._draw_first(self._evaluate())
        self.default_png = self._paint()
        width, height = self.figure.canvas.get_width_height()
        # Shown at its own pixel size (a stretched PNG would look blurred).
        self.image = w.Image(value=self.default_png, format="png", layout=w.Layout(
            width=f"{width}px", height=f"{height}px", max_width="100%", object_fit="contain"))
        self.image.add_class("course-heatmap")
        for control in self.controls.values():
            control.observe(self._on_change, names="value")
        # The controls wrap onto a second line rather than run off a narrow screen.
        self.widget = w.VBox([w.HBox(list(self.controls.values()),
                                     layout=w.Layout(flex_flow="row wrap")), self.image])

    # ------------------------------------------------------------- for the subclasses
    def _evaluate(self) -> object:
        raise NotImplementedError

    def _draw_first(self, frame: object) -> None:
        raise NotImplementedError

    def _update(self, frame: object) -> None:
        raise NotImplementedError

    def _paint_extra(self, pixels: np.ndarray) -> None:
        """Paint onto the frame's pixels ``(height, width, 4)`` after the moving artists."""

    def _keep_still_parts(self) -> None:
        """Draw everything once, keep the still pixels and freeze the layout."""
        for artist in self._moving:
            artist.set_animated(True)
        canvas = self.figure.canvas
        canvas.draw()
        self.figure.set_layout_engine("none")  # freeze the layout: redraws only repaint
        self._background = canvas.copy_from_bbox(self.figure.bbox)

    def _redraw_ticks(self, axes: Sequence[object]) -> None:
        """Keep new still pixels after the ticks of ``axes`` changed (new labels, a new
        shape): only the ticks and axis labels are drawn, on a base, the still pixels without
        them (drawn once, at the first change); the rest of the figure (colour bars, other
        axes) is not drawn again."""
        canvas, axis_artists = self.figure.canvas, [a for ax in axes for a in (ax.xaxis,
                                                                               ax.yaxis)]
        if self._base is None:
            for axis in axis_artists:
                axis.set_visible(False)
            canvas.draw()
            self._base = canvas.copy_from_bbox(self.figure.bbox)
            for axis in axis_artists:
                axis.set_visible(True)
        canvas.restore_region(self._base)
        for axis in axis_artists:
            self.figure.draw_artist(axis)
        self._background = canvas.copy_from_bbox(self.figure.bbox)

    def _remember(self, key: tuple, make: Callable[[], object]) -> object:
        """What ``make()`` keeps for ``key`` (the labels and shapes shown), made only the
        first time; the last :data:`BACKGROUNDS_KEPT` keys are remembered."""
        if key in self._kept:
            self._kept.move_to_end(key)
            return self._kept[key]
        self._kept[key] = value = make()
        if len(self._kept) > BACKGROUNDS_KEPT:
            self._kept.popitem(last=False)  # the least recently shown
        return value

    def _paint(self) -> bytes:
        """Restore the still background, paint the moving artists, return the PNG bytes."""
        canvas = self.figure.canvas
        canvas.restore_region(self._background)
        for artist in self._moving:
            self.figure.draw_artist(artist)
        pixels = np.asarray(canvas.buffer_rgba())  # (height, width, 4), a view of the frame
        self._paint_extra(pixels)
        height, width = pixels.shape[:2]
        frame = PIL.Image.frombuffer("RGBA", (width, height), pixels)
        buffer = io.BytesIO()
        frame.save(buffer, format="png", compress_level=1)
        return buffer.getvalue()

    # ------------------------------------------------------------------- interaction
    @property
    def values(self) -> dict[str, object]:
        """The controls' current values, by argument name."""
        return {name: control.value for name, control in self.controls.items()}

    def redraw(self) -> float:
        """Recompute, update the figure in place and the image; return the milliseconds."""
        start = time.perf_counter()
        self._update(self._evaluate())
        self.image.value = self._paint()
        elapsed = (time.perf_counter() - start) * 1000.0
        self.update_times_ms.append(elapsed)
        return elapsed

    def _on_change(self, _change: object) -> None:
        self.redraw()

    def set(self, **values: object) -> None:
        """Set controls by name, as a learner dragging them would (each change redraws)."""
        for name, value in values.items():
            if name not in self.controls:
                raise KeyError(f"no control {name!r}; controls are {list(self.controls)}")
            self.controls[name].value = value

    def _repr_mimebundle_(self, **kwargs: object) -> dict:
        bundle = self.widget._repr_mimebundle_(**kwargs)
        # A kernel renders the widget; static viewers fall back to the default-state PNG.
        bundle["image/png"] = base64.b64encode(self.default_png).decode("ascii")
        bundle["text/plain"] = f"{self.kind} (run the notebook to move the controls)"
        return bundle


class HeatmapExplorer(Explorer):
    """Widgets over one attention heatmap that redraws in place on every change.

    Args:
        compute: called with the controls' current values as keyword arguments; returns the
            weights ``(n_q, n_k)``, ``(weights, title)``, or a :class:`Frame` (which may also
            change the labels and the shape, e.g. to show another sentence).
        controls: ``{argument name: ipywidgets value widget}``, e.g. a ``FloatSlider``.
        row_labels, col_labels, xlabel, ylabel, vmin, vmax, annotate, colorbar: as in
            :func:`heatmap`.
        figsize: inches; the figure is rendered at ``dpi``.

    A change that keeps the shape and the labels only repaints the image and its cell labels
    over a kept background (blitting); new labels or a new shape redraw the whole figure.
    Use ``display(explorer)`` (or make it a cell's last expression). ``explorer.widget`` is
    the ipywidgets box, ``explorer.image`` the image widget that is updated,
    ``explorer.update_times_ms`` the time each redraw took.
    """

    kind = "Heatmap explorer"

    def __init__(
        self,
        compute: Callable[..., object],
        controls: Mapping[str, object],
        row_labels: Sequence[str] | None = None,
        col_labels: Sequence[str] | None = None,
        *,
        xlabel: str = "keys",
        ylabel: str = "queries",
        vmin: float = 0.0,
        vmax: float = 1.0,
        annotate: bool | None = None,
        colorbar: bool = True,
        figsize: tuple[float, float] = (6.0, 4.0),
        dpi: int = DPI,
    ) -> None:
        self.vmin, self.vmax = vmin, vmax
        self._style = {"xlabel": xlabel, "ylabel": ylabel, "vmin": vmin, "vmax": vmax,
                       "annotate": annotate, "colorbar": colorbar}
        self._sprites: _LabelSprites | None = None
        self._labels = (row_labels, col_labels)
        super().__init__(compute, controls, figsize, dpi)

    # ----------------------------------------------------------------------- drawing
    def _evaluate(self) -> Frame:
        result = self.compute(**self.values)
        if isinstance(result, tuple):
            result = Frame(*result)
        elif not isinstance(result, Frame):
            result = Frame(result)
        rows = result.row_labels if result.row_labels is not None else self._labels[0]
        cols = result.col_labels if result.col_labels is not None else self._labels[1]
        matrix = as_matrix(result.weights)
        return Frame(matrix, result.title,
                     None if rows is None else tuple(map(str, rows)),
                     None if cols is None else tuple(map(str, cols)))

    def _draw_first(self, frame: Frame) -> None:
        """Draw the whole figure for ``frame`` (laid out once) and keep its background."""
        self.figure.set_layout_engine("constrained")
        self.ax = heatmap(frame.weights, frame.row_labels, frame.col_labels,
                          ax=self.figure.add_subplot(), title=frame.title, **self._style)
        self._artist = self.ax.images[0]
        self._keep_background(frame, relabelled=False)

    def _relabel(self, frame: Frame) -> None:
        """New labels (and perhaps a new shape) in the same axes: the layout stays frozen,
        so this costs one plain draw, not a new layout."""
        n_q, n_k = frame.weights.shape
        check_labels(frame.row_labels, n_q, "row_labels")
        check_labels(frame.col_labels, n_k, "col_labels")
        self._artist.set_data(frame.weights)
        self._artist.set_extent((-0.5, n_k - 0.5, n_q - 0.5, -0.5))
        self.ax.set_xlim(-0.5, n_k - 0.5)
        self.ax.set_ylim(n_q - 0.5, -0.5)
        label_axes(self.ax, n_q, n_k, frame.row_labels, frame.col_labels)
        self._place_cell_texts(n_q, n_k)
        self._keep_background(frame, relabelled=True)

    def _place_cell_texts(self, n_q: int, n_k: int) -> None:
        """One text per cell (row-major) when the cells are annotated, else none. The texts
        already there are moved, not made again: making a matplotlib text is slow."""
        wanted = n_q * n_k if annotates((n_q, n_k), self._style["annotate"]) else 0
        texts = list(self.ax.texts)
        for text in texts[wanted:]:
            text.remove()
        if texts:
            style = {"fontproperties": texts[0].get_fontproperties()}
        else:  # as annotate_cells writes them
            style = {"fontsize": 8}
        for _ in range(len(texts), wanted):
            self.ax.text(0, 0, "", ha="center", va="center", **style)
        for text, (i, j) in zip(self.ax.texts, np.ndindex(n_q, n_k), strict=False):
            text.set_position((j, i))  # its value is written by _update

    def _keep_background(self, frame: Frame, relabelled: bool) -> None:
        """Keep the still pixels of ``frame``'s shape and labels (see PanelExplorer's)."""
        self.shape = frame.weights.shape
        self._labels = (frame.row_labels, frame.col_labels)
        self._texts = list(self.ax.texts)
        # The cell labels are animated too but pasted as cached sprites: rasterising text is
        # most of a matplotlib redraw.
        self._moving = [self._artist, self.ax.title]
        for text in self._texts:
            text.set_animated(True)
        if self._sprites is None and self._texts:
            self._sprites = _LabelSprites(self.figure.dpi, self._texts[0].get_fontproperties())
        self._background, self._label_pixels = self._remember(
            (self.shape, self._labels), lambda: self._draw_still(relabelled))

    def _draw_still(self, relabelled: bool) -> tuple[object, list]:
        """The still pixels drawn, and the (row, column) of every cell label's centre."""
        if relabelled:
            self._redraw_ticks([self.ax])
        else:
            self._keep_still_parts()
        height = self.figure.canvas.get_width_height()[1]
        return self._background, [
            (height - y, x) for x, y in (self.ax.transData.transform(t.get_position())
                                         for t in self._texts)]

    def _paint_extra(self, pixels: np.ndarray) -> None:
        for text, (row, col) in zip(self._texts, self._label_pixels, strict=True):
            self._sprites.paste(pixels, text.get_text(), text.get_color(), row, col)

    @property
    def weights(self) -> np.ndarray:
        """The matrix shown now, ``(n_q, n_k)``."""
        return np.asarray(self._artist.get_array())

    def _update(self, frame: Frame) -> None:
        if frame.weights.shape != self.shape or (frame.row_labels, frame.col_labels) != \
                self._labels:
            self._relabel(frame)  # another sentence: new labels, perhaps a new shape
        matrix = frame.weights
        self._artist.set_data(matrix)
        for text, value in zip(self._texts, matrix.ravel(), strict=False):
            text.set_text(f"{value:.2f}")
            text.set_color(text_color(value, self.vmin, self.vmax))
        if frame.title is not None:
            self.ax.set_title(frame.title)


@dataclass(frozen=True)
class Overlay:
    """What an :class:`OverlayExplorer`'s ``compute`` returns: the ``image`` (``(3, H, W)``
    or ``(H, W, 3)``), the ``weights`` over its ``(rows, cols)`` regions and a title."""

    image: object
    weights: object
    title: str | None = None


class OverlayExplorer(Explorer):
    """Widgets over one image lit by attention on its regions (see :func:`overlay`).

    ``compute(**values)`` returns an :class:`Overlay`; every change repaints the picture, the
    attention and the title in place. ``explorer.weights`` is the grid shown now.
    """

    kind = "Attention explorer"

    def __init__(self, compute: Callable[..., Overlay], controls: Mapping[str, object], *,
                 floor: float = 0.35, figsize: tuple[float, float] = (3.2, 3.4),
                 dpi: int = DPI) -> None:
        self._floor = floor
        super().__init__(compute, controls, figsize, dpi)

    def _evaluate(self) -> Overlay:
        result = self.compute(**self.values)
        if not isinstance(result, Overlay):
            raise TypeError(f"compute must return an Overlay, got {type(result).__name__}")
        return Overlay(as_image(result.image), as_matrix(result.weights), result.title)

    def _draw_first(self, frame: Overlay) -> None:
        self.figure.set_layout_engine("constrained")
        self.ax = overlay(frame.image, frame.weights, ax=self.figure.add_subplot(),
                          title=frame.title or " ", floor=self._floor)
        self.shape = frame.weights.shape
        self._weights = frame.weights
        # The grid lines lie on the picture, so they are repainted over it every time.
        self._moving = [self.ax.images[0], *self.ax.lines, *self.ax.patches, self.ax.title]
        self._keep_still_parts()

    def _update(self, frame: Overlay) -> None:
        if frame.weights.shape != self.shape:
            raise ValueError(f"the region grid changed from {self.shape} to "
                             f"{frame.weights.shape}; an explorer keeps one grid")
        self.ax.images[0].set_data(spotlight(frame.image, frame.weights, self._floor))
        height, width = frame.image.shape[:2]
        self.ax.patches[0].set_xy(max_cell(frame.weights, height, width))
        self._weights = frame.weights
        self.ax.set_title(frame.title or " ")

    @property
    def weights(self) -> np.ndarray:
        """The region weights shown now, ``(rows, cols)``."""
        return self._weights


# --------------------------------------------------------------------------- several panels
@dataclass(frozen=True)
class Panel:
    """How a :class:`PanelExplorer` draws one of its heatmaps: axis labels, colour range,
    and whether to print each value in its cell."""

    xlabel: str = ""
    ylabel: str = ""
    vmin: float = 0.0
    vmax: float = 1.0
    annotate: bool = False


class PanelExplorer(Explorer):
    """Widgets over several heatmaps side by side (e.g. an NTM's input, output, write and
    read weightings over time), redrawn together on every change.

    Args:
        compute: called with the controls' values as keyword arguments; returns one
            :class:`Frame` (or weights array) per panel. A panel's shape may change (another
            sequence length): its axes then get the new extent and ticks, in the layout of
            the first figure.
        controls: ``{argument name: ipywidgets value widget}``.
        panels: one :class:`Panel` per heatmap; ``ncols`` panels per row.
        colorbar: one colour bar, right of all the panels, for the colour range they share
            (every panel must have the same ``vmin`` and ``vmax``); drawn once with the still
            parts, so it costs a redraw nothing. ``colorbar_label`` is written along it.
    """

    kind = "Panel explorer"

    def __init__(self, compute: Callable[..., Sequence[object]], controls: Mapping[str, object],
                 panels: Sequence[Panel], *, ncols: int = 2, colorbar: bool = False,
                 colorbar_label: str = "", figsize: tuple[float, float] = (8.0, 5.0),
                 dpi: int = DPI) -> None:
        if not panels:
            raise ValueError("panels must describe at least one heatmap")
        if isinstance(ncols, bool) or not isinstance(ncols, int) or ncols < 1:
            raise ValueError(f"ncols must be a positive int, got {ncols!r}")
        if colorbar and len({(p.vmin, p.vmax) for p in panels}) > 1:
            raise ValueError("a shared colour bar needs one colour range: the panels have "
                             f"{sorted({(p.vmin, p.vmax) for p in panels})}")
        self.panels, self.ncols = list(panels), ncols
        self._colorbar, self._colorbar_label = colorbar, colorbar_label
        self.colorbar = None
        super().__init__(compute, controls, figsize, dpi)

    def _evaluate(self) -> list[Frame]:
        result = list(self.compute(**self.values))
        if len(result) != len(self.panels):
            raise ValueError(f"compute returned {len(result)} heatmaps for "
                             f"{len(self.panels)} panels")
        frames = [r if isinstance(r, Frame) else Frame(r) for r in result]
        return [Frame(as_matrix(f.weights), f.title,
                      None if f.row_labels is None else tuple(map(str, f.row_labels)),
                      None if f.col_labels is None else tuple(map(str, f.col_labels)))
                for f in frames]

    def _draw_first(self, frames: list[Frame]) -> None:
        self.figure.clear()
        self.figure.set_layout_engine("constrained")
        rows = -(-len(self.panels) // self.ncols)
        axes = self.figure.subplots(rows, self.ncols, squeeze=False).ravel()
        for ax in axes[len(self.panels):]:
            ax.set_visible(False)
        self.axes = list(axes[:len(self.panels)])
        for ax, frame, panel in zip(self.axes, frames, self.panels, strict=True):
            heatmap(frame.weights, frame.row_labels, frame.col_labels, ax=ax,
                    title=frame.title or " ", xlabel=panel.xlabel, ylabel=panel.ylabel,
                    vmin=panel.vmin, vmax=panel.vmax, annotate=panel.annotate,
                    colorbar=False)
        if self._colorbar:  # a still part: kept in the background with the axes and ticks
            self.colorbar = self.figure.colorbar(self.axes[0].images[0], ax=self.axes,
                                                 fraction=0.046, pad=0.02, aspect=30)
            self.colorbar.set_label(self._colorbar_label)
        self.shapes = [f.weights.shape for f in frames]
        self._labels = [(f.row_labels, f.col_labels) for f in frames]
        self._moving = [artist for ax in self.axes for artist in (ax.images[0], ax.title)]
        self._kept.clear()  # a new figure: nothing kept holds
        self._base = None
        self._keep_background(relabelled=False)

    def _update(self, frames: list[Frame]) -> None:
        if any(panel.annotate for panel in self.panels):
            self._draw_first(frames)  # cell labels: draw everything again
            return
        reshaped = [f.weights.shape for f in frames] != self.shapes or \
            [(f.row_labels, f.col_labels) for f in frames] != self._labels
        for ax, frame in zip(self.axes, frames, strict=True):
            ax.images[0].set_data(frame.weights)
            ax.set_title(frame.title or " ")
            if reshaped:  # the same axes, new extent and ticks; the layout stays frozen
                n_q, n_k = frame.weights.shape
                ax.images[0].set_extent((-0.5, n_k - 0.5, n_q - 0.5, -0.5))
                ax.set_xlim(-0.5, n_k - 0.5)
                ax.set_ylim(n_q - 0.5, -0.5)
                label_axes(ax, n_q, n_k, frame.row_labels, frame.col_labels)
        if reshaped:
            self.shapes = [f.weights.shape for f in frames]
            self._labels = [(f.row_labels, f.col_labels) for f in frames]
            self._keep_background(relabelled=True)  # the axes' ticks changed

    def _keep_background(self, relabelled: bool) -> None:
        """Keep the still pixels of the shapes and labels shown now: the whole figure drawn
        the first time, only the ticks after a change (or those kept when shown before)."""
        def draw() -> object:
            if relabelled:
                self._redraw_ticks(self.axes)
            else:
                self._keep_still_parts()
            return self._background

        self._background = self._remember((tuple(self.shapes), tuple(self._labels)), draw)

    @property
    def weights(self) -> list[np.ndarray]:
        """The matrices shown now, one per panel."""
        return [np.asarray(ax.images[0].get_array()) for ax in self.axes]
