"""Chapter 10's figures: the notes' Transformer figure and their Part II summary slide.

* :func:`draw_transformer` draws the architecture (Vaswani et al.'s Figure 1 layout): the
  encoder stack on the left, the decoder stack on the right, Linear and softmax on top, the
  encoder's output (the memory) feeding every decoder block's cross-attention; each box names
  the course's module or class and the model's real sizes (num_layers, d_model, heads, d_ff,
  vocabularies), read from the :class:`~course_utils.worlds.translation_transformer.Transformer`
  passed in.
* :func:`draw_part_two_recap` draws the same outline with every part coloured by the chapter
  that built it (04 self-attention … 10 the decoder and its cache).

Both lay out the same skeleton (:func:`stack_layout`): one encoder block and one decoder block
drawn in full, with ``num_layers`` cards stacked behind each for the copies.
"""

from __future__ import annotations

from dataclasses import dataclass

import matplotlib.pyplot as plt
from matplotlib.figure import Figure
from matplotlib.patches import Circle, FancyArrowPatch, FancyBboxPatch, Patch

from ...worlds.translation_transformer import Transformer
from ..heatmaps import DPI

__all__ = ["TransformerSizes", "transformer_sizes", "stack_layout", "draw_transformer",
           "draw_part_two_recap", "CHAPTERS"]

FONT = 7.5
# Vaswani et al.'s colours: attention orange, Add & Norm yellow, FFN blue, embeddings pink.
COLORS = {"attention": "#fcd9b6", "norm": "#f3f0a8", "ffn": "#c6e6f5", "embed": "#f6cdd3",
          "linear": "#ddd3f7", "softmax": "#cdeccd", "block": "#f2f2f2"}
#: The chapters of Part II that built the Transformer: number → (what it built, colour).
CHAPTERS = {
    "04": ("self-attention: softmax(q kᵀ/√d) v", "#fde3c8"),
    "05": ("multi-head attention", "#f6a96b"),
    "06": ("positional encoding", "#f6c1ca"),
    "07": ("residual + LayerNorm, FFN, the encoder block", "#f3ee9a"),
    "09": ("the cost of attention: n² scores, chunked attention", "#cfcfcf"),
    "10": ("decoder block, causal mask, cross-attention, k/v cache", "#aed6f1"),
}


@dataclass(frozen=True)
class TransformerSizes:
    """The sizes a figure prints: blocks per stack, token width, heads, FFN width, vocabularies."""

    num_layers: int
    d_model: int
    num_heads: int
    d_ff: int
    source_vocab: int
    target_vocab: int


def transformer_sizes(model: Transformer) -> TransformerSizes:
    """The real sizes of a built (or loaded) ``Transformer``, read from its modules."""
    if not isinstance(model, Transformer):
        raise TypeError(f"model must be a course_utils Transformer, got {type(model).__name__}")
    block = model.encoder[0]
    return TransformerSizes(num_layers=len(model.encoder), d_model=model.d_model,
                            num_heads=block.attention.num_heads,
                            d_ff=block.ffn.linear1.out_features,
                            source_vocab=model.source_embed.num_embeddings,
                            target_vocab=model.out.out_features)


# ------------------------------------------------------------------------------- the layout
ENC_X, DEC_X, WIDTH, HEIGHT, NORM_HEIGHT = 5.0, 15.0, 7.0, 1.0, 0.6
PAD = 0.7        # the block's outline around its sublayers (the residual lines run inside it)


def stack_layout() -> dict[str, tuple[float, float, float, float]]:
    """Every box of the figure: name → ``(x_center, y_center, width, height)`` in data units
    (the axes run 0–20 across and 0–17.6 up). Encoder parts start ``enc_``, decoder ``dec_``."""
    boxes = {"enc_embed": (ENC_X, 1.55, WIDTH, HEIGHT), "dec_embed": (DEC_X, 1.55, WIDTH, HEIGHT)}
    enc = [("enc_attn", HEIGHT), ("enc_norm1", NORM_HEIGHT), ("enc_ffn", HEIGHT),
           ("enc_norm2", NORM_HEIGHT)]
    dec = [("dec_self", HEIGHT), ("dec_norm1", NORM_HEIGHT), ("dec_cross", HEIGHT),
           ("dec_norm2", NORM_HEIGHT), ("dec_ffn", HEIGHT), ("dec_norm3", NORM_HEIGHT)]
    for x, parts, block in ((ENC_X, enc, "enc_block"), (DEC_X, dec, "dec_block")):
        y = 4.6
        for name, height in parts:
            boxes[name] = (x, y + height / 2, WIDTH, height)
            y += height + 0.55
        top = y + 0.45                              # room for the block's class name
        boxes[block] = (x, (4.0 + top) / 2, WIDTH + 2 * PAD, top - 4.0)
    dec_top = boxes["dec_block"][1] + boxes["dec_block"][3] / 2
    boxes["out"] = (DEC_X, dec_top + 0.95, WIDTH, HEIGHT)
    boxes["softmax"] = (DEC_X, dec_top + 2.25, WIDTH, NORM_HEIGHT)
    return boxes


def _edge(box: tuple[float, float, float, float], side: str) -> tuple[float, float]:
    x, y, w, h = box
    return {"top": (x, y + h / 2), "bottom": (x, y - h / 2), "left": (x - w / 2, y),
            "right": (x + w / 2, y)}[side]


def _box(ax, box, text: str, color: str, *, dx: float = 0.0) -> None:
    """A rounded box with its text (moved ``dx`` right of the centre)."""
    x, y, w, h = box
    ax.add_patch(FancyBboxPatch((x - w / 2, y - h / 2), w, h,
                                boxstyle="round,pad=0,rounding_size=0.15", facecolor=color,
                                edgecolor="black", linewidth=1.0, zorder=2))
    ax.text(x + dx, y, text, ha="center", va="center", fontsize=FONT, zorder=3)


def _arrow(ax, start, end, *, color: str = "black", path: list | None = None,
           lw: float = 1.0, gid: str | None = None) -> None:
    """An arrow from ``start`` to ``end``, through the corners ``path`` if given."""
    points = [start, *(path or []), end]
    for a, b in zip(points[:-2], points[1:-1], strict=True):
        ax.plot([a[0], b[0]], [a[1], b[1]], color=color, lw=lw, zorder=1.5, gid=gid)
    ax.add_patch(FancyArrowPatch(points[-2], points[-1], arrowstyle="-|>", mutation_scale=9,
                                 color=color, lw=lw, shrinkA=0, shrinkB=0, zorder=1.5,
                                 gid=gid))


def _draw_skeleton(ax, sizes: TransformerSizes, labels: dict[str, str],
                   colors: dict[str, str], pe_labels: tuple[str, str],
                   text_dx: dict[str, float] | None = None) -> dict:
    """The outline shared by both figures: blocks (with ``num_layers`` cards behind each),
    sublayers, the residual lines, the data flow and the memory's path into the
    cross-attention. ``labels``/``colors`` give each box of :func:`stack_layout` its text and
    fill (``text_dx`` moves a box's text sideways, to leave room for tags); returns the
    layout."""
    boxes = stack_layout()
    n = sizes.num_layers
    for name, side in (("enc_block", -1), ("dec_block", 1)):
        x, y, w, h = boxes[name]
        for k in range(min(n, 4) - 1, 0, -1):      # the copies, as cards behind the block
            ax.add_patch(FancyBboxPatch((x - w / 2 + 0.18 * k, y - h / 2 + 0.18 * k), w, h,
                                        boxstyle="round,pad=0,rounding_size=0.3",
                                        facecolor="white", edgecolor="grey", lw=0.8, zorder=0.5))
        ax.add_patch(FancyBboxPatch((x - w / 2, y - h / 2), w, h,
                                    boxstyle="round,pad=0,rounding_size=0.3",
                                    facecolor=colors[name], edgecolor="black", lw=1.2, zorder=1))
        ax.text(x, y + h / 2 - 0.28, labels[name], ha="center", va="center", fontsize=FONT + 0.5,
                fontweight="bold", zorder=3)
        y_n = y + h / 2 - 1.3                      # N× high on the block, clear of notes
        ax.text(x + side * (w / 2 + 0.25), y_n, f"{n}×", ha="left" if side > 0 else "right",
                va="center", fontsize=FONT + 3, fontweight="bold")
        ax.text(x + side * (w / 2 + 0.25), y_n - 0.45, f"num_layers\n= {n}",
                ha="left" if side > 0 else "right", va="top", fontsize=FONT)
    for name, box in boxes.items():
        if not name.endswith("_block"):
            _box(ax, box, labels[name], colors[name], dx=(text_dx or {}).get(name, 0.0))
    # ------------------------------------------------------------------ inputs and positions
    for prefix, pe_label, side in (("enc", pe_labels[0], -1), ("dec", pe_labels[1], 1)):
        x = boxes[f"{prefix}_embed"][0]
        ax.text(x, 0.45, labels[f"{prefix}_tokens"], ha="center", va="center", fontsize=FONT)
        _arrow(ax, (x, 0.75), _edge(boxes[f"{prefix}_embed"], "bottom"))
        ax.add_patch(Circle((x, 3.0), 0.32, facecolor=colors["pe"], edgecolor="black", zorder=2))
        ax.text(x, 3.0, "+", ha="center", va="center", fontsize=FONT + 4, zorder=3)
        ax.text(x + side * 0.6, 3.0, pe_label, ha="left" if side > 0 else "right",
                va="center", fontsize=FONT)
        _arrow(ax, _edge(boxes[f"{prefix}_embed"], "top"), (x, 3.0 - 0.32))
        _arrow(ax, (x, 3.32), _edge(boxes[f"{prefix}_block"], "bottom"))
    # ------------------------------------------------- the data flow, and the residual lines
    enc = ["enc_attn", "enc_norm1", "enc_ffn", "enc_norm2"]
    dec = ["dec_self", "dec_norm1", "dec_cross", "dec_norm2", "dec_ffn", "dec_norm3"]
    for parts, block, side in ((enc, "enc_block", -1), (dec, "dec_block", 1)):
        x = boxes[block][0]
        rail = x + side * (WIDTH / 2 + PAD / 2)
        below = _edge(boxes[block], "bottom")[1]
        for lower, upper in zip([None, *parts[:-1]], parts, strict=True):
            start = _edge(boxes[lower], "top") if lower else (x, below)
            _arrow(ax, start, _edge(boxes[upper], "bottom"))
        for sublayer, norm in zip(parts[::2], parts[1::2], strict=True):  # x + Sublayer(x)
            y_in = _edge(boxes[sublayer], "bottom")[1] - 0.28
            y_norm = boxes[norm][1]
            _arrow(ax, (x, y_in), (x + side * WIDTH / 2, y_norm),
                   path=[(rail, y_in), (rail, y_norm)], lw=0.9)
    _arrow(ax, _edge(boxes["dec_norm3"], "top"), _edge(boxes["out"], "bottom"),
           path=[(DEC_X, _edge(boxes["dec_block"], "top")[1])])
    _arrow(ax, _edge(boxes["out"], "top"), _edge(boxes["softmax"], "bottom"))
    top = _edge(boxes["softmax"], "top")
    _arrow(ax, top, (DEC_X, top[1] + 0.45))
    ax.text(DEC_X, top[1] + 0.65, labels["probs"], ha="center", va="bottom", fontsize=FONT)
    # ------------------------------- the memory: into every decoder block's cross-attention
    enc_top = _edge(boxes["enc_norm2"], "top")
    y_memory = _edge(boxes["enc_block"], "top")[1] + 0.45
    x_bus = (ENC_X + WIDTH / 2 + PAD + DEC_X - WIDTH / 2 - PAD) / 2
    _arrow(ax, enc_top, _edge(boxes["dec_cross"], "left"),
           path=[(ENC_X, y_memory), (x_bus, y_memory), (x_bus, boxes["dec_cross"][1])],
           color="#c0392b", lw=1.6, gid="memory")
    ax.text(ENC_X, y_memory + 0.2, labels["memory"], ha="center", va="bottom",
            fontsize=FONT, color="#c0392b")
    return boxes


def _new_axes(width: float, height: float, xlim: tuple[float, float], ylim: tuple[float, float]):
    fig, ax = plt.subplots(figsize=(width, height), dpi=DPI, layout="constrained")
    ax.set_xlim(*xlim)
    ax.set_ylim(*ylim)
    ax.axis("off")
    return fig, ax


# ------------------------------------------------------------------------------ the figures
def draw_transformer(model: Transformer) -> Figure:
    """The notes' Transformer figure with the course's names and ``model``'s real sizes.

    ``model``: a built or loaded :class:`~course_utils.worlds.translation_transformer.Transformer`;
    its num_layers, d_model, heads, d_ff and vocabularies are read from its modules
    (:func:`transformer_sizes`) and printed on the boxes. Returns the pyplot Figure (show it
    with ``plt.show()``, or close it).
    """
    s = transformer_sizes(model)
    d_h = s.d_model // s.num_heads
    labels = {
        "enc_tokens": "source ids (batch, n)",
        "dec_tokens": "target ids shifted right: <bos> + target (batch, m)",
        "enc_embed": f"source_embed ({s.source_vocab} words → d_model = {s.d_model})\n"
                     "input embedding · √d_model",
        "dec_embed": f"target_embed ({s.target_vocab} words → d_model = {s.d_model})\n"
                     "output embedding · √d_model",
        "enc_block": "EncoderBlock", "dec_block": "DecoderBlock",
        "enc_attn": f"MultiHeadAttention: self-attention\nh = {s.num_heads} heads × d_h = {d_h}"
                    "  (q = k = v = x)",
        "enc_norm1": "Add & Norm: LayerNorm(x + MHA(x))",
        "enc_ffn": f"FeedForward\n{s.d_model} → d_ff = {s.d_ff} → {s.d_model}, ReLU",
        "enc_norm2": "Add & Norm: LayerNorm(x + FFN(x))",
        "dec_self": f"masked MultiHeadAttention (self_attention)\nh = {s.num_heads},"
                    " mask = causal_mask(m)",
        "dec_norm1": "Add & Norm (norm1)",
        "dec_cross": f"MultiHeadAttention (cross_attention), h = {s.num_heads}\n"
                     "q: the decoder · k, v: the memory",
        "dec_norm2": "Add & Norm (norm2)",
        "dec_ffn": f"FeedForward\n{s.d_model} → d_ff = {s.d_ff} → {s.d_model}, ReLU",
        "dec_norm3": "Add & Norm (norm3)",
        "out": f"Linear: Transformer.out\nd_model = {s.d_model} → {s.target_vocab} target words",
        "softmax": "softmax",
        "probs": "next-word probabilities (batch, m, target_vocab)",
        "memory": f"memory (batch, n, {s.d_model}): k, v of the\ncross-attention in "
                  f"all {s.num_layers} DecoderBlocks",
    }
    colors = {name: COLORS["block"] for name in ("enc_block", "dec_block")}
    for name in labels:
        kind = ("attention" if name.endswith(("attn", "self", "cross")) else
                "norm" if "norm" in name else "ffn" if name.endswith("ffn") else
                "embed" if name.endswith("embed") else "linear" if name == "out" else name)
        colors.setdefault(name, COLORS.get(kind, "white"))
    colors["pe"] = "white"
    fig, ax = _new_axes(8.8, 7.6, (-1.0, 21.0), (0.0, 17.9))
    pe = "positional encoding\nsinusoidal_encoding\n(max_length, d_model)"
    _draw_skeleton(ax, s, labels, colors, (pe, pe))
    ax.set_title(f"The Transformer of this chapter: {s.num_layers} + {s.num_layers} blocks, "
                 f"d_model = {s.d_model}, {s.num_heads} heads, d_ff = {s.d_ff}", fontsize=FONT + 2)
    return fig


#: Which chapter built each box of the recap (its fill), and the badges it wears.
RECAP = {
    "enc_embed": ("10", ["10"]), "dec_embed": ("10", ["10"]), "pe": ("06", ["06"]),
    "enc_block": ("07", ["07"]), "dec_block": ("10", ["10"]),
    "enc_attn": ("05", ["04", "05", "09"]), "dec_self": ("10", ["04", "05", "10"]),
    "dec_cross": ("10", ["05", "10"]),
    "enc_norm1": ("07", ["07"]), "enc_norm2": ("07", ["07"]), "dec_norm1": ("07", ["07"]),
    "dec_norm2": ("07", ["07"]), "dec_norm3": ("07", ["07"]),
    "enc_ffn": ("07", ["07"]), "dec_ffn": ("07", ["07"]), "out": ("10", ["10"]),
    "softmax": ("10", []),
}


def _tag(ax, x: float, y: float, chapter: str) -> None:
    """One chapter tag (its number on its colour) centred at ``(x, y)``."""
    ax.add_patch(FancyBboxPatch((x - 0.33, y - 0.2), 0.66, 0.4,
                                boxstyle="round,pad=0,rounding_size=0.12",
                                facecolor=CHAPTERS[chapter][1], edgecolor="black", lw=0.7,
                                zorder=4))
    ax.text(x, y, chapter, ha="center", va="center", fontsize=FONT - 0.5, fontweight="bold",
            zorder=5, gid="badge")


def _badges(ax, box, chapters: list[str]) -> None:
    """Chapter tags along the right edge of ``box``, inside it."""
    x, y, w, _ = box
    for k, chapter in enumerate(reversed(chapters)):
        _tag(ax, x + w / 2 - 0.45 - 0.8 * k, y, chapter)


def draw_part_two_recap(model: Transformer) -> Figure:
    """The notes' Part II summary slide: the Transformer's outline, each part filled with the
    colour of the chapter that built it and tagged with that chapter's number (several tags
    where several chapters meet, e.g. 04 + 05 on an attention); 09's cost and 10's key/value
    cache as notes beside the attentions they concern. ``model`` gives ``num_layers``."""
    s = transformer_sizes(model)
    labels = {
        "enc_tokens": "source words", "dec_tokens": "target words, shifted right",
        "enc_embed": "embedding · √d_model", "dec_embed": "embedding · √d_model",
        "enc_block": "encoder block", "dec_block": "decoder block",
        "enc_attn": "multi-head\nself-attention", "dec_self": "masked multi-head\nself-attention",
        "dec_cross": "cross-attention", "enc_norm1": "Add & Norm", "enc_norm2": "Add & Norm",
        "dec_norm1": "Add & Norm", "dec_norm2": "Add & Norm", "dec_norm3": "Add & Norm",
        "enc_ffn": "feed-forward", "dec_ffn": "feed-forward", "out": "Linear",
        "softmax": "softmax", "probs": "next word", "memory": "memory → k, v",
    }
    colors = {name: CHAPTERS[chapter][1] for name, (chapter, _) in RECAP.items()}
    colors["enc_block"] = colors["dec_block"] = "white"
    fig, ax = _new_axes(9.6, 7.2, (-7.0, 27.5), (0.0, 18.6))
    shift = {name: -0.4 * len(badges) for name, (_, badges) in RECAP.items()}
    pe = "positional\nencoding"
    boxes = _draw_skeleton(ax, s, labels, colors, (pe, pe), shift)
    for name, (chapter, badges) in RECAP.items():
        if name in ("enc_block", "dec_block"):
            x, y, w, h = boxes[name]
            ax.add_patch(FancyBboxPatch((x - w / 2, y - h / 2), w, h, fill=False,
                                        boxstyle="round,pad=0,rounding_size=0.3",
                                        edgecolor=CHAPTERS[chapter][1], lw=4, zorder=1.2))
            _badges(ax, (x, y + h / 2 - 0.28, w - 0.1, 0.4), badges)
        elif name == "pe":
            for x in (ENC_X + 0.8, DEC_X - 0.8):      # beside each ⊕, away from its label
                _tag(ax, x, 3.0, chapter)
        elif name in boxes:
            _badges(ax, boxes[name], badges)
    notes = [("enc_attn", -1, "09", "n × n scores per head:\nmemory ∝ n² →\nchunked attention,\n"
              "online softmax"),
             ("dec_self", 1, "10", "key/value cache\n(LayerCache): generation\nprojects only "
              "the new word"),
             ("dec_cross", 1, "10", "q from the decoder,\nk, v from the encoder")]
    for name, side, chapter, text in notes:
        x, y, w, h = boxes[name]
        x_note = x + side * (w / 2 + PAD + (1.3 if side < 0 else 2.7))
        ax.text(x_note, y, text, ha="left" if side > 0 else "right", va="center",
                fontsize=FONT, bbox={"boxstyle": "round,pad=0.3", "facecolor": "white",
                                     "edgecolor": CHAPTERS[chapter][1], "lw": 2})
        ax.plot([x + side * w / 2, x_note], [y, y], ls=":", color="grey", lw=1, zorder=0.8)
    handles = [Patch(facecolor=color, edgecolor="black", label=f"{number}  {what}")
               for number, (what, color) in CHAPTERS.items()]
    ax.legend(handles=handles, loc="upper left", fontsize=FONT, frameon=False,
              title="Part II: the chapter that built each part", title_fontsize=FONT + 1)
    return fig
