"""A small training loop with a progress bar, shared by the chapters' experiments."""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor, nn
from tqdm.auto import tqdm

__all__ = ["train"]


def train(
    model: nn.Module,
    loss_fn: Callable[[int], Tensor],
    steps: int,
    lr: float = 1e-2,
    progress: bool = True,
    description: str = "training",
    evaluate: Callable[[], float] | None = None,
    eval_every: int = 50,
) -> dict[str, list[float]]:
    """Minimise ``loss_fn(step)`` over ``model``'s parameters with Adam.

    Args:
        loss_fn: called with the step number; returns a scalar loss (it draws its own batch).
        steps: number of updates; lr: Adam's learning rate.
        progress: show a tqdm progress bar (a widget in Jupyter, text elsewhere).
        evaluate: optional metric (e.g. validation accuracy) recorded every ``eval_every``
            steps and after the last one.

    Returns:
        ``{"loss": [...], "step": [...], "metric": [...]}``: the loss of every step, and the
        steps at which ``evaluate`` ran with its values.
    """
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
        raise ValueError(f"steps must be a positive int, got {steps!r}")
    if isinstance(eval_every, bool) or not isinstance(eval_every, int) or eval_every < 1:
        raise ValueError(f"eval_every must be a positive int, got {eval_every!r}")
    params = [p for p in model.parameters() if p.requires_grad]
    if not params:
        raise ValueError("the model has no trainable parameters")
    optimizer = torch.optim.Adam(params, lr=lr)
    history: dict[str, list[float]] = {"loss": [], "step": [], "metric": []}

    def record(step: int) -> None:
        if evaluate is not None:
            model.eval()
            with torch.no_grad():
                history["metric"].append(float(evaluate()))
            history["step"].append(step)
            model.train()

    record(0)
    model.train()
    bar = tqdm(range(1, steps + 1), desc=description, disable=not progress, leave=True)
    for step in bar:
        loss = loss_fn(step)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        history["loss"].append(loss.item())
        if step % eval_every == 0 or step == steps:
            record(step)
            if history["metric"]:
                bar.set_postfix(metric=f"{history['metric'][-1]:.2f}")
    model.eval()
    return history
