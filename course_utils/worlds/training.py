"""A small training loop with a progress bar, shared by the chapters' experiments."""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor, nn
from tqdm.auto import tqdm
from tqdm.notebook import tqdm as notebook_tqdm

from ..foundations.checks import positive_int

__all__ = ["train", "warmup_then_decay"]


class _Progress:
    """A tqdm progress bar. In Jupyter it is a widget, displayed through a display handle
    so that, when training ends, the saved output is replaced by the bar's final state
    (a reader without a kernel sees "100% 300/300", not the "0%" of the first frame)."""

    def __init__(self, steps: int, description: str, enabled: bool) -> None:
        self.handle = None
        if enabled and issubclass(tqdm, notebook_tqdm):
            from IPython.display import display

            self.bar = tqdm(total=steps, desc=description, display=False)
            self.handle = display(self.bar.container, display_id=True)
        else:
            self.bar = tqdm(total=steps, desc=description, disable=not enabled)

    def step(self, **postfix: str) -> None:
        if postfix:
            self.bar.set_postfix(postfix, refresh=False)
        self.bar.update(1)

    def close(self) -> None:
        self.bar.close()
        if self.handle is not None:
            self.handle.update(self.bar.container)


def train(
    model: nn.Module,
    loss_fn: Callable[[int], Tensor],
    steps: int,
    lr: float = 1e-2,
    progress: bool = True,
    description: str = "training",
    evaluate: Callable[[], float] | None = None,
    eval_every: int = 50,
    max_grad_norm: float | None = None,
    optimizer: str = "adam",
    schedule: Callable[[int], float] | None = None,
) -> dict[str, list[float]]:
    """Minimise ``loss_fn(step)`` over ``model``'s parameters with Adam (or RMSprop).

    Args:
        loss_fn: called with the step number; returns a scalar loss (it draws its own batch).
        steps: number of updates; lr: Adam's learning rate.
        progress: show a tqdm progress bar (a widget in Jupyter, text elsewhere).
        evaluate: optional metric (e.g. validation accuracy) recorded every ``eval_every``
            steps and after the last one.
        max_grad_norm: clip the gradients' total norm to this (RNNs need it: a rare huge
            gradient would otherwise undo much of the training).
        optimizer: ``"adam"`` or ``"rmsprop"`` (momentum 0.9, decay 0.95: the choice of
            Graves et al. 2014 for the Neural Turing Machine).
        schedule: optional learning-rate multiplier of the step (1-based): the step uses
            ``lr · schedule(step)``.

    Returns:
        ``{"loss": [...], "step": [...], "metric": [...]}``: the loss of every step, and the
        steps at which ``evaluate`` ran with its values.
    """
    positive_int("steps", steps)
    positive_int("eval_every", eval_every)
    params = [p for p in model.parameters() if p.requires_grad]
    if not params:
        raise ValueError("the model has no trainable parameters")
    if optimizer == "adam":
        opt = torch.optim.Adam(params, lr=lr)
    elif optimizer == "rmsprop":
        opt = torch.optim.RMSprop(params, lr=lr, momentum=0.9, alpha=0.95)
    else:
        raise ValueError(f"optimizer must be 'adam' or 'rmsprop', got {optimizer!r}")
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
    bar = _Progress(steps, description, progress)
    for step in range(1, steps + 1):
        if schedule is not None:
            for group in opt.param_groups:
                group["lr"] = lr * schedule(step)
        loss = loss_fn(step)
        opt.zero_grad()
        loss.backward()
        if max_grad_norm is not None:
            nn.utils.clip_grad_norm_(params, max_grad_norm)
        opt.step()
        history["loss"].append(loss.item())
        if step % eval_every == 0 or step == steps:
            record(step)
        bar.step(**({"metric": f"{history['metric'][-1]:.2f}"} if history["metric"] else {}))
    bar.close()
    model.eval()
    return history


def warmup_then_decay(steps: int, warmup: int) -> Callable[[int], float]:
    """The learning-rate multiplier of step 1 … ``steps`` (for :func:`train`'s ``schedule``):
    linear warm-up over ``warmup`` steps, then a linear decay that reaches
    1 / (steps − warmup + 1) at the last step (``warmup=0``: the decay alone)."""
    positive_int("steps", steps)
    if isinstance(warmup, bool) or not isinstance(warmup, int) or not 0 <= warmup < steps:
        raise ValueError(f"warmup must be an int in [0, steps), got {warmup!r}")

    def multiplier(step: int) -> float:
        if step <= warmup:
            return step / warmup
        return (steps - step + 1) / (steps - warmup + 1)
    return multiplier
