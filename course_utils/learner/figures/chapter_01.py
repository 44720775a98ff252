"""Chapter 01's figure: the notes' memory diagram beside the network it maps to.

* :func:`memory_map` draws, left, the notes' picture of human memory — sensory memory →
  (attention) → working memory ⇄ long-term memory — and, right, one step of chapter 01's
  :class:`~course_utils.mechanisms.memory.MemoryRNN` with the sizes of the model passed in: the
  input x_t and its encoding W_x x_t + b (sensory), the hidden state h_t carried from step to
  step through W_h h_{t-1} (working), and the weights W_x, W_h, W_o (long-term). Each memory
  and its part of the network share a colour and are joined by a dashed line.

The Chinese names (感觉记忆, 工作记忆, 长期记忆) are drawn only where matplotlib finds a font with
CJK glyphs (:func:`cjk_font`); elsewhere the figure names the memories in English alone.
"""

from __future__ import annotations

from matplotlib import font_manager
from matplotlib import pyplot as plt
from matplotlib.axes import Axes
from matplotlib.colors import to_rgba
from matplotlib.figure import Figure
from matplotlib.patches import FancyArrowPatch, FancyBboxPatch

from ...mechanisms.memory import MemoryRNN

__all__ = ["MEMORY_COLOURS", "cjk_font", "memory_map"]

# One colour per memory, shared by its box on the left and its parts of the network on the right.
MEMORY_COLOURS = {"sensory": "tab:orange", "working": "tab:blue", "long-term": "tab:green"}
CHINESE = {"sensory": "感觉记忆", "working": "工作记忆", "long-term": "长期记忆"}
CJK_FAMILIES = ("Noto Sans CJK SC", "Noto Sans SC", "Noto Serif CJK SC", "Source Han Sans SC",
                "WenQuanYi Zen Hei", "WenQuanYi Micro Hei", "AR PL UMing CN", "SimHei",
                "Microsoft YaHei", "PingFang SC", "Heiti SC", "STHeiti", "Noto Sans CJK JP",
                "Arial Unicode MS")
NEUTRAL = "dimgray"
ROW_Y = {"sensory": 8.0, "working": 4.9, "long-term": 1.5}  # one row per memory, both halves


def cjk_font() -> str | None:
    """The family name of an installed font that draws Chinese, or ``None`` if there is none."""
    installed = {entry.name for entry in font_manager.fontManager.ttflist}
    return next((family for family in CJK_FAMILIES if family in installed), None)


def box(ax: Axes, x: float, y: float, width: float, height: float, text: str, colour: str,
        gid: str, filled: bool = True, size: float = 10) -> FancyBboxPatch:
    """A rounded box centred at (x, y) with ``text`` in it, its outline in ``colour`` (filled
    with a light tint of it unless ``filled`` is False); ``gid`` names it for the tests."""
    patch = FancyBboxPatch((x - width / 2, y - height / 2), width, height,
                           boxstyle="round,pad=0.02,rounding_size=0.25", linewidth=1.8,
                           edgecolor=colour,
                           facecolor=to_rgba(colour, 0.18) if filled else "white", zorder=2)
    patch.set_gid(gid)
    ax.add_patch(patch)
    ax.text(x, y, text, ha="center", va="center", fontsize=size, zorder=3)
    return patch


def arrow(ax: Axes, start: tuple[float, float], end: tuple[float, float], colour: str = NEUTRAL,
          gid: str | None = None, style: str = "-", curve: float = 0.0) -> FancyArrowPatch:
    """An arrow from ``start`` to ``end`` (``style`` "--" for a dashed link, ``curve`` bends
    it)."""
    patch = FancyArrowPatch(start, end, arrowstyle="-|>", mutation_scale=14, color=colour,
                            linewidth=1.5, linestyle=style, zorder=1,
                            connectionstyle=f"arc3,rad={curve}")
    patch.set_gid(gid)
    ax.add_patch(patch)
    return patch


def draw_notes_diagram(ax: Axes, chinese_font: str | None) -> None:
    """The left half: the notes' three memories, attention between sensory and working memory,
    storage and retrieval between working and long-term memory."""
    x = 2.6
    ax.text(x, 9.75, "the notes: human memory", ha="center", fontsize=11, weight="bold")
    for memory, y in ROW_Y.items():
        colour = MEMORY_COLOURS[memory]
        box(ax, x, y, 4.2, 1.35, "", colour, gid=f"notes:{memory}")
        name_y = y + 0.22 if chinese_font else y
        ax.text(x, name_y, f"{memory} memory", ha="center", va="center", fontsize=10.5,
                weight="bold", zorder=3)
        if chinese_font:
            ax.text(x, y - 0.32, CHINESE[memory], ha="center", va="center", fontsize=10,
                    family=chinese_font, zorder=3)
    top, middle, bottom = ROW_Y["sensory"], ROW_Y["working"], ROW_Y["long-term"]
    arrow(ax, (x, top - 0.7), (x, middle + 0.7), gid="notes:attention")
    ax.text(x, (top + middle) / 2, "attention", ha="center", va="center", fontsize=10,
            style="italic", zorder=3,
            bbox={"boxstyle": "round,pad=0.25", "facecolor": "white", "edgecolor": NEUTRAL})
    arrow(ax, (x - 0.7, middle - 0.7), (x - 0.7, bottom + 0.7), gid="notes:storage")
    arrow(ax, (x + 0.7, bottom + 0.7), (x + 0.7, middle - 0.7), gid="notes:retrieval")
    ax.text(x - 0.85, (middle + bottom) / 2, "storage", ha="right", va="center", fontsize=9)
    ax.text(x + 0.85, (middle + bottom) / 2, "retrieval", ha="left", va="center", fontsize=9)


def draw_network(ax: Axes, model: MemoryRNN) -> None:
    """The right half: one step of ``model`` with its real sizes, each part in the colour of
    the memory it is."""
    vocab, hidden = model.vocab_size, model.recurrent.in_features
    sensory, working, longterm = (MEMORY_COLOURS[m] for m in ("sensory", "working", "long-term"))
    top, middle, bottom = ROW_Y["sensory"], ROW_Y["working"], ROW_Y["long-term"]
    left, centre, right = 11.6, 15.0, 18.6
    ax.text(centre, 9.75, f"MemoryRNN(vocab_size={vocab}, hidden_size={hidden})", ha="center",
            fontsize=11, weight="bold", family="monospace")
    ax.text(centre, 9.15, r"$h_t = \tanh(W_x x_t + b + W_h h_{t-1})$,  answer $= W_o h_T + b_o$",
            ha="center", fontsize=9.5, color=NEUTRAL)

    box(ax, left, top, 2.2, 1.2, f"$x_t$\none-hot, {vocab}", sensory, gid="network:x_t")
    box(ax, centre, top, 2.6, 1.2, f"$W_x x_t + b$\n{hidden} numbers", sensory,
        gid="network:W_x x_t")
    box(ax, left, middle, 2.2, 1.2, f"$h_{{t-1}}$\n{hidden} numbers", working,
        gid="network:h_t-1")
    box(ax, centre, middle, 2.6, 1.2, f"$h_t = \\tanh(\\cdot)$\n{hidden} numbers", working,
        gid="network:h_t")
    box(ax, right, middle, 2.4, 1.2, f"answer at $t = T$\n{vocab} logits", NEUTRAL,
        gid="network:answer", filled=False)

    arrow(ax, (left + 1.15, top), (centre - 1.35, top), colour=longterm)
    arrow(ax, (centre, top - 0.65), (centre, middle + 0.65), colour=NEUTRAL)
    arrow(ax, (left + 1.15, middle), (centre - 1.35, middle), colour=longterm)
    arrow(ax, (centre + 1.35, middle), (right - 1.25, middle), colour=longterm)
    arrow(ax, (centre - 0.4, middle - 0.65), (left + 0.4, middle - 0.65), colour=working,
          gid="network:next step", curve=-0.6)
    ax.text((left + centre) / 2, middle - 1.95, "next step: $h_t$ becomes $h_{t-1}$",
            ha="center", va="center", fontsize=9, color=working)
    # The weights sit on the connections they scale: long-term memory, in its colour.
    for x, y, label in (((left + centre) / 2 - 0.1, top + 0.28, "$W_x$"),
                        ((left + centre) / 2 - 0.1, middle + 0.28, "$W_h$"),
                        ((centre + right) / 2 - 0.1, middle + 0.28, "$W_o$")):
        ax.text(x, y, label, ha="center", va="bottom", fontsize=10, color=longterm,
                weight="bold")
    ax.text(centre + 0.15, (top + middle) / 2, "+", ha="left", va="center", fontsize=12)

    shapes = {name: "×".join(str(n) for n in parameter.shape)
              for name, parameter in model.named_parameters()}
    total = sum(parameter.numel() for parameter in model.parameters())
    box(ax, centre, bottom, 8.6, 1.35,
        f"$W_x$ {shapes['sensory.weight']},  $b$ {shapes['sensory.bias']},  "
        f"$W_h$ {shapes['recurrent.weight']},  $W_o$ {shapes['readout.weight']},  "
        f"$b_o$ {shapes['readout.bias']}\n"
        f"{total} numbers, changed only by training", longterm, gid="network:weights",
        size=9.5)


def memory_map(model: MemoryRNN, chinese: bool | None = None) -> Figure:
    """Draw the notes' memory diagram (left) beside the parts of ``model`` it maps to (right).

    Args:
        model: chapter 01's :class:`MemoryRNN`; its vocabulary size, hidden size and parameter
            shapes (``sensory.weight (hidden, vocab)``, ``recurrent.weight (hidden, hidden)``,
            ``readout.weight (vocab, hidden)``, the biases) are printed in the figure.
        chinese: also write the Chinese names (感觉记忆, 工作记忆, 长期记忆); ``None`` (the
            default) writes them if a CJK font is installed. ``True`` without one raises.

    Returns:
        The figure (one axis, its frame hidden); the caller shows it with ``plt.show()``.
    """
    if not isinstance(model, MemoryRNN):
        raise TypeError(f"model must be a MemoryRNN, got {type(model).__name__}")
    font = cjk_font()
    if chinese and font is None:
        raise ValueError("chinese=True needs a font with CJK glyphs, and none is installed; "
                         "pass chinese=None to fall back to the English names")
    if chinese is False:
        font = None
    fig, ax = plt.subplots(figsize=(10.0, 4.6), layout="constrained")
    ax.set_xlim(0, 20)
    ax.set_ylim(0.2, 10.3)
    ax.axis("off")
    draw_notes_diagram(ax, font)
    draw_network(ax, model)
    ax.plot([8.4, 8.4], [0.5, 10.0], color="lightgray", linewidth=1, zorder=0)
    for memory, y in ROW_Y.items():
        end = 15.0 - 4.3 if memory == "long-term" else 11.6 - 1.1
        link = ax.plot([4.7, end], [y, y], linestyle="--", color=MEMORY_COLOURS[memory],
                       linewidth=1.3, zorder=0)[0]
        link.set_gid(f"link:{memory}")
    for y, text in ((ROW_Y["sensory"], "the input layer"), (ROW_Y["working"], "the hidden state"),
                    (ROW_Y["long-term"], "the weights")):
        ax.text(6.55, y + 0.15, text, ha="center",
                va="bottom", fontsize=9, style="italic", zorder=3,
                bbox={"boxstyle": "square,pad=0.1", "facecolor": "white", "edgecolor": "none"})
    return fig
