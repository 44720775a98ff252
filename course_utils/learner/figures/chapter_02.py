"""Chapter 02's slide, drawn by code: the encoder-decoder with attention, step by step.

The notes' slide: the encoder reads the source into h¹…hⁿ; the decoder's state z is the query,
scored against every hⁱ; softmax gives α; the context c = Σᵢ αᵢ hⁱ feeds the decoder, which
produces the next state and the next word; then the new state asks again.

* :func:`decode_steps` runs greedy decoding steps of a trained
  :class:`~course_utils.worlds.seq2seq.Seq2Seq` on one sentence (through the model's own
  ``Decoder.attend``, ``cell`` and ``out``) — the first few, or all of them up to ``<eos>`` —
  and keeps every tensor the slide shows;
* :func:`draw_seq2seq_attention` draws one panel per step from those tensors, side by side:
  the source words, the boxes h¹…hⁿ, the query z, arrows to c whose widths are α (values
  printed), c, the next state and the next word. Each vector box shows its first few numbers
  as a colour strip.
* :func:`seq2seq_walkthrough` is the same slide as a step-through (a slider over the decoding
  steps t = 1 … T of one sentence, every word the model emits; saved picture: step 1), with
  the translation growing along the top: the words emitted so far, the word of this step, and
  empty slots for the words to come. :func:`draw_decoding_step` draws one of its steps.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.patches import FancyArrowPatch, FancyBboxPatch
from torch import Tensor

from ...worlds.seq2seq import Seq2Seq
from ...worlds.translation import Batch
from ..heatmaps import DPI
from .step_through import Pixels, StepThrough, still_pixels

__all__ = ["DecodingSteps", "decode_steps", "draw_seq2seq_attention", "superscript",
           "draw_decoding_step", "decoding_captions", "seq2seq_walkthrough", "drawn_alpha",
           "drawn_words", "MAX_STEPS"]

STRIP = 8                  # numbers of each vector shown as a colour strip
STRIP_CMAP = "RdBu_r"      # GRU states and their weighted sums lie in (-1, 1)
ALPHA_COLOR = "tab:orange"
BOX_FACE = "#f4f4f4"
SUPERSCRIPTS = str.maketrans("0123456789", "⁰¹²³⁴⁵⁶⁷⁸⁹")
MAX_STEPS = 40             # decoding "up to <eos>" stops here if <eos> never comes
EOS = "<eos>"
NOW_FACE = "#ffe2c2"       # the word emitted at this step


def superscript(number: int) -> str:
    """``12`` → ``"¹²"``: the notes' h¹…hⁿ, z⁰, c¹."""
    return str(number).translate(SUPERSCRIPTS)


@dataclass(frozen=True)
class DecodingSteps:
    """The tensors of the first T decoding steps of one sentence (d = the state width).

    ``states (n, d)``: h¹…hⁿ; ``queries (T, d)``: z^{t-1}, the state that asks at step t;
    ``weights (T, n)``: α of step t; ``contexts (T, d)``: c^{t-1} = Σᵢ αᵢ hⁱ;
    ``new_states (T, d)``: z^t; ``inputs``: the previous word each step reads (``<bos>``,
    then the model's own words); ``words``: the word each step produces.
    """

    states: Tensor
    queries: Tensor
    weights: Tensor
    contexts: Tensor
    new_states: Tensor
    inputs: tuple[str, ...]
    words: tuple[str, ...]

    @property
    def steps(self) -> int:
        return self.weights.shape[0]


@torch.no_grad()
def decode_steps(model: Seq2Seq, batch: Batch, target_vocab,
                 steps: int | None = 2) -> DecodingSteps:
    """The first ``steps`` greedy decoding steps of ``model`` (with attention) on a batch of
    one sentence, ``batch.source (1, n)``, keeping the slide's tensors (see
    :class:`DecodingSteps`); ``steps=None``: every step, up to and with the one that emits
    ``<eos>`` (at most :data:`MAX_STEPS`). ``target_vocab`` has ``bos_id`` and ``itos``. The
    words and α are those of :func:`~course_utils.worlds.seq2seq.greedy_decode`."""
    if batch.source.shape[0] != 1:
        raise ValueError(f"decode_steps draws one sentence; the batch has {batch.source.shape[0]}")
    if model.attention == "none":
        raise ValueError("the model has no attention: there is no α to draw")
    if steps is not None and (isinstance(steps, bool) or not isinstance(steps, int)
                              or steps < 1):
        raise ValueError(f"steps must be an int of at least 1 (or None: up to <eos>), "
                         f"got {steps!r}")
    decoder = model.decoder
    states, final = model.encoder(batch.source, batch.source_mask)
    z = decoder.initial_state(final)
    word = torch.tensor([target_vocab.bos_id])
    record: dict[str, list] = {k: [] for k in ("queries", "weights", "contexts", "new_states",
                                               "inputs", "words")}
    for _ in range(MAX_STEPS if steps is None else steps):
        c, alpha = decoder.attend(z, states, batch.source_mask, final)
        z_new = decoder.cell(torch.cat([decoder.embed(word), c], dim=-1), z)
        logits = decoder.out(torch.cat([z_new, c], dim=-1))
        for key, value in (("queries", z), ("weights", alpha), ("contexts", c),
                           ("new_states", z_new)):
            record[key].append(value[0])
        record["inputs"].append(target_vocab.itos[word.item()])
        word = logits.argmax(dim=-1)
        record["words"].append(target_vocab.itos[word.item()])
        z = z_new
        if steps is None and record["words"][-1] == EOS:
            break
    n = int(batch.source_mask[0].sum())
    return DecodingSteps(states[0, :n], torch.stack(record["queries"]),
                         torch.stack(record["weights"])[:, :n], torch.stack(record["contexts"]),
                         torch.stack(record["new_states"]), tuple(record["inputs"]),
                         tuple(record["words"]))


def vector_box(ax: Axes, x: float, y: float, width: float, height: float, label: str,
               vector: Tensor | None, gid: str, fontsize: float = 9) -> None:
    """A rounded box with ``label`` on top and, under it, the first :data:`STRIP` numbers of
    ``vector (d,)`` as a colour strip (blue −1 … red +1). ``gid`` names the box."""
    box = FancyBboxPatch((x, y), width, height, boxstyle="round,pad=0.02,rounding_size=0.12",
                         facecolor=BOX_FACE, edgecolor="0.3", linewidth=1.0)
    box.set_gid(gid)
    ax.add_patch(box)
    if vector is None:
        ax.text(x + width / 2, y + height / 2, label, ha="center", va="center",
                fontsize=fontsize)
        return
    ax.text(x + width / 2, y + 0.70 * height, label, ha="center", va="center",
            fontsize=fontsize)
    numbers = vector.detach().cpu().numpy()[:STRIP][None, :]
    pad = 0.08 * width
    image = ax.imshow(numbers, cmap=STRIP_CMAP, vmin=-1, vmax=1, aspect="auto",
                      interpolation="nearest", zorder=3,
                      extent=(x + pad, x + width - pad, y + 0.12 * height, y + 0.42 * height))
    image.set_gid(gid)


def arrow(ax: Axes, start: tuple[float, float], end: tuple[float, float], width: float = 1.0,
          color: str = "0.35", style: str = "-|>", linestyle: str = "-", gid: str = "",
          alpha: float = 1.0) -> FancyArrowPatch:
    """An arrow from ``start`` to ``end`` (data coordinates), ``width`` points wide."""
    patch = FancyArrowPatch(start, end, arrowstyle=style, mutation_scale=9 + width,
                            linewidth=width, color=color, linestyle=linestyle, alpha=alpha,
                            shrinkA=0, shrinkB=0)
    patch.set_gid(gid)
    ax.add_patch(patch)
    return patch


STILL, MOVING, ALL = "still", "moving", "all"


def draw_step(ax: Axes, source_words: Sequence[str], steps: DecodingSteps, t: int,
              translation: bool = False, parts: str = ALL) -> None:
    """Panel for decoding step ``t`` (0-based) on ``ax``, in data coordinates 0…10 × 0…10.

    ``translation``: along the top, one slot per step of ``steps`` instead of the one word: the
    words emitted before step t, this step's word (highlighted, the arrows from z and c end in
    it) and empty dashed slots for the words to come; no axes title (the step-through writes
    its own). ``parts``: ``"all"``; ``"still"``, only what every step shares (the source words,
    h¹…hⁿ, the labels and fixed arrows); ``"moving"``, only what changes with t."""
    if parts not in (STILL, MOVING, ALL):
        raise ValueError(f"parts must be 'all', 'still' or 'moving', got {parts!r}")
    still, moving = parts != MOVING, parts != STILL
    n = len(source_words)
    alpha = steps.weights[t].detach().cpu().numpy()
    ax.set_xlim(0, 10)
    ax.set_ylim(0, 10)
    ax.set_axis_off()
    left, right = 3.0, 9.9                       # the h row
    pitch = (right - left) / n
    width = min(1.05, 0.82 * pitch)
    centres = left + pitch * (np.arange(n) + 0.5)
    c_box = (4.9, 4.7, 2.6, 1.25)                # x, y, width, height
    c_mid = c_box[0] + c_box[2] / 2
    # Encoder: source words and h¹…hⁿ.
    if still:
        ax.text(0.15, 1.7, "Encoder\n(bi-GRU)", ha="left", va="center", fontsize=8,
                color="0.35")
    for i, (x, word) in enumerate(zip(centres, source_words, strict=True)):
        if still:
            ax.text(x, 0.55, word, ha="center", va="center", fontsize=9, style="italic")
            arrow(ax, (x, 0.85), (x, 1.1), width=0.8, gid=f"word->h{i + 1}")
            vector_box(ax, x - width / 2, 1.1, width, 1.2, f"h{superscript(i + 1)}",
                       steps.states[i], gid=f"h{i + 1}")
        if moving:  # α: one arrow per hⁱ into c, as wide as its weight, with its value
            target = (c_mid + (x - (left + right) / 2) * 0.3, c_box[1])
            arrow(ax, (x, 2.3), target, width=0.4 + 9 * float(alpha[i]), color=ALPHA_COLOR,
                  gid=f"alpha{i + 1}", alpha=0.35 + 0.65 * float(alpha[i]))
            ax.text(x, 2.72, f"{alpha[i]:.2f}", ha="center", va="center", fontsize=8,
                    bbox={"boxstyle": "round,pad=0.15", "facecolor": "white",
                          "edgecolor": "none"}, gid=f"alpha{i + 1}")
    # Decoder: the query, the context, the next state and the next word.
    if still:
        arrow(ax, (2.55, 3.45), (centres[0] - width / 2 - 0.05, 2.05), width=1.0,
              linestyle="--", gid="score")
        ax.text(2.75, 4.05, "score vs every hⁱ,\nsoftmax → α", ha="left", va="center",
                fontsize=7.5, color="0.25")
        arrow(ax, (0.75, 4.25), (0.75, 6.55), gid="query->new_state")
        arrow(ax, (2.0, 5.65), (2.0, 6.55), width=0.8, gid="input->new_state")
        ax.text(2.65, 5.15, "previous\nword", ha="left", va="center", fontsize=7.5,
                color="0.25")
        arrow(ax, (c_box[0], c_box[1] + 0.9), (2.55, 6.85), gid="context->new_state")
        if translation:
            ax.text(2.75, 9.02, "translation\nso far", ha="right", va="center", fontsize=8,
                    color="0.35")
    if not moving:
        return
    query, new = superscript(t), superscript(t + 1)
    vector_box(ax, 0.15, 3.0, 2.4, 1.25, f"z{query}  (query)", steps.queries[t], gid="query")
    vector_box(ax, *c_box, f"c{query} = Σ αᵢ hⁱ", steps.contexts[t], gid="context")
    vector_box(ax, 0.15, 6.55, 2.4, 1.25, f"z{new}  (GRU)", steps.new_states[t], gid="new_state")
    vector_box(ax, 1.45, 4.95, 1.1, 0.7, steps.inputs[t], None, gid="input", fontsize=8)
    if translation:
        word_box = _translation_row(ax, steps, t)
    else:
        word_box = (4.9, 8.55, 2.6, 0.95)
        vector_box(ax, *word_box, f"“{steps.words[t]}”", None, gid="word", fontsize=11)
        ax.set_title(f"step {t + 1}: z{query} asks → α → c{query} → z{new} → "
                     f"“{steps.words[t]}”", fontsize=10)
    if translation:  # both arrows end under the slot, whichever it is
        from_z = (word_box[0] + 0.3 * word_box[2], word_box[1])
        from_c = (word_box[0] + 0.65 * word_box[2], word_box[1])
    else:
        from_z, from_c = (word_box[0], word_box[1] + 0.4), (c_mid, word_box[1])
    arrow(ax, (2.55, 7.45), from_z, gid="new_state->word")
    arrow(ax, (c_mid, c_box[1] + c_box[3]), from_c, gid="context->word")


def _translation_row(ax: Axes, steps: DecodingSteps, t: int) -> tuple[float, ...]:
    """The translation along the top, one slot per step; returns step ``t``'s slot."""
    left, right, y, height = 3.0, 9.9, 8.55, 0.95
    pitch = (right - left) / steps.steps
    width = min(1.6, 0.9 * pitch)
    now = (0.0, 0.0, 0.0, 0.0)
    for k, word in enumerate(steps.words):
        x = left + pitch * (k + 0.5) - width / 2
        if k > t:                                 # to come: an empty dashed slot
            slot = FancyBboxPatch((x, y), width, height,
                                  boxstyle="round,pad=0.02,rounding_size=0.12",
                                  facecolor="white", edgecolor="0.7", linestyle="--",
                                  linewidth=0.8)
            slot.set_gid(f"slot{k + 1}")
            ax.add_patch(slot)
            continue
        slot = FancyBboxPatch((x, y), width, height, boxstyle="round,pad=0.02,rounding_size=0.12",
                              facecolor=NOW_FACE if k == t else BOX_FACE,
                              edgecolor=ALPHA_COLOR if k == t else "0.6",
                              linewidth=1.6 if k == t else 0.8)
        slot.set_gid("word" if k == t else f"slot{k + 1}")
        ax.add_patch(slot)
        ax.text(x + width / 2, y + height / 2, word, ha="center", va="center",
                fontsize=10 if k == t else 9, color="black" if k == t else "0.35",
                fontweight="bold" if k == t else "normal", gid="translation")
        if k == t:
            now = (x, y, width, height)
    return now


def draw_seq2seq_attention(source_words: Sequence[str], steps: DecodingSteps,
                           figsize: tuple[float, float] = (11.0, 4.8)) -> Figure:
    """The notes' slide, one panel per decoding step in ``steps`` (side by side), with the
    model's numbers: α (arrow widths and values), and the first :data:`STRIP` numbers of
    every hⁱ, z and c. ``source_words``: the n words under h¹…hⁿ (n = ``steps.weights.shape[1]``).
    Returns the figure (drawn with pyplot: ``plt.show()`` shows it, ``plt.close`` frees it)."""
    n = steps.weights.shape[1]
    if len(source_words) != n:
        raise ValueError(f"{len(source_words)} source words for {n} attention weights")
    fig, axes = plt.subplots(1, steps.steps, figsize=figsize, squeeze=False,
                             gridspec_kw={"wspace": 0.04})
    for t, ax in enumerate(axes[0]):
        draw_step(ax, source_words, steps, t)
    fig.subplots_adjust(left=0.01, right=0.99, top=0.9, bottom=0.08)
    fig.text(0.5, 0.025, f"colour strips: the first {STRIP} of the {steps.states.shape[1]} "
             "numbers of each vector (blue −1 … red +1);  arrow widths into c: α",
             ha="center", fontsize=8, color="0.3")
    return fig


# ----------------------------------------------------------------------- the step-through
FIGSIZE = (7.6, 5.3)         # inches: one panel and a title


def decoding_captions(steps: DecodingSteps) -> tuple[str, ...]:
    """One caption per decoding step: what z asks and the word it gets."""
    return tuple(f"z{superscript(t)} asks → α → c{superscript(t)} → z{superscript(t + 1)} → "
                 f"“{word}”" + (": the model stops" if word == EOS else "")
                 for t, word in enumerate(steps.words))


AXES_RECT = (0.01, 0.07, 0.98, 0.86)   # the panel, in figure fractions


def _check(source_words: Sequence[str], steps: DecodingSteps) -> None:
    n = steps.weights.shape[1]
    if len(source_words) != n:
        raise ValueError(f"{len(source_words)} source words for {n} attention weights")


def still_layer(source_words: Sequence[str], steps: DecodingSteps, dpi: int = DPI,
                figsize: tuple[float, float] = FIGSIZE) -> np.ndarray:
    """What every step shares (the source words, h¹…hⁿ, the labels, the fixed arrows and the
    strips' key), rendered once: ``(height, width, 4)`` RGBA pixels on a transparent ground,
    the step-through's size at ``dpi``."""
    _check(source_words, steps)

    def draw(fig: Figure) -> None:
        draw_step(fig.add_axes(AXES_RECT), source_words, steps, 0, translation=True,
                  parts=STILL)
        _key(fig, steps)

    return still_pixels(draw, figsize, dpi)


def _key(fig: Figure, steps: DecodingSteps) -> None:
    fig.text(0.5, 0.03, f"colour strips: the first {STRIP} of the {steps.states.shape[1]} "
             "numbers of each vector (blue −1 … red +1);  arrow widths into c: α",
             ha="center", va="center", fontsize=7.5, color="0.3")


def draw_decoding_step(fig: Figure, step: int, source_words: Sequence[str],
                       steps: DecodingSteps, still: np.ndarray | None = None) -> Axes:
    """Decoding step ``step`` (1 … ``steps.steps``) on ``fig`` (sized :data:`FIGSIZE`): the
    slide's panel (h¹…hⁿ over the source words, z as the query, α as arrow widths and values
    into c = Σ αᵢ hⁱ, the next state) with the translation growing along the top
    (:func:`draw_step` with ``translation=True``), a title and the colour strips' key.
    ``still``: the :func:`still_layer` at ``fig``'s dpi, pasted under the moving parts instead
    of drawing the still parts again (fast). Returns the axes."""
    _check(source_words, steps)
    if isinstance(step, bool) or not isinstance(step, int) or not 1 <= step <= steps.steps:
        raise ValueError(f"step must be in 1 … {steps.steps}, got {step!r}")
    ax = fig.add_axes(AXES_RECT)
    if still is None:
        draw_step(ax, source_words, steps, step - 1, translation=True)
        _key(fig, steps)
    else:
        draw_step(ax, source_words, steps, step - 1, translation=True, parts=MOVING)
        layer = fig.add_artist(Pixels(still))
        layer.set_zorder(-1)                     # under the axes: the moving parts on top
    fig.text(0.015, 0.965, f"Step {step} of {steps.steps} · "
             f"{decoding_captions(steps)[step - 1]}", ha="left", va="center", fontsize=11,
             gid="title")
    return ax


def seq2seq_walkthrough(model: Seq2Seq, batch: Batch, target_vocab,
                        source_words: Sequence[str], *, dpi: int = DPI,
                        play: bool = True) -> StepThrough:
    """The slide as a :class:`StepThrough` over every greedy decoding step of one sentence,
    up to and with ``<eos>`` (saved picture: step 1). ``batch``: one sentence
    (``batch.source (1, n)``); ``source_words``: its n words; ``target_vocab``: as for
    :func:`decode_steps`. The still parts are rendered once (:func:`still_layer`); a step
    draws only what moves. ``walk.numbers`` holds what is drawn (a :class:`DecodingSteps`)."""
    numbers = decode_steps(model, batch, target_vocab, steps=None)
    words = tuple(source_words)
    still = still_layer(words, numbers, dpi)
    walk = StepThrough(lambda fig, step: draw_decoding_step(fig, step, words, numbers, still),
                       decoding_captions(numbers), figsize=FIGSIZE, dpi=dpi, play=play)
    walk.numbers = numbers
    return walk


def drawn_alpha(fig: Figure) -> list[float]:
    """The α printed on a step's figure (the 2-decimal labels of the arrows), h¹ first."""
    return [float(text.get_text()) for ax in fig.axes for text in ax.texts
            if str(text.get_gid()).startswith("alpha")]


def drawn_words(fig: Figure) -> list[str]:
    """The words of the translation row of a step's figure, left to right (this step's last)."""
    return [text.get_text() for ax in fig.axes for text in ax.texts
            if text.get_gid() == "translation"]
