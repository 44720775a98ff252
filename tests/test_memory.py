"""course_utils.tasks, course_utils.memory and course_utils.training on small seeded problems."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from course_utils.memory import AttentionRecall, KeyValueRetriever, MemoryRNN
from course_utils.tasks import RetrievalTask, recall_first_symbol
from course_utils.training import train


def gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


# ======================================================================= recall_first_symbol
def test_recall_first_symbol_shapes_and_target():
    batch = recall_first_symbol(16, 7, 5, generator=gen(0))
    assert batch.symbols.shape == (16, 7) and batch.target.shape == (16,)
    assert batch.symbols.dtype == torch.int64
    assert torch.equal(batch.target, batch.symbols[:, 0])
    assert batch.symbols.min() >= 0 and batch.symbols.max() < 5
    assert len(batch.symbols.unique()) == 5  # 112 draws from 5 symbols cover them all


def test_recall_first_symbol_target_is_a_copy():
    batch = recall_first_symbol(4, 3, 6, generator=gen(1))
    before = batch.target.clone()
    batch.symbols[:, 0] += 1
    assert torch.equal(batch.target, before)


def test_recall_first_symbol_is_reproducible():
    a = recall_first_symbol(8, 10, 4, generator=gen(3))
    b = recall_first_symbol(8, 10, 4, generator=gen(3))
    c = recall_first_symbol(8, 10, 4, generator=gen(4))
    assert torch.equal(a.symbols, b.symbols) and torch.equal(a.target, b.target)
    assert not torch.equal(a.symbols, c.symbols)


def test_recall_first_symbol_without_generator():
    batch = recall_first_symbol(2, 3, 2)
    assert batch.symbols.shape == (2, 3)


@pytest.mark.parametrize("kwargs, name", [
    ({"batch_size": 0}, "batch_size"), ({"batch_size": -3}, "batch_size"),
    ({"batch_size": True}, "batch_size"), ({"batch_size": 2.0}, "batch_size"),
    ({"length": 0}, "length"), ({"length": -1}, "length"), ({"length": False}, "length"),
    ({"vocab_size": 0}, "vocab_size"), ({"vocab_size": -2}, "vocab_size"),
    ({"vocab_size": True}, "vocab_size"), ({"vocab_size": 1}, "vocab_size"),
], ids=str)
def test_recall_first_symbol_rejects_bad_sizes(kwargs, name):
    args = {"batch_size": 4, "length": 5, "vocab_size": 3, **kwargs}
    with pytest.raises(ValueError, match=name):
        recall_first_symbol(**args)


# ============================================================================ RetrievalTask
def test_retrieval_rotation_is_orthogonal():
    task = RetrievalTask(key_size=6, value_size=3, num_slots=4, seed=2)
    r = task.rotation
    assert r.shape == (6, 6)
    torch.testing.assert_close(r @ r.T, torch.eye(6), atol=1e-5, rtol=0)
    torch.testing.assert_close(r.T @ r, torch.eye(6), atol=1e-5, rtol=0)
    assert not torch.allclose(r, torch.eye(6), atol=0.1)  # a real change of code


def test_retrieval_batch_shapes_and_cue():
    task = RetrievalTask(key_size=5, value_size=3, num_slots=4, seed=0)
    b = task.batch(10, generator=gen(0))
    assert b.cue.shape == (10, 5) and b.keys.shape == (10, 4, 5)
    assert b.values.shape == (10, 4, 3) and b.target.shape == (10,)
    assert b.target.dtype == torch.int64
    assert b.target.min() >= 0 and b.target.max() < 4
    torch.testing.assert_close(b.keys.norm(dim=-1), torch.ones(10, 4))
    for i in range(10):
        key = b.keys[i, b.target[i]]
        torch.testing.assert_close(b.cue[i], task.rotation @ key)  # c = R k_t
    # Rᵀ c recovers the key exactly; the raw cue is not the key
    torch.testing.assert_close(b.cue @ task.rotation, b.keys[torch.arange(10), b.target])
    assert not torch.allclose(b.cue, b.keys[torch.arange(10), b.target], atol=1e-2)


def test_retrieval_is_reproducible():
    a, b, c = RetrievalTask(seed=1), RetrievalTask(seed=1), RetrievalTask(seed=2)
    assert torch.equal(a.rotation, b.rotation)
    assert not torch.allclose(a.rotation, c.rotation)
    x, y = a.batch(6, generator=gen(5)), b.batch(6, generator=gen(5))
    for field in ("cue", "keys", "values", "target"):
        assert torch.equal(getattr(x, field), getattr(y, field))
    z = a.batch(6, generator=gen(6))
    assert not torch.equal(x.keys, z.keys)


def test_retrieval_defaults():
    task = RetrievalTask()
    b = task.batch(3)
    assert b.keys.shape == (3, 6, 8) and b.values.shape == (3, 6, 8)


@pytest.mark.parametrize("kwargs, name", [
    ({"num_slots": 1}, "num_slots"), ({"num_slots": 0}, "num_slots"),
    ({"key_size": 0}, "key_size"), ({"key_size": True}, "key_size"),
    ({"key_size": 2.5}, "key_size"), ({"value_size": 0}, "value_size"),
    ({"value_size": -1}, "value_size"),
], ids=str)
def test_retrieval_rejects_bad_args(kwargs, name):
    with pytest.raises(ValueError, match=name):
        RetrievalTask(**kwargs)


@pytest.mark.parametrize("bad", [0, -1, True, 1.0])
def test_retrieval_batch_rejects_bad_batch_size(bad):
    with pytest.raises(ValueError, match="batch_size"):
        RetrievalTask().batch(bad)


# ================================================================================ MemoryRNN
def hand_rnn(model: MemoryRNN, symbols: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """h_t = tanh(W_x one_hot(x_t) + b + W_h h_{t-1}), logits = W_o h_T + b_o, step by step."""
    w_x, b = model.sensory.weight, model.sensory.bias
    w_h = model.recurrent.weight
    w_o, b_o = model.readout.weight, model.readout.bias
    batch, length = symbols.shape
    states = torch.zeros(batch, length, w_h.shape[0], dtype=w_x.dtype)
    for i in range(batch):
        h = torch.zeros(w_h.shape[0], dtype=w_x.dtype)
        for t in range(length):
            x = torch.zeros(model.vocab_size, dtype=w_x.dtype)
            x[symbols[i, t]] = 1.0
            h = torch.tanh(w_x @ x + b + w_h @ h)
            states[i, t] = h
    return states[:, -1] @ w_o.T + b_o, states


def make_rnn(vocab=5, hidden=7, seed=0, dtype=torch.float64) -> MemoryRNN:
    torch.manual_seed(seed)
    return MemoryRNN(vocab, hidden).to(dtype)


def test_memory_rnn_parts():
    model = MemoryRNN(4, 9)
    assert model.sensory.weight.shape == (9, 4) and model.sensory.bias is not None
    assert model.recurrent.weight.shape == (9, 9) and model.recurrent.bias is None
    assert model.readout.weight.shape == (4, 9)
    assert MemoryRNN(3).recurrent.in_features == 24


def test_memory_rnn_shapes():
    model = make_rnn(dtype=torch.float32)
    symbols = recall_first_symbol(3, 6, 5, generator=gen(0)).symbols
    logits, states = model(symbols)
    assert logits.shape == (3, 5) and states.shape == (3, 6, 7)
    assert logits.dtype == states.dtype == torch.float32


@pytest.mark.parametrize("symbol_dtype", [torch.int64, torch.int32])
def test_memory_rnn_matches_hand_written_loop(symbol_dtype):
    model = make_rnn()
    symbols = recall_first_symbol(4, 6, 5, generator=gen(1)).symbols.to(symbol_dtype)
    logits, states = model(symbols)
    with torch.no_grad():
        want_logits, want_states = hand_rnn(model, symbols)
    torch.testing.assert_close(states, want_states, rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(logits, want_logits, rtol=1e-10, atol=1e-12)
    # logits come from the last state
    torch.testing.assert_close(logits, model.readout(states[:, -1]))


def test_memory_rnn_first_symbol_reaches_the_end_without_ablation():
    # Guard for the ablation test below: normally the first symbols DO change the answer.
    model = make_rnn(seed=3)
    symbols = recall_first_symbol(4, 6, 5, generator=gen(2)).symbols
    changed = symbols.clone()
    changed[:, :3] = (changed[:, :3] + 1) % 5
    assert not torch.allclose(model(symbols)[0], model(changed)[0], atol=1e-6)


@pytest.mark.parametrize("k", [1, 3, 6])
def test_memory_rnn_forget_after(k):
    model = make_rnn(seed=3)
    symbols = recall_first_symbol(4, 6, 5, generator=gen(2)).symbols
    logits, states = model(symbols, forget_after=k)
    assert torch.equal(states[:, k - 1], torch.zeros(4, 7, dtype=torch.float64))
    full_logits, full_states = model(symbols)
    torch.testing.assert_close(states[:, : k - 1], full_states[:, : k - 1])  # before: unchanged
    assert not torch.equal(full_states[:, k - 1], states[:, k - 1])

    changed = symbols.clone()
    changed[:, :k] = (changed[:, :k] + 1) % 5  # different symbols before the wipe
    logits2, states2 = model(changed, forget_after=k)
    torch.testing.assert_close(logits2, logits, rtol=0, atol=0)
    torch.testing.assert_close(states2[:, k - 1:], states[:, k - 1:], rtol=0, atol=0)
    if k == 6:  # wiped at the last step: the answer is the readout bias alone
        torch.testing.assert_close(logits, model.readout.bias.expand(4, 5))


def test_memory_rnn_forget_after_continues_from_zero():
    # After the wipe the network reads on from h = 0, as if the sequence started there.
    model = make_rnn(seed=4)
    symbols = recall_first_symbol(2, 7, 5, generator=gen(3)).symbols
    logits, states = model(symbols, forget_after=3)
    tail_logits, tail_states = model(symbols[:, 3:])
    torch.testing.assert_close(states[:, 3:], tail_states)
    torch.testing.assert_close(logits, tail_logits)


@pytest.mark.parametrize("bad", [torch.zeros(2, 3), torch.zeros(2, 3, dtype=torch.float64),
                                 torch.zeros(3, dtype=torch.long),
                                 torch.zeros(2, 3, 1, dtype=torch.long),
                                 torch.zeros(2, 3, dtype=torch.bool)],
                         ids=["float32", "float64", "1-D", "3-D", "bool"])
def test_memory_rnn_rejects_bad_symbols(bad):
    with pytest.raises(ValueError, match="symbols"):
        MemoryRNN(4)(bad)


def test_memory_rnn_gradients_flow_to_all_parameters():
    model = make_rnn(dtype=torch.float32)
    batch = recall_first_symbol(8, 5, 5, generator=gen(4))
    logits, _ = model(batch.symbols)
    F.cross_entropy(logits, batch.target).backward()
    named = dict(model.named_parameters())
    assert set(named) == {"sensory.weight", "sensory.bias", "recurrent.weight",
                          "readout.weight", "readout.bias"}
    for name, p in named.items():
        assert p.grad is not None and torch.isfinite(p.grad).all(), name
        assert p.grad.abs().sum() > 0, name


# ======================================================================== KeyValueRetriever
def retrieval_batch(seed=0, batch=5, d=4, n=6, d_v=3):
    g = gen(seed)
    return (torch.randn(batch, d, generator=g), torch.randn(batch, n, d, generator=g),
            torch.randn(batch, n, d_v, generator=g))


def make_retriever(lookup: str, d=4, seed=0) -> KeyValueRetriever:
    torch.manual_seed(seed)
    return KeyValueRetriever(d, lookup)


def test_retriever_has_only_the_query_map():
    model = KeyValueRetriever(5)
    assert model.lookup == "soft"
    assert [name for name, _ in model.named_parameters()] == ["w_query.weight"]
    assert model.w_query.weight.shape == (5, 5)


def test_soft_lookup_matches_hand_computation():
    model = make_retriever("soft")
    cue, keys, values = retrieval_batch()
    output, weights = model(cue, keys, values)
    assert output.shape == (5, 3) and weights.shape == (5, 6)
    with torch.no_grad():
        w = model.w_query.weight
        for b in range(5):
            q = w @ cue[b]  # q = W c
            scores = torch.stack([q @ keys[b, i] for i in range(6)])
            alpha = scores.exp() / scores.exp().sum()
            want = sum(alpha[i] * values[b, i] for i in range(6))
            torch.testing.assert_close(weights[b], alpha)
            torch.testing.assert_close(output[b], want)


def test_soft_lookup_gives_query_map_a_gradient():
    model = make_retriever("soft")
    cue, keys, values = retrieval_batch(seed=1)
    output, _ = model(cue, keys, values)
    loss = F.mse_loss(output, values[:, 0])
    assert loss.requires_grad
    loss.backward()
    grad = model.w_query.weight.grad
    assert grad is not None and grad.abs().sum() > 0


def test_hard_lookup_is_one_hot_at_argmax():
    model = make_retriever("hard")
    cue, keys, values = retrieval_batch(seed=2)
    output, weights = model(cue, keys, values)
    assert output.shape == (5, 3) and weights.shape == (5, 6)
    with torch.no_grad():
        scores = torch.einsum("bd,bnd->bn", cue @ model.w_query.weight.T, keys)
    best = scores.argmax(dim=-1)
    torch.testing.assert_close(weights, F.one_hot(best, 6).float(), rtol=0, atol=0)
    torch.testing.assert_close(output, values[torch.arange(5), best], rtol=0, atol=0)


def test_hard_lookup_gives_no_gradient():
    model = make_retriever("hard")
    cue, keys, values = retrieval_batch(seed=3)
    output, weights = model(cue, keys, values)
    loss = F.mse_loss(output, values[:, 0])
    assert not loss.requires_grad and loss.grad_fn is None
    assert not weights.requires_grad
    with pytest.raises(RuntimeError):
        loss.backward()
    assert model.w_query.weight.grad is None


def test_soft_and_hard_agree_when_one_key_dominates():
    soft, hard = make_retriever("soft"), make_retriever("hard")
    hard.load_state_dict(soft.state_dict())
    with torch.no_grad():
        soft.w_query.weight.mul_(1000.0)  # very peaked softmax
        hard.w_query.weight.mul_(1000.0)
    cue, keys, values = retrieval_batch(seed=4)
    (soft_out, _), (hard_out, _) = soft(cue, keys, values), hard(cue, keys, values)
    torch.testing.assert_close(soft_out, hard_out, atol=1e-3, rtol=0)


@pytest.mark.parametrize("bad", ["argmax", "Soft", "", None])
def test_retriever_rejects_bad_lookup(bad):
    with pytest.raises(ValueError, match="lookup"):
        KeyValueRetriever(4, bad)


# ==================================================================================== train
def linear_problem(seed=0):
    """Fit y = 2x with a Linear(1, 1): returns model, loss_fn, and the steps loss_fn saw."""
    torch.manual_seed(seed)
    model = nn.Linear(1, 1)
    x = torch.linspace(-1, 1, 32).unsqueeze(1)
    seen: list[int] = []

    def loss_fn(step):
        seen.append(step)
        return F.mse_loss(model(x), 2 * x)

    return model, loss_fn, seen


def test_train_fits_a_line():
    model, loss_fn, seen = linear_problem()
    history = train(model, loss_fn, steps=200, lr=0.1, progress=False)
    assert len(history["loss"]) == 200
    assert all(isinstance(v, float) for v in history["loss"])
    assert history["loss"][-1] < 1e-3 < history["loss"][0]
    assert history["loss"][-1] < 0.01 * history["loss"][0]
    assert seen == list(range(1, 201))
    torch.testing.assert_close(model.weight.detach(), torch.tensor([[2.0]]), atol=0.05, rtol=0)
    assert history["step"] == [] and history["metric"] == []  # no evaluate: nothing recorded


@pytest.mark.parametrize("steps, every, expected", [
    (7, 3, [0, 3, 6, 7]), (6, 3, [0, 3, 6]), (1, 50, [0, 1]), (4, 1, [0, 1, 2, 3, 4]),
])
def test_train_records_metric(steps, every, expected):
    model, loss_fn, _ = linear_problem()
    calls = []

    def evaluate():
        calls.append((model.training, torch.is_grad_enabled()))
        return model.weight.item()

    history = train(model, loss_fn, steps=steps, lr=0.1, progress=False, evaluate=evaluate,
                    eval_every=every)
    assert history["step"] == expected
    assert len(history["metric"]) == len(expected) and len(history["loss"]) == steps
    assert all(isinstance(v, float) for v in history["metric"])
    assert calls == [(False, False)] * len(expected)  # eval mode, no autograd
    assert history["metric"][-1] == model.weight.item()  # the last one is after the last step


def test_train_metric_tracks_progress():
    model, loss_fn, _ = linear_problem()
    history = train(model, loss_fn, steps=100, lr=0.1, progress=False,
                    evaluate=lambda: -abs(model.weight.item() - 2.0), eval_every=25)
    assert history["step"] == [0, 25, 50, 75, 100]
    assert history["metric"][-1] > history["metric"][0]


def test_train_progress_bar_switch(capsys):
    model, loss_fn, _ = linear_problem()
    train(model, loss_fn, steps=3, progress=False, description="quiet-run")
    assert "quiet-run" not in capsys.readouterr().err
    train(model, loss_fn, steps=3, progress=True, description="loud-run")
    assert "loud-run" in capsys.readouterr().err


def test_train_leaves_model_in_eval_mode():
    model, loss_fn, _ = linear_problem()
    model.train()
    train(model, loss_fn, steps=2, progress=False)
    assert not model.training


def test_train_trains_in_train_mode_when_evaluating():
    model, loss_fn, _ = linear_problem()
    modes = []

    def loss(step):
        modes.append(model.training)
        return loss_fn(step)

    train(model, loss, steps=3, progress=False, evaluate=lambda: 0.0, eval_every=1)
    assert modes == [True, True, True]


def test_train_trains_in_train_mode_without_evaluate():
    model, loss_fn, _ = linear_problem()
    model.eval()  # as train() itself leaves it
    modes = []

    def loss(step):
        modes.append(model.training)
        return loss_fn(step)

    train(model, loss, steps=3, progress=False)
    assert modes == [True, True, True]


@pytest.mark.parametrize("steps", [0, -5, True, False, 2.0, "10", None])
def test_train_rejects_bad_steps(steps):
    model, loss_fn, _ = linear_problem()
    before = model.weight.detach().clone()
    with pytest.raises(ValueError, match="steps"):
        train(model, loss_fn, steps=steps, progress=False)
    assert torch.equal(model.weight, before)


def test_train_rejects_zero_eval_every():
    model, loss_fn, _ = linear_problem()
    with pytest.raises(ValueError, match="eval_every"):
        train(model, loss_fn, steps=3, progress=False, eval_every=0)


def test_train_rejects_models_without_trainable_parameters():
    _, loss_fn, _ = linear_problem()
    with pytest.raises(ValueError, match="no trainable parameters"):
        train(nn.ReLU(), loss_fn, steps=3, progress=False)
    frozen = nn.Linear(1, 1).requires_grad_(False)
    with pytest.raises(ValueError, match="no trainable parameters"):
        train(frozen, loss_fn, steps=3, progress=False)


def test_train_only_updates_trainable_parameters():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(1, 4), nn.Linear(4, 1))
    model[0].requires_grad_(False)
    frozen = model[0].weight.detach().clone()
    x = torch.linspace(-1, 1, 16).unsqueeze(1)
    train(model, lambda step: F.mse_loss(model(x), 2 * x), steps=5, progress=False)
    assert torch.equal(model[0].weight, frozen)


# ============================================================ end to end: soft retrieval learns
def test_soft_retrieval_learns_the_query_map():
    task = RetrievalTask(8, 8, 8, seed=0)
    torch.manual_seed(0)
    model = KeyValueRetriever(8, "soft")
    g = gen(1)

    def loss_fn(step):
        b = task.batch(64, generator=g)
        output, _ = model(b.cue, b.keys, b.values)
        return F.mse_loss(output, b.values[torch.arange(64), b.target])

    def accuracy(batch):
        with torch.no_grad():
            _, weights = model(batch.cue, batch.keys, batch.values)
        return (weights.argmax(dim=-1) == batch.target).float().mean().item()

    held_out = task.batch(500, generator=gen(12345))
    before = accuracy(held_out)
    history = train(model, loss_fn, steps=150, lr=0.05, progress=False)
    after = accuracy(held_out)
    assert before < 0.5  # the raw cue is in another code: chance-level lookup at first
    assert after > 0.9, (before, after)
    assert sum(history["loss"][-10:]) < sum(history["loss"][:10])
    # the learned query map undoes the rotation: W R ≈ a positive multiple of I
    product = model.w_query.weight.detach() @ task.rotation
    diagonal = product.diagonal()
    assert (diagonal > 0).all()
    assert diagonal.mean() > 3 * (product - torch.diag(diagonal)).abs().max()


@pytest.mark.parametrize("forget_after", [0, -1, 9, 2.0, True])
def test_memory_rnn_rejects_forget_after_outside_the_sequence(forget_after):
    model = MemoryRNN(vocab_size=4, hidden_size=5)
    symbols = torch.zeros(2, 8, dtype=torch.long)
    with pytest.raises(ValueError, match=r"forget_after must be an int in \[1, 8\]"):
        model(symbols, forget_after=forget_after)


def test_memory_rnn_rejects_empty_sequences():
    with pytest.raises(ValueError, match="length 0"):
        MemoryRNN(vocab_size=4)(torch.zeros(2, 0, dtype=torch.long))


@pytest.mark.parametrize("seed", range(6))
def test_retrieval_task_uses_a_proper_rotation(seed):
    rotation = RetrievalTask(key_size=8, seed=seed).rotation
    assert torch.linalg.det(rotation).item() == pytest.approx(1.0, abs=1e-5)


@pytest.mark.parametrize("seed", [-1, 1.5, True])
def test_retrieval_task_rejects_bad_seeds(seed):
    with pytest.raises(ValueError, match="seed"):
        RetrievalTask(seed=seed)


def test_memory_rnn_blank_input_removes_that_symbol_only():
    torch.manual_seed(0)
    model = MemoryRNN(vocab_size=5, hidden_size=7)
    symbols = torch.randint(5, (4, 6), generator=torch.Generator().manual_seed(1))
    other = symbols.clone()
    other[:, 2] = (other[:, 2] + 1) % 5  # a different symbol at step 2 only
    blank, _ = model(symbols, blank_input_at=2)
    assert torch.allclose(blank, model(other, blank_input_at=2)[0])  # step 2 is not perceived
    assert not torch.allclose(model(symbols)[0], model(other)[0])  # ...but normally is
    # x_2 = 0: the input layer's encoding is its bias alone.
    x = F.one_hot(symbols, 5).float()
    x[:, 2] = 0
    h = torch.zeros(4, 7)
    for t in range(6):
        h = torch.tanh(model.sensory(x[:, t]) + model.recurrent(h))
    assert torch.allclose(blank, model.readout(h), atol=1e-6)


@pytest.mark.parametrize("step", [-1, 6, 1.0, True])
def test_memory_rnn_rejects_blank_input_outside_the_sequence(step):
    with pytest.raises(ValueError, match=r"blank_input_at must be a step in \[0, 5\]"):
        MemoryRNN(vocab_size=4)(torch.zeros(2, 6, dtype=torch.long), blank_input_at=step)


def test_train_clips_the_gradient_norm():
    model = nn.Linear(1, 1, bias=False)
    with torch.no_grad():
        model.weight.fill_(0.0)

    def huge_loss(step):  # gradient 1e6 on the single weight
        return 1e6 * model(torch.ones(1, 1)).sum()

    seen = []
    original = torch.optim.Adam.step

    def spy(self, *args, **kwargs):
        seen.append(model.weight.grad.norm().item())
        return original(self, *args, **kwargs)

    torch.optim.Adam.step = spy
    try:
        train(model, huge_loss, steps=2, progress=False, max_grad_norm=1.0)
        train(model, huge_loss, steps=1, progress=False)
    finally:
        torch.optim.Adam.step = original
    assert seen[:2] == pytest.approx([1.0, 1.0]) and seen[2] == pytest.approx(1e6)


def test_train_with_rmsprop_and_a_schedule():
    model, loss_fn, _ = linear_problem()
    seen_lr = []

    def schedule(step):
        seen_lr.append(step)
        return 1.0 if step <= 150 else 0.1

    history = train(model, loss_fn, steps=200, lr=0.01, progress=False, optimizer="rmsprop",
                    schedule=schedule)
    assert seen_lr == list(range(1, 201))
    assert history["loss"][-1] < 0.01 * history["loss"][0]


def test_train_schedule_scales_the_learning_rate():
    # one SGD-like check: with the multiplier 0 the parameters do not move at all
    model, loss_fn, _ = linear_problem()
    before = model.weight.detach().clone()
    train(model, loss_fn, steps=3, lr=0.1, progress=False, schedule=lambda step: 0.0)
    torch.testing.assert_close(model.weight.detach(), before, rtol=0, atol=0)


def test_train_rejects_an_unknown_optimizer():
    model, loss_fn, _ = linear_problem()
    with pytest.raises(ValueError, match="optimizer must be 'adam' or 'rmsprop'"):
        train(model, loss_fn, steps=1, progress=False, optimizer="sgd")


# =========================================================================== AttentionRecall
def test_attention_recall_parts():
    model = AttentionRecall(5)
    assert [name for name, _ in model.named_parameters()] == [
        "query", "readout.weight", "readout.bias"]
    assert model.query.shape == (6,) and model.readout.weight.shape == (5, 5)
    assert torch.equal(model.query, torch.zeros(6))  # starts as a uniform lookup


@pytest.mark.parametrize("time_stamps", [True, False])
def test_attention_recall_memory_holds_every_input(time_stamps):
    model = AttentionRecall(4, time_stamps=time_stamps)
    symbols = torch.tensor([[2, 0, 2, 3, 1], [1, 1, 0, 3, 2]])
    keys, values = model.memory(symbols)
    assert keys.shape == (2, 5, 5) and values.shape == (2, 5, 4)
    assert torch.equal(values, F.one_hot(symbols, 4).float())  # value_t = x_t
    assert torch.equal(keys[..., :4], values)  # what was read...
    stamps = torch.arange(5.0) if time_stamps else torch.zeros(5)
    assert torch.equal(keys[..., 4], stamps.expand(2, 5))  # ...and when


def test_attention_recall_matches_hand_computation():
    torch.manual_seed(0)
    model = AttentionRecall(4)
    with torch.no_grad():
        model.query.copy_(torch.tensor([0.3, -0.2, 0.5, 0.1, -0.7]))
    symbols = torch.tensor([[2, 0, 2, 3, 1, 1], [3, 1, 0, 0, 2, 1]])
    logits, weights = model(symbols)
    assert logits.shape == (2, 4) and weights.shape == (2, 6)
    with torch.no_grad():
        for b in range(2):
            scores = torch.stack([model.query[symbols[b, t]] + model.query[4] * t
                                  for t in range(6)])  # q·[x_t ; t]
            alpha = scores.exp() / scores.exp().sum()
            c = sum(alpha[t] * F.one_hot(symbols[b, t], 4).float() for t in range(6))
            torch.testing.assert_close(weights[b], alpha)
            torch.testing.assert_close(logits[b], model.readout(c))


def test_attention_recall_starts_uniform():
    logits, weights = AttentionRecall(3)(torch.zeros(2, 8, dtype=torch.long))
    torch.testing.assert_close(weights, torch.full((2, 8), 1 / 8))


def test_attention_recall_time_weight_is_a_geometric_series():
    # q = [0 ; -a]: α_t ∝ e^(-a t), so the first step's weight is 1 / Σ_t e^(-a t): it hardly
    # changes with the length, because the later steps' weights form a geometric series.
    model = AttentionRecall(3)
    with torch.no_grad():
        model.query[-1] = -2.0
    for length in (2, 8, 100):
        _, weights = model(torch.zeros(1, length, dtype=torch.long))
        want = 1 / sum(torch.exp(torch.tensor(-2.0 * t)) for t in range(length))
        assert weights[0, 0].item() == pytest.approx(want.item(), rel=1e-5)
    assert weights[0, 0].item() == pytest.approx(1 - torch.exp(torch.tensor(-2.0)).item(), rel=1e-5)


def test_attention_recall_without_time_stamps_sees_a_set():
    torch.manual_seed(1)
    model = AttentionRecall(4, time_stamps=False)
    with torch.no_grad():
        model.query.copy_(torch.tensor([0.3, -0.2, 0.5, 0.1, -0.7]))
    symbols = torch.tensor([[2, 0, 2, 3, 1, 1]])
    shuffled = symbols[:, [5, 2, 0, 4, 1, 3]]
    torch.testing.assert_close(model(symbols)[0], model(shuffled)[0])  # order is invisible
    with_stamps = AttentionRecall(4)
    with_stamps.load_state_dict(model.state_dict())
    assert not torch.allclose(with_stamps(symbols)[0], with_stamps(shuffled)[0])


@pytest.mark.parametrize("bad", [torch.zeros(2, 3), torch.zeros(3, dtype=torch.long),
                                 torch.zeros(2, 0, dtype=torch.long)], ids=str)
def test_attention_recall_rejects_bad_symbols(bad):
    with pytest.raises(ValueError, match="symbols"):
        AttentionRecall(4)(bad)


def test_attention_recall_trained_on_8_recalls_at_64():
    torch.manual_seed(0)
    model = AttentionRecall(6)
    data = gen(1)

    def loss_fn(step):
        batch = recall_first_symbol(64, 8, 6, generator=data)
        return F.cross_entropy(model(batch.symbols)[0], batch.target)

    train(model, loss_fn, steps=300, lr=0.01, progress=False)
    test = recall_first_symbol(500, 64, 6, generator=gen(2))
    with torch.no_grad():
        logits, weights = model(test.symbols)
    assert (logits.argmax(-1) == test.target).float().mean() > 0.99
    assert weights[:, 0].min() > 0.8  # the time stamp, not the content, decides
    assert model.query[-1] < -1.5 and model.query[:-1].abs().max() < 0.3
