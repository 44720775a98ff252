"""Chapter 11's figure: the model view — every head of every layer of a real Transformer as a
small heatmap, for one sentence (Vig 2019).

The notes draw the Transformer as a stack of blocks, each with its heads; this figure fills that
picture with a trained model's weights: one row per layer, one column per head, each cell the
head's (n × n) attention map over the sentence's tokens. The chapter passes in the weights it
computed (``torch.stack(model(ids, mask)[1])[:, 0]``, shape ``(layers, heads, n, n)``).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from matplotlib.figure import Figure

__all__ = ["model_view"]


def model_view(weights: torch.Tensor | np.ndarray, tokens: Sequence[str], sentence: str,
               *, cell: float = 1.0) -> Figure:
    """A grid of small heatmaps, layer by layer (rows) and head by head (columns).

    Args:
        weights: ``(layers, heads, n, n)`` attention weights of one sentence, rows summing to 1.
        tokens: the ``n`` tokens (for the title's count; the tiny maps carry no tick labels).
        sentence: the text, shown in the title.
        cell: inches per small map.

    Returns:
        The figure (pyplot's, so that ``plt.show()`` shows it); ``fig.axes`` in row-major
        order, ``fig.axes[l * heads + h].images[0]`` the map of layer l + 1, head h + 1.
    """
    import matplotlib.pyplot as plt

    array = weights.detach().cpu().numpy() if isinstance(weights, torch.Tensor) else \
        np.asarray(weights)
    if array.ndim != 4 or array.shape[2] != array.shape[3]:
        raise ValueError(f"weights must have shape (layers, heads, n, n), got {array.shape}")
    layers, heads, n, _ = array.shape
    if len(tokens) != n:
        raise ValueError(f"tokens must hold n = {n} tokens, got {len(tokens)}")
    fig, axes = plt.subplots(layers, heads, figsize=(cell * heads, cell * layers + 0.4),
                             layout="constrained", squeeze=False)
    for layer in range(layers):
        for head in range(heads):
            ax = axes[layer, head]
            ax.imshow(array[layer, head], cmap="viridis", vmin=0, vmax=1)
            ax.set_xticks([]), ax.set_yticks([])
            if layer == 0:
                ax.set_title(f"head {head + 1}", fontsize=8)
            if head == 0:
                ax.set_ylabel(f"layer {layer + 1}", fontsize=8)
    fig.suptitle(f"model view: {n} tokens of “{sentence}”", fontsize=10)
    return fig
