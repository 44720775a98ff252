"""course_utils.learner.figures.chapter_05: the notes' 2-head example, with the layer's numbers.

No pixel comparisons: the tests read what is drawn (texts, patches) and check it against the
layer's own forward pass.
"""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import itertools  # noqa: E402

import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from course_utils.learner.figures.chapter_05 import (  # noqa: E402
    number,
    two_head_example,
    two_head_numbers,
)
from course_utils.mechanisms.attention import MultiHeadAttention  # noqa: E402


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


@pytest.fixture(scope="module")
def chapter():
    """Section 2's layer and tokens, built as the chapter builds them (d_model = 8, h = 2,
    n = 5): after seed 0 and section 1's four layers of width 64."""
    torch.manual_seed(0)
    for heads in (1, 2, 4, 8):
        MultiHeadAttention(64, heads)
    mha = MultiHeadAttention(8, 2)
    x = torch.randn(1, 5, 8, generator=torch.Generator().manual_seed(0))
    return mha, x


@pytest.fixture
def figure(chapter) -> Figure:
    return two_head_example(*chapter, 2)


def texts(figure) -> list[str]:
    return [t.get_text() for ax in figure.axes for t in ax.texts]


def drawn(figure, gid: str) -> list[str]:
    """The numbers of the box whose text has ``gid``, one per line."""
    (text,) = [t for ax in figure.axes for t in ax.texts if t.get_gid() == gid]
    return text.get_text().split("\n")


def shown(values: torch.Tensor) -> list[str]:
    return [number(v) for v in values.tolist()]


# ------------------------------------------------------------------------------ the numbers
def test_the_numbers_are_the_layers(chapter):
    mha, x = chapter
    numbers = two_head_numbers(mha, x, 2)
    with torch.no_grad():
        output, weights = mha(x, x, x)
        Q, K, V = mha.w_query(x)[0], mha.w_key(x)[0], mha.w_value(x)[0]
    assert torch.allclose(numbers.weights, weights[0, :, 2], atol=1e-6)  # α̂ of both heads
    assert torch.allclose(numbers.b, output[0, 2], atol=1e-6)            # bⁱ = output row i
    assert torch.equal(numbers.q, Q[2])
    assert torch.equal(numbers.q_heads[0], Q[2, :4]) and torch.equal(numbers.q_heads[1], Q[2, 4:])
    assert torch.equal(numbers.k_heads[1], K[:, 4:]) and torch.equal(numbers.v_heads[0], V[:, :4])
    assert torch.equal(numbers.concat, torch.cat(list(numbers.b_heads)))
    # each head only its own keys: the section-3 loop, by hand
    for head, cols in enumerate((slice(0, 4), slice(4, 8))):
        alpha = torch.softmax(K[:, cols] @ Q[2, cols] / 2, dim=0)
        assert torch.allclose(numbers.weights[head], alpha, atol=1e-6)
        assert torch.allclose(numbers.b_heads[head], alpha @ V[:, cols], atol=1e-6)


def test_number_never_prints_minus_zero():
    assert [number(v) for v in (-0.001, 0.004, 1.234, -1.236)] == ["0.00", "0.00", "1.23", "-1.24"]


# ------------------------------------------------------------------------------ the drawing
def test_returns_a_figure_with_the_notes_names_and_the_course_names(figure):
    assert isinstance(figure, Figure)
    labels = "\n".join(texts(figure))
    for name in ("$q^i$", "$q^{i,1}$", "$q^{i,2}$", "$k^{3,1}$", "$k^{3,2}$", "$v^{5,1}$",
                 "$v^{5,2}$", "$b^{i,1}$", "$b^{i,2}$", "$b^i$", "$[b^{i,1}; b^{i,2}]$",
                 "$\\hat\\alpha^{1}_{i,j}$", "$\\hat\\alpha^{2}_{i,j}$", "$W^O$"):
        assert name in texts(figure), name
    for name in ("MultiHeadAttention(d_model=8, num_heads=2)", "split_heads", "merge_heads",
                 "w_out", "w_query", "output[0, 2]", "token i = 3"):
        assert name in labels, name
    bands = {p.get_gid() for ax in figure.axes for p in ax.patches}
    assert {"head1", "head2"} <= bands
    assert "head 1: columns 1–4 of w_query, w_key, w_value" in texts(figure)
    assert "head 2: columns 5–8 of w_query, w_key, w_value" in texts(figure)


def test_the_drawn_numbers_are_the_tensors(figure, chapter):
    mha, x = chapter
    numbers = figure.numbers
    with torch.no_grad():
        output, weights = mha(x, x, x)
    # the two heads' weights for token i, as printed in section 3 (rounded to 2 decimals)
    for head in (1, 2):
        drawn_weights = [drawn(figure, f"alpha{j},{head}")[0] for j in range(1, 6)]
        assert drawn_weights == shown(weights[0, head - 1, 2])
        assert drawn(figure, f"q{head}") == shown(numbers.q_heads[head - 1])
        assert drawn(figure, f"b{head}") == shown(numbers.b_heads[head - 1])
        for j in range(1, 6):
            assert drawn(figure, f"k{j},{head}") == shown(numbers.k_heads[head - 1, j - 1])
            assert drawn(figure, f"v{j},{head}") == shown(numbers.v_heads[head - 1, j - 1])
    assert drawn(figure, "q") == shown(numbers.q)
    assert drawn(figure, "concat") == shown(numbers.concat)
    assert drawn(figure, "b") == shown(output[0, 2])
    assert drawn(figure, "alpha3,1") == ["0.14"]   # the chapter's printout: head 1, 0.145


def test_each_head_is_coloured_apart(figure):
    patches = {p.get_gid(): p for ax in figure.axes for p in ax.patches if p.get_gid()}
    one, two = patches["head1"].get_edgecolor(), patches["head2"].get_edgecolor()
    assert one != two
    assert patches["k3,1"].get_edgecolor() == one and patches["k3,2"].get_edgecolor() == two
    assert patches["q:1"].get_edgecolor() == one and patches["q:2"].get_edgecolor() == two
    assert patches["concat:1"].get_edgecolor() == one
    assert patches["concat:2"].get_edgecolor() == two


def test_labels_do_not_collide_and_stay_in_the_figure(figure):
    figure.canvas.draw()
    renderer = figure.canvas.get_renderer()
    whole = figure.bbox
    extents = [t.get_window_extent(renderer) for ax in figure.axes for t in ax.texts]
    for extent in extents:
        assert whole.x0 <= extent.x0 and extent.x1 <= whole.x1
        assert whole.y0 <= extent.y0 and extent.y1 <= whole.y1
    for a, b in itertools.combinations(extents, 2):
        assert not a.overlaps(b)


def test_other_tokens_and_four_heads(chapter):
    mha, x = chapter
    figure = two_head_example(mha, x[0], 0)   # (n, d_model) works too
    assert "token i = 1" in texts(figure)[0]
    four = MultiHeadAttention(8, 4)
    figure = two_head_example(four, x, 4)
    with torch.no_grad():
        _, weights = four(x, x, x)
    assert drawn(figure, "alpha2,4") == [number(weights[0, 3, 4, 1].item())]


def test_refuses_what_it_cannot_draw(chapter):
    mha, x = chapter
    with pytest.raises(ValueError, match="query must be a token index in 0 … 4"):
        two_head_example(mha, x, 5)
    with pytest.raises(ValueError, match="x must be"):
        two_head_example(mha, torch.randn(2, 5, 8), 0)
    with pytest.raises(ValueError, match="draws 2"):
        two_head_example(MultiHeadAttention(8, 1), x, 0)
    with pytest.raises(TypeError, match="MultiHeadAttention"):
        two_head_example(torch.nn.MultiheadAttention(8, 2), x, 0)


def test_closes_cleanly(figure):
    number_ = figure.number
    assert plt.fignum_exists(number_)
    plt.close(figure)
    assert not plt.fignum_exists(number_)
