"""Image captioning with attention (the notes' "CNN + RNN, where the RNN has an attention
mechanism"), on a world of generated images.

**The data.** :class:`ShapesWorld` draws 1–3 coloured shapes on a 4 × 4 grid of cells
(48 × 48 pixels, jittered position, size and colour, noisy background) and describes them
with a small grammar, in reading order (top row first, left to right)::

    a red circle left of a blue square above a green triangle

"left of" joins two shapes in the same row, "above" a shape and the next one in a lower row.

**The model** follows the notes' four steps:

1. image feature extraction: a small CNN turns the image into a 4 × 4 map of feature
   vectors, one per **region** (grid cell) — ``RegionEncoder``;
2. attention weights: at every word, the decoder's state asks which regions matter,
   α = softmax(vᵀ tanh(W_q z + W_k rᵢ)) over the 16 regions;
3. context vector: c = Σᵢ αᵢ rᵢ, the weighted sum of the region features;
4. language generation: the GRU reads [previous word; c] and predicts the next word.

Steps 2–4 are chapter 02's attentive decoder (:class:`course_utils.worlds.seq2seq.Decoder`), reused
as is: a caption is a "translation" of the image's regions.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor, nn

from ..foundations.seeding import set_seed
from .seq2seq import Decoder, Translation, decode_greedy, decode_teacher_forced
from .training import train
from .translation import Vocab, teacher_forcing_pair

__all__ = [
    "GRID", "CELL", "IMAGE_SIZE", "COLOURS", "SHAPES", "Shape", "Scene", "ShapesWorld",
    "CaptionBatch", "make_caption_batch", "RegionEncoder", "Captioner", "caption_images",
    "regions_to_pixels", "describe", "AttentionOnObjects",
    "object_word_attention", "train_captioner", "CAPTION_SPLIT",
]

GRID = 4  # regions per side
CELL = 12  # pixels per region side
IMAGE_SIZE = GRID * CELL  # 48
COLOURS = {"red": (0.90, 0.15, 0.15), "green": (0.15, 0.75, 0.20),
           "blue": (0.20, 0.35, 0.95), "yellow": (0.95, 0.85, 0.15)}
SHAPES = ("circle", "square", "triangle")
WORDS = ("a", *COLOURS, *SHAPES, "left", "of", "above")

# The split chapter 03 and its checkpoints use (tools/train_chapter03.py).
CAPTION_SPLIT = {"n_train": 8000, "n_test": 1000, "seed": 0}


@dataclass(frozen=True)
class Shape:
    """One object of a scene: its ``colour``, ``kind`` and grid ``cell`` (row, column)."""

    colour: str
    kind: str
    cell: tuple[int, int]

    @property
    def region(self) -> int:
        """Index of its region in the flattened 4 × 4 grid (row-major, 0–15)."""
        return self.cell[0] * GRID + self.cell[1]


@dataclass(frozen=True)
class Scene:
    """A generated example: the ``image (3, 48, 48)`` in [0, 1], its ``shapes`` in reading
    order, the ``caption`` (words) and, for every caption word, the index of the shape it
    names (``None`` for "a", "left", "of", "above")."""

    image: Tensor
    shapes: tuple[Shape, ...]
    caption: tuple[str, ...]
    word_shape: tuple[int | None, ...]


def describe(shapes: Sequence[Shape]) -> tuple[tuple[str, ...], tuple[int | None, ...]]:
    """The grammar: shapes (already in reading order) → (caption words, shape index of each
    word)."""
    words: list[str] = []
    owners: list[int | None] = []
    for k, shape in enumerate(shapes):
        if k:
            same_row = shapes[k - 1].cell[0] == shape.cell[0]
            relation = ["left", "of"] if same_row else ["above"]
            words += relation
            owners += [None] * len(relation)
        words += ["a", shape.colour, shape.kind]
        owners += [None, k, k]
    return tuple(words), tuple(owners)


def _draw(shape: Shape, canvas: np.ndarray, rng: np.random.Generator) -> None:
    """Paint ``shape`` into ``canvas (48, 48, 3)`` in place, jittered inside its cell."""
    row, col = shape.cell
    cy = row * CELL + CELL / 2 + rng.uniform(-1.0, 1.0)
    cx = col * CELL + CELL / 2 + rng.uniform(-1.0, 1.0)
    r = rng.uniform(3.5, 4.8)
    ys, xs = np.mgrid[0:IMAGE_SIZE, 0:IMAGE_SIZE] + 0.5
    dy, dx = ys - cy, xs - cx
    if shape.kind == "circle":
        inside = dx ** 2 + dy ** 2 <= r ** 2
    elif shape.kind == "square":
        inside = (np.abs(dx) <= 0.85 * r) & (np.abs(dy) <= 0.85 * r)
    else:  # an upward triangle: below the two slanted sides, above the base
        inside = (dy <= 0.8 * r) & (dy >= -r + 2.0 * np.abs(dx))
    colour = np.clip(np.array(COLOURS[shape.colour]) + rng.normal(0.0, 0.05, 3), 0.0, 1.0)
    canvas[inside] = colour


class ShapesWorld:
    """Generator of captioned images; deterministic by ``seed``.

    ``vocab`` holds the caption words (ids 0–2 are ``<pad>``, ``<bos>``, ``<eos>``).
    """

    def __init__(self) -> None:
        self.vocab = Vocab(WORDS)

    def layout(self, rng: random.Random) -> tuple[Shape, ...]:
        """1–3 shapes in distinct cells, sorted in reading order."""
        count = rng.randint(1, 3)
        cells = rng.sample([(r, c) for r in range(GRID) for c in range(GRID)], count)
        shapes = [Shape(rng.choice(list(COLOURS)), rng.choice(SHAPES), cell) for cell in cells]
        return tuple(sorted(shapes, key=lambda s: s.cell))

    def render(self, shapes: Sequence[Shape], seed: int) -> Tensor:
        """The image of ``shapes``: ``(3, 48, 48)`` float32 in [0, 1] (noise seeded)."""
        rng = np.random.default_rng(seed)
        canvas = np.full((IMAGE_SIZE, IMAGE_SIZE, 3), 0.12) + rng.normal(0.0, 0.04, (
            IMAGE_SIZE, IMAGE_SIZE, 3))
        for shape in shapes:
            _draw(shape, canvas, rng)
        return torch.from_numpy(np.clip(canvas, 0.0, 1.0).transpose(2, 0, 1).copy()).float()

    def scene(self, shapes: Sequence[Shape], seed: int = 0) -> Scene:
        """A :class:`Scene` of the given shapes (sorted into reading order)."""
        cells = [s.cell for s in shapes]
        if not shapes or len(set(cells)) != len(cells):
            raise ValueError(f"need at least one shape and distinct cells, got {cells}")
        for s in shapes:
            if s.colour not in COLOURS or s.kind not in SHAPES or not all(
                    0 <= v < GRID for v in s.cell):
                raise ValueError(f"bad shape {s}: colour in {list(COLOURS)}, kind in "
                                 f"{list(SHAPES)}, cell in 0..{GRID - 1}")
        shapes = tuple(sorted(shapes, key=lambda s: s.cell))
        caption, owners = describe(shapes)
        return Scene(self.render(shapes, seed), shapes, caption, owners)

    def split(self, n_train: int = 8000, n_test: int = 1000, seed: int = 0
              ) -> dict[str, list[Scene]]:
        """Disjoint ``train`` and ``test`` scenes: no layout (colours, kinds and cells) of the
        test set appears in training."""
        rng = random.Random(seed)
        seen: set[tuple[Shape, ...]] = set()

        def draw(n: int) -> list[Scene]:
            scenes = []
            while len(scenes) < n:
                shapes = self.layout(rng)
                if shapes in seen:
                    continue
                seen.add(shapes)
                scenes.append(self.scene(shapes, seed=rng.randrange(2 ** 32)))
            return scenes

        test = draw(n_test)
        return {"train": draw(n_train), "test": test}


@dataclass(frozen=True)
class CaptionBatch:
    """``images (batch, 3, 48, 48)``; ``caption_in (batch, m)`` = ``<bos>`` + caption;
    ``caption_out (batch, m)`` = caption + ``<eos>``, ``<pad>`` after it."""

    images: Tensor
    caption_in: Tensor
    caption_out: Tensor


def make_caption_batch(scenes: Sequence[Scene], vocab: Vocab) -> CaptionBatch:
    """Stack the images and pad the captions of ``scenes``."""
    if not scenes:
        raise ValueError("make_caption_batch needs at least one scene")
    caption_in, caption_out = teacher_forcing_pair([s.caption for s in scenes], vocab)
    return CaptionBatch(torch.stack([s.image for s in scenes]), caption_in, caption_out)


class RegionEncoder(nn.Module):
    """Step 1, image feature extraction: a CNN whose output map has one vector per region.

    ``forward(images (batch, 3, 48, 48))`` → ``(regions (batch, 16, feature_size),
    mean (batch, feature_size))``. Three conv + ReLU + max-pool stages shrink 48 → 24 → 12
    → 4, so output cell (i, j) sees grid cell (i, j) of the image (and a little around it).
    A learned vector per region is added, so a feature also says *where* it is: the
    caption's "left of" and "above" need that.
    """

    def __init__(self, feature_size: int = 64) -> None:
        super().__init__()
        self.cnn = nn.Sequential(
            nn.Conv2d(3, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(32, feature_size, 3, padding=1), nn.ReLU(), nn.MaxPool2d(3),
        )
        self.where = nn.Parameter(torch.zeros(GRID * GRID, feature_size))
        nn.init.normal_(self.where, std=0.1)

    def forward(self, images: Tensor) -> tuple[Tensor, Tensor]:
        if images.dim() != 4 or images.shape[1:] != (3, IMAGE_SIZE, IMAGE_SIZE):
            raise ValueError(f"images must be (batch, 3, {IMAGE_SIZE}, {IMAGE_SIZE}), got "
                             f"{tuple(images.shape)}")
        features = self.cnn(images)  # (batch, feature_size, 4, 4)
        regions = features.flatten(2).transpose(1, 2) + self.where  # (batch, 16, feature)
        return regions, regions.mean(dim=1)


class Captioner(nn.Module):
    """CNN regions + an attentive GRU decoder (Show, Attend and Tell, in miniature).

    Args:
        attention: ``"additive"`` (attend over the regions at every word) or ``"none"``
            (every word reads the same mean of the regions: CNN + RNN without attention).

    ``forward(batch)`` (teacher forcing) → ``(logits (batch, m, vocab), weights (batch, m,
    16))``: ``weights[b, t]`` is the attention over the 16 regions while producing word t.
    """

    def __init__(self, vocab_size: int, attention: str = "additive", feature_size: int = 64,
                 embed_size: int = 32, hidden_size: int = 96, attention_size: int = 64) -> None:
        super().__init__()
        if attention not in ("additive", "none"):
            raise ValueError(f"attention must be 'additive' or 'none', got {attention!r}")
        self.encoder = RegionEncoder(feature_size)
        self.decoder = Decoder(vocab_size, embed_size, feature_size, hidden_size, attention,
                               attention_size)

    @property
    def attention(self) -> str:
        return self.decoder.kind

    def regions(self, images: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """``(regions (batch, 16, f), mean (batch, f), mask (batch, 16))``: every region may
        be attended."""
        regions, mean = self.encoder(images)
        return regions, mean, torch.ones(regions.shape[:2], dtype=torch.bool,
                                         device=regions.device)

    def forward(self, batch: CaptionBatch) -> tuple[Tensor, Tensor]:
        regions, mean, mask = self.regions(batch.images)
        return decode_teacher_forced(self.decoder, regions, mean, mask, batch.caption_in)

    def loss(self, batch: CaptionBatch) -> Tensor:
        """Cross-entropy of the next word under teacher forcing, ignoring padding."""
        logits, _ = self(batch)
        return nn.functional.cross_entropy(logits.flatten(0, 1), batch.caption_out.flatten(),
                                           ignore_index=0)


def regions_to_pixels(weights: Tensor) -> Tensor:
    """Attention over the 16 regions → a map over the pixels: ``(..., 16)`` → ``(..., 48,
    48)``, every pixel carrying its region's weight (regions are numbered row by row)."""
    if weights.shape[-1] != GRID * GRID:
        raise ValueError(f"weights must be (..., {GRID * GRID}), got {tuple(weights.shape)}")
    grid = weights.reshape(*weights.shape[:-1], GRID, GRID)  # (..., 4, 4), row-major
    return grid.repeat_interleave(CELL, dim=-2).repeat_interleave(CELL, dim=-1)


@torch.no_grad()
def caption_images(model: Captioner, images: Tensor, max_length: int = 20) -> Translation:
    """Greedy captions of ``images (batch, 3, 48, 48)`` → ``Translation(tokens (batch, m),
    weights (batch, m, 16))``; ``weights[b, t]`` is where the model looked for word t."""
    model.eval()
    regions, mean, mask = model.regions(images)
    return decode_greedy(model.decoder, regions, mean, mask, max_length)


@dataclass(frozen=True)
class AttentionOnObjects:
    """Where the model looked when it said a colour or a shape word.

    ``words``: object words generated correctly (the caption right up to and including
    them); ``on_target``: of those, the fraction whose most attended region is the named
    shape's cell; ``mass``: the mean attention weight on that cell.
    """

    words: int
    on_target: float
    mass: float


def object_word_attention(scenes: Sequence[Scene], captions: Sequence[Sequence[str]],
                          weights: Tensor) -> AttentionOnObjects:
    """Score the attention of generated captions: ``captions[b]`` (words) and ``weights
    (batch, m, 16)`` from :func:`caption_images` for ``scenes[b]``."""
    if not (len(scenes) == len(captions) == weights.shape[0]):
        raise ValueError(f"{len(scenes)} scenes, {len(captions)} captions and "
                         f"{weights.shape[0]} weight rows must match")
    hits, mass, count = 0, 0.0, 0
    for scene, words, alpha in zip(scenes, captions, weights, strict=True):
        for t, (said, truth, owner) in enumerate(zip(words, scene.caption, scene.word_shape,
                                                     strict=False)):
            if said != truth:
                break  # after the first wrong word the caption no longer matches the image
            if owner is None:
                continue
            region = scene.shapes[owner].region
            hits += int(alpha[t].argmax()) == region
            mass += float(alpha[t, region])
            count += 1
    if count == 0:
        return AttentionOnObjects(0, float("nan"), float("nan"))
    return AttentionOnObjects(count, hits / count, mass / count)


def train_captioner(scenes: Sequence[Scene], vocab: Vocab, attention: str = "additive",
                    steps: int = 600, batch_size: int = 64, lr: float = 3e-3, seed: int = 0,
                    progress: bool = True, **sizes: int) -> tuple[Captioner, dict]:
    """Train a fresh :class:`Captioner` on random batches of ``scenes`` (teacher forcing,
    Adam, gradients clipped to norm 1). Returns the model (eval mode) and the history."""
    set_seed(seed)
    model = Captioner(len(vocab), attention, **sizes)
    rng, pool = random.Random(seed), list(scenes)  # one copy, not one per step
    history = train(model, lambda step: model.loss(make_caption_batch(
        rng.sample(pool, batch_size), vocab)), steps=steps, lr=lr, progress=progress,
        description=f"captioner, attention={attention}", max_grad_norm=1.0)
    return model, history
