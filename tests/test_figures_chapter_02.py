"""Chapter 02's figure: the encoder-decoder with attention, decoding step by decoding step.

The figure is checked by what it holds (its labelled boxes, the α it prints, the numbers in its
colour strips, the words of the translation), not by its pixels; the decoding steps are
checked against the course's ``greedy_decode``. The step-through runs on the chapter's shipped
additive translator, over every word it emits for a 6-word test sentence.
"""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import base64  # noqa: E402
import io  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import ipywidgets as widgets  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import PIL.Image  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
from matplotlib.backends.backend_agg import FigureCanvasAgg  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from course_utils.checkpoints import load_checkpoint  # noqa: E402
from course_utils.foundations.seeding import set_seed  # noqa: E402
from course_utils.learner.figures.chapter_02 import (  # noqa: E402
    FIGSIZE,
    MAX_STEPS,
    STRIP,
    DecodingSteps,
    decode_steps,
    decoding_captions,
    draw_decoding_step,
    draw_seq2seq_attention,
    draw_step,
    drawn_alpha,
    drawn_words,
    seq2seq_walkthrough,
    still_layer,
    superscript,
)
from course_utils.learner.figures.step_through import StepThrough  # noqa: E402
from course_utils.worlds.seq2seq import Seq2Seq, greedy_decode  # noqa: E402
from course_utils.worlds.translation import CHAPTER_SPLIT, ToyTranslation, make_batch  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent

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


# ------------------------------------------------------------------------ the step-through
@pytest.fixture(scope="module")
def chapter():
    """The chapter's additive translator (the shipped checkpoint) and its 6-word sentence."""
    task = ToyTranslation(seed=0)
    model = load_checkpoint(
        Seq2Seq(len(task.source_vocab), len(task.target_vocab), "additive"),
        ROOT / "checkpoints" / "02_seq2seq_attention" / "additive.safetensors").eval()
    pair = min(task.split(**CHAPTER_SPLIT)["test"], key=lambda p: abs(len(p[0]) - 6))
    return task, model, pair, make_batch([pair], task)


@pytest.fixture(scope="module")
def walk(chapter):
    task, model, pair, batch = chapter
    walk = seq2seq_walkthrough(model, batch, task.target_vocab, pair[0])
    yield walk
    walk.set(step=1)


def title(fig: Figure) -> str:
    return next(t.get_text() for t in fig.texts if t.get_gid() == "title")


def test_decoding_up_to_eos_is_greedy_decode(chapter):
    task, model, pair, batch = chapter
    steps = decode_steps(model, batch, task.target_vocab, steps=None)
    out = greedy_decode(model, batch.source, batch.source_mask, max_length=MAX_STEPS)
    assert steps.steps == out.tokens.shape[1] == len(pair[1]) + 1     # every word and <eos>
    assert list(steps.words) == [*pair[1], "<eos>"]                    # it translates it right
    assert list(steps.words) == [task.target_vocab.itos[i] for i in out.tokens[0].tolist()]
    assert torch.allclose(steps.weights, out.weights[0], atol=1e-6)
    assert steps.inputs == ("<bos>", *steps.words[:-1])


def test_decoding_without_eos_stops_at_max_steps():
    set_seed(0)
    task = ToyTranslation(seed=0)
    model = Seq2Seq(len(task.source_vocab), len(task.target_vocab), "additive").eval()
    batch = make_batch([(["ka", "lo"], task.translate(["ka", "lo"]))], task)
    steps = decode_steps(model, batch, task.target_vocab, steps=None)
    assert steps.words[-1] == "<eos>" or steps.steps == MAX_STEPS
    assert "<eos>" not in steps.words[:-1]


def test_the_walkthrough_has_one_step_per_word_and_saves_step_1(walk, chapter):
    _, _, pair, _ = chapter
    assert isinstance(walk, StepThrough) and walk.step == 1
    slider = walk.controls["step"]
    assert (slider.min, slider.max, slider.value) == (1, len(pair[1]) + 1, 1)
    assert isinstance(walk.play, widgets.Play) and (walk.play.min, walk.play.max) == (1, 7)
    assert walk.steps == decoding_captions(walk.numbers)
    assert walk.steps[0] == "z⁰ asks → α → c⁰ → z¹ → “oak”"
    assert walk.steps[-1].endswith("“<eos>”: the model stops")
    assert title(walk.figure) == f"Step 1 of 7 · {walk.steps[0]}"
    bundle = walk._repr_mimebundle_()
    assert bundle["text/plain"] == "Step-through (run the notebook to move the controls)"
    png = base64.b64decode(bundle["image/png"])
    assert png == walk.default_png
    assert PIL.Image.open(io.BytesIO(png)).size == walk.figure.canvas.get_width_height()


def test_every_step_draws_the_models_alpha_and_the_translation_so_far(walk):
    numbers = walk.numbers
    try:
        for step in [*range(2, numbers.steps + 1), 1]:
            walk.set(step=step)
            t = step - 1
            assert title(walk.figure).startswith(f"Step {step} of {numbers.steps} · ")
            assert drawn_alpha(walk.figure) == pytest.approx(numbers.weights[t].tolist(),
                                                             abs=0.005)
            ax = walk.figure.axes[0]
            widths = [p.get_linewidth() for i in range(numbers.weights.shape[1])
                      for p in ax.patches if p.get_gid() == f"alpha{i + 1}"]
            assert widths == pytest.approx((0.4 + 9 * numbers.weights[t]).tolist())
            assert drawn_words(walk.figure) == list(numbers.words[:step])
            strips = {image.get_gid(): image.get_array()[0] for image in ax.images}
            assert strips.keys() == {"query", "context", "new_state"}      # h¹…hⁿ: still
            assert strips["query"].tolist() == pytest.approx(numbers.queries[t, :STRIP].tolist())
            assert strips["context"].tolist() == pytest.approx(
                numbers.contexts[t, :STRIP].tolist())
            labels = [text.get_text() for text in ax.texts]
            assert f"z{superscript(t)}  (query)" in labels and numbers.inputs[t] in labels
            slots = {p.get_gid() for p in ax.patches if (p.get_gid() or "").startswith("slot")}
            assert slots == {f"slot{k}" for k in range(1, numbers.steps + 1) if k != step}
        assert walk.image.value == walk.default_png                    # back at step 1
    finally:
        walk.set(step=1)


def test_moving_the_slider_redraws_fast(walk):
    try:
        start = time.process_time()
        for step in range(2, walk.numbers.steps + 1):
            walk.set(step=step)
        per_step = (time.process_time() - start) / (walk.numbers.steps - 1)
        assert per_step < 0.2, f"{per_step * 1000:.0f} ms of processor time per step"
        assert walk.image.value != walk.default_png
    finally:
        walk.set(step=1)


def rendered(*args) -> np.ndarray:
    """``draw_decoding_step(fig, *args)`` rendered at 80 dpi: RGB pixels."""
    fig = Figure(figsize=FIGSIZE, dpi=80)
    FigureCanvasAgg(fig)
    draw_decoding_step(fig, *args)
    fig.canvas.draw()
    return np.asarray(fig.canvas.buffer_rgba())[..., :3].astype(float)


def test_the_still_layer_draws_what_the_full_drawing_draws(walk, chapter):
    _, _, pair, _ = chapter
    numbers = walk.numbers
    still = still_layer(pair[0], numbers, dpi=80)
    assert still.shape == (round(FIGSIZE[1] * 80), round(FIGSIZE[0] * 80), 4)
    for step in (1, 4):
        fast = rendered(step, pair[0], numbers, still)
        full = rendered(step, pair[0], numbers)
        assert np.abs(fast - full).mean() < 1.0          # the same picture, to a few pixels
        assert np.abs(fast - full).max(-1).astype(bool).mean() < 0.01


def test_the_step_through_refuses_bad_arguments(chapter, walk):
    task, model, pair, batch = chapter
    fig = Figure()
    for step in (0, walk.numbers.steps + 1, True, 1.0):
        with pytest.raises(ValueError, match="step must be in 1 … 7"):
            draw_decoding_step(fig, step, pair[0], walk.numbers)
    with pytest.raises(ValueError, match="5 source words for 6"):
        draw_decoding_step(fig, 1, pair[0][:5], walk.numbers)
    with pytest.raises(ValueError, match="5 source words for 6"):
        seq2seq_walkthrough(model, batch, task.target_vocab, pair[0][:5])
    with pytest.raises(ValueError, match="steps must be an int"):
        decode_steps(model, batch, task.target_vocab, steps=0)
    with pytest.raises(ValueError, match="steps must be an int"):
        decode_steps(model, batch, task.target_vocab, steps=2.0)
    with pytest.raises(ValueError, match="parts must be"):
        draw_step(fig.add_subplot(), pair[0], walk.numbers, 0, parts="some")
