"""course_utils.relations: chapter 05's two-relation task and its model."""

from __future__ import annotations

import pytest
import torch

from course_utils.relations import (
    PAIRS,
    SEQ_LEN,
    PairsTask,
    RelationModel,
    relation_accuracy,
    train_relation_model,
)

torch.set_num_threads(1)


@pytest.fixture(scope="module")
def batch():
    return PairsTask().batch(64, torch.Generator().manual_seed(0))


def test_sequences_hold_both_members_of_four_pairs(batch):
    assert batch.tokens.shape == batch.digits.shape == (64, SEQ_LEN)
    for row in batch.tokens:
        letters = set(row.tolist())
        assert len(letters) == SEQ_LEN
        assert all((t + PAIRS) % (2 * PAIRS) in letters for t in letters)


def test_targets_by_hand(batch):
    for b in range(8):
        tokens, digits = batch.tokens[b].tolist(), batch.digits[b].tolist()
        assert batch.previous[b, 0] == -100
        for t in range(1, SEQ_LEN):
            assert batch.previous[b, t] == digits[t - 1]
        for t in range(SEQ_LEN):
            s = tokens.index((tokens[t] + PAIRS) % (2 * PAIRS))
            assert batch.partner_position[b, t] == s and batch.partner[b, t] == digits[s]


def test_batches_are_deterministic_by_generator():
    a = PairsTask().batch(5, torch.Generator().manual_seed(3))
    b = PairsTask().batch(5, torch.Generator().manual_seed(3))
    c = PairsTask().batch(5, torch.Generator().manual_seed(4))
    assert torch.equal(a.tokens, b.tokens) and torch.equal(a.digits, b.digits)
    assert not torch.equal(a.tokens, c.tokens)


def test_text():
    assert PairsTask.text(torch.tensor([0, 8]), torch.tensor([3, 7])) == ["a3", "A7"]


@pytest.mark.parametrize("heads", [1, 2, 4])
def test_model_shapes(batch, heads):
    previous, partner, weights = RelationModel(heads)(batch.tokens, batch.digits)
    assert previous.shape == partner.shape == (64, SEQ_LEN, 10)
    assert weights.shape == (64, heads, SEQ_LEN, SEQ_LEN)
    assert torch.allclose(weights.sum(-1), torch.ones(64, heads, SEQ_LEN))


def test_accuracy_of_a_perfect_oracle_and_of_an_untrained_model(batch):
    model = RelationModel(2)
    acc = relation_accuracy(model, batch)
    assert set(acc) == {"previous", "partner"} and all(0 <= v <= 1 for v in acc.values())
    assert max(acc.values()) < 0.5  # ten digits: an untrained model is near chance


@pytest.mark.usefixtures("_restore_determinism")
def test_short_training_reduces_the_loss_and_is_reproducible():
    model, history = train_relation_model(2, steps=30, progress=False)
    assert history["loss"][-1] < history["loss"][0]
    again, _ = train_relation_model(2, steps=30, progress=False)
    for p, q in zip(model.parameters(), again.parameters(), strict=True):
        assert torch.equal(p, q)
