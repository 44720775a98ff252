"""course_utils.learner.figures.chapter_07: the encoder block, post-norm beside pre-norm."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import itertools  # noqa: E402

import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402
from matplotlib.colors import to_rgba  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.patches import Circle, FancyBboxPatch  # noqa: E402

from course_utils.learner.figures.chapter_07 import SKIP_COLOR, encoder_blocks  # noqa: E402
from course_utils.mechanisms.transformer import EncoderBlock  # noqa: E402


class PreNormBlock(EncoderBlock):
    """Stands in for the chapter's PreNormBlock: EncoderBlock's parts under another name."""


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


@pytest.fixture
def figure() -> Figure:
    # sizes unlike the chapter's, and unlike each other, so that every number is read from its block
    return encoder_blocks(EncoderBlock(24, 3, 40), PreNormBlock(12, 2, 48))


def texts(ax) -> list[str]:
    return [t.get_text() for t in ax.texts]


def boxes(ax) -> dict[str, FancyBboxPatch | Circle]:
    return {p.get_gid(): p for p in ax.patches if p.get_gid()}


def centre_y(patch) -> float:
    return patch.center[1] if isinstance(patch, Circle) else patch.get_y()


def test_returns_two_blocks_with_the_course_class_names(figure):
    assert isinstance(figure, Figure)
    post, pre = figure.axes
    assert any(t.startswith("EncoderBlock · post-norm") for t in texts(post))
    assert any(t.startswith("PreNormBlock · pre-norm") for t in texts(pre))
    for ax in (post, pre):
        labels = "\n".join(texts(ax))
        assert labels.count("MultiHeadAttention") == 1
        assert labels.count("FeedForward") == 1
        assert labels.count("nn.LayerNorm(") == 2
        assert "W₂ ReLU(W₁x + b₁) + b₂" in labels
        assert set(boxes(ax)) == {"attention", "norm1", "ffn", "norm2", "add1", "add2"}


def test_sizes_come_from_the_blocks(figure):
    post, pre = figure.axes
    assert "h = 3 heads, d_model = 24" in "\n".join(texts(post))
    assert "d_model 24 → d_ff = 40 → 24" in "\n".join(texts(post))
    assert texts(post).count("nn.LayerNorm(24)") == 2
    assert "x   (batch, n, 24)" in texts(post) and "out   (batch, n, 24)" in texts(post)
    assert "h = 2 heads, d_model = 12" in "\n".join(texts(pre))
    assert "d_model 12 → d_ff = 48 → 12" in "\n".join(texts(pre))
    assert texts(pre).count("nn.LayerNorm(12)") == 2


def test_order_of_the_sublayers(figure):
    post, pre = figure.axes
    # bottom to top: post-norm MHA → add → LN → FFN → add → LN; pre-norm LN → MHA → add → LN → …
    order = ["attention", "add1", "norm1", "ffn", "add2", "norm2"]
    assert sorted(order, key=lambda gid: centre_y(boxes(post)[gid])) == order
    order = ["norm1", "attention", "add1", "norm2", "ffn", "add2"]
    assert sorted(order, key=lambda gid: centre_y(boxes(pre)[gid])) == order
    assert "add: x + MHA(x)" in texts(post) and "add: x + FFN(LN(x))" in texts(pre)


def test_skip_path_crosses_the_layernorms_only_in_post_norm(figure):
    post, pre = figure.axes
    red = to_rgba(SKIP_COLOR)
    for gid in ("norm1", "norm2"):
        assert boxes(post)[gid].get_edgecolor() == red
        assert boxes(pre)[gid].get_edgecolor() != red
    for ax in (post, pre):  # the sublayers are never on the skip path; the sums always are
        assert boxes(ax)["attention"].get_edgecolor() != red
        assert boxes(ax)["ffn"].get_edgecolor() != red
        assert boxes(ax)["add1"].get_edgecolor() == red
        assert texts(ax).count("residual: x") == 2
    assert "skip path (red) crosses 2 LayerNorms" in texts(post)
    assert "skip path (red): a plain sum, no LayerNorm on it" in texts(pre)


def test_labels_do_not_collide_and_stay_in_the_figure(figure):
    figure.canvas.draw()
    renderer = figure.canvas.get_renderer()
    whole = figure.bbox
    for ax in figure.axes:
        extents = [t.get_window_extent(renderer) for t in ax.texts]
        for extent in extents:
            assert whole.x0 <= extent.x0 and extent.x1 <= whole.x1
            assert whole.y0 <= extent.y0 and extent.y1 <= whole.y1
        for a, b in itertools.combinations(extents, 2):
            assert not a.overlaps(b)


def test_refuses_what_is_not_an_encoder_block():
    with pytest.raises(TypeError, match="pre_norm must be an EncoderBlock"):
        encoder_blocks(EncoderBlock(16, 4, 64), "PreNormBlock")


def test_closes_cleanly(figure):
    number = figure.number
    assert plt.fignum_exists(number)
    plt.close(figure)
    assert not plt.fignum_exists(number)
