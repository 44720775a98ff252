"""Moved: the code now lives in :mod:`course_utils.learner.heatmaps` (the static heatmaps) and
:mod:`course_utils.learner.explorers` (the live explorers), layer 3, the learner's tools.

This path stays so that existing notebooks and code that import ``course_utils.heatmaps``
keep working; new code imports the new paths.
"""

from .learner.explorers import (
    Frame,
    HeatmapExplorer,
    Overlay,
    OverlayExplorer,
    Panel,
    PanelExplorer,
)
from .learner.heatmaps import (  # noqa: F401  (CMAP, DPI, MAX_TICKS: as before, outside __all__)
    CMAP,
    DPI,
    MAX_TICKS,
    heatmap,
    overlay,
    spotlight,
    use_course_style,
)

__all__ = ["use_course_style", "heatmap", "Frame", "HeatmapExplorer", "overlay", "spotlight",
           "Overlay", "OverlayExplorer", "Panel", "PanelExplorer"]
