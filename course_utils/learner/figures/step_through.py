"""A step-through figure: a slider (and a Play button) over the steps of a drawing.

:class:`StepThrough` is an :class:`~course_utils.learner.explorers.Explorer` whose one control
is the step. Every step is drawn once, when the figure is made, and kept as PNG bytes: a move
of the slider (or the Play button) only swaps the bytes of one ``ipywidgets.Image``, so the
picture keeps up with the hand however much a step draws. ``walk.figure`` is drawn with the
step shown when it is asked for. Like every explorer, its saved output carries a PNG of its
first state, **step 1**, and the same text each run, so a reader without a kernel (GitHub, the
course site) sees step 1 and strict nbval compares the same text.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

import numpy as np
from matplotlib.artist import Artist
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from ..explorers import Explorer
from ..heatmaps import DPI

__all__ = ["StepThrough", "Pixels", "still_pixels"]


class StepThrough(Explorer):
    """A slider over the steps ``1 … n`` of a figure; every step is drawn once, up front.

    Args:
        draw_step: ``draw_step(figure, step)`` draws step ``step`` (1-based) on an empty
            :class:`~matplotlib.figure.Figure`; it places its own axes (the layout is frozen
            after the first draw, as for every explorer).
        steps: the number of steps, or one caption per step (``len(steps)`` steps; the
            captions are kept as ``self.steps`` for the drawing to use).
        figsize: inches; the figure is rendered at ``dpi``.
        play: also show a Play button that walks through the steps (linked to the slider in
            the browser), every ``interval_ms`` milliseconds.

    ``display(walk)`` (or a cell's last expression) shows it; ``walk.set(step=3)`` moves the
    slider as a learner would; ``walk.figure`` is the figure, drawn with the step shown;
    ``walk.default_png`` the saved picture (step 1).
    """

    kind = "Step-through"

    def __init__(self, draw_step: Callable[[Figure, int], object], steps: int | Sequence[str],
                 *, figsize: tuple[float, float] = (8.0, 5.0), dpi: int = DPI,
                 play: bool = True, interval_ms: int = 1500) -> None:
        import ipywidgets as w

        if isinstance(steps, int) and not isinstance(steps, bool):
            count, self.steps = steps, tuple(f"step {i}" for i in range(1, steps + 1))
        elif isinstance(steps, Sequence) and not isinstance(steps, str):
            count, self.steps = len(steps), tuple(map(str, steps))
        else:
            raise TypeError(f"steps must be an int or a sequence of captions, got {steps!r}")
        if count < 1:
            raise ValueError(f"a step-through needs at least one step, got {count}")
        self.draw_step = draw_step
        self._stale = False  # True when the figure shows another step than the slider
        slider = w.IntSlider(value=1, min=1, max=count, description="step",
                             continuous_update=False)
        super().__init__(lambda step: step, {"step": slider}, figsize, dpi)
        # Its own class: the browser tests look for the heatmap explorers' images by theirs.
        self.image.remove_class("course-heatmap")
        self.image.add_class("course-step-through")
        if play:
            self.play = w.Play(value=1, min=1, max=count, interval=interval_ms,
                               description="play the steps")
            w.jslink((self.play, "value"), (slider, "value"))
            self.widget.children[0].children = (self.play, slider)
        self._frames = {1: self.default_png}  # step → its PNG bytes, every step drawn once
        for step in range(2, count + 1):
            self._draw(step)
            self._frames[step] = self._paint()
        self._stale = count > 1

    @property
    def figure(self) -> Figure:
        """The figure, drawn with the step shown now."""
        if self._stale:
            self._stale = False
            self._draw(self.step)
        return self._figure

    @figure.setter
    def figure(self, figure: Figure) -> None:
        self._figure = figure

    def redraw(self) -> float:
        """Show the step the slider holds: its PNG, drawn when the figure was made. Returns
        the milliseconds (a swap of bytes)."""
        start = time.perf_counter()
        self.image.value = self._frames[self.step]
        self._stale = True
        elapsed = (time.perf_counter() - start) * 1000.0
        self.update_times_ms.append(elapsed)
        return elapsed

    @property
    def step(self) -> int:
        """The step shown now (1-based)."""
        return self.controls["step"].value

    # ------------------------------------------------------------ Explorer's drawing hooks
    def _evaluate(self) -> int:
        return self.compute(**self.values)

    def _draw_first(self, step: int) -> None:
        self._draw(step)

    def _update(self, step: int) -> None:
        self._draw(step)

    def _draw(self, step: int) -> None:
        """Clear the figure and draw ``step``: every artist is still until the next move."""
        self._figure.clear()
        self.draw_step(self._figure, step)
        self._moving = []
        self._keep_still_parts()


# ------------------------------------------- the parts every step shares, rendered once
def still_pixels(draw: Callable[[Figure], object], figsize: tuple[float, float],
                 dpi: int = DPI) -> np.ndarray:
    """``draw(figure)`` on an empty figure of ``figsize`` with a transparent ground, rendered:
    ``(height, width, 4)`` RGBA pixels, to paste under each step (:class:`Pixels`) instead of
    drawing the parts every step shares again."""
    fig = Figure(figsize=figsize, dpi=dpi, facecolor="none")
    FigureCanvasAgg(fig)
    draw(fig)
    fig.canvas.draw()
    return np.asarray(fig.canvas.buffer_rgba()).copy()


class Pixels(Artist):
    """RGBA pixels ``(height, width, 4)``, the figure's size, pasted over the figure as they
    are: no resampling, unlike ``figimage`` (it costs a few milliseconds, not tens)."""

    zorder = 1  # over the axes

    def __init__(self, pixels: np.ndarray) -> None:
        super().__init__()
        self.pixels = pixels

    def draw(self, renderer: object) -> None:
        if self.get_visible():
            gc = renderer.new_gc()
            renderer.draw_image(gc, 0, 0, self.pixels[::-1])  # Agg's rows run bottom-up
            gc.restore()
