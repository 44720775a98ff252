"""Helpers for the course "Attention, from memory to Transformers".

Every chapter notebook imports its mechanisms from here, so a mechanism is written once,
tested once (``tests/``) and reused by the chapters that come after the one that builds it.

Public API: :func:`set_seed`, :func:`device`, :func:`progress`, :func:`reset_progress`, and
one module per concern. Conventions of every module: batch first, ``(batch, ..., n, d)``; a
boolean mask is **True = may attend** (as in ``torch.nn.functional.scaled_dot_product_attention``;
``torch.nn.MultiheadAttention``'s mask means the opposite and is converted at the boundary);
float32 and float64 keep their dtype; bad input raises a ``ValueError``/``TypeError`` naming
the argument.

Four layers; a module imports only from its own layer or the ones below it:

* ``foundations``  layer 0, torch/NumPy only: ``seeding`` (:func:`set_seed`, :func:`device`),
                   ``checks`` (the argument checks, errors that name the argument)
* ``mechanisms``   layer 1, what the notes teach: ``attention``, ``positional``, ``memory``,
                   ``ntm``, ``efficient``, ``transformer`` (the blocks and the key/value cache)
* ``worlds``       layer 2, the chapters' toy worlds: tasks and data, their models, training
                   and decoding loops, checkpoints (``toy_tasks``, ``translation``, ``seq2seq``,
                   ``translation_transformer``, ``captioning``, ``reading``, ``relations``,
                   ``training``, ``checkpoints``, …)
* ``learner``      layer 3, the learner's tools: ``heatmaps`` and ``explorers`` (static and live
                   heatmaps), ``quiz``, ``exercises`` (the checkers), ``progress_store`` and
                   ``progress`` (what the learner has done), ``notebook_tools``
* old paths        ``course_utils.attention``, ``.tasks``, ``.quiz``, ``.exercises``,
                   ``.records``, … re-export their module's new home, so the notebooks'
                   imports keep working

``import course_utils`` loads only layer 0: :func:`progress` and :func:`reset_progress` are
loaded on first use, so building a model never loads the progress store, quizzes or exercises.
"""

from __future__ import annotations

import importlib

from .foundations.seeding import device, set_seed

__all__ = ["set_seed", "device", "progress", "reset_progress"]
__version__ = "0.1.0"

# Loaded on first use (PEP 562), so that `import course_utils` stays light.
_LAZY = {"progress": ".learner.progress", "reset_progress": ".learner.progress_store"}


def __getattr__(name: str) -> object:
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name], __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))
