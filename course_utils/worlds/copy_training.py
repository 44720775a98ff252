"""Chapter 08's training loop: the copy task for the NTM and its LSTM baseline.

The models are mechanisms (:mod:`course_utils.mechanisms.ntm`); the task is a toy world
(:mod:`course_utils.worlds.toy_tasks`); this module trains the one on the other.
"""

from __future__ import annotations

import random

import torch
from torch import Tensor, nn

from .toy_tasks import copy_cost_bits, copy_task_batch
from .training import train

__all__ = ["train_copy"]


def train_copy(model: nn.Module, steps: int, batch_size: int = 16, lr: float = 3e-4,
               max_length: int = 20, seed: int = 0, progress: bool = True,
               description: str = "copy task", anneal: float = 0.2) -> dict[str, list[float]]:
    """Train ``model`` (an :class:`~course_utils.mechanisms.ntm.NTM` or
    :class:`~course_utils.mechanisms.ntm.LSTMBaseline` with 9 inputs and 8 outputs)
    on the copy task: each step a batch of one random length in 1 … ``max_length``; the loss
    is the cost in bits per sequence divided by the sequence's bits.

    The optimiser is the paper's RMSprop (momentum 0.9) at ``lr``, gradients clipped to
    norm 10; the last ``anneal`` fraction of the steps runs at ``lr / 10`` so that the final
    weights do not sit on one of the rare spikes of the cost. Returns the history with
    ``"bits"``, the cost of every step (bits per sequence), and ``"lengths"``, the length of
    every step's sequences."""
    if not 0 <= anneal <= 1:
        raise ValueError(f"anneal must be a fraction in [0, 1], got {anneal!r}")
    generator, rng = torch.Generator().manual_seed(seed), random.Random(seed)
    bits: list[float] = []
    lengths: list[int] = []
    calm_from = steps - round(anneal * steps)

    def loss(step: int) -> Tensor:
        length = rng.randint(1, max_length)
        inputs, targets = copy_task_batch(batch_size, length, generator)
        cost = copy_cost_bits(model(inputs).outputs[:, length + 1:], targets).mean()
        bits.append(cost.item())
        lengths.append(length)
        return cost / (length * targets.shape[-1])

    history = train(model, loss, steps=steps, lr=lr, progress=progress,
                    description=description, max_grad_norm=10.0, optimizer="rmsprop",
                    schedule=lambda step: 0.1 if step > calm_from else 1.0)
    history["bits"], history["lengths"] = bits, lengths
    return history
