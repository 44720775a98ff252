"""Reproducibility and placement: :func:`set_seed` and :func:`device`.

Every chapter calls :func:`set_seed` at its top so that each run prints the same numbers;
``course_utils.set_seed`` and ``course_utils.device`` re-export these two.
"""

from __future__ import annotations

import os
import random

import numpy as np
import torch

__all__ = ["set_seed", "device"]


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
