"""Chapter 03's two slides, drawn by code with the trained models' numbers.

**Captioning's data flow** (Part A, the notes' four steps): the CNN cuts the image into regions
r₁…r₁₆; for each word the decoder's state z asks, and α weighs the regions; the context
c = Σᵢ αᵢ rᵢ feeds the GRU, which produces the word.

* :func:`caption_steps` runs greedy captioning of one image through a trained
  :class:`~course_utils.worlds.captioning.Captioner` (its own ``RegionEncoder`` and
  ``Decoder.attend``, ``cell``, ``out``) and keeps α, c and z of every step;
* :func:`draw_captioning` draws the image with its region grid, then, for two words, α as a
  spotlight over the image (values in the cells) → c → the decoder → the word.

**The reading hops** (Part B): the question u⁰ attends over the story's sentences (hop 1),
adds what it found, u¹ = u⁰ + o¹, asks again (hop 2), and the answer is read from u².

* :func:`read_hops` runs a trained :class:`~course_utils.worlds.reading.MemoryNetwork` on one
  story, hop by hop (its own ``encode``, ``ages`` and ``memory_hop``), keeping p, o and u;
* :func:`draw_reading_hops` draws the sentences as rows, each hop's p as bars (values printed),
  and the chain question u⁰ → hop 1 → u¹ → hop 2 → u² → answer along the top.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.patches import FancyBboxPatch, Rectangle
from torch import Tensor

from ...worlds.captioning import GRID, Captioner
from ...worlds.reading import MemoryNetwork, StoryBatch, memory_hop
from ..heatmaps import as_image, spotlight
from .chapter_02 import arrow, superscript

__all__ = ["CaptionSteps", "caption_steps", "draw_captioning", "HopReading", "read_hops",
           "draw_reading_hops", "STRIP"]

STRIP = 8                  # numbers of each vector shown as a colour strip
STRIP_CMAP = "RdBu_r"
ALPHA_COLOR = "tab:orange"
BOX_FACE = "#f4f4f4"
NOTE = "0.3"               # grey of the small explanations


# --------------------------------------------------------------------------- shared helpers
def canvas(width: float, height: float) -> tuple[Figure, Axes]:
    """A figure whose single axis fills it, in inches as data coordinates (so an image drawn
    with an extent keeps its aspect)."""
    fig = plt.figure(figsize=(width, height))
    ax = fig.add_axes((0, 0, 1, 1))
    ax.set_xlim(0, width)
    ax.set_ylim(0, height)
    ax.set_axis_off()
    return fig, ax


def box(ax: Axes, x: float, y: float, width: float, height: float, label: str, gid: str,
        vector: Tensor | None = None, scale: float = 1.0, fontsize: float = 9) -> None:
    """A rounded box named ``gid`` with ``label``; with ``vector (d,)``, its first
    :data:`STRIP` numbers as a colour strip under the label (blue −scale … red +scale)."""
    patch = FancyBboxPatch((x, y), width, height, boxstyle="round,pad=0.02,rounding_size=0.08",
                           facecolor=BOX_FACE, edgecolor="0.3", linewidth=1.0)
    patch.set_gid(gid)
    ax.add_patch(patch)
    label_y = y + (0.68 if vector is not None else 0.5) * height
    ax.text(x + width / 2, label_y, label, ha="center", va="center", fontsize=fontsize)
    if vector is None:
        return
    numbers = vector.detach().cpu().numpy()[:STRIP][None, :]
    pad = 0.08 * width
    image = ax.imshow(numbers, cmap=STRIP_CMAP, vmin=-scale, vmax=scale, aspect="auto",
                      interpolation="nearest", zorder=3,
                      extent=(x + pad, x + width - pad, y + 0.12 * height, y + 0.38 * height))
    image.set_gid(gid)


def largest(vectors: Sequence[Tensor]) -> float:
    """The largest |number| among the strips of ``vectors``: their common colour scale."""
    return max(float(v[:STRIP].abs().max()) for v in vectors) or 1.0


# --------------------------------------------------------------------------- Part A
@dataclass(frozen=True)
class CaptionSteps:
    """The tensors of greedy captioning of one image (R = 16 regions, f = feature size,
    h = the decoder's state size, T = steps).

    ``regions (R, f)``: r₁…r_R; ``weights (T, R)``: α of step t; ``contexts (T, f)``:
    c = Σᵢ αᵢ rᵢ; ``queries (T, h)``: z^{t−1}, the state that asks; ``states (T, h)``: z^t;
    ``inputs``: the previous word of each step; ``words``: the word each step produces.
    """

    regions: Tensor
    weights: Tensor
    contexts: Tensor
    queries: Tensor
    states: Tensor
    inputs: tuple[str, ...]
    words: tuple[str, ...]


@torch.no_grad()
def caption_steps(model: Captioner, image: Tensor, vocab, steps: int = 20) -> CaptionSteps:
    """The first ``steps`` greedy steps of ``model`` on ``image (3, 48, 48)`` (stopping after
    ``<eos>``), keeping the tensors of :class:`CaptionSteps`; ``vocab`` has ``bos_id``,
    ``eos_id`` and ``itos``. Words and α are those of
    :func:`~course_utils.worlds.captioning.caption_images`."""
    if model.attention == "none":
        raise ValueError("the captioner has no attention: there is no α to draw")
    if steps < 1:
        raise ValueError(f"steps must be at least 1, got {steps}")
    regions, mean, mask = model.regions(image.unsqueeze(0))
    decoder = model.decoder
    z = decoder.initial_state(mean)
    word = torch.tensor([vocab.bos_id])
    record: dict[str, list] = {k: [] for k in ("weights", "contexts", "queries", "states",
                                               "inputs", "words")}
    for _ in range(steps):
        c, alpha = decoder.attend(z, regions, mask, mean)
        z_new = decoder.cell(torch.cat([decoder.embed(word), c], dim=-1), z)
        logits = decoder.out(torch.cat([z_new, c], dim=-1))
        for key, value in (("weights", alpha), ("contexts", c), ("queries", z),
                           ("states", z_new)):
            record[key].append(value[0])
        record["inputs"].append(vocab.itos[word.item()])
        word = logits.argmax(dim=-1)
        record["words"].append(vocab.itos[word.item()])
        z = z_new
        if word.item() == vocab.eos_id:
            break
    stacked = {k: torch.stack(record[k]) for k in ("weights", "contexts", "queries", "states")}
    return CaptionSteps(regions[0], **stacked, inputs=tuple(record["inputs"]),
                        words=tuple(record["words"]))


def draw_regions(ax: Axes, picture: np.ndarray, x: float, y: float, size: float, gid: str,
                 alpha: np.ndarray | None = None) -> None:
    """``picture (H, W, 3)`` in the square (x, y, size) with the GRID × GRID region lines;
    with ``alpha (GRID, GRID)``, each weight ≥ 0.005 printed in its cell and the largest
    framed."""
    image = ax.imshow(picture, extent=(x, x + size, y, y + size), interpolation="nearest",
                      zorder=2)
    image.set_gid(gid)
    cell = size / GRID
    for k in range(1, GRID):
        ax.plot([x + k * cell] * 2, [y, y + size], color="white", lw=0.6, alpha=0.6, zorder=3)
        ax.plot([x, x + size], [y + k * cell] * 2, color="white", lw=0.6, alpha=0.6, zorder=3)
    if alpha is None:
        return
    for (r, c), value in np.ndenumerate(alpha):
        if value >= 0.005:
            ax.text(x + (c + 0.5) * cell, y + size - (r + 0.5) * cell, f"{value:.2f}",
                    ha="center", va="center", fontsize=7, color="white", zorder=4,
                    gid=f"{gid}:alpha{r * GRID + c + 1}",
                    bbox={"boxstyle": "round,pad=0.1", "facecolor": "black", "alpha": 0.55,
                          "edgecolor": "none"})
    r, c = np.unravel_index(int(np.argmax(alpha)), alpha.shape)
    frame = Rectangle((x + c * cell, y + size - (r + 1) * cell), cell, cell, fill=False,
                      edgecolor="#00e5ff", lw=1.3, zorder=4)
    frame.set_gid(f"{gid}:max")
    ax.add_patch(frame)


def draw_word_row(ax: Axes, image: object, steps: CaptionSteps, t: int, y: float,
                  scale: float) -> None:
    """One word's row at height ``y``: α over the image → c → Decoder (GRU) → the word."""
    alpha = steps.weights[t].detach().cpu().numpy().reshape(GRID, GRID)
    size = 1.75
    draw_regions(ax, spotlight(image, alpha), 4.2, y, size, gid=f"alpha@{t}", alpha=alpha)
    before, now = superscript(t), superscript(t + 1)
    ax.text(4.2 + size / 2, y + size + 0.12, f"step {t + 1}: α over the 16 regions",
            ha="center", va="bottom", fontsize=8.5)
    ax.text(3.15, y + size - 0.2, f"z{before} asks:\nαᵢ ∝ exp(vᵀ tanh(\nW_q z{before} + W_k rᵢ))",
            ha="center", va="center", fontsize=7.5, color=NOTE)
    mid = y + size / 2
    box(ax, 6.4, mid - 0.45, 1.5, 0.9, "c = Σᵢ αᵢ rᵢ", gid=f"context@{t}",
        vector=steps.contexts[t], scale=scale)
    arrow(ax, (4.2 + size + 0.05, mid), (6.4, mid), width=1.4, color=ALPHA_COLOR,
          gid=f"alpha->context@{t}")
    box(ax, 8.25, mid - 0.45, 1.45, 0.9, f"Decoder (GRU)\nz{now}", gid=f"decoder@{t}")
    arrow(ax, (7.9, mid), (8.25, mid), gid=f"context->decoder@{t}")
    ax.text(8.975, mid - 0.62, f"previous word: “{steps.inputs[t]}”", ha="center", va="top",
            fontsize=7.5, color=NOTE)
    box(ax, 10.05, mid - 0.3, 0.95, 0.6, f"“{steps.words[t]}”", gid=f"word@{t}", fontsize=11)
    arrow(ax, (9.7, mid), (10.05, mid), gid=f"decoder->word@{t}")


def draw_captioning(image: object, steps: CaptionSteps, words: Sequence[int] = (0, 1)
                    ) -> Figure:
    """The captioner's data flow for two of its words: the image (``(3, H, W)`` tensor or
    ``(H, W, 3)`` array in [0, 1]) with its 4 × 4 region grid → RegionEncoder (CNN) → r₁…r₁₆;
    for each step in ``words`` (two indices into ``steps.words``): α as a spotlight over the
    image with its values → c = Σᵢ αᵢ rᵢ (first :data:`STRIP` numbers as a strip) →
    Decoder (GRU) → the word. Returns the figure (``plt.show()`` shows it)."""
    if len(words) != 2:
        raise ValueError(f"draw_captioning draws two words, got {len(words)}")
    if any(not 0 <= t < len(steps.words) for t in words):
        raise ValueError(f"word steps {tuple(words)} outside the caption's "
                         f"{len(steps.words)} steps")
    picture = as_image(image)
    fig, ax = canvas(11.2, 5.1)
    draw_regions(ax, picture, 0.15, 1.55, 1.9, gid="image")
    cell = 1.9 / GRID
    ax.text(0.15 + cell / 2, 1.55 + 1.9 - cell / 2, "r₁", ha="center", va="center",
            fontsize=8, color="white", zorder=4)
    ax.text(0.15 + 1.9 - cell / 2, 1.55 + cell / 2, "r₁₆", ha="center", va="center",
            fontsize=8, color="white", zorder=4)
    ax.text(1.1, 3.6, "the image: 4 × 4 regions", ha="center", va="bottom", fontsize=9)
    box(ax, 0.2, 0.35, 1.8, 0.75, "RegionEncoder (CNN)\nr₁…r₁₆: 16 × "
        f"{steps.regions.shape[1]}", gid="encoder", fontsize=8)
    arrow(ax, (1.1, 1.55), (1.1, 1.1), gid="image->encoder")
    scale = largest([steps.contexts[t] for t in words])
    for t, y in zip(words, (2.65, 0.35), strict=True):
        draw_word_row(ax, picture, steps, t, y, scale)
        arrow(ax, (2.0, 0.72), (4.15, y + 0.35), linestyle="--", gid=f"regions->alpha@{t}")
    ax.text(2.35, 1.45, "r₁…r₁₆, weighed\nanew for each word", ha="left", va="center",
            fontsize=7.5, color=NOTE)
    caption = " ".join(w for w in steps.words if w != "<eos>")
    ax.text(5.6, 5.05, f"caption: “{caption}”", ha="center", va="top", fontsize=9,
            style="italic")
    ax.text(11.1, 0.05, f"strips: the first {STRIP} of the {steps.contexts.shape[1]} numbers "
            f"of c (blue −{scale:.1f} … red +{scale:.1f})", ha="right", va="bottom",
            fontsize=7.5, color=NOTE)
    return fig


# --------------------------------------------------------------------------- Part B
@dataclass(frozen=True)
class HopReading:
    """One story read by a memory network with K hops (n sentences, d = embedding size).

    ``weights (K, n)``: p of every hop over the sentences; ``outputs (K, d)``: o of every hop,
    Σᵢ pᵢ cᵢ; ``queries (K + 1, d)``: u⁰ (the question) … u^K, where u^k = u^{k−1} + o^k;
    ``answer``: the answer read from u^K.
    """

    weights: Tensor
    outputs: Tensor
    queries: Tensor
    answer: str

    @property
    def hops(self) -> int:
        return self.weights.shape[0]


@torch.no_grad()
def read_hops(reader: MemoryNetwork, batch: StoryBatch, answers: Sequence[str]) -> HopReading:
    """``reader``'s hops on a batch of one story (``batch.story (1, n, words)``), through its
    own ``encode``, ``ages`` and :func:`~course_utils.worlds.reading.memory_hop`; ``answers``:
    the answer words in the order of the reader's output. p and the answer are those of
    ``reader(batch)``."""
    if batch.story.shape[0] != 1:
        raise ValueError(f"read_hops draws one story; the batch has {batch.story.shape[0]}")
    u = reader.encode(reader.embeddings[0], batch.question)
    ages = reader.ages(batch.story_mask)
    memories = [reader.encode(e, batch.story) + t[ages]
                for e, t in zip(reader.embeddings, reader.age, strict=True)]
    queries, outputs, weights = [u[0]], [], []
    for hop in range(reader.hops):
        new, p = memory_hop(u, memories[hop], memories[hop + 1], batch.story_mask)
        outputs.append((new - u)[0])
        weights.append(p[0])
        queries.append(new[0])
        u = new
    answer = list(answers)[reader.answer(u).argmax().item()]
    return HopReading(torch.stack(weights), torch.stack(outputs), torch.stack(queries), answer)


def draw_reading_hops(sentences: Sequence[str], question: str, reading: HopReading,
                      support: Sequence[int] = ()) -> Figure:
    """The hops of a memory network on one story: the ``sentences`` (n strings) as rows, ★ on
    the ``support`` indices; one column per hop with p as bars (values printed); along the top
    the chain ``question`` u⁰ → hop 1 (o¹) → u¹ = u⁰ + o¹ → … → answer, every u and o with its
    first :data:`STRIP` numbers as a strip. Returns the figure."""
    n, hops = reading.weights.shape[1], reading.hops
    if len(sentences) != n:
        raise ValueError(f"{len(sentences)} sentences for {n} attention weights")
    pitch = 0.27
    top = 0.35 + pitch * n                       # the sentence rows lie between 0.35 and top
    width = 4.3 + 2.3 * hops + 1.4
    fig, ax = canvas(width, top + 1.6)
    scale = largest([*reading.queries, *reading.outputs])
    flow_y = top + 0.35                          # bottom of the chain's boxes
    box(ax, 0.1, flow_y, 3.6, 0.85, f"u⁰ = “{question}”", gid="question",
        vector=reading.queries[0], scale=scale, fontsize=8.5)
    ax.text(0.1, top + 0.05, "story (★ = supporting sentence)", ha="left", va="bottom",
            fontsize=8, color=NOTE)
    for i, sentence in enumerate(sentences):
        y = top - (i + 0.5) * pitch
        star = "★ " if i in support else "   "
        ax.text(0.1, y, f"{star}{sentence}", ha="left", va="center", fontsize=8.5,
                gid=f"sentence{i + 1}")
    previous = (3.7, flow_y + 0.42)
    for k in range(hops):
        left = 4.0 + 2.3 * k
        hop, after = superscript(k + 1), superscript(k)
        p = reading.weights[k].detach().cpu().numpy()
        for i, value in enumerate(p):
            y = top - (i + 0.5) * pitch
            ax.add_patch(Rectangle((left, y - 0.09), 0.02, 0.18, color="0.7"))
            bar = Rectangle((left, y - 0.09), 1.4 * float(value), 0.18, color=ALPHA_COLOR)
            bar.set_gid(f"p{k + 1}:{i + 1}")
            ax.add_patch(bar)
            ax.text(left + 1.45, y, f"{value:.2f}", ha="left", va="center", fontsize=7.5,
                    gid=f"p{k + 1}:{i + 1}")
        box(ax, left, flow_y, 1.85, 0.85, f"hop {k + 1}: o{hop} = Σ pᵢ cᵢ", gid=f"hop{k + 1}",
            vector=reading.outputs[k], scale=scale, fontsize=8)
        arrow(ax, previous, (left, flow_y + 0.42), gid=f"u{k}->hop{k + 1}")
        ax.text(left + 0.92, flow_y - 0.05, f"p{hop}: softmax(u{after}ᵀ mᵢ)", ha="center",
                va="top", fontsize=7.5, color=NOTE)
        ax.text(left + 2.075, flow_y + 0.9, f"u{hop} = u{after} + o{hop}", ha="center",
                va="bottom", fontsize=7.5, color="0.2", gid=f"u{k + 1}")
        previous = (left + 1.85, flow_y + 0.42)
    last = superscript(hops)
    answer_left = 4.0 + 2.3 * hops
    box(ax, answer_left, flow_y, 1.3, 0.85, f"answer: W u{last}\n“{reading.answer}”",
        gid="answer", fontsize=8.5)
    arrow(ax, previous, (answer_left, flow_y + 0.42), gid=f"u{hops}->answer")
    ax.text(width - 0.1, 0.05, f"bars: p of each hop over the sentences;  strips: the first "
            f"{STRIP} of the {reading.queries.shape[1]} numbers of u and o (blue −{scale:.1f} "
            f"… red +{scale:.1f})", ha="right", va="bottom", fontsize=7.5, color=NOTE)
    return fig
