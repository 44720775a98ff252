"""Chapter 02's figure: the encoder-decoder with attention, two decoding steps.

The figure is checked by what it holds (its labelled boxes, the α it prints, the numbers in its
colour strips), not by its pixels; the decoding steps are checked against the course's
``greedy_decode``.
"""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from course_utils.foundations.seeding import set_seed  # noqa: E402
from course_utils.learner.figures.chapter_02 import (  # noqa: E402
    STRIP,
    DecodingSteps,
    decode_steps,
    draw_seq2seq_attention,
    superscript,
)
from course_utils.worlds.seq2seq import Seq2Seq, greedy_decode  # noqa: E402
from course_utils.worlds.translation import ToyTranslation, make_batch  # noqa: E402

WORDS = ["ka", "lo", "mi", "nu"]


@pytest.fixture
def steps() -> DecodingSteps:
    """Made-up tensors of two steps over four words (d = 10)."""
    generator = torch.Generator().manual_seed(0)
    weights = torch.softmax(torch.randn(2, 4, generator=generator), dim=-1)
    states = torch.rand(4, 10, generator=generator) * 2 - 1
    queries, new_states = torch.rand(2, 2, 10, generator=generator) * 2 - 1
    return DecodingSteps(states, queries, weights, weights @ states, new_states,
                         ("<bos>", "oak"), ("oak", "run"))


@pytest.fixture
def figure(steps):
    fig = draw_seq2seq_attention(WORDS, steps)
    yield fig
    plt.close(fig)


def texts(ax) -> list[str]:
    return [t.get_text() for t in ax.texts]


def by_gid(artists, gid):
    return [a for a in artists if a.get_gid() == gid]


def test_one_panel_per_step_with_the_slides_notation(figure):
    assert isinstance(figure, Figure)
    panels = figure.axes
    assert len(panels) == 2
    for t, ax in enumerate(panels):
        labels = texts(ax)
        assert [f"h{superscript(i)}" for i in range(1, 5)] == [x for x in labels if
                                                               x.startswith("h")]
        assert f"z{superscript(t)}  (query)" in labels
        assert f"c{superscript(t)} = Σ αᵢ hⁱ" in labels
        assert f"z{superscript(t + 1)}  (GRU)" in labels
        assert all(word in labels for word in WORDS)
        assert ax.get_title().startswith(f"step {t + 1}:")
    assert texts(panels[0]).count("<bos>") == 1 and "“oak”" in texts(panels[0])
    assert "oak" in texts(panels[1]) and "“run”" in texts(panels[1])


def test_every_vector_is_a_labelled_box(figure):
    for ax in figure.axes:
        boxes = {p.get_gid() for p in ax.patches if type(p).__name__ == "FancyBboxPatch"}
        assert boxes == {"h1", "h2", "h3", "h4", "query", "context", "new_state", "input",
                         "word"}


def test_alpha_printed_and_drawn_as_arrow_widths(figure, steps):
    for t, ax in enumerate(figure.axes):
        printed = [float(x.get_text()) for x in ax.texts if str(x.get_gid()).startswith("alpha")]
        assert printed == pytest.approx(steps.weights[t].tolist(), abs=0.005)
        widths = [by_gid(ax.patches, f"alpha{i + 1}")[0].get_linewidth() for i in range(4)]
        order = steps.weights[t].argsort().tolist()
        assert sorted(widths) == [widths[i] for i in order]     # wider arrow, larger α


def test_colour_strips_hold_the_real_numbers(figure, steps):
    for t, ax in enumerate(figure.axes):
        strips = {image.get_gid(): image.get_array()[0] for image in ax.images}
        expected = {"query": steps.queries[t], "context": steps.contexts[t],
                    "new_state": steps.new_states[t],
                    **{f"h{i + 1}": steps.states[i] for i in range(4)}}
        assert strips.keys() == expected.keys()
        for gid, vector in expected.items():
            assert strips[gid].tolist() == pytest.approx(vector[:STRIP].tolist())


def test_wrong_number_of_words_is_refused(steps):
    with pytest.raises(ValueError, match="3 source words for 4"):
        draw_seq2seq_attention(WORDS[:3], steps)


def test_figure_closes_cleanly(steps):
    before = plt.get_fignums()
    fig = draw_seq2seq_attention(WORDS, steps)
    plt.close(fig)
    assert plt.get_fignums() == before


def test_decode_steps_are_the_models_greedy_steps():
    set_seed(0)
    task = ToyTranslation(seed=0)
    model = Seq2Seq(len(task.source_vocab), len(task.target_vocab), "additive").eval()
    pair = (["ka", "lo", "mi"], task.translate(["ka", "lo", "mi"]))
    batch = make_batch([pair], task)
    steps = decode_steps(model, batch, task.target_vocab, steps=3)
    out = greedy_decode(model, batch.source, batch.source_mask, max_length=3)
    assert torch.allclose(steps.weights, out.weights[0], atol=1e-6)
    assert list(steps.words) == [task.target_vocab.itos[i] for i in out.tokens[0].tolist()]
    assert steps.inputs == ("<bos>", *steps.words[:2])
    assert torch.allclose(steps.contexts, steps.weights @ steps.states, atol=1e-6)
    assert torch.equal(steps.queries[1:], steps.new_states[:-1])   # z^t asks at step t + 1
    assert steps.states.shape == (3, 128) and steps.queries.shape == (3, 128)


def test_decode_steps_refuses_what_it_cannot_draw():
    task = ToyTranslation(seed=0)
    pairs = [(["ka", "lo"], task.translate(["ka", "lo"])), (["mi"], task.translate(["mi"]))]
    model = Seq2Seq(len(task.source_vocab), len(task.target_vocab), "additive")
    with pytest.raises(ValueError, match="one sentence"):
        decode_steps(model, make_batch(pairs, task), task.target_vocab)
    without = Seq2Seq(len(task.source_vocab), len(task.target_vocab), "none")
    with pytest.raises(ValueError, match="no attention"):
        decode_steps(without, make_batch(pairs[:1], task), task.target_vocab)
