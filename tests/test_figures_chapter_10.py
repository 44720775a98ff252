"""Chapter 10's figures: the Transformer with the model's real sizes, and the Part II recap."""

from __future__ import annotations

import matplotlib.pyplot as plt
import pytest
from matplotlib.colors import same_color
from matplotlib.figure import Figure
from matplotlib.patches import FancyArrowPatch, FancyBboxPatch

from course_utils.learner.figures.chapter_10 import (
    CHAPTERS,
    draw_part_two_recap,
    draw_transformer,
    stack_layout,
    transformer_sizes,
)
from course_utils.worlds.translation_transformer import Transformer


@pytest.fixture(scope="module")
def model():
    """Sizes unlike the chapter's defaults, so a hard-coded number would show."""
    return Transformer(11, 13, d_model=24, num_heads=3, d_ff=40, num_layers=3)


@pytest.fixture(autouse=True)
def close_figures():
    """Every figure a test draws is closed after it."""
    before = set(plt.get_fignums())
    yield
    for number in set(plt.get_fignums()) - before:
        plt.close(number)


def texts(fig: Figure) -> str:
    ax = fig.axes[0]
    legend = ax.get_legend()
    found = [t.get_text() for t in ax.texts] + [ax.get_title()]
    if legend is not None:
        found += [t.get_text() for t in legend.get_texts()] + [legend.get_title().get_text()]
    return "\n".join(found)


def test_sizes_are_read_from_the_model(model):
    sizes = transformer_sizes(model)
    assert (sizes.num_layers, sizes.d_model, sizes.num_heads, sizes.d_ff) == (3, 24, 3, 40)
    assert (sizes.source_vocab, sizes.target_vocab) == (11, 13)
    with pytest.raises(TypeError, match="Transformer"):
        transformer_sizes(object())


def test_the_transformer_names_the_course_modules(model):
    fig = draw_transformer(model)
    assert isinstance(fig, Figure)
    shown = texts(fig)
    for name in ("EncoderBlock", "DecoderBlock", "MultiHeadAttention", "FeedForward",
                 "causal_mask", "sinusoidal_encoding", "Transformer.out", "cross_attention",
                 "self_attention", "source_embed", "target_embed", "Add & Norm", "softmax",
                 "√d_model", "shifted right", "memory"):
        assert name in shown, name
    assert shown.count("MultiHeadAttention") == 3      # encoder self, decoder self and cross


def test_the_transformer_prints_the_real_sizes(model):
    shown = texts(draw_transformer(model))
    assert "3×" in shown and "num_layers\n= 3" in shown
    assert "h = 3 heads × d_h = 8" in shown
    assert shown.count("d_ff = 40") == 3                 # both FFNs and the title
    assert "d_model = 24 → 13 target words" in shown     # Transformer.out
    assert "(11 words → d_model = 24)" in shown and "(13 words → d_model = 24)" in shown
    assert "all 3 DecoderBlocks" in shown


def test_the_transformer_draws_every_box_and_the_memory_arrow(model):
    fig = draw_transformer(model)
    ax = fig.axes[0]
    boxes = [p for p in ax.patches if isinstance(p, FancyBboxPatch)]
    # every box of the layout, plus num_layers − 1 cards behind each block
    assert len(boxes) == len(stack_layout()) + 2 * (3 - 1)
    memory = [p for p in ax.patches if isinstance(p, FancyArrowPatch) and p.get_gid() == "memory"]
    assert len(memory) == 1
    assert same_color(memory[0].get_edgecolor(), "#c0392b")
    layout = stack_layout()
    path = [line.get_xydata() for line in ax.lines if line.get_gid() == "memory"]
    start, corner = path[0][0], path[-1][-1]
    # up from the encoder's last Add & Norm, across, down to the cross-attention's height, and
    # the head into its left edge (the queries come from below)
    x_norm, y_norm, _, h_norm = layout["enc_norm2"]
    assert tuple(start) == (x_norm, y_norm + h_norm / 2)
    assert corner[1] == layout["dec_cross"][1]
    assert layout["enc_block"][0] + layout["enc_block"][2] / 2 < corner[0]
    assert corner[0] < layout["dec_block"][0] - layout["dec_block"][2] / 2


def test_the_recap_tags_every_part_with_its_chapter(model):
    fig = draw_part_two_recap(model)
    ax = fig.axes[0]
    tags = [t.get_text() for t in ax.texts if t.get_gid() == "badge"]
    assert set(tags) == set(CHAPTERS)                   # 04, 05, 06, 07, 09 and 10 all appear
    assert tags.count("06") == 2                        # a ⊕ of positions on each side
    shown = texts(fig)
    for words in ("self-attention", "multi-head attention", "positional encoding",
                  "residual + LayerNorm", "the encoder block", "chunked attention",
                  "causal mask", "cross-attention", "k/v cache", "key/value cache",
                  "LayerCache", "3×"):
        assert words in shown, words
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert [label.split()[0] for label in legend] == list(CHAPTERS)


def test_figures_close_cleanly(model):
    for draw in (draw_transformer, draw_part_two_recap):
        fig = draw(model)
        number = fig.number
        fig.canvas.draw()                               # lays out and renders without error
        assert fig.get_dpi() <= 100
        plt.close(fig)
        assert number not in plt.get_fignums()
