"""course_utils.translation: the vocabulary, the toy language pair, its split and batches."""

from __future__ import annotations

import itertools
import signal

import pytest
import torch

from course_utils.translation import (
    BOS,
    CHAPTER_SPLIT,
    EOS,
    PAD,
    Batch,
    ToyTranslation,
    Vocab,
    make_batch,
)

SMALL = {"n_train": 200, "n_test": 50, "train_lengths": (3, 6), "long_lengths": (7, 9),
         "n_long": 20, "seed": 0}


# ==================================================================================== Vocab
def test_vocab_special_ids_come_first():
    v = Vocab(["a", "b", "c"])
    assert (v.pad_id, v.bos_id, v.eos_id) == (0, 1, 2)
    assert v.itos[:3] == [PAD, BOS, EOS]
    assert [v.stoi[s] for s in (PAD, BOS, EOS)] == [0, 1, 2]
    assert len(v) == 6
    assert [v.stoi[w] for w in "abc"] == [3, 4, 5]


def test_vocab_encode_with_and_without_eos():
    v = Vocab(["a", "b", "c"])
    assert v.encode(["c", "a", "a"]) == [5, 3, 3, 2]
    assert v.encode(["c", "a", "a"], eos=False) == [5, 3, 3]
    assert v.encode([]) == [2]
    assert v.encode([], eos=False) == []


@pytest.mark.parametrize("words", [["a", "zz"], ["A"], ["a", "b ", "c"]])
def test_vocab_encode_rejects_unknown_words(words):
    v = Vocab(["a", "b", "c"])
    with pytest.raises(ValueError, match="unknown word"):
        v.encode(words)


def test_vocab_decode_stops_at_eos_and_skips_pad_and_bos():
    v = Vocab(["a", "b", "c"])
    assert v.decode([1, 3, 0, 4, 2, 5, 5]) == ["a", "b"]
    assert v.decode([3, 4, 5]) == ["a", "b", "c"]  # no <eos>: the whole row
    assert v.decode([2, 3, 4]) == []
    assert v.decode(torch.tensor([1, 5, 4, 2, 0, 0])) == ["c", "b"]


def test_vocab_encode_decode_round_trip():
    v = Vocab(["a", "b", "c"])
    words = ["b", "c", "c", "a"]
    assert v.decode(v.encode(words)) == words
    assert v.decode(v.encode(words, eos=False)) == words


@pytest.mark.parametrize("words", [["a", "b", "a"], ["a", PAD], [EOS], ["x", BOS]])
def test_vocab_rejects_duplicates_and_special_tokens(words):
    with pytest.raises(ValueError, match="unique"):
        Vocab(words)


# =========================================================================== ToyTranslation
def test_lexicon_is_a_bijection(task):
    source_words = task.source_vocab.itos[3:]
    target_words = task.target_vocab.itos[3:]
    assert len(source_words) == len(target_words) == 20
    assert set(task.lexicon) == set(source_words)
    assert sorted(task.lexicon.values()) == sorted(target_words)  # onto and one-to-one


def test_lexicon_is_deterministic_by_seed():
    assert ToyTranslation(seed=3).lexicon == ToyTranslation(seed=3).lexicon
    assert ToyTranslation(seed=0).lexicon != ToyTranslation(seed=1).lexicon


def test_translate_maps_and_reverses(task):
    lex = task.lexicon
    assert task.translate(["ka", "lo", "mi"]) == [lex["mi"], lex["lo"], lex["ka"]]
    assert task.translate(("pi",)) == [lex["pi"]]
    assert task.translate([]) == []
    sentence = ["ka", "ka", "nu", "ka"]
    assert task.translate(sentence) == [lex["ka"], lex["nu"], lex["ka"], lex["ka"]]


def test_translate_is_invertible(task):
    inverse = {t: s for s, t in task.lexicon.items()}
    sentence = ["xo", "be", "da", "xo", "pi"]
    assert [inverse[w] for w in reversed(task.translate(sentence))] == sentence


# ==================================================================================== split
def test_split_sizes_and_pairs(task):
    data = task.split(**SMALL)
    assert set(data) == {"train", "valid", "test", "long"}
    assert (len(data["train"]), len(data["test"]), len(data["long"])) == (200, 50, 20)
    assert data["valid"] == []  # no validation sentences unless asked for
    for items in data.values():
        for source, target in items:
            assert isinstance(source, tuple)
            assert target == task.translate(source)


def test_split_lengths_within_bounds(task):
    data = task.split(**SMALL)
    for name in ("train", "test"):
        lengths = {len(s) for s, _ in data[name]}
        assert min(lengths) >= 3 and max(lengths) <= 6
    long_lengths = {len(s) for s, _ in data["long"]}
    assert min(long_lengths) >= 7 and max(long_lengths) <= 9
    # uniform lengths: 200 draws from 4 lengths hit both ends of the range
    assert {len(s) for s, _ in data["train"]} == {3, 4, 5, 6}


def test_split_sets_are_disjoint_and_free_of_repeats(task):
    # short sentences (3..4 words of 20) make collisions likely, so the check has teeth
    data = task.split(n_train=300, n_test=100, train_lengths=(2, 3), long_lengths=(4, 4),
                      n_long=50, n_valid=100, seed=5)
    sources = {name: [s for s, _ in items] for name, items in data.items()}
    for name, items in sources.items():
        assert len(set(items)) == len(items), name
    for a, b in itertools.combinations(sources, 2):
        assert not set(sources[a]) & set(sources[b]), (a, b)
    assert {len(s) for s in sources["valid"]} == {2, 3}


def test_validation_sentences_leave_the_other_sets_as_they_were(task):
    """The validation set is drawn last: asking for it changes no training or test sentence
    (chapter 02's checkpoints were trained before it existed)."""
    without = task.split(**SMALL)
    with_valid = task.split(**{**SMALL, "n_valid": 40})
    assert len(with_valid["valid"]) == 40
    for name in ("train", "test", "long"):
        assert with_valid[name] == without[name], name


def test_the_chapters_split_has_a_disjoint_validation_set():
    data = ToyTranslation(seed=0).split(**CHAPTER_SPLIT)
    assert len(data["valid"]) == CHAPTER_SPLIT["n_valid"] > 0
    valid = {s for s, _ in data["valid"]}
    assert not valid & {s for name in ("train", "test") for s, _ in data[name]}


@pytest.mark.parametrize("name, bad", [("n_valid", -1), ("n_train", 2.5), ("n_test", True),
                                       ("n_long", None)])
def test_split_rejects_a_bad_count(task, name, bad):
    with pytest.raises(ValueError, match=name):
        task.split(**{**SMALL, name: bad})


def test_split_is_deterministic_for_a_seed(task):
    assert task.split(**SMALL) == task.split(**SMALL)
    assert ToyTranslation(seed=0).split(**SMALL) == task.split(**SMALL)
    other = task.split(**{**SMALL, "seed": 1})
    assert [s for s, _ in other["train"]] != [s for s, _ in task.split(**SMALL)["train"]]


@pytest.mark.parametrize("train_lengths, long_lengths", [
    ((0, 5), (6, 8)),   # a zero-word sentence
    ((5, 3), (6, 8)),   # lo > hi
    ((3, 6), (6, 8)),   # long sentences not longer than training ones
    ((3, 6), (4, 8)),   # overlap
    ((3, 6), (9, 8)),   # long range reversed
])
def test_split_rejects_bad_lengths(task, train_lengths, long_lengths):
    with pytest.raises(ValueError, match="train_lengths"):
        task.split(n_train=5, n_test=5, n_long=5, train_lengths=train_lengths,
                   long_lengths=long_lengths)


@pytest.mark.skipif(not hasattr(signal, "setitimer"), reason="needs SIGALRM")
def test_split_asking_for_too_many_sentences_is_an_error(task):
    """Only 20 one-word sentences exist; asking for 30 is a ValueError, not an endless loop
    (the alarm turns a hang into a failure)."""
    def give_up(signum, frame):
        raise TimeoutError("split() did not return")

    previous = signal.signal(signal.SIGALRM, give_up)
    signal.setitimer(signal.ITIMER_REAL, 5.0)
    try:
        with pytest.raises(ValueError, match="distinct sentences"):
            task.split(n_train=30, n_test=0, n_long=0, train_lengths=(1, 1),
                       long_lengths=(2, 2))
        data = task.split(n_train=20, n_test=0, n_long=0, train_lengths=(1, 1),
                          long_lengths=(2, 2))  # exactly all of them is still possible
        assert len({s for s, _ in data["train"]}) == 20
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def test_chapter_split_keys_are_split_arguments(task):
    small = {**CHAPTER_SPLIT, "n_train": 50, "n_test": 20, "n_long": 10}
    data = task.split(**small)
    assert (len(data["train"]), len(data["test"]), len(data["long"])) == (50, 20, 10)
    lo, hi = CHAPTER_SPLIT["train_lengths"]
    long_lo, long_hi = CHAPTER_SPLIT["long_lengths"]
    assert all(lo <= len(s) <= hi for s, _ in data["train"] + data["test"])
    assert all(long_lo <= len(s) <= long_hi for s, _ in data["long"])
    assert hi < long_lo  # the long bucket is longer than anything in training


# =============================================================================== make_batch
def test_make_batch_by_hand(task):
    s_ids, t_ids = task.source_vocab.stoi, task.target_vocab.stoi
    pairs = [(("ka", "lo"), task.translate(("ka", "lo"))),
             (("mi", "nu", "pe", "ra"), task.translate(("mi", "nu", "pe", "ra")))]
    batch = make_batch(pairs, task)
    assert isinstance(batch, Batch)
    expected_source = torch.tensor([[s_ids["ka"], s_ids["lo"], 0, 0],
                                    [s_ids["mi"], s_ids["nu"], s_ids["pe"], s_ids["ra"]]])
    assert torch.equal(batch.source, expected_source)
    assert torch.equal(batch.source_mask, torch.tensor([[True, True, False, False],
                                                        [True, True, True, True]]))
    assert batch.source_mask.dtype == torch.bool
    assert torch.equal(batch.source_lengths, torch.tensor([2, 4]))
    t0 = [t_ids[w] for w in pairs[0][1]]
    t1 = [t_ids[w] for w in pairs[1][1]]
    assert torch.equal(batch.target_out, torch.tensor([[*t0, 2, 0, 0], [*t1, 2]]))
    assert torch.equal(batch.target_in, torch.tensor([[1, *t0, 0, 0], [1, *t1]]))


def test_make_batch_shapes_and_padding(task):
    pairs = task.split(**SMALL)["test"][:17]
    batch = make_batch(pairs, task)
    n = max(len(s) for s, _ in pairs)
    m = max(len(t) for _, t in pairs) + 1
    assert batch.source.shape == batch.source_mask.shape == (17, n)
    assert batch.target_in.shape == batch.target_out.shape == (17, m)
    for dtype_tensor in (batch.source, batch.target_in, batch.target_out):
        assert dtype_tensor.dtype == torch.int64
    for i, (source, target) in enumerate(pairs):
        k, t = len(source), len(target)
        assert batch.source_mask[i, :k].all() and not batch.source_mask[i, k:].any()
        assert (batch.source[i, :k] > 2).all() and (batch.source[i, k:] == 0).all()
        assert task.source_vocab.decode(batch.source[i]) == list(source)
        # target_out = target + <eos>, then <pad>
        assert batch.target_out[i, :t].tolist() == task.target_vocab.encode(target, eos=False)
        assert batch.target_out[i, t] == 2 and (batch.target_out[i, t + 1:] == 0).all()
        # target_in = <bos> + target, then <pad>; never an <eos>
        assert batch.target_in[i, 0] == 1
        assert torch.equal(batch.target_in[i, 1:t + 1], batch.target_out[i, :t])
        assert (batch.target_in[i, t + 1:] == 0).all()
    assert not (batch.target_in == 2).any()
    # teacher forcing: the input at step j+1 is the word to predict at step j
    real = batch.target_in[:, 1:] != 0
    assert torch.equal(batch.target_in[:, 1:][real], batch.target_out[:, :-1][real])


def test_make_batch_of_one_pair_has_no_padding(task):
    pair = (("ka", "lo", "mi"), task.translate(("ka", "lo", "mi")))
    batch = make_batch([pair], task)
    assert batch.source_mask.all()
    assert batch.target_out[0, -1] == 2 and not (batch.target_out == 0).any()
    assert not (batch.target_in == 0).any() and not (batch.target_in == 2).any()


def test_make_batch_rejects_an_empty_list(task):
    with pytest.raises(ValueError, match="at least one pair"):
        make_batch([], task)


def test_make_batch_rejects_unknown_words(task):
    with pytest.raises(ValueError, match="unknown word"):
        make_batch([(("ka", "red"), ["cat"])], task)
