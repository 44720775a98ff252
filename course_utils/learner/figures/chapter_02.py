"""Chapter 02's slide, drawn by code: the encoder-decoder with attention, step by step.

The notes' slide: the encoder reads the source into h¹…hⁿ; the decoder's state z is the query,
scored against every hⁱ; softmax gives α; the context c = Σᵢ αᵢ hⁱ feeds the decoder, which
produces the next state and the next word; then the new state asks again.

* :func:`decode_steps` runs the first decoding steps of a trained
  :class:`~course_utils.worlds.seq2seq.Seq2Seq` on one sentence (greedy, through the model's own
  ``Decoder.attend``, ``cell`` and ``out``) and keeps every tensor the slide shows;
* :func:`draw_seq2seq_attention` draws one panel per step from those tensors: the source words,
  the boxes h¹…hⁿ, the query z, arrows to c whose widths are α (values printed), c, the next
  state and the next word. Each vector box shows its first few numbers as a colour strip.
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

__all__ = ["DecodingSteps", "decode_steps", "draw_seq2seq_attention", "superscript"]

STRIP = 8                  # numbers of each vector shown as a colour strip
STRIP_CMAP = "RdBu_r"      # GRU states and their weighted sums lie in (-1, 1)
ALPHA_COLOR = "tab:orange"
BOX_FACE = "#f4f4f4"
SUPERSCRIPTS = str.maketrans("0123456789", "⁰¹²³⁴⁵⁶⁷⁸⁹")


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
def decode_steps(model: Seq2Seq, batch: Batch, target_vocab, steps: int = 2) -> DecodingSteps:
    """The first ``steps`` greedy decoding steps of ``model`` (with attention) on a batch of
    one sentence, ``batch.source (1, n)``, keeping the slide's tensors (see
    :class:`DecodingSteps`). ``target_vocab`` has ``bos_id`` and ``itos``. The words and α are
    those of :func:`~course_utils.worlds.seq2seq.greedy_decode`."""
    if batch.source.shape[0] != 1:
        raise ValueError(f"decode_steps draws one sentence; the batch has {batch.source.shape[0]}")
    if model.attention == "none":
        raise ValueError("the model has no attention: there is no α to draw")
    if steps < 1:
        raise ValueError(f"steps must be at least 1, got {steps}")
    decoder = model.decoder
    states, final = model.encoder(batch.source, batch.source_mask)
    z = decoder.initial_state(final)
    word = torch.tensor([target_vocab.bos_id])
    record: dict[str, list] = {k: [] for k in ("queries", "weights", "contexts", "new_states",
                                               "inputs", "words")}
    for _ in range(steps):
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


def draw_step(ax: Axes, source_words: Sequence[str], steps: DecodingSteps, t: int) -> None:
    """Panel for decoding step ``t`` (0-based) on ``ax``, in data coordinates 0…10 × 0…10."""
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
    ax.text(0.15, 1.7, "Encoder\n(bi-GRU)", ha="left", va="center", fontsize=8, color="0.35")
    for i, (x, word) in enumerate(zip(centres, source_words, strict=True)):
        ax.text(x, 0.55, word, ha="center", va="center", fontsize=9, style="italic")
        arrow(ax, (x, 0.85), (x, 1.1), width=0.8, gid=f"word->h{i + 1}")
        vector_box(ax, x - width / 2, 1.1, width, 1.2, f"h{superscript(i + 1)}",
                   steps.states[i], gid=f"h{i + 1}")
        # α: one arrow per hⁱ into c, as wide as its weight, with its value.
        target = (c_mid + (x - (left + right) / 2) * 0.3, c_box[1])
        arrow(ax, (x, 2.3), target, width=0.4 + 9 * float(alpha[i]), color=ALPHA_COLOR,
              gid=f"alpha{i + 1}", alpha=0.35 + 0.65 * float(alpha[i]))
        ax.text(x, 2.72, f"{alpha[i]:.2f}", ha="center", va="center", fontsize=8,
                bbox={"boxstyle": "round,pad=0.15", "facecolor": "white", "edgecolor": "none"},
                gid=f"alpha{i + 1}")
    # Decoder: the query, the context, the next state and the next word.
    query, new = superscript(t), superscript(t + 1)
    vector_box(ax, 0.15, 3.0, 2.4, 1.25, f"z{query}  (query)", steps.queries[t], gid="query")
    arrow(ax, (2.55, 3.45), (centres[0] - width / 2 - 0.05, 2.05), width=1.0, linestyle="--",
          gid="score")
    ax.text(2.75, 4.05, "score vs every hⁱ,\nsoftmax → α", ha="left", va="center", fontsize=7.5,
            color="0.25")
    vector_box(ax, *c_box, f"c{query} = Σ αᵢ hⁱ", steps.contexts[t], gid="context")
    vector_box(ax, 0.15, 6.55, 2.4, 1.25, f"z{new}  (GRU)", steps.new_states[t], gid="new_state")
    arrow(ax, (0.75, 4.25), (0.75, 6.55), gid="query->new_state")
    vector_box(ax, 1.45, 4.95, 1.1, 0.7, steps.inputs[t], None, gid="input", fontsize=8)
    arrow(ax, (2.0, 5.65), (2.0, 6.55), width=0.8, gid="input->new_state")
    ax.text(2.65, 5.15, "previous\nword", ha="left", va="center", fontsize=7.5, color="0.25")
    arrow(ax, (c_box[0], c_box[1] + 0.9), (2.55, 6.85), gid="context->new_state")
    word_box = (4.9, 8.55, 2.6, 0.95)
    vector_box(ax, *word_box, f"“{steps.words[t]}”", None, gid="word", fontsize=11)
    arrow(ax, (2.55, 7.45), (word_box[0], word_box[1] + 0.4), gid="new_state->word")
    arrow(ax, (c_mid, c_box[1] + c_box[3]), (c_mid, word_box[1]), gid="context->word")
    ax.set_title(f"step {t + 1}: z{query} asks → α → c{query} → z{new} → “{steps.words[t]}”",
                 fontsize=10)


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
