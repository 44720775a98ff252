"""Reading comprehension (阅读理解) with attention over sentences: a memory network.

**The data.** :class:`StoryWorld` writes bAbI-like stories in code::

    1 mary went to the kitchen
    2 john picked up the football
    3 john travelled to the garden
    where is the football ?  →  garden

Two kinds of question:

* ``"person"`` — "where is mary?": **one supporting fact**, her last move;
* ``"object"`` — "where is the football?": **two supporting facts**, who picked it up, and
  where that person went last. No single sentence holds the answer.

**The model** follows the notes' slide (End-To-End Memory Networks, Sukhbaatar et al. 2015):

* every sentence xᵢ is encoded to a key mᵢ = Σⱼ lⱼ ⊙ A xᵢⱼ + T_A(i) and a value
  cᵢ = Σⱼ lⱼ ⊙ C xᵢⱼ + T_C(i): a bag of its word embeddings weighted by position lⱼ
  (:func:`position_weights`), plus a vector for the sentence's age (the latest sentence has
  age 0, so "the last place she went to" is easy to find);
* the question is encoded the same way (with A of the first hop) to u;
* one **hop**: match pᵢ = softmax(uᵀ mᵢ) → weighted sum o = Σᵢ pᵢ cᵢ → u ← u + o;
* hop k's values C are hop k + 1's keys A (the paper's "adjacent" weight tying), so what
  one hop adds to u is written in the words the next hop matches against;
* after K hops a linear layer (the notes' "DNN") answers from u.

With one hop the question can only look for sentences that resemble it; a second hop can
look again with what the first one found ("john") added to the query.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from ..foundations.checks import positive_int
from ..foundations.seeding import set_seed
from ..mechanisms.attention import context_vector, dot_product_scores, masked_softmax
from .training import train
from .translation import Vocab, pad

__all__ = [
    "PEOPLE", "PLACES", "OBJECTS", "QUESTION_KINDS", "Story", "StoryWorld", "StoryBatch",
    "make_story_batch", "position_weights", "memory_hop", "MemoryNetwork", "answer_accuracy",
    "train_reader", "STORY_SPLIT",
]

PEOPLE = ("mary", "john", "sandra", "daniel")
PLACES = ("kitchen", "garden", "office", "bathroom", "hallway", "bedroom")
OBJECTS = ("football", "apple", "milk")
QUESTION_KINDS = ("person", "object")
_MOVES = ("went to the", "travelled to the", "moved to the", "journeyed to the")
_TAKES = ("picked up the", "grabbed the", "got the")
_WORDS = (*PEOPLE, *PLACES, *OBJECTS, "where", "is", "the", "?",
          *sorted({w for phrase in _MOVES + _TAKES for w in phrase.split()} - {"the"}))

# The split chapter 03 and its checkpoints use (tools/train_chapter03.py).
STORY_SPLIT = {"n_train": 20000, "n_test": 2000, "seed": 0}
MAX_SENTENCES = 12


@dataclass(frozen=True)
class Story:
    """A story (``sentences``, each a tuple of words), a ``question`` (words), its ``kind``
    (``"person"`` or ``"object"``), the ``answer`` (a place) and the indices of the
    ``support``ing sentences (in story order)."""

    sentences: tuple[tuple[str, ...], ...]
    question: tuple[str, ...]
    kind: str
    answer: str
    support: tuple[int, ...]

    def text(self) -> str:
        lines = [f"{i + 1:2d} {' '.join(s)}" for i, s in enumerate(self.sentences)]
        return "\n".join([*lines, f"   {' '.join(self.question)}  →  {self.answer}"])


class StoryWorld:
    """Generator of stories and questions; deterministic by the ``random.Random`` it gets.

    ``vocab`` holds every word; ``answers`` maps a place to its class index.
    """

    def __init__(self) -> None:
        self.vocab = Vocab(_WORDS)
        self.answers = {place: i for i, place in enumerate(PLACES)}

    def story(self, rng: random.Random, kind: str, length: tuple[int, int] = (4, 10)) -> Story:
        """One story of ``length`` sentences (inclusive) whose last line is answerable by a
        question of ``kind``; people move around and pick up objects (no one drops one)."""
        if kind not in QUESTION_KINDS:
            raise ValueError(f"kind must be one of {QUESTION_KINDS}, got {kind!r}")
        if not 2 <= length[0] <= length[1] <= MAX_SENTENCES:
            raise ValueError(f"length must satisfy 2 <= lo <= hi <= {MAX_SENTENCES}, got "
                             f"{length}")
        while True:
            n = rng.randint(*length)
            sentences: list[tuple[str, ...]] = []
            where: dict[str, tuple[str, int]] = {}  # person → (place, sentence index)
            holder: dict[str, tuple[str, int]] = {}  # object → (person, sentence index)
            for i in range(n):
                person = rng.choice(PEOPLE)
                free = [o for o in OBJECTS if o not in holder]
                if free and rng.random() < 0.3:
                    thing = rng.choice(free)
                    holder[thing] = (person, i)
                    sentences.append((person, *rng.choice(_TAKES).split(), thing))
                else:
                    place = rng.choice([p for p in PLACES if p != where.get(person, ("",))[0]])
                    where[person] = (place, i)
                    sentences.append((person, *rng.choice(_MOVES).split(), place))
            if kind == "person" and where:
                person = rng.choice(sorted(where))
                place, i = where[person]
                return Story(tuple(sentences), ("where", "is", person, "?"), kind, place, (i,))
            known = sorted(o for o, (p, _) in holder.items() if p in where)
            if kind == "object" and known:
                thing = rng.choice(known)
                person, taken = holder[thing]
                place, moved = where[person]
                return Story(tuple(sentences), ("where", "is", "the", thing, "?"), kind, place,
                             tuple(sorted((taken, moved))))

    def split(self, n_train: int = 20000, n_test: int = 2000, seed: int = 0
              ) -> dict[str, list[Story]]:
        """Disjoint ``train`` and ``test`` sets, half of each kind of question (alternating);
        no test story with its question appears in training."""
        rng = random.Random(seed)
        seen: set[tuple] = set()

        def draw(n: int) -> list[Story]:
            stories = []
            while len(stories) < n:
                story = self.story(rng, QUESTION_KINDS[len(stories) % 2])
                key = (story.sentences, story.question)
                if key not in seen:
                    seen.add(key)
                    stories.append(story)
            return stories

        test = draw(n_test)
        return {"train": draw(n_train), "test": test}


@dataclass(frozen=True)
class StoryBatch:
    """Padded tensors of stories (batch first).

    ``story (batch, n_sentences, n_words)`` word ids (0 = padding), ``story_mask (batch,
    n_sentences)`` True = a real sentence (may be attended), ``question (batch, n_words_q)``,
    ``answer (batch,)`` class index of the place.
    """

    story: Tensor
    story_mask: Tensor
    question: Tensor
    answer: Tensor


def make_story_batch(stories: Sequence[Story], world: StoryWorld) -> StoryBatch:
    """Encode and pad ``stories`` into a :class:`StoryBatch`."""
    if not stories:
        raise ValueError("make_story_batch needs at least one story")
    n = max(len(s.sentences) for s in stories)
    words = max(len(x) for s in stories for x in s.sentences)
    story = torch.zeros(len(stories), n, words, dtype=torch.long)
    for b, s in enumerate(stories):
        for i, sentence in enumerate(s.sentences):
            story[b, i, :len(sentence)] = torch.tensor(world.vocab.encode(sentence, eos=False))
    question = pad([world.vocab.encode(s.question, eos=False) for s in stories])
    answer = torch.tensor([world.answers[s.answer] for s in stories])
    return StoryBatch(story, story[..., 0] != 0, question, answer)


def position_weights(n_words: int, d: int, lengths: Tensor | None = None) -> Tensor:
    """The position encoding of a bag of words: l[j, k] = (1 − j/J) − (k/d)(1 − 2j/J)
    (1-based j, k; J = the sentence's length; Sukhbaatar et al., section 4.1), so that
    "john picked up" and "up picked john" get different encodings.

    Without ``lengths``: every sentence has ``n_words`` words → ``(n_words, d)``. With
    ``lengths (...)`` (the real words of each padded sentence) → ``(..., n_words, d)``: a
    sentence is encoded the same whatever the padding of the batch around it.
    """
    total = torch.tensor(float(n_words)) if lengths is None else lengths.clamp(min=1).float()
    j = torch.arange(1, n_words + 1, dtype=torch.float32) / total[..., None]  # (..., n_words)
    k = torch.arange(1, d + 1, dtype=torch.float32) / d  # (d,)
    return (1 - j)[..., None] - k * (1 - 2 * j)[..., None]


def memory_hop(u: Tensor, keys: Tensor, values: Tensor, mask: Tensor | None = None
               ) -> tuple[Tensor, Tensor]:
    """One hop of attention over the memory: match → softmax → weighted sum → add.

    ``u (batch, d)`` the question so far, ``keys (batch, n, d)`` mᵢ, ``values (batch, n, d)``
    cᵢ, ``mask (batch, n)`` True = a real sentence → ``(u + o (batch, d), p (batch, n))``.
    """
    if u.dim() != 2 or keys.dim() != 3 or keys.shape != values.shape or \
            keys.shape[::2] != u.shape:
        raise ValueError(f"need u (batch, d), keys and values (batch, n, d); got u "
                         f"{tuple(u.shape)}, keys {tuple(keys.shape)}, values "
                         f"{tuple(values.shape)}")
    scores = dot_product_scores(u.unsqueeze(1), keys, scaled=False)  # uᵀ mᵢ, (batch, 1, n)
    p = masked_softmax(scores, None if mask is None else mask.unsqueeze(1))  # pᵢ
    o = context_vector(p, values).squeeze(1)  # o = Σᵢ pᵢ cᵢ, (batch, d)
    return u + o, p.squeeze(1)  # the next hop asks with what this one found


class MemoryNetwork(nn.Module):
    """End-to-end memory network with ``hops`` attention hops over the story's sentences.

    ``forward(batch)`` → ``(logits (batch, n_answers), weights (batch, hops, n_sentences))``:
    ``weights[b, k]`` is hop k's attention over the sentences (zeros on padding).
    """

    def __init__(self, vocab_size: int, n_answers: int, hops: int = 2, embed_size: int = 32,
                 max_sentences: int = MAX_SENTENCES) -> None:
        super().__init__()
        positive_int("hops", hops)
        self.hops = hops
        self.max_sentences = max_sentences
        # Adjacent weight tying (the paper's section 2.2): hop k's values are hop k + 1's
        # keys, so what hop k adds to u is written in the words hop k + 1 matches against.
        # embeddings[0] encodes the question (B) and hop 1's keys (A¹); embeddings[k + 1]
        # is hop k's values (Cᵏ) and hop k + 1's keys (Aᵏ⁺¹).
        self.embeddings = nn.ModuleList(nn.Embedding(vocab_size, embed_size, padding_idx=0)
                                        for _ in range(hops + 1))
        self.age = nn.Parameter(0.1 * torch.randn(hops + 1, max_sentences, embed_size))  # T
        self.answer = nn.Linear(embed_size, n_answers)  # the "DNN" that answers from u

    def encode(self, embedding: nn.Embedding, words: Tensor) -> Tensor:
        """Bag of words with position weights: ``(..., n_words)`` ids → ``(..., d)``."""
        vectors = embedding(words)  # (..., n_words, d); padding embeds to 0
        lengths = (words != 0).sum(dim=-1)  # J of each sentence, not of the padded batch
        weights = position_weights(words.shape[-1], vectors.shape[-1], lengths)
        return (vectors * weights.to(vectors.dtype)).sum(dim=-2)

    def ages(self, story_mask: Tensor) -> Tensor:
        """Age of every sentence, ``(batch, n_sentences)``: 0 for the latest real one."""
        count = story_mask.sum(dim=1, keepdim=True)
        index = torch.arange(story_mask.shape[1], device=story_mask.device)
        return (count - 1 - index).clamp(min=0)

    def forward(self, batch: StoryBatch) -> tuple[Tensor, Tensor]:
        if batch.story.shape[1] > self.max_sentences:
            raise ValueError(f"stories may have at most {self.max_sentences} sentences, got "
                             f"{batch.story.shape[1]}")
        u = self.encode(self.embeddings[0], batch.question)  # (batch, d)
        ages = self.ages(batch.story_mask)  # (batch, n)
        memories = [self.encode(e, batch.story) + t[ages]  # (batch, n, d) each
                    for e, t in zip(self.embeddings, self.age, strict=True)]
        weights = []
        for hop in range(self.hops):
            m, c = memories[hop], memories[hop + 1]  # keys mᵢ, values cᵢ
            u, p = memory_hop(u, m, c, batch.story_mask)
            weights.append(p)
        return self.answer(u), torch.stack(weights, dim=1)

    def loss(self, batch: StoryBatch) -> Tensor:
        logits, _ = self(batch)
        return nn.functional.cross_entropy(logits, batch.answer)


@torch.no_grad()
def answer_accuracy(model: MemoryNetwork, stories: Sequence[Story], world: StoryWorld
                    ) -> dict[str, float]:
    """Accuracy on ``stories``, overall and per question kind: ``{"all", "person",
    "object"}`` (a kind without stories is left out)."""
    model.eval()
    batch = make_story_batch(stories, world)
    right = model(batch)[0].argmax(dim=-1) == batch.answer
    result = {"all": right.float().mean().item()}
    for kind in QUESTION_KINDS:
        chosen = torch.tensor([s.kind == kind for s in stories])
        if chosen.any():
            result[kind] = right[chosen].float().mean().item()
    return result


def train_reader(stories: Sequence[Story], world: StoryWorld, hops: int = 2, steps: int = 1500,
                 batch_size: int = 64, lr: float = 5e-3, seed: int = 0, progress: bool = True,
                 **sizes: int) -> tuple[MemoryNetwork, dict]:
    """Train a fresh :class:`MemoryNetwork` with ``hops`` hops on random batches of
    ``stories`` (Adam, gradients clipped to norm 10). Returns the model (eval mode) and the
    history."""
    set_seed(seed)
    model = MemoryNetwork(len(world.vocab), len(world.answers), hops, **sizes)
    rng, pool = random.Random(seed), list(stories)  # one copy, not one per step
    history = train(model, lambda step: model.loss(make_story_batch(
        rng.sample(pool, batch_size), world)), steps=steps, lr=lr, progress=progress,
        description=f"memory network, {hops} hop{'s' * (hops > 1)}", max_grad_norm=10.0)
    return model, history
