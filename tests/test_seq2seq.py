"""course_utils.seq2seq and course_utils.checkpoints on tiny seeded models (embed 8, hidden 8)."""

from __future__ import annotations

import hashlib
import math

import pytest
import torch
import torch.nn.functional as F
from safetensors.torch import save_file

import course_utils.worlds.seq2seq as seq2seq
from course_utils.checkpoints import (
    MANIFEST,
    checkpoint_dir,
    load_checkpoint,
    save_checkpoint,
    sha256,
)
from course_utils.seq2seq import (
    ATTENTION_KINDS,
    Decoder,
    Encoder,
    Seq2Seq,
    Translation,
    evaluate_by_length,
    exact_and_token_accuracy,
    greedy_decode,
    train_translator,
)
from course_utils.translation import CHAPTER_SPLIT, make_batch

SMALL = {"n_train": 200, "n_test": 40, "train_lengths": (3, 6), "long_lengths": (7, 8),
         "n_long": 10, "seed": 0}


@pytest.fixture(scope="module")
def data(task):
    return task.split(**SMALL)


@pytest.fixture
def batch(task):
    """Four pairs of source lengths 2, 5, 3, 1: padding in both source and target."""
    sources = [("ka", "lo"), ("mi", "nu", "pe", "ra", "si"), ("tu", "va", "ka"), ("xo",)]
    return make_batch([(s, task.translate(s)) for s in sources], task)


def tiny(task, attention: str, seed: int = 0) -> Seq2Seq:
    torch.manual_seed(seed)
    return Seq2Seq(len(task.source_vocab), len(task.target_vocab), attention,
                   embed_size=8, hidden_size=8, attention_size=8)


def states_and_mask(seed: int = 0, batch: int = 3, n: int = 5, d: int = 8):
    """Random encoder states, *non-zero* at padding too, so that a zero weight there comes
    from the mask and not from the states."""
    g = torch.Generator().manual_seed(seed)
    states = torch.randn(batch, n, d, generator=g)
    lengths = torch.tensor([n, 2, 4][:batch])
    mask = torch.arange(n) < lengths[:, None]
    z = torch.randn(batch, d, generator=g)
    final = torch.randn(batch, d, generator=g)
    return z, states, mask, final


# ================================================================================== Encoder
def test_encoder_shapes(batch):
    torch.manual_seed(0)
    encoder = Encoder(23, 8, 8)
    states, final = encoder(batch.source, batch.source_mask)
    assert states.shape == (4, 5, 16)
    assert final.shape == (4, 16)


def test_encoder_states_are_zero_at_padding(batch):
    torch.manual_seed(0)
    states, _ = Encoder(23, 8, 8)(batch.source, batch.source_mask)
    assert (states[~batch.source_mask] == 0).all()
    assert (states[batch.source_mask].abs().sum(dim=-1) > 0).all()


def test_encoder_final_is_last_forward_and_first_backward_state(batch):
    torch.manual_seed(0)
    states, final = Encoder(23, 8, 8)(batch.source, batch.source_mask)
    for i, length in enumerate(batch.source_lengths.tolist()):
        torch.testing.assert_close(final[i, :8], states[i, length - 1, :8])  # forward →
        torch.testing.assert_close(final[i, 8:], states[i, 0, 8:])  # ← backward


def test_encoding_does_not_depend_on_padding(task):
    """The same sentence alone and next to a longer one (so padded): identical states on its
    words and an identical final state. Without packing, the backward GRU would start on the
    padding and change every state."""
    torch.manual_seed(0)
    encoder = Encoder(len(task.source_vocab), 8, 8)
    short = ("ka", "lo", "mi")
    longer = ("nu", "pe", "ra", "si", "tu", "va", "xo")
    alone = make_batch([(short, task.translate(short))], task)
    padded = make_batch([(longer, task.translate(longer)), (short, task.translate(short))],
                        task)
    states_alone, final_alone = encoder(alone.source, alone.source_mask)
    states_padded, final_padded = encoder(padded.source, padded.source_mask)
    assert padded.source.shape == (2, 7)
    torch.testing.assert_close(states_padded[1, :3], states_alone[0], atol=1e-5, rtol=0)
    torch.testing.assert_close(final_padded[1], final_alone[0], atol=1e-5, rtol=0)


def test_encoder_rejects_an_empty_sentence():
    encoder = Encoder(10, 8, 8)
    source = torch.tensor([[3, 4], [0, 0]])
    with pytest.raises(ValueError, match="at least one word"):
        encoder(source, source != 0)


# ================================================================================== Decoder
def test_decoder_rejects_an_unknown_attention_kind():
    with pytest.raises(ValueError, match="attention must be one of"):
        Decoder(10, 8, 8, 8, attention="multiplicative")


def test_decoder_dot_attention_needs_equal_sizes():
    with pytest.raises(ValueError, match="hidden_size == key_size"):
        Decoder(10, 8, 16, 8, attention="dot")
    Decoder(10, 8, 16, 8, attention="additive")  # fine for the other kinds
    Decoder(10, 8, 16, 8, attention="none")


def test_attend_without_attention_returns_the_final_state():
    torch.manual_seed(0)
    decoder = Decoder(10, 8, 8, 8, attention="none")
    z, states, mask, final = states_and_mask()
    c, alpha = decoder.attend(z, states, mask, final)
    assert alpha is None
    assert torch.equal(c, final)


@pytest.mark.parametrize("kind", ["additive", "dot"])
def test_attend_weights_and_context(kind):
    torch.manual_seed(0)
    decoder = Decoder(10, 8, 8, 8, attention=kind, attention_size=8)
    z, states, mask, final = states_and_mask()
    c, alpha = decoder.attend(z, states, mask, final)
    assert alpha.shape == (3, 5) and c.shape == (3, 8)
    torch.testing.assert_close(alpha.sum(dim=-1), torch.ones(3))
    assert (alpha[~mask] == 0).all()  # exactly zero on padding
    assert (alpha[mask] > 0).all()
    torch.testing.assert_close(c, torch.einsum("bn,bnd->bd", alpha, states))
    assert not torch.allclose(c, final)


def test_attend_dot_weights_by_hand():
    torch.manual_seed(0)
    decoder = Decoder(10, 8, 8, 8, attention="dot")
    z, states, mask, final = states_and_mask(seed=4)
    _, alpha = decoder.attend(z, states, mask, final)
    for i in range(3):
        k = int(mask[i].sum())
        scores = states[i, :k] @ z[i] / math.sqrt(8)
        expected = torch.cat([torch.softmax(scores, dim=0), torch.zeros(5 - k)])
        torch.testing.assert_close(alpha[i], expected)


def test_attend_additive_weights_by_hand():
    torch.manual_seed(0)
    decoder = Decoder(10, 8, 8, 8, attention="additive", attention_size=6)
    z, states, mask, final = states_and_mask(seed=5)
    _, alpha = decoder.attend(z, states, mask, final)
    att = decoder.additive
    with torch.no_grad():
        for i in range(3):
            k = int(mask[i].sum())
            hidden = torch.tanh(att.w_query(z[i]) + att.w_key(states[i, :k]))  # (k, 6)
            scores = att.v(hidden).squeeze(-1)  # vᵀ tanh(W_q z + W_k h)
            expected = torch.cat([torch.softmax(scores, dim=0), torch.zeros(5 - k)])
            torch.testing.assert_close(alpha[i], expected)


# ================================================================================== Seq2Seq
@pytest.mark.parametrize("kind", ATTENTION_KINDS)
def test_forward_shapes_and_weights(task, batch, kind):
    model = tiny(task, kind)
    assert model.attention == kind
    logits, weights = model(batch)
    assert logits.shape == (4, 6, len(task.target_vocab))
    assert weights.shape == (4, 6, 5)
    if kind == "none":
        assert (weights == 0).all()
    else:
        torch.testing.assert_close(weights.sum(dim=-1), torch.ones(4, 6))
        assert (weights.transpose(1, 2)[~batch.source_mask] == 0).all()


@pytest.mark.parametrize("kind", ATTENTION_KINDS)
def test_loss_is_cross_entropy_over_real_targets(task, batch, kind):
    model = tiny(task, kind)
    logits, _ = model(batch)
    real = batch.target_out != 0
    assert not real.all()  # the batch has padded targets
    by_hand = F.cross_entropy(logits[real], batch.target_out[real])
    torch.testing.assert_close(model.loss(batch), by_hand)
    everything = F.cross_entropy(logits.flatten(0, 1), batch.target_out.flatten())
    assert not torch.allclose(by_hand, everything)  # padding would change it


def test_loss_ignores_the_logits_at_padded_targets(task, batch, monkeypatch):
    model = tiny(task, "additive")
    logits, weights = model(batch)
    loss = model.loss(batch)
    changed = logits.clone()
    changed[batch.target_out == 0] = torch.randn_like(changed[batch.target_out == 0]) * 10
    monkeypatch.setattr(Seq2Seq, "forward", lambda self, b: (changed, weights))
    torch.testing.assert_close(model.loss(batch), loss)
    changed[0, 0] += torch.arange(changed.shape[-1], dtype=changed.dtype)  # a real position
    assert not torch.allclose(model.loss(batch), loss)


@pytest.mark.parametrize("kind", ATTENTION_KINDS)
def test_gradients_reach_encoder_and_decoder(task, batch, kind):
    model = tiny(task, kind)
    model.loss(batch).backward()
    for name, p in model.named_parameters():
        assert p.grad is not None, name
        assert p.grad.abs().sum() > 0, name
    assert any(n.startswith("encoder.") for n, _ in model.named_parameters())
    if kind == "additive":
        assert model.decoder.additive.v.weight.grad.abs().sum() > 0


def test_teacher_forcing_reads_the_target(task, batch):
    """forward uses batch.target_in: another previous word changes the later logits."""
    model = tiny(task, "additive")
    logits, _ = model(batch)
    changed_in = batch.target_in.clone()
    changed_in[:, 1] = 3
    other = type(batch)(batch.source, batch.source_mask, changed_in, batch.target_out)
    logits_other, _ = model(other)
    torch.testing.assert_close(logits_other[:, 0], logits[:, 0])
    assert not torch.allclose(logits_other[:, 1], logits[:, 1])


# ============================================================================ greedy_decode
def fixed_word_model(task, kind: str, word: int) -> Seq2Seq:
    """Whatever the input, the output layer says ``word``."""
    model = tiny(task, kind)
    with torch.no_grad():
        model.decoder.out.weight.zero_()
        model.decoder.out.bias.fill_(-5.0)
        model.decoder.out.bias[word] = 5.0
    return model


@pytest.mark.parametrize("kind", ATTENTION_KINDS)
def test_greedy_decode_shapes(task, batch, kind):
    model = tiny(task, kind)
    model.train()
    out = greedy_decode(model, batch.source, batch.source_mask, max_length=7)
    assert isinstance(out, Translation)
    m = out.tokens.shape[1]
    assert 1 <= m <= 7
    assert out.tokens.shape == (4, m) and out.tokens.dtype == torch.int64
    assert out.weights.shape == (4, m, 5)
    assert not model.training
    if kind == "none":
        assert (out.weights == 0).all()
    else:
        torch.testing.assert_close(out.weights.sum(dim=-1), torch.ones(4, m))


@pytest.mark.parametrize("kind", ATTENTION_KINDS)
def test_greedy_decode_always_the_fixed_word(task, batch, kind):
    word = task.target_vocab.stoi["owl"]
    out = greedy_decode(fixed_word_model(task, kind, word), batch.source, batch.source_mask,
                        max_length=6)
    assert out.tokens.shape == (4, 6)  # never <eos>: runs to max_length
    assert (out.tokens == word).all()


def test_greedy_decode_stops_when_every_sentence_ended(task, batch):
    out = greedy_decode(fixed_word_model(task, "dot", 2), batch.source, batch.source_mask,
                        max_length=10)
    assert torch.equal(out.tokens, torch.full((4, 1), 2))


def scripted_step(script: list[list[int]], vocab: int, seen: list):
    """A decoder.step that outputs ``script[t][i]`` for sentence i at step t and records the
    previous words it was given."""
    def step(previous_word, z, states, source_mask, final, projected_keys=None):
        t = len(seen)
        seen.append(previous_word.clone())
        logits = torch.full((len(previous_word), vocab), -1.0)
        logits[torch.arange(len(previous_word)), torch.tensor(script[t])] = 1.0
        return logits, z, None
    return step


def test_greedy_decode_feeds_back_its_own_words_and_pads_after_eos(task, batch, monkeypatch):
    model = tiny(task, "none")
    script = [[5, 2, 7, 8], [6, 9, 2, 8], [2, 9, 9, 8], [9, 9, 9, 2], [9, 9, 9, 9]]
    seen: list = []
    monkeypatch.setattr(model.decoder, "step", scripted_step(script, 23, seen))
    out = greedy_decode(model, batch.source, batch.source_mask, max_length=20)
    assert torch.equal(out.tokens, torch.tensor([[5, 6, 2, 0],
                                                 [2, 0, 0, 0],
                                                 [7, 2, 0, 0],
                                                 [8, 8, 8, 2]]))
    assert len(seen) == 4  # stopped after the step in which the last sentence ended
    assert torch.equal(seen[0], torch.full((4,), 1))  # <bos>
    for t in range(1, 4):  # its own previous output, never a target
        assert torch.equal(seen[t], out.tokens[:, t - 1])


def test_greedy_decode_respects_max_length(task, batch, monkeypatch):
    model = tiny(task, "none")
    seen: list = []
    monkeypatch.setattr(model.decoder, "step", scripted_step([[9] * 4] * 10, 23, seen))
    out = greedy_decode(model, batch.source, batch.source_mask, max_length=3)
    assert out.tokens.shape == (4, 3) and len(seen) == 3


def test_greedy_decode_matches_a_hand_written_loop(task, batch):
    model = tiny(task, "additive", seed=3)
    out = greedy_decode(model, batch.source, batch.source_mask, max_length=6)
    with torch.no_grad():
        states, final = model.encoder(batch.source, batch.source_mask)
        z = model.decoder.initial_state(final)
        word = torch.ones(4, dtype=torch.long)
        done = torch.zeros(4, dtype=torch.bool)
        for t in range(out.tokens.shape[1]):
            logits, z, _ = model.decoder.step(word, z, states, batch.source_mask, final)
            word = torch.where(done, 0, logits.argmax(dim=-1))
            assert torch.equal(out.tokens[:, t], word)
            done |= word == 2


# ================================================================ exact_and_token_accuracy
def test_accuracy_perfect():
    refs = [["a", "b"], ["c"], ["d", "e", "f"]]
    assert exact_and_token_accuracy([list(r) for r in refs], refs) == (1.0, 1.0)


@pytest.mark.parametrize("predicted, reference, expected", [
    ([["a"]], [["a", "b"]], (0.0, 0.5)),  # a missing word is wrong
    ([["a", "b", "c"]], [["a", "b"]], (0.0, 2 / 3)),  # so is an extra one
    ([["b", "a"]], [["a", "b"]], (0.0, 0.0)),  # position by position
    ([[]], [["a", "b"]], (0.0, 0.0)),
    ([["a", "b"], ["x", "d"]], [["a", "b"], ["c", "d"]], (0.5, 0.75)),
    ([["a"], ["x", "y", "z"]], [["a"], ["z"]], (0.5, 0.25)),  # pooled over tokens: 1 of 4
])
def test_accuracy_counts_missing_and_extra_words(predicted, reference, expected):
    exact, token = exact_and_token_accuracy(predicted, reference)
    assert exact == pytest.approx(expected[0]) and token == pytest.approx(expected[1])


def test_accuracy_accepts_tuples():
    assert exact_and_token_accuracy([("a", "b")], [["a", "b"]]) == (1.0, 1.0)


@pytest.mark.parametrize("predicted, reference", [
    ([["a"]], [["a"], ["b"]]), ([["a"], ["b"]], [["a"]]), ([], []),
])
def test_accuracy_rejects_unequal_or_empty_lists(predicted, reference):
    with pytest.raises(ValueError, match="equally long and non-empty"):
        exact_and_token_accuracy(predicted, reference)


def test_accuracy_of_empty_sentences():
    """No tokens on either side: nothing to get wrong (and no ZeroDivisionError)."""
    assert exact_and_token_accuracy([[]], [[]]) == (1.0, 1.0)
    assert exact_and_token_accuracy([[], []], [[], ["a"]]) == (0.5, 0.0)


# ====================================================================== evaluate_by_length
def test_evaluate_by_length_buckets(task, data):
    model = tiny(task, "additive")
    pairs = data["test"] + data["long"]
    results = evaluate_by_length(model, task, pairs, [(3, 4), (5, 6), (7, 8), (20, 30)],
                                 batch_size=16)
    assert list(results) == ["3–4", "5–6", "7–8"]  # en dash; the empty bucket is left out
    for exact, token in results.values():
        assert 0.0 <= exact <= 1.0 and 0.0 <= token <= 1.0


def oracle(task, cut_from: int | None = None):
    """A greedy_decode stand-in that translates correctly (dropping the last word of
    sentences with at least ``cut_from`` words)."""
    calls = []

    def decode(model, source, source_mask, max_length, bos_id=1, eos_id=2):
        calls.append(len(source))
        tokens = torch.zeros(len(source), max_length, dtype=torch.long)
        for i, row in enumerate(source):
            words = task.translate(task.source_vocab.decode(row))
            if cut_from is not None and len(words) >= cut_from:
                words = words[:-1]
            ids = task.target_vocab.encode(words)
            tokens[i, :len(ids)] = torch.tensor(ids)
        return Translation(tokens, torch.zeros(len(source), max_length, source.shape[1]))
    return decode, calls


def test_evaluate_by_length_scores_per_bucket(task, data, monkeypatch):
    decode, calls = oracle(task, cut_from=5)
    monkeypatch.setattr(seq2seq, "greedy_decode", decode)
    pairs = data["test"]
    results = evaluate_by_length(tiny(task, "none"), task, pairs, [(3, 4), (5, 5), (6, 6)],
                                 batch_size=7)
    assert results["3–4"] == (1.0, 1.0)
    assert results["5–5"] == (0.0, pytest.approx(4 / 5))
    assert results["6–6"] == (0.0, pytest.approx(5 / 6))
    counts = [sum(lo <= len(s) <= hi for s, _ in pairs) for lo, hi in [(3, 4), (5, 5), (6, 6)]]
    assert sum(calls) == sum(counts)  # every pair once, bounds inclusive
    assert max(calls) <= 7


# ======================================================================= train_translator
@pytest.mark.usefixtures("_restore_determinism")
def test_train_translator_tiny_run_is_deterministic(task, data):
    runs = [train_translator("dot", task, data["train"], steps=30, batch_size=8, seed=1,
                             progress=False, embed_size=8, hidden_size=8) for _ in range(2)]
    (model, history), (model_again, history_again) = runs
    assert isinstance(model, Seq2Seq) and model.attention == "dot"
    assert model.encoder.rnn.hidden_size == 8  # the sizes reach the model
    assert not model.training
    assert len(history["loss"]) == 30
    assert all(math.isfinite(x) for x in history["loss"])
    assert history["loss"] == history_again["loss"]
    for (name, p), (_, q) in zip(model.state_dict().items(),
                                 model_again.state_dict().items(), strict=True):
        assert torch.equal(p, q), name
    assert sum(history["loss"][-5:]) < sum(history["loss"][:5])  # it learns something


@pytest.mark.usefixtures("_restore_determinism")
def test_train_translator_seed_matters(task, data):
    _, a = train_translator("none", task, data["train"], steps=3, batch_size=8, seed=0,
                            progress=False)
    _, b = train_translator("none", task, data["train"], steps=3, batch_size=8, seed=1,
                            progress=False)
    assert a["loss"] != b["loss"]


# ============================================================================= checkpoints
def test_save_checkpoint_writes_file_and_manifest(task, tmp_path):
    path = tmp_path / "ch02" / "additive.safetensors"
    digest = save_checkpoint(tiny(task, "additive"), path)
    assert path.is_file()
    assert digest == hashlib.sha256(path.read_bytes()).hexdigest() == sha256(path)
    assert len(digest) == 64
    manifest = (path.parent / MANIFEST).read_text()
    assert manifest == f"{digest}  additive.safetensors\n"


def test_load_checkpoint_restores_the_weights(task, tmp_path):
    path = tmp_path / "dot.safetensors"
    saved = tiny(task, "dot", seed=0)
    save_checkpoint(saved, path)
    fresh = tiny(task, "dot", seed=1)
    assert not torch.equal(fresh.decoder.out.weight, saved.decoder.out.weight)
    assert load_checkpoint(fresh, path) is fresh
    for (name, p), (_, q) in zip(saved.state_dict().items(), fresh.state_dict().items(),
                                 strict=True):
        assert torch.equal(p, q), name


def test_load_checkpoint_rejects_a_changed_byte(task, tmp_path):
    path = tmp_path / "none.safetensors"
    save_checkpoint(tiny(task, "none", seed=0), path)
    data = bytearray(path.read_bytes())
    data[-3] ^= 0x01  # inside the tensor data: the file would still load
    path.write_bytes(bytes(data))
    fresh = tiny(task, "none", seed=1)
    before = {k: v.clone() for k, v in fresh.state_dict().items()}
    with pytest.raises(ValueError, match="SHA-256"):
        load_checkpoint(fresh, path)
    for name, value in fresh.state_dict().items():
        assert torch.equal(value, before[name]), name  # nothing loaded


def test_load_checkpoint_needs_a_manifest_entry(task, tmp_path):
    model = tiny(task, "none")
    lone = tmp_path / "lone.safetensors"
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(lone))
    with pytest.raises(FileNotFoundError, match="no entry"):  # no manifest at all
        load_checkpoint(model, lone)
    save_checkpoint(model, tmp_path / "other.safetensors")
    with pytest.raises(FileNotFoundError, match="no entry"):  # a manifest without it
        load_checkpoint(model, lone)


def test_load_checkpoint_of_a_missing_file(task, tmp_path):
    with pytest.raises(FileNotFoundError, match="no checkpoint"):
        load_checkpoint(tiny(task, "none"), tmp_path / "absent.safetensors")


def test_manifest_keeps_every_entry_sorted(task, tmp_path):
    digest_b = save_checkpoint(tiny(task, "none", seed=0), tmp_path / "b.safetensors")
    digest_a = save_checkpoint(tiny(task, "none", seed=1), tmp_path / "a.safetensors")
    assert digest_a != digest_b
    lines = (tmp_path / MANIFEST).read_text().splitlines()
    assert lines == [f"{digest_a}  a.safetensors", f"{digest_b}  b.safetensors"]
    # saving again replaces the entry instead of adding one
    digest_b2 = save_checkpoint(tiny(task, "none", seed=2), tmp_path / "b.safetensors")
    lines = (tmp_path / MANIFEST).read_text().splitlines()
    assert lines == [f"{digest_a}  a.safetensors", f"{digest_b2}  b.safetensors"]
    load_checkpoint(tiny(task, "none"), tmp_path / "a.safetensors")  # both still verify
    load_checkpoint(tiny(task, "none"), tmp_path / "b.safetensors")


def test_checkpoint_name_with_a_space(task, tmp_path):
    """The manifest line '<sha>  my model.safetensors' is read back whole."""
    saved = tiny(task, "none", seed=0)
    digest = save_checkpoint(saved, tmp_path / "my model.safetensors")
    save_checkpoint(tiny(task, "none", seed=1), tmp_path / "other.safetensors")
    lines = (tmp_path / MANIFEST).read_text().splitlines()
    assert lines[0] == f"{digest}  my model.safetensors"
    fresh = load_checkpoint(tiny(task, "none", seed=2), tmp_path / "my model.safetensors")
    assert torch.equal(fresh.decoder.out.weight, saved.decoder.out.weight)


def test_checkpoint_dir_is_inside_the_course():
    folder = checkpoint_dir("02_seq2seq")
    assert folder.parts[-2:] == ("checkpoints", "02_seq2seq")
    assert (folder.parent.parent / "course_utils").is_dir()


# ================================================== decode_teacher_forced and decode_greedy
torch.set_num_threads(1)


@pytest.mark.parametrize("kind", ATTENTION_KINDS)
def test_decode_functions_match_the_model(task, batch, kind):
    model = tiny(task, kind, seed=4)
    decoder = model.decoder
    with torch.no_grad():
        states, final = model.encoder(batch.source, batch.source_mask)
        logits, weights = seq2seq.decode_teacher_forced(decoder, states, final,
                                                        batch.source_mask, batch.target_in)
        model_logits, model_weights = model(batch)
    torch.testing.assert_close(logits, model_logits, rtol=0, atol=0)
    torch.testing.assert_close(weights, model_weights, rtol=0, atol=0)
    # The same as the loop Seq2Seq.forward used to hold, written out here.
    with torch.no_grad():
        z = decoder.initial_state(final)
        for t in range(batch.target_in.shape[1]):
            step_logits, z, alpha = decoder.step(batch.target_in[:, t], z, states,
                                                 batch.source_mask, final)
            torch.testing.assert_close(logits[:, t], step_logits)
            torch.testing.assert_close(weights[:, t], torch.zeros(4, 5) if alpha is None
                                       else alpha)
    out = seq2seq.decode_greedy(decoder, states, final, batch.source_mask, max_length=6)
    expected = greedy_decode(model, batch.source, batch.source_mask, max_length=6)
    assert isinstance(out, Translation)
    assert torch.equal(out.tokens, expected.tokens)
    torch.testing.assert_close(out.weights, expected.weights, rtol=0, atol=0)


def test_decode_functions_on_states_without_an_encoder():
    """The captioner's use: states that are not a sentence (e.g. 16 image regions), every
    one of them attendable, and a decoder built on its own."""
    torch.manual_seed(0)
    decoder = Decoder(11, 4, 6, 5, "additive", attention_size=4)
    g = torch.Generator().manual_seed(1)
    states, final = torch.randn(2, 16, 6, generator=g), torch.randn(2, 6, generator=g)
    mask = torch.ones(2, 16, dtype=torch.bool)
    target_in = torch.tensor([[1, 3, 4], [1, 5, 0]])
    logits, weights = seq2seq.decode_teacher_forced(decoder, states, final, mask, target_in)
    assert logits.shape == (2, 3, 11) and weights.shape == (2, 3, 16)
    torch.testing.assert_close(weights.sum(-1), torch.ones(2, 3))
    out = seq2seq.decode_greedy(decoder, states, final, mask, max_length=4, bos_id=3, eos_id=4)
    assert out.tokens.shape[0] == 2 and 1 <= out.tokens.shape[1] <= 4
    # Its first step reads bos_id = 3: the teacher-forced first step from 3 gives the same.
    first, _ = seq2seq.decode_teacher_forced(decoder, states, final, mask,
                                             torch.full((2, 1), 3))
    assert torch.equal(out.tokens[:, 0], first[:, 0].argmax(-1))


# ========================================== the keys projected once per sentence, not per step
def per_step_teacher_forced(decoder, states, final, mask, target_in):
    """The loop as it was before the keys were projected once: every step projects them."""
    z = decoder.initial_state(final)
    logits, weights = [], []
    for t in range(target_in.shape[1]):
        step_logits, z, alpha = decoder.step(target_in[:, t], z, states, mask, final)
        logits.append(step_logits)
        weights.append(alpha if alpha is not None else torch.zeros_like(mask, dtype=z.dtype))
    return torch.stack(logits, dim=1), torch.stack(weights, dim=1)


@torch.no_grad()
def per_step_greedy(decoder, states, final, mask, max_length, bos_id=1, eos_id=2):
    z = decoder.initial_state(final)
    word = torch.full((states.shape[0],), bos_id, dtype=torch.long)
    done = torch.zeros(states.shape[0], dtype=torch.bool)
    tokens, weights = [], []
    for _ in range(max_length):
        logits, z, alpha = decoder.step(word, z, states, mask, final)
        word = logits.argmax(dim=-1).masked_fill(done, 0)
        tokens.append(word)
        weights.append(alpha if alpha is not None else torch.zeros_like(mask, dtype=z.dtype))
        done |= word == eos_id
        if done.all():
            break
    return torch.stack(tokens, dim=1), torch.stack(weights, dim=1)


def test_decoder_project_keys_per_kind():
    z, states, mask, final = states_and_mask()
    for kind in ATTENTION_KINDS:
        torch.manual_seed(0)
        decoder = Decoder(10, 8, 8, 8, attention=kind, attention_size=6)
        projected = decoder.project_keys(states)
        if kind == "additive":
            assert torch.equal(projected, decoder.additive.w_key(states))  # (3, 5, 6)
            assert projected.shape == (3, 5, 6)
        else:
            assert projected is None  # nothing to precompute
        c, alpha = decoder.attend(z, states, mask, final, projected_keys=projected)
        c_ref, alpha_ref = decoder.attend(z, states, mask, final)
        assert torch.equal(c, c_ref)
        assert (alpha is None and alpha_ref is None) or torch.equal(alpha, alpha_ref)


@pytest.mark.parametrize("kind", ATTENTION_KINDS)
def test_keys_projected_once_give_the_per_step_results_exactly(task, batch, kind):
    """Teacher-forced and greedy decoding, keys projected once: logits, weights and words
    bit-identical to projecting them again at every step."""
    model = tiny(task, kind, seed=6)
    with torch.no_grad():
        states, final = model.encoder(batch.source, batch.source_mask)
        logits, weights = seq2seq.decode_teacher_forced(model.decoder, states, final,
                                                        batch.source_mask, batch.target_in)
        ref_logits, ref_weights = per_step_teacher_forced(model.decoder, states, final,
                                                          batch.source_mask, batch.target_in)
    assert torch.equal(logits, ref_logits) and torch.equal(weights, ref_weights)
    out = seq2seq.decode_greedy(model.decoder, states, final, batch.source_mask, max_length=7)
    ref_tokens, ref_weights = per_step_greedy(model.decoder, states, final, batch.source_mask, 7)
    assert torch.equal(out.tokens, ref_tokens) and torch.equal(out.weights, ref_weights)


def test_keys_projected_once_give_the_same_gradients(task, batch):
    """Training: the gradient of W_k is now one product with the summed step gradients
    instead of a sum of per-step products — the same in exact arithmetic, equal to rounding."""
    model = tiny(task, "additive", seed=7).double()
    grads = []
    for decode in (seq2seq.decode_teacher_forced, per_step_teacher_forced):
        model.zero_grad()
        states, final = model.encoder(batch.source, batch.source_mask)
        logits, _ = decode(model.decoder, states, final, batch.source_mask, batch.target_in)
        F.cross_entropy(logits.flatten(0, 1), batch.target_out.flatten(),
                        ignore_index=0).backward()
        grads.append({n: p.grad.clone() for n, p in model.named_parameters()})
    for name in grads[0]:
        torch.testing.assert_close(grads[0][name], grads[1][name], rtol=1e-12, atol=1e-12)


def test_decoding_projects_the_keys_once_per_sentence(task, batch):
    model = tiny(task, "additive", seed=8)
    calls = []
    model.decoder.additive.w_key.register_forward_hook(lambda *_: calls.append(1))
    with torch.no_grad():
        model(batch)  # teacher forcing: 6 steps
    assert batch.target_in.shape[1] == 6 and len(calls) == 1
    greedy_decode(model, batch.source, batch.source_mask, max_length=9, eos_id=-1)
    assert len(calls) == 2  # 9 greedy steps, one projection


def test_shipped_translator_decodes_the_same_with_keys_projected_once(task):
    """Chapter 02's shipped additive translator on its own test sentences: the same logits,
    weights and words, bit for bit, as with the keys projected at every step."""
    model = Seq2Seq(len(task.source_vocab), len(task.target_vocab), "additive")
    load_checkpoint(model, checkpoint_dir("02_seq2seq_attention") / "additive.safetensors")
    model.eval()
    pairs = task.split(**CHAPTER_SPLIT)["test"][:64]
    test_batch = make_batch(pairs, task)
    with torch.no_grad():
        states, final = model.encoder(test_batch.source, test_batch.source_mask)
        logits, weights = model(test_batch)
        ref_logits, ref_weights = per_step_teacher_forced(
            model.decoder, states, final, test_batch.source_mask, test_batch.target_in)
    assert torch.equal(logits, ref_logits) and torch.equal(weights, ref_weights)
    out = greedy_decode(model, test_batch.source, test_batch.source_mask, max_length=40)
    ref_tokens, ref_weights = per_step_greedy(model.decoder, states, final,
                                              test_batch.source_mask, 40)
    assert torch.equal(out.tokens, ref_tokens) and torch.equal(out.weights, ref_weights)
