"""Toy tasks, generated on the fly (no data is downloaded), each small enough for a laptop CPU.

Every generator takes a ``torch.Generator`` so that a notebook gets the same data on every run.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from ..foundations.checks import positive_int

__all__ = ["RecallBatch", "recall_first_symbol", "RetrievalTask", "RetrievalBatch",
           "copy_task_batch", "copy_cost_bits"]


@dataclass(frozen=True)
class RecallBatch:
    """``symbols (batch, length)`` ints in [0, vocab_size); ``target (batch,)`` = symbols[:, 0]."""

    symbols: Tensor
    target: Tensor


def recall_first_symbol(batch_size: int, length: int, vocab_size: int,
                        generator: torch.Generator | None = None) -> RecallBatch:
    """Sequences of random symbols; the task is to name the **first** one after reading all.

    The first symbol is in the input (sensory memory) only at step 0; to answer at the end,
    a model must carry it in its hidden state (working memory) through every later step.
    """
    positive_int("batch_size", batch_size)
    positive_int("length", length)
    if positive_int("vocab_size", vocab_size) < 2:
        raise ValueError(f"vocab_size must be at least 2, got {vocab_size}")
    symbols = torch.randint(vocab_size, (batch_size, length), generator=generator)
    return RecallBatch(symbols, symbols[:, 0].clone())


@dataclass(frozen=True)
class RetrievalBatch:
    """A batch of key-value memories and cues.

    Shapes: ``cue (batch, d)``, ``keys (batch, n, d)``, ``values (batch, n, d_v)``,
    ``target (batch,)`` = the index of the slot whose value must be returned.
    """

    cue: Tensor
    keys: Tensor
    values: Tensor
    target: Tensor


class RetrievalTask:
    """Retrieve the value stored under a key, given a *cue* written in another code.

    Each example is a memory of ``num_slots`` random unit keys with random values. The cue
    for slot t is ``R k_t``, a fixed rotation R of its key, so matching the cue to the keys
    directly fails: a model must learn a query map W (≈ Rᵀ) before its lookup finds slot t.

    Args:
        key_size: d; value_size: d_v; num_slots: n keys per memory.
        seed: fixes the rotation R.
    """

    def __init__(self, key_size: int = 8, value_size: int = 8, num_slots: int = 6,
                 seed: int = 0) -> None:
        self.key_size = positive_int("key_size", key_size)
        self.value_size = positive_int("value_size", value_size)
        if positive_int("num_slots", num_slots) < 2:
            raise ValueError(f"num_slots must be at least 2, got {num_slots}")
        self.num_slots = num_slots
        if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
            raise ValueError(f"seed must be a non-negative int, got {seed!r}")
        g = torch.Generator().manual_seed(seed)
        q, _ = torch.linalg.qr(torch.randn(key_size, key_size, generator=g))
        if torch.linalg.det(q) < 0:  # an orthogonal Q may be a reflection; make it a rotation
            q[:, 0] = -q[:, 0]
        self.rotation = q

    def batch(self, batch_size: int, generator: torch.Generator | None = None) -> RetrievalBatch:
        """A fresh batch: ``batch_size`` memories, one cue each."""
        positive_int("batch_size", batch_size)
        shape = (batch_size, self.num_slots)
        keys = torch.randn(*shape, self.key_size, generator=generator)
        keys = keys / keys.norm(dim=-1, keepdim=True)
        values = torch.randn(*shape, self.value_size, generator=generator)
        target = torch.randint(self.num_slots, (batch_size,), generator=generator)
        key_t = keys[torch.arange(batch_size), target]  # (batch, d)
        cue = key_t @ self.rotation.T  # c = R k_t
        return RetrievalBatch(cue, keys, values, target)


# --------------------------------------------------------------------------- copy (chapter 08)
def copy_task_batch(batch: int, length: int, generator: torch.Generator, bits: int = 8
                    ) -> tuple[Tensor, Tensor]:
    """The NTM copy task (Graves et al. 2014, section 4.1): ``length`` random ``bits``-bit
    vectors, then a delimiter, then ``length`` blank steps during which the model must output
    the vectors again.

    Returns ``inputs (batch, 2 · length + 1, bits + 1)`` (the last channel is the delimiter)
    and ``targets (batch, length, bits)`` (what the last ``length`` outputs must be).
    """
    positive_int("length", length)
    sequence = torch.randint(0, 2, (batch, length, bits), generator=generator).float()
    inputs = torch.zeros(batch, 2 * length + 1, bits + 1)
    inputs[:, :length, :bits] = sequence
    inputs[:, length, bits] = 1.0  # the delimiter
    return inputs, sequence


def copy_cost_bits(logits: Tensor, targets: Tensor) -> Tensor:
    """Cost in **bits per sequence** (the paper's measure): the binary cross-entropy of the
    recall outputs, summed over the sequence's bits, in log base 2. ``logits (batch, T, bits)``
    of the recall steps, ``targets (batch, T, bits)`` → ``(batch,)``."""
    nats = nn.functional.binary_cross_entropy_with_logits(logits, targets, reduction="none")
    return nats.sum(dim=(1, 2)) / math.log(2)
