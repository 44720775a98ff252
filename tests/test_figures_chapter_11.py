"""Chapter 11's figure: the model view, a grid of every layer's and head's attention map.

Checked by what it holds (one map per layer and head, each the head's weights, in order, and
the title), not by its pixels.
"""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

from course_utils.learner.figures.chapter_11 import model_view  # noqa: E402


def weights(layers=3, heads=4, n=5):
    scores = torch.randn(layers, heads, n, n, generator=torch.Generator().manual_seed(0))
    return torch.softmax(scores, dim=-1)


def test_one_map_per_layer_and_head_in_order():
    w = weights()
    fig = model_view(w, list("abcde"), "a b c d e")
    try:
        assert len(fig.axes) == 3 * 4
        for layer in range(3):
            for head in range(4):
                shown = fig.axes[layer * 4 + head].images[0].get_array()
                assert np.allclose(shown, w[layer, head].numpy())
        assert fig.axes[0].get_title() == "head 1" and fig.axes[4].get_ylabel() == "layer 2"
        assert "5 tokens" in fig._suptitle.get_text() and "a b c d e" in fig._suptitle.get_text()
    finally:
        plt.close(fig)


def test_bad_shapes_are_refused():
    with pytest.raises(ValueError, match="layers, heads, n, n"):
        model_view(weights()[0], list("abcde"), "x")
    with pytest.raises(ValueError, match="n = 5 tokens"):
        model_view(weights(), list("abc"), "x")
