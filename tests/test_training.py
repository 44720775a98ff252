"""course_utils.training's learning-rate schedule, and the trainers of chapters 02 and 10 that
use it (chapter 10 tunes both models' schedules on the validation split)."""

from __future__ import annotations

import pytest

from course_utils.training import warmup_then_decay
from course_utils.translation import ToyTranslation
from course_utils.worlds import seq2seq
from course_utils.worlds import translation_transformer as transformer


def test_warmup_then_decay_rises_then_falls():
    multiplier = warmup_then_decay(10, 4)
    values = [multiplier(step) for step in range(1, 11)]
    assert values[:4] == [0.25, 0.5, 0.75, 1.0]                 # lr · step / warmup
    assert values[4:] == [(10 - s + 1) / 7 for s in range(5, 11)]  # linear decay
    assert values[-1] == pytest.approx(1 / 7) and min(values) > 0


def test_warmup_zero_is_the_decay_alone():
    multiplier = warmup_then_decay(5, 0)
    assert [multiplier(s) for s in range(1, 6)] == [5 / 6, 4 / 6, 3 / 6, 2 / 6, 1 / 6]


@pytest.mark.parametrize("steps, warmup", [(10, 10), (10, -1), (10, 2.0), (0, 0), (10, True)])
def test_warmup_then_decay_refuses_bad_arguments(steps, warmup):
    with pytest.raises(ValueError):
        warmup_then_decay(steps, warmup)


def test_the_transformer_module_still_offers_the_schedule():
    assert transformer.warmup_then_decay is warmup_then_decay


@pytest.mark.parametrize("trainer, module", [
    (lambda task, pairs, **kw: seq2seq.train_translator("dot", task, pairs, embed_size=8,
                                                        hidden_size=8, **kw), seq2seq),
    (lambda task, pairs, **kw: transformer.train_transformer(task, pairs, d_model=8,
                                                             num_heads=2, d_ff=8, num_layers=1,
                                                             **kw), transformer),
], ids=["rnn", "transformer"])
@pytest.mark.parametrize("warmup", [None, 0, 2])
def test_both_trainers_apply_the_same_schedule(monkeypatch, trainer, module, warmup):
    """``warmup=None`` is a constant rate; an int is warm-up then decay, for either model."""
    seen = {}

    def spy(model, loss_fn, steps, lr, schedule=None, **kwargs):
        seen["lrs"] = [lr * (1 if schedule is None else schedule(s)) for s in range(1, steps + 1)]
        return {"loss": [], "step": [], "metric": []}

    monkeypatch.setattr(module, "train", spy)
    task = ToyTranslation(seed=0)
    pairs = task.split(n_train=20, n_test=1, n_long=1, train_lengths=(3, 5),
                       long_lengths=(6, 7))["train"]
    trainer(task, pairs, steps=5, lr=0.1, warmup=warmup, batch_size=4, progress=False)
    expected = {None: [0.1] * 5, 0: [0.1 * k / 6 for k in (5, 4, 3, 2, 1)],
                2: [0.05, 0.1, 0.1 * 3 / 4, 0.1 * 2 / 4, 0.1 * 1 / 4]}[warmup]
    assert seen["lrs"] == pytest.approx(expected)
