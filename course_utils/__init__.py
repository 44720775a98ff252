"""Helpers for the course "Attention, from memory to Transformers".

Every chapter notebook imports its mechanisms from here, so a mechanism is written once,
tested once (``tests/``) and reused by the chapters that come after the one that builds it.

Public API (see DESIGN.md): :func:`set_seed`, :func:`device`, and one module per concern:

* ``attention``  score → softmax → weighted sum; additive attention
* ``heatmaps``   static heatmaps and the live heatmap explorer (widgets)
* ``quiz``       quizzes from ``quizzes/*.yaml``, graded in Python or as widgets
* ``exercises``  checkers for the learner's functions
* ``memory``     the notes' three memories in a tiny RNN; key-value retrieval
* ``tasks``      generated toy tasks;  ``training``  a training loop with a progress bar
"""

from __future__ import annotations

import os
import random

import numpy as np
import torch

from .records import progress, reset_progress

__all__ = ["set_seed", "device", "progress", "reset_progress"]
__version__ = "0.1.0"


def set_seed(seed: int = 0) -> int:
    """Seed Python, NumPy and PyTorch and switch PyTorch to deterministic algorithms.

    Call it at the top of a notebook (and before each experiment) so that every run of the
    notebook prints the same numbers.

    Args:
        seed: a non-negative integer.

    Returns:
        The seed, so that ``rng_seed = set_seed(0)`` reads naturally.
    """
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer):
        raise TypeError(f"seed must be an int, got {type(seed).__name__}")
    if not 0 <= seed < 2**32:
        raise ValueError(f"seed must be in [0, 2**32), got {seed}")
    seed = int(seed)
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    # Needed by some CUDA kernels before deterministic algorithms can be enforced.
    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    torch.use_deterministic_algorithms(True)
    return seed


def device() -> torch.device:
    """The device the course runs on: a CUDA GPU when one is available, else the CPU.

    The chapters are sized for a laptop CPU; a GPU only makes the optional
    "train from scratch" paths faster.
    """
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")
