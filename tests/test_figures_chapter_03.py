"""Chapter 03's figures: captioning's data flow and the reading hops.

The figures are checked by what they hold (their labelled boxes, the α and p they print, the
numbers in their colour strips), not by their pixels; the steps they draw are checked against
the course's ``caption_images`` and ``MemoryNetwork``.
"""

from __future__ import annotations

import random

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from course_utils.foundations.seeding import set_seed  # noqa: E402
from course_utils.learner.figures.chapter_03 import (  # noqa: E402
    STRIP,
    CaptionSteps,
    HopReading,
    caption_steps,
    draw_captioning,
    draw_reading_hops,
    read_hops,
)
from course_utils.worlds.captioning import Captioner, ShapesWorld, caption_images  # noqa: E402
from course_utils.worlds.reading import MemoryNetwork, StoryWorld, make_story_batch  # noqa: E402

SENTENCES = ["john got the milk", "john went to the office", "mary moved to the garden"]


@pytest.fixture
def steps() -> CaptionSteps:
    """Made-up tensors of three captioning steps over 16 regions (f = 10, h = 6)."""
    generator = torch.Generator().manual_seed(0)
    weights = torch.softmax(3 * torch.randn(3, 16, generator=generator), dim=-1)
    regions = torch.randn(16, 10, generator=generator)
    states = torch.rand(4, 6, generator=generator)
    return CaptionSteps(regions, weights, weights @ regions, states[:3], states[1:],
                        ("<bos>", "a", "red"), ("a", "red", "circle"))


@pytest.fixture
def image() -> torch.Tensor:
    return torch.rand(3, 48, 48, generator=torch.Generator().manual_seed(1))


@pytest.fixture
def reading() -> HopReading:
    """Made-up tensors of two hops over three sentences (d = 12)."""
    generator = torch.Generator().manual_seed(2)
    weights = torch.softmax(2 * torch.randn(2, 3, generator=generator), dim=-1)
    outputs = torch.randn(2, 12, generator=generator)
    u0 = torch.randn(12, generator=generator)
    queries = torch.stack([u0, u0 + outputs[0], u0 + outputs[0] + outputs[1]])
    return HopReading(weights, outputs, queries, "office")


def texts(fig: Figure) -> list[str]:
    return [t.get_text() for t in fig.axes[0].texts]


def gids(artists) -> set[str]:
    return {a.get_gid() for a in artists if a.get_gid()}


def boxes(fig: Figure) -> set[str]:
    return {p.get_gid() for p in fig.axes[0].patches if type(p).__name__ == "FancyBboxPatch"}


def strips(fig: Figure) -> dict[str, list[float]]:
    return {im.get_gid(): im.get_array()[0].tolist() for im in fig.axes[0].images
            if im.get_array().ndim == 2}


# --------------------------------------------------------------------------- captioning
def test_captioning_draws_the_four_steps_for_two_words(image, steps):
    fig = draw_captioning(image, steps, words=(1, 2))
    assert isinstance(fig, Figure)
    assert boxes(fig) == {"encoder", "context@1", "decoder@1", "word@1", "context@2",
                          "decoder@2", "word@2"}
    labels = texts(fig)
    assert "RegionEncoder (CNN)\nr₁…r₁₆: 16 × 10" in labels
    assert {"“red”", "“circle”", "Decoder (GRU)\nz²", "Decoder (GRU)\nz³"} <= set(labels)
    assert labels.count("c = Σᵢ αᵢ rᵢ") == 2
    assert "caption: “a red circle”" in labels
    assert "previous word: “a”" in labels and "previous word: “red”" in labels
    arrows = gids(fig.axes[0].patches)
    for t in (1, 2):
        assert {f"alpha->context@{t}", f"context->decoder@{t}", f"decoder->word@{t}",
                f"regions->alpha@{t}"} <= arrows
    plt.close(fig)


def test_captioning_prints_the_real_alpha_and_c(image, steps):
    fig = draw_captioning(image, steps, words=(0, 2))
    for t in (0, 2):
        printed = {x.get_gid(): float(x.get_text()) for x in fig.axes[0].texts
                   if str(x.get_gid()).startswith(f"alpha@{t}:alpha")}
        alpha = steps.weights[t]
        expected = {f"alpha@{t}:alpha{i + 1}": a for i, a in enumerate(alpha.tolist())
                    if a >= 0.005}
        assert printed.keys() == expected.keys()
        for gid, value in expected.items():
            assert printed[gid] == pytest.approx(value, abs=0.005)
        assert strips(fig)[f"context@{t}"] == pytest.approx(steps.contexts[t, :STRIP].tolist())
        frame = [p for p in fig.axes[0].patches if p.get_gid() == f"alpha@{t}:max"]
        assert len(frame) == 1
    # the spotlight: the image of each word is the picture lit by its α
    lit = {im.get_gid(): im.get_array() for im in fig.axes[0].images}
    assert lit["image"].shape == (48, 48, 3)
    best = int(steps.weights[0].argmax())
    r, c = divmod(best, 4)
    cell = (slice(12 * r, 12 * r + 12), slice(12 * c, 12 * c + 12))
    assert lit["alpha@0"][cell].sum() > lit["alpha@0"].sum() / 16
    plt.close(fig)


def test_captioning_refuses_what_it_cannot_draw(image, steps):
    with pytest.raises(ValueError, match="two words"):
        draw_captioning(image, steps, words=(0,))
    with pytest.raises(ValueError, match="outside"):
        draw_captioning(image, steps, words=(0, 3))


def test_caption_steps_are_the_models_greedy_steps():
    set_seed(0)
    world = ShapesWorld()
    scene = world.scene(world.layout(random.Random(0)), seed=0)
    model = Captioner(len(world.vocab), "additive").eval()
    steps = caption_steps(model, scene.image, world.vocab, steps=4)
    out = caption_images(model, scene.image[None], max_length=4)
    assert torch.allclose(steps.weights, out.weights[0, :len(steps.words)], atol=1e-6)
    assert list(steps.words) == [world.vocab.itos[i] for i in
                                 out.tokens[0, :len(steps.words)].tolist()]
    assert steps.inputs == ("<bos>", *steps.words[:-1])
    assert torch.allclose(steps.contexts, steps.weights @ steps.regions, atol=1e-5)
    assert torch.equal(steps.queries[1:], steps.states[:-1])
    assert steps.regions.shape == (16, 64) and steps.states.shape[1] == 96
    with pytest.raises(ValueError, match="no α"):
        caption_steps(Captioner(len(world.vocab), "none"), scene.image, world.vocab)


# --------------------------------------------------------------------------- reading hops
def test_reading_hops_draws_the_chain(reading):
    fig = draw_reading_hops(SENTENCES, "where is the milk ?", reading, support=(0, 1))
    assert isinstance(fig, Figure)
    assert boxes(fig) == {"question", "hop1", "hop2", "answer"}
    labels = texts(fig)
    assert "u⁰ = “where is the milk ?”" in labels
    assert {"hop 1: o¹ = Σ pᵢ cᵢ", "hop 2: o² = Σ pᵢ cᵢ", "answer: W u²\n“office”",
            "u¹ = u⁰ + o¹", "u² = u¹ + o²"} <= set(labels)
    assert ["★ john got the milk", "★ john went to the office", "   mary moved to the garden"] \
        == [x for x in labels if x.endswith(tuple(SENTENCES))]
    assert {"u0->hop1", "hop1", "u1->hop2", "u2->answer"} <= gids(fig.axes[0].patches)
    plt.close(fig)


def test_reading_hops_uses_the_real_p_o_and_u(reading):
    fig = draw_reading_hops(SENTENCES, "where is the milk ?", reading)
    ax = fig.axes[0]
    for k in range(2):
        printed = [float(x.get_text()) for x in ax.texts
                   if str(x.get_gid()).startswith(f"p{k + 1}:")]
        assert printed == pytest.approx(reading.weights[k].tolist(), abs=0.005)
        bars = [p.get_width() for p in ax.patches if str(p.get_gid()).startswith(f"p{k + 1}:")]
        assert bars == pytest.approx((1.4 * reading.weights[k]).tolist())
    drawn = strips(fig)
    assert drawn["question"] == pytest.approx(reading.queries[0, :STRIP].tolist())
    for k in range(2):
        assert drawn[f"hop{k + 1}"] == pytest.approx(reading.outputs[k, :STRIP].tolist())
    plt.close(fig)


def test_reading_hops_refuses_wrong_sentences_and_closes_cleanly(reading):
    with pytest.raises(ValueError, match="2 sentences for 3"):
        draw_reading_hops(SENTENCES[:2], "where is the milk ?", reading)
    before = plt.get_fignums()
    plt.close(draw_reading_hops(SENTENCES, "where is the milk ?", reading))
    plt.close(draw_captioning(torch.rand(3, 48, 48), CaptionSteps(
        torch.zeros(16, 4), torch.full((2, 16), 1 / 16), torch.zeros(2, 4), torch.zeros(2, 3),
        torch.zeros(2, 3), ("<bos>", "a"), ("a", "red"))))
    assert plt.get_fignums() == before


def test_read_hops_are_the_networks_hops():
    set_seed(0)
    world = StoryWorld()
    stories = [world.story(random.Random(seed), "object") for seed in range(2)]
    reader = MemoryNetwork(len(world.vocab), len(world.answers), hops=2).eval()
    batch = make_story_batch(stories[:1], world)
    reading = read_hops(reader, batch, world.answers)
    with torch.no_grad():
        logits, weights = reader(batch)
    assert torch.allclose(reading.weights, weights[0], atol=1e-6)
    assert reading.answer == list(world.answers)[logits.argmax().item()]
    assert torch.allclose(reading.queries[1:], reading.queries[:-1] + reading.outputs, atol=1e-6)
    assert reading.hops == 2 and reading.queries.shape == (3, 32)
    with pytest.raises(ValueError, match="one story"):
        read_hops(reader, make_story_batch(stories, world), world.answers)
