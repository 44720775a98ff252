"""course_utils.reading: bAbI-like stories and the end-to-end memory network.

Stories are checked against an independent replay written here; models are tiny.
"""

from __future__ import annotations

import math
import random

import numpy as np
import pytest
import torch
from torch import nn

import course_utils.worlds.reading as reading
from course_utils.reading import (
    OBJECTS,
    PEOPLE,
    PLACES,
    QUESTION_KINDS,
    MemoryNetwork,
    Story,
    StoryBatch,
    StoryWorld,
    answer_accuracy,
    make_story_batch,
    memory_hop,
    position_weights,
    train_reader,
)

torch.set_num_threads(1)


@pytest.fixture(scope="module")
def world() -> StoryWorld:
    return StoryWorld()


@pytest.fixture(scope="module")
def data(world):
    return world.split(n_train=300, n_test=60, seed=0)


def tiny(world, hops: int = 2, seed: int = 0, **kwargs) -> MemoryNetwork:
    torch.manual_seed(seed)
    return MemoryNetwork(len(world.vocab), len(world.answers), hops, embed_size=8, **kwargs)


# Two hand-written stories: 2 sentences (one of 4 words) and 3 sentences.
PERSON = Story(sentences=(("mary", "went", "to", "the", "kitchen"),
                          ("john", "got", "the", "milk")),
               question=("where", "is", "mary", "?"), kind="person", answer="kitchen",
               support=(0,))
OBJECT = Story(sentences=(("john", "picked", "up", "the", "apple"),
                          ("john", "travelled", "to", "the", "garden"),
                          ("mary", "moved", "to", "the", "office")),
               question=("where", "is", "the", "apple", "?"), kind="object", answer="garden",
               support=(0, 1))


# ============================================================================ the stories
def replay(story: Story) -> tuple[str, tuple[int, ...]]:
    """Answer the question by reading the story line by line: (answer, supporting lines)."""
    place: dict[str, tuple[str, int]] = {}
    holder: dict[str, tuple[str, int]] = {}
    for i, words in enumerate(story.sentences):
        person, last = words[0], words[-1]
        if last in PLACES:
            place[person] = (last, i)
        else:
            assert last in OBJECTS and last not in holder  # nobody takes a taken thing
            holder[last] = (person, i)
    if story.question[2] in PEOPLE:
        where, moved = place[story.question[2]]
        return where, (moved,)
    person, taken = holder[story.question[3]]
    where, moved = place[person]
    return where, tuple(sorted((taken, moved)))


def test_every_answer_and_support_follows_from_the_story(world, data):
    stories = data["train"] + data["test"]
    kinds = {s.kind for s in stories}
    assert kinds == set(QUESTION_KINDS)
    for story in stories:
        assert replay(story) == (story.answer, story.support), story.text()
        if story.kind == "person":
            assert story.question[:2] == ("where", "is") and len(story.question) == 4
            assert len(story.support) == 1
            line = story.sentences[story.support[0]]
            assert line[0] == story.question[2] and line[-1] == story.answer
        else:
            assert story.question[:3] == ("where", "is", "the") and len(story.question) == 5
            taken, moved = story.support
            assert taken != moved
            lines = [story.sentences[i] for i in story.support]
            pickup = next(x for x in lines if x[-1] == story.question[3])
            move = next(x for x in lines if x[-1] == story.answer)
            assert pickup[0] == move[0]  # the one who took it is the one who went there


def test_story_sentences_are_well_formed(world, data):
    lengths = set()
    for story in data["train"]:
        lengths.add(len(story.sentences))
        assert 4 <= len(story.sentences) <= 10
        where: dict[str, str] = {}
        for words in story.sentences:
            assert words[0] in PEOPLE and len(words) in (4, 5)
            assert all(w in world.vocab.stoi for w in words)
            if words[-1] in PLACES:
                assert where.get(words[0]) != words[-1]  # a move goes somewhere else
                where[words[0]] = words[-1]
    assert lengths == set(range(4, 11))


def test_story_length_is_inclusive(world):
    rng = random.Random(0)
    for kind in QUESTION_KINDS:
        for _ in range(20):
            story = world.story(rng, kind, length=(2, 3))
            assert story.kind == kind and len(story.sentences) in (2, 3)
            assert replay(story) == (story.answer, story.support)


@pytest.mark.parametrize("kind", ["where", "Person", ""])
def test_story_rejects_an_unknown_kind(world, kind):
    with pytest.raises(ValueError, match="kind must be one of"):
        world.story(random.Random(0), kind)


@pytest.mark.parametrize("length", [(1, 4), (5, 4), (2, 13), (0, 0)])
def test_story_rejects_a_bad_length(world, length):
    with pytest.raises(ValueError, match="length must satisfy"):
        world.story(random.Random(0), "person", length)


def test_story_text(world):
    text = OBJECT.text()
    assert text.splitlines()[0] == " 1 john picked up the apple"
    assert text.splitlines()[-1].strip() == "where is the apple ?  →  garden"


def test_split_alternates_the_kinds(data):
    for part in ("train", "test"):
        assert [s.kind for s in data[part]] == [QUESTION_KINDS[i % 2]
                                                for i in range(len(data[part]))]


def test_split_is_deterministic_and_disjoint(world, data):
    again = world.split(n_train=300, n_test=60, seed=0)
    assert again == data
    assert len(data["train"]) == 300 and len(data["test"]) == 60
    keys = {part: [(s.sentences, s.question) for s in data[part]] for part in data}
    assert len(set(keys["train"])) == 300 and len(set(keys["test"])) == 60
    assert not set(keys["train"]) & set(keys["test"])
    other = world.split(n_train=300, n_test=60, seed=1)
    assert other["train"] != data["train"]


def test_answers_cover_every_place(world, data):
    assert world.answers == {place: i for i, place in enumerate(PLACES)}
    assert {s.answer for s in data["train"]} == set(PLACES)


# ========================================================================= make_story_batch
def test_make_story_batch_shapes_padding_and_mask(world):
    batch = make_story_batch([PERSON, OBJECT], world)
    assert isinstance(batch, StoryBatch)
    assert batch.story.shape == (2, 3, 5)
    assert batch.story_mask.tolist() == [[True, True, False], [True, True, True]]
    assert batch.question.shape == (2, 5)
    ids = world.vocab.stoi
    assert batch.story[0, 0].tolist() == [ids[w] for w in PERSON.sentences[0]]
    assert batch.story[0, 1].tolist() == [ids[w] for w in PERSON.sentences[1]] + [0]
    assert (batch.story[0, 2] == 0).all()  # a padded sentence
    assert batch.question[0].tolist() == [ids[w] for w in PERSON.question] + [0]
    assert batch.question[1].tolist() == [ids[w] for w in OBJECT.question]
    assert world.vocab.eos_id not in batch.story.flatten().tolist()  # no <eos> in a story
    assert batch.answer.tolist() == [world.answers["kitchen"], world.answers["garden"]]
    assert batch.answer.dtype == torch.int64


def test_make_story_batch_needs_a_story(world):
    with pytest.raises(ValueError, match="at least one story"):
        make_story_batch([], world)


# ========================================================================= position_weights
def test_position_weights_by_hand():
    # l[j, k] = (1 - j/J) - (k/d)(1 - 2j/J) with J = 3, d = 2, 1-based j and k.
    expected = torch.tensor([[1 / 2, 1 / 3],
                             [1 / 2, 2 / 3],
                             [1 / 2, 1.0]])
    torch.testing.assert_close(position_weights(3, 2), expected)
    assert position_weights(5, 7).shape == (5, 7)


def test_position_weights_tell_word_order_apart(world):
    g = torch.Generator().manual_seed(0)
    vectors = torch.randn(3, 6, generator=g)  # "john", "picked", "up"
    weights = position_weights(3, 6)
    forward = (weights * vectors).sum(dim=0)
    backward = (weights * vectors.flip(0)).sum(dim=0)
    torch.testing.assert_close(vectors.sum(0), vectors.flip(0).sum(0))  # a plain bag cannot
    assert not torch.allclose(forward, backward, atol=1e-3)
    model = tiny(world)
    words = torch.tensor([[world.vocab.stoi[w] for w in ("john", "picked", "up")]])
    encoded = model.encode(model.embeddings[0], words)
    assert encoded.shape == (1, 8)
    assert not torch.allclose(encoded, model.encode(model.embeddings[0], words.flip(-1)))


# =============================================================================== memory_hop
def test_memory_hop_by_hand():
    u = torch.tensor([[1.0, 0.0]], dtype=torch.float64)
    keys = torch.tensor([[[1.0, 0.0], [0.0, 1.0], [2.0, 0.0]]], dtype=torch.float64)
    values = torch.tensor([[[1.0, 1.0], [2.0, 2.0], [3.0, 3.0]]], dtype=torch.float64)
    # scores uᵀmᵢ = 1, 0, 2 (not divided by √d)
    e = math.e
    p = torch.tensor([[e, 1.0, e * e]], dtype=torch.float64) / (e + 1 + e * e)
    u_next, weights = memory_hop(u, keys, values)
    torch.testing.assert_close(weights, p)
    o = p[0, 0] * 1 + p[0, 1] * 2 + p[0, 2] * 3
    torch.testing.assert_close(u_next, torch.tensor([[1 + o, o]], dtype=torch.float64))
    assert u_next.dtype == weights.dtype == torch.float64
    # With the third sentence masked out: softmax over the first two only.
    u_next, weights = memory_hop(u, keys, values, torch.tensor([[True, True, False]]))
    p = torch.tensor([[e / (e + 1), 1 / (e + 1), 0.0]], dtype=torch.float64)
    torch.testing.assert_close(weights, p)
    o = p[0, 0] + 2 * p[0, 1]
    torch.testing.assert_close(u_next, torch.tensor([[1 + o, o]], dtype=torch.float64))


def test_memory_hop_mask_zeroes_padding_and_weights_sum_to_one():
    g = torch.Generator().manual_seed(1)
    u, keys, values = (torch.randn(3, 4, generator=g), torch.randn(3, 5, 4, generator=g),
                       torch.randn(3, 5, 4, generator=g))
    mask = torch.arange(5) < torch.tensor([[5], [2], [3]])
    u_next, p = memory_hop(u, keys, values, mask)
    assert u_next.shape == (3, 4) and p.shape == (3, 5)
    assert (p[~mask] == 0).all()
    torch.testing.assert_close(p.sum(-1), torch.ones(3))
    # Whatever the padding holds, the answer is the same.
    junk = ~mask[..., None] * 100.0
    torch.testing.assert_close(memory_hop(u, keys + junk, values - junk, mask)[0], u_next)
    torch.testing.assert_close(u_next, u + (p[..., None] * values).sum(1))


@pytest.mark.parametrize("u, keys, values", [
    ((4,), (2, 5, 4), (2, 5, 4)),  # u without a batch axis
    ((2, 4), (5, 4), (5, 4)),  # keys without a batch axis
    ((2, 4), (2, 5, 4), (2, 6, 4)),  # keys and values of different lengths
    ((2, 4), (2, 5, 3), (2, 5, 3)),  # d differs
    ((3, 4), (2, 5, 4), (2, 5, 4)),  # batch differs
])
def test_memory_hop_rejects_bad_shapes(u, keys, values):
    with pytest.raises(ValueError, match=r"need u \(batch, d\)"):
        memory_hop(torch.randn(u), torch.randn(keys), torch.randn(values))


def test_memory_hop_rejects_a_mask_of_the_wrong_length():
    with pytest.raises(ValueError, match="mask"):
        memory_hop(torch.randn(2, 4), torch.randn(2, 5, 4), torch.randn(2, 5, 4),
                   torch.ones(2, 6, dtype=torch.bool))


# ============================================================================ MemoryNetwork
@pytest.mark.parametrize("hops", [1, 2, 3])
def test_memory_network_shapes_and_weights(world, hops):
    batch = make_story_batch([PERSON, OBJECT], world)
    model = tiny(world, hops)
    logits, weights = model(batch)
    assert logits.shape == (2, len(PLACES))
    assert weights.shape == (2, hops, 3)
    assert (weights[0, :, 2] == 0).all()  # the padded sentence of the first story
    torch.testing.assert_close(weights.sum(-1), torch.ones(2, hops))
    assert len(model.embeddings) == hops + 1  # adjacent tying: K hops, K + 1 embeddings
    assert model.age.shape == (hops + 1, 12, 8)


def test_adjacent_weight_tying(world, monkeypatch):
    """Hop k's values are hop k + 1's keys; embeddings[0] encodes the question and the
    first hop's keys; the last embedding is the last hop's values."""
    batch = make_story_batch([PERSON, OBJECT], world)
    model = tiny(world, hops=3)
    calls = []
    original = reading.memory_hop

    def spy(u, keys, values, mask=None):
        calls.append((u, keys, values))
        return original(u, keys, values, mask)

    monkeypatch.setattr(reading, "memory_hop", spy)
    model(batch)
    assert len(calls) == 3
    for (_, _, values), (_, keys, _) in zip(calls, calls[1:], strict=False):
        assert torch.equal(values, keys)
    ages = model.ages(batch.story_mask)
    torch.testing.assert_close(calls[0][0], model.encode(model.embeddings[0], batch.question))
    torch.testing.assert_close(calls[0][1], model.encode(model.embeddings[0], batch.story)
                               + model.age[0][ages])
    torch.testing.assert_close(calls[-1][2], model.encode(model.embeddings[3], batch.story)
                               + model.age[3][ages])


def test_ages_count_back_from_the_latest_sentence(world):
    batch = make_story_batch([PERSON, OBJECT], world)
    assert tiny(world).ages(batch.story_mask).tolist() == [[1, 0, 0], [2, 1, 0]]


def test_every_embedding_is_trained(world):
    batch = make_story_batch([PERSON, OBJECT], world)
    model = tiny(world, hops=2)
    model.loss(batch).backward()
    for name, p in model.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, name
    torch.testing.assert_close(model.loss(batch), nn.functional.cross_entropy(
        model(batch)[0], batch.answer))


def test_memory_network_rejects_too_many_sentences(world):
    batch = make_story_batch([OBJECT], world)  # 3 sentences
    with pytest.raises(ValueError, match="at most 2 sentences, got 3"):
        tiny(world, max_sentences=2)(batch)
    tiny(world, max_sentences=3)(batch)  # exactly the maximum is fine


@pytest.mark.parametrize("hops", [0, -1, 1.5, "2", True, None])
def test_memory_network_validates_hops(world, hops):
    with pytest.raises(ValueError, match="hops must be a positive int"):
        MemoryNetwork(len(world.vocab), len(PLACES), hops)


def test_memory_network_in_float64(world):
    batch = make_story_batch([PERSON, OBJECT], world)
    logits, weights = tiny(world).double()(batch)
    assert logits.dtype == weights.dtype == torch.float64


def test_prediction_does_not_depend_on_the_other_stories_in_the_batch(world):
    """J in the position weights is each sentence's own length, not the padded width of the
    batch: a 4-word question alone and the same question batched with a 5-word one get the
    same encoding, so a story's answer does not depend on its batch mates."""
    model = tiny(world)
    alone = model(make_story_batch([PERSON], world))
    mixed = model(make_story_batch([PERSON, OBJECT], world))
    torch.testing.assert_close(mixed[0][:1], alone[0])
    torch.testing.assert_close(mixed[1][:1, :, :2], alone[1])


# =========================================================================== answer_accuracy
class Oracle(nn.Module):
    """Answers right, or always ``kitchen`` when ``wrong``."""

    def __init__(self, wrong: bool = False) -> None:
        super().__init__()
        self.wrong = wrong

    def forward(self, batch):
        answer = torch.zeros_like(batch.answer) if self.wrong else batch.answer
        return nn.functional.one_hot(answer, len(PLACES)).float(), None


def test_answer_accuracy_keys_and_values(world, data):
    stories = data["test"]
    perfect = answer_accuracy(Oracle(), stories, world)
    assert perfect == {"all": 1.0, "person": 1.0, "object": 1.0}
    kitchen = answer_accuracy(Oracle(wrong=True), stories, world)
    for kind in QUESTION_KINDS:
        chosen = [s for s in stories if s.kind == kind]
        expected = sum(s.answer == "kitchen" for s in chosen) / len(chosen)
        assert math.isclose(kitchen[kind], expected, rel_tol=1e-6)
    expected = sum(s.answer == "kitchen" for s in stories) / len(stories)
    assert math.isclose(kitchen["all"], expected, rel_tol=1e-6)
    assert 0 < kitchen["all"] < 1


def test_answer_accuracy_leaves_out_a_kind_without_stories(world, data):
    persons = [s for s in data["test"] if s.kind == "person"]
    assert set(answer_accuracy(Oracle(), persons, world)) == {"all", "person"}
    model = tiny(world)
    model.train()
    result = answer_accuracy(model, data["test"], world)
    assert set(result) == {"all", "person", "object"}
    assert all(0.0 <= v <= 1.0 for v in result.values())
    assert not model.training


# ============================================================================== train_reader
@pytest.mark.usefixtures("_restore_determinism")
def test_train_reader_tiny_run_learns(world, data):
    model, history = train_reader(data["train"], world, hops=2, steps=60, batch_size=16,
                                  lr=1e-2, seed=0, progress=False, embed_size=16)
    assert isinstance(model, MemoryNetwork) and model.hops == 2
    assert model.answer.in_features == 16  # the sizes reach the model
    assert not model.training
    loss = history["loss"]
    assert len(loss) == 60 and all(math.isfinite(x) for x in loss)
    assert sum(loss[-10:]) / 10 < sum(loss[:10]) / 10 - 0.1


@pytest.mark.usefixtures("_restore_determinism")
def test_train_reader_is_deterministic(world, data):
    (a, history), (b, history_again) = [
        train_reader(data["train"], world, hops=1, steps=5, batch_size=8, seed=3,
                     progress=False, embed_size=8) for _ in range(2)]
    assert a.hops == 1 and len(a.embeddings) == 2
    assert history["loss"] == history_again["loss"]
    for (name, p), (_, q) in zip(a.state_dict().items(), b.state_dict().items(), strict=True):
        assert torch.equal(p, q), name


def test_position_weights_per_sentence_length_match_the_unpadded_formula():
    lengths = torch.tensor([[3, 5], [1, 4]])
    batched = position_weights(5, 6, lengths)
    assert batched.shape == (2, 2, 5, 6)
    for (i, j), n in np.ndenumerate(lengths.numpy()):
        torch.testing.assert_close(batched[i, j, :n], position_weights(n, 6))
