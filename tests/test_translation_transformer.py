"""course_utils.worlds.translation_transformer: the whole Transformer for chapter 02's task
(embeddings, the encoder and decoder stacks, the loss, greedy decoding with and without the
key/value cache), and greedy_decode / evaluate_by_length dispatching to it, on tiny seeded
models. Its blocks are tested in test_transformer_encoder.py and test_transformer_decoder.py.
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch_layers import CACHE_ERROR, DTYPES, tol

import course_utils.seq2seq as seq2seq
from course_utils.positional import sinusoidal_encoding
from course_utils.seq2seq import (
    Seq2Seq,
    Translation,
    evaluate_by_length,
    exact_and_token_accuracy,
    greedy_decode,
)
from course_utils.transformer import DecoderBlock, EncoderBlock, Transformer
from course_utils.translation import Batch, make_batch

torch.set_num_threads(1)


# ====================================================================== the Transformer
SOURCE_VOCAB, TARGET_VOCAB = 11, 13


def tiny_transformer(seed: int = 0, dtype=torch.float32, **sizes) -> Transformer:
    torch.manual_seed(seed)
    sizes = {"d_model": 16, "num_heads": 2, "d_ff": 32, "num_layers": 2, "max_length": 40,
             **sizes}
    return Transformer(SOURCE_VOCAB, TARGET_VOCAB, **sizes).to(dtype).eval()


def random_batch(seed: int = 0, batch: int = 4, n: int = 6, m: int = 5) -> Batch:
    """Source lengths n, 2, 4, 1 (padding) and targets with padding after <eos>."""
    g = torch.Generator().manual_seed(seed)
    source_mask = torch.arange(n) < torch.tensor([n, 2, 4, 1][:batch])[:, None]
    source = torch.randint(3, SOURCE_VOCAB, (batch, n), generator=g).masked_fill(~source_mask,
                                                                                 0)
    target_lengths = torch.tensor([m, 3, 1, 4][:batch])  # words + <eos>
    target_out = torch.randint(3, TARGET_VOCAB, (batch, m), generator=g)
    positions = torch.arange(m)
    target_out = torch.where(positions == target_lengths[:, None] - 1, 2, target_out)
    target_out = target_out.masked_fill(positions >= target_lengths[:, None], 0)
    target_in = torch.cat([torch.ones(batch, 1, dtype=torch.long), target_out[:, :-1]], 1)
    target_in = target_in.masked_fill(target_in == 2, 0)
    return Batch(source, source_mask, target_in, target_out)


def test_transformer_structure():
    model = Transformer(SOURCE_VOCAB, TARGET_VOCAB, d_model=16, num_heads=4, d_ff=24,
                        num_layers=3, max_length=20, dropout=0.1)
    assert len(model.encoder) == len(model.decoder) == 3
    assert all(isinstance(b, EncoderBlock) for b in model.encoder)
    assert all(isinstance(b, DecoderBlock) for b in model.decoder)
    assert model.decoder[0].self_attention.num_heads == 4
    assert model.decoder[0].ffn.linear1.out_features == 24
    assert (model.out.in_features, model.out.out_features) == (16, TARGET_VOCAB)
    assert model.source_embed.padding_idx == model.target_embed.padding_idx == 0
    assert torch.all(model.source_embed.weight[0] == 0)
    assert torch.all(model.target_embed.weight[0] == 0)
    assert model.positions.shape == (20, 16)
    assert "positions" in dict(model.named_buffers())
    torch.testing.assert_close(model.positions, sinusoidal_encoding(20, 16), rtol=0, atol=0)
    assert {m.p for m in model.modules() if isinstance(m, nn.Dropout)} == {0.1}


def test_embeddings_are_scaled_and_positioned():
    """The first encoder and decoder blocks read embedding · √d_model + PE[position]."""
    model = tiny_transformer(seed=1)
    batch = random_batch(seed=2)
    seen = {}
    model.encoder[0].register_forward_pre_hook(lambda m, args: seen.update(enc=args[0]))
    model.decoder[0].register_forward_pre_hook(lambda m, args: seen.update(dec=args[0]))
    with torch.no_grad():
        model(batch)
    pe = sinusoidal_encoding(40, 16)
    for key, tokens, table in (("enc", batch.source, model.source_embed),
                               ("dec", batch.target_in, model.target_embed)):
        expected = table.weight[tokens] * 4.0 + pe[:tokens.shape[1]]  # √16 = 4
        torch.testing.assert_close(seen[key], expected, rtol=1e-6, atol=1e-6)
    # Scaled by √d_model, an embedding's entries have variance about 1 (as PE's are ≤ 1).
    scaled = model.source_embed.weight[1:] * 4.0
    assert 0.5 < scaled.var().item() < 2.0


@pytest.mark.parametrize("dtype", DTYPES)
def test_forward_shapes_and_weights(dtype):
    model = tiny_transformer(seed=3, dtype=dtype)
    batch = random_batch(seed=4)
    with torch.no_grad():
        logits, weights = model(batch)
        memory = model.encode(batch.source, batch.source_mask)
        logits2, self_ws, cross_ws = model.decode(batch.target_in, memory, batch.source_mask)
    assert logits.shape == (4, 5, TARGET_VOCAB) and logits.dtype == dtype
    assert weights.shape == (4, 5, 6) and weights.dtype == dtype
    assert memory.shape == (4, 6, 16)
    assert len(self_ws) == len(cross_ws) == 2
    assert all(w.shape == (4, 2, 5, 5) for w in self_ws)
    assert all(w.shape == (4, 2, 5, 6) for w in cross_ws)
    assert torch.equal(logits, logits2)
    torch.testing.assert_close(weights, cross_ws[-1].mean(dim=1), rtol=0, atol=0)
    torch.testing.assert_close(weights.sum(-1), torch.ones(4, 5, dtype=dtype), **tol(dtype))
    assert torch.all(weights.masked_select(~batch.source_mask[:, None, :]) == 0)
    assert all(torch.all(w.triu(1) == 0) for w in self_ws)  # causal in every layer


def test_loss_is_cross_entropy_over_real_targets():
    model = tiny_transformer(seed=5, dtype=torch.float64)
    batch = random_batch(seed=6)
    logits, _ = model(batch)
    log_probs = torch.log_softmax(logits, dim=-1)
    real = [(i, t) for i in range(4) for t in range(5) if batch.target_out[i, t] != 0]
    assert len(real) < 4 * 5  # some padding to ignore
    expected = -sum(log_probs[i, t, batch.target_out[i, t]] for i, t in real) / len(real)
    torch.testing.assert_close(model.loss(batch), expected, rtol=1e-12, atol=1e-12)


def test_gradients_reach_every_parameter():
    model = tiny_transformer(seed=7).train()
    model.loss(random_batch(seed=8)).backward()
    for name, p in model.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all(), name
        assert p.grad.abs().sum() > 0, name
    assert torch.all(model.source_embed.weight.grad[0] == 0)  # <pad> is not learned


def test_transformer_learns_a_batch():
    model = tiny_transformer(seed=9).train()
    batch = random_batch(seed=10)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    first = model.loss(batch).item()
    for _ in range(60):
        optimizer.zero_grad()
        loss = model.loss(batch)
        loss.backward()
        optimizer.step()
    assert loss.item() < 0.1 * first


@pytest.mark.parametrize("j", [1, 3])
def test_transformer_is_causal(j):
    """Changing target word j changes no logits before position j (they predict words ≤ j)."""
    model = tiny_transformer(seed=11)
    batch = random_batch(seed=12)
    changed = batch.target_in.clone()
    changed[:, j] = torch.where(changed[:, j] == 5, 6, 5)
    with torch.no_grad():
        logits, _ = model(batch)
        logits_changed, _ = model(Batch(batch.source, batch.source_mask, changed,
                                        batch.target_out))
    assert torch.equal(logits[:, :j], logits_changed[:, :j])
    assert (logits[:, j] - logits_changed[:, j]).abs().amax(dim=-1).min() > 1e-4


def test_source_padding_is_ignored():
    """More padding columns in the source change nothing (they are masked)."""
    model = tiny_transformer(seed=13, dtype=torch.float64)
    batch = random_batch(seed=14)
    wider = Batch(F.pad(batch.source, (0, 3)), F.pad(batch.source_mask, (0, 3)),
                  batch.target_in, batch.target_out)
    with torch.no_grad():
        logits, weights = model(batch)
        logits_wider, weights_wider = model(wider)
    torch.testing.assert_close(logits_wider, logits, rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(weights_wider[..., :6], weights, rtol=1e-10, atol=1e-12)
    assert torch.all(weights_wider[..., 6:] == 0)


def test_transformer_rejects_bad_arguments():
    with pytest.raises(ValueError, match="d_model must be even"):
        Transformer(5, 5, d_model=15, num_heads=3)
    with pytest.raises(ValueError, match="not divisible by num_heads"):
        Transformer(5, 5, d_model=16, num_heads=3)
    with pytest.raises(ValueError, match="num_layers must be a positive int"):
        Transformer(5, 5, num_layers=0)
    with pytest.raises(ValueError, match="source_vocab must be a positive int"):
        Transformer(0, 5)
    model = tiny_transformer()
    batch = random_batch()
    with pytest.raises(TypeError, match="batch must be a course_utils.translation.Batch"):
        model((batch.source, batch.source_mask))
    with pytest.raises(TypeError, match="source must be a torch.long tensor"):
        model.encode(batch.source.float(), batch.source_mask)
    with pytest.raises(TypeError, match="source_mask must be a bool tensor"):
        model.encode(batch.source, batch.source_mask.long())
    with pytest.raises(ValueError, match=r"source_mask must have shape \(4, 6\)"):
        model.encode(batch.source, batch.source_mask[:, :5])
    with pytest.raises(ValueError, match="source holds ids outside"):
        model.encode(batch.source + SOURCE_VOCAB, batch.source_mask)
    long_source = torch.ones(1, 41, dtype=torch.long)
    with pytest.raises(ValueError, match="source has 41 positions.*max_length"):
        model.encode(long_source, long_source > 0)
    memory = model.encode(batch.source, batch.source_mask)
    with pytest.raises(ValueError, match="target_in and memory must have the same batch"):
        model.decode(batch.target_in[:2], memory, batch.source_mask)
    with pytest.raises(ValueError, match="memory must have shape"):
        model.decode(batch.target_in, memory[..., :8], batch.source_mask)
    with pytest.raises(ValueError, match="max_length = 41 exceeds"):
        model.translate(batch.source, batch.source_mask, max_length=41)
    with pytest.raises(ValueError, match="max_length must be a positive int"):
        model.translate(batch.source, batch.source_mask, max_length=0)
    with pytest.raises(ValueError, match="bos_id must be a token id"):
        model.translate(batch.source, batch.source_mask, max_length=3, bos_id=TARGET_VOCAB)


# ======================================================================= greedy decoding
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_translate_with_and_without_cache_agree(dtype, seed):
    model = tiny_transformer(seed=20 + seed, dtype=dtype)
    batch = random_batch(seed=30 + seed)
    for eos_id in (2, -1):  # stopping early, and running to max_length
        cached = model.translate(batch.source, batch.source_mask, max_length=12, eos_id=eos_id)
        recomputed = model.translate(batch.source, batch.source_mask, max_length=12,
                                     eos_id=eos_id, use_cache=False)
        assert torch.equal(cached.tokens, recomputed.tokens)
        steps = cached.tokens.shape[1]
        assert cached.logits.shape == (4, steps, TARGET_VOCAB)
        assert cached.weights.shape == (4, steps, 6)
        if eos_id == -1:
            assert steps == 12
        close = {"rtol": 0, "atol": CACHE_ERROR[dtype] * 10}
        torch.testing.assert_close(cached.logits, recomputed.logits, **close)
        torch.testing.assert_close(cached.weights, recomputed.weights, **close)


@pytest.mark.parametrize("use_cache", [True, False], ids=["cache", "no-cache"])
def test_translate_equals_teacher_forcing_on_its_own_words(use_cache):
    """Step t's logits are those of decode() on <bos> + the words produced before t, and the
    word is their argmax (<pad> after the end); the weights are the last block's cross-attention
    averaged over heads."""
    model = tiny_transformer(seed=40, dtype=torch.float64)
    batch = random_batch(seed=41)
    out = model.translate(batch.source, batch.source_mask, max_length=10, use_cache=use_cache)
    fed = torch.cat([torch.ones(4, 1, dtype=torch.long), out.tokens[:, :-1]], dim=1)
    with torch.no_grad():
        memory = model.encode(batch.source, batch.source_mask)
        logits, _, cross = model.decode(fed, memory, batch.source_mask)
    torch.testing.assert_close(out.logits, logits, rtol=0, atol=1e-12)
    torch.testing.assert_close(out.weights, cross[-1].mean(dim=1), rtol=0, atol=1e-12)
    done = torch.zeros(4, dtype=torch.bool)
    for t in range(out.tokens.shape[1]):
        expected = torch.where(done, 0, logits[:, t].argmax(dim=-1))
        assert torch.equal(out.tokens[:, t], expected)
        done |= expected == 2
    assert done.all() or out.tokens.shape[1] == 10


def biased_model(word: int) -> Transformer:
    """Whatever the input, the output layer says ``word``."""
    model = tiny_transformer(seed=50)
    with torch.no_grad():
        model.out.weight.zero_()
        model.out.bias.fill_(-5.0)
        model.out.bias[word] = 5.0
    return model


@pytest.mark.parametrize("use_cache", [True, False], ids=["cache", "no-cache"])
def test_translate_stops_when_eos_is_the_argmax(use_cache):
    batch = random_batch(seed=51)
    out = biased_model(2).translate(batch.source, batch.source_mask, max_length=10,
                                    use_cache=use_cache)
    assert torch.equal(out.tokens, torch.full((4, 1), 2))
    assert out.logits.shape == (4, 1, TARGET_VOCAB) and out.weights.shape == (4, 1, 6)


@pytest.mark.parametrize("use_cache", [True, False], ids=["cache", "no-cache"])
def test_translate_without_eos_runs_to_max_length(use_cache):
    batch = random_batch(seed=52)
    out = biased_model(7).translate(batch.source, batch.source_mask, max_length=6,
                                    use_cache=use_cache)
    assert torch.equal(out.tokens, torch.full((4, 6), 7))


class ScriptedOutput(nn.Module):
    """An output layer that says ``script[t][i]`` for sentence i at step t (at the last
    position it is given, which is the new one with or without the cache)."""

    def __init__(self, script: list[list[int]], vocab: int) -> None:
        super().__init__()
        self.script, self.vocab, self.calls = script, vocab, 0

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        logits = torch.full((*h.shape[:-1], self.vocab), -1.0, dtype=h.dtype)
        rows = torch.arange(h.shape[0])
        logits[rows, -1, torch.tensor(self.script[self.calls])] = 1.0
        self.calls += 1
        return logits


@pytest.mark.parametrize("use_cache", [True, False], ids=["cache", "no-cache"])
def test_translate_pads_after_eos_and_feeds_back_its_own_words(use_cache):
    model = tiny_transformer(seed=53)
    script = [[5, 2, 7, 8], [6, 9, 2, 8], [2, 9, 9, 8], [9, 9, 9, 2], [9, 9, 9, 9]]
    model.out = ScriptedOutput(script, TARGET_VOCAB)
    fed = []
    model.target_embed.register_forward_hook(lambda m, args, out: fed.append(args[0][:, -1]))
    batch = random_batch(seed=54)
    out = model.translate(batch.source, batch.source_mask, max_length=20, use_cache=use_cache)
    assert torch.equal(out.tokens, torch.tensor([[5, 6, 2, 0],
                                                 [2, 0, 0, 0],
                                                 [7, 2, 0, 0],
                                                 [8, 8, 8, 2]]))
    assert model.out.calls == len(fed) == 4  # stopped once the last sentence ended
    assert torch.equal(fed[0], torch.ones(4, dtype=torch.long))  # <bos>
    for t in range(1, 4):  # its own previous word, <pad> after the end
        assert torch.equal(fed[t], out.tokens[:, t - 1])


def test_translate_leaves_the_mode_alone_and_greedy_decode_dispatches():
    model = tiny_transformer(seed=55).train()
    batch = random_batch(seed=56)
    out = model.translate(batch.source, batch.source_mask, max_length=8)
    assert model.training
    decoded = greedy_decode(model, batch.source, batch.source_mask, max_length=8)
    assert not model.training  # greedy_decode evaluates in eval mode, as for Seq2Seq
    assert isinstance(decoded, Translation)
    assert torch.equal(decoded.tokens, out.tokens)
    torch.testing.assert_close(decoded.logits, out.logits, rtol=0, atol=0)


def test_greedy_decode_of_a_seq2seq_is_unchanged(task):
    """A Seq2Seq still decodes with its own decoder (no logits kept)."""
    torch.manual_seed(0)
    model = Seq2Seq(len(task.source_vocab), len(task.target_vocab), "dot", embed_size=8,
                    hidden_size=8)
    batch = make_batch([(("ka", "lo"), task.translate(("ka", "lo")))], task)
    out = greedy_decode(model, batch.source, batch.source_mask, max_length=5)
    with torch.no_grad():
        states, final = model.encoder(batch.source, batch.source_mask)
        ref = seq2seq.decode_greedy(model.decoder, states, final, batch.source_mask, 5)
    assert out.logits is None
    assert torch.equal(out.tokens, ref.tokens) and torch.equal(out.weights, ref.weights)


# ==================================================================== evaluate_by_length
def test_evaluate_by_length_on_a_tiny_transformer(task):
    pairs = task.split(n_train=10, n_test=30, train_lengths=(3, 6), long_lengths=(7, 8),
                       n_long=6, seed=0)
    pairs = pairs["test"] + pairs["long"]
    torch.manual_seed(0)
    model = Transformer(len(task.source_vocab), len(task.target_vocab), d_model=16,
                        num_heads=2, d_ff=32, num_layers=1, max_length=20)
    buckets = [(3, 4), (5, 6), (7, 8), (20, 30)]
    assert list(evaluate_by_length(model, task, pairs, buckets, batch_size=8)) == [
        "3–4", "5–6", "7–8"]  # in batches of 8 (en dash; the empty bucket is left out)
    results = evaluate_by_length(model, task, pairs, buckets)  # each bucket in one batch
    assert list(results) == ["3–4", "5–6", "7–8"]
    for (lo, hi), (exact, token) in zip(buckets, results.values(), strict=False):
        chosen = [p for p in pairs if lo <= len(p[0]) <= hi]
        batch = make_batch(chosen, task)
        out = model.translate(batch.source, batch.source_mask,
                              max_length=batch.target_out.shape[1] + 5)
        predicted = [task.target_vocab.decode(row) for row in out.tokens]
        expected = exact_and_token_accuracy(predicted, [t for _, t in chosen])
        assert (exact, token) == pytest.approx(expected)
    # A model that always says <eos> gets every non-empty sentence wrong.
    with torch.no_grad():
        model.out.weight.zero_()
        model.out.bias.fill_(-5.0)
        model.out.bias[task.target_vocab.eos_id] = 5.0
    assert set(evaluate_by_length(model, task, pairs, buckets).values()) == {(0.0, 0.0)}
