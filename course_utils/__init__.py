"""Helpers for the course "Attention, from memory to Transformers".

Every chapter notebook imports its mechanisms from here, so a mechanism is written once,
tested once (``tests/``) and reused by the chapters that come after the one that builds it.

Public API: :func:`set_seed`, :func:`device`, :func:`progress`, :func:`reset_progress`, and
one module per concern. Conventions of every module: batch first, ``(batch, ..., n, d)``; a
boolean mask is **True = may attend** (as in ``torch.nn.functional.scaled_dot_product_attention``;
``torch.nn.MultiheadAttention``'s mask means the opposite and is converted at the boundary);
float32 and float64 keep their dtype; bad input raises a ``ValueError``/``TypeError`` naming
the argument.

Mechanisms (what the notes teach; torch only):

* ``attention``    score → softmax → weighted sum; additive attention; multi-head attention
* ``positional``   sinusoidal positional encoding
* ``transformer``  encoder and decoder blocks, the Transformer, the key/value cache
* ``ntm``          Neural Turing Machine addressing, read, write; the NTM and an LSTM baseline
* ``efficient``    exact attention in chunks with an online softmax; counts of bytes and
                   operations
* ``checks``       the argument checks the mechanisms share (errors that name the argument)

The chapters' worlds (toy tasks, their models, training, checkpoints):

* ``memory``       the notes' three memories in a tiny RNN; key-value retrieval
* ``tasks``        generated toy tasks;  ``translation``  chapter 02's toy language pair
* ``seq2seq``      RNN encoder-decoder with or without attention
* ``captioning``   image captioning with attention;  ``reading``  a multi-hop memory network
* ``relations``    chapter 05's two-relation task
* ``training``     a training loop with a progress bar;  ``checkpoints``  safetensors + SHA-256

The learner's tools:

* ``heatmaps``     static heatmaps and the live heatmap explorers (widgets)
* ``quiz``         quizzes from ``quizzes/*.yaml``, graded in Python or as widgets
* ``exercises``    checkers for the learner's functions
* ``records``      the learner's progress, remembered between sessions
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
