"""Chapter 01's figure: the notes' memory diagram beside the MemoryRNN it maps to."""

from __future__ import annotations

import warnings

import matplotlib

matplotlib.use("Agg")

import pytest  # noqa: E402
from matplotlib import pyplot as plt  # noqa: E402
from matplotlib.colors import to_rgb  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from course_utils.foundations.seeding import set_seed  # noqa: E402
from course_utils.learner.figures import chapter_01  # noqa: E402
from course_utils.learner.figures.chapter_01 import MEMORY_COLOURS, memory_map  # noqa: E402
from course_utils.mechanisms.memory import MemoryRNN  # noqa: E402

MEMORIES = ("sensory", "working", "long-term")


def model(vocab: int = 6, hidden: int = 24) -> MemoryRNN:
    set_seed(0)
    return MemoryRNN(vocab_size=vocab, hidden_size=hidden)


def texts(fig: Figure) -> list[str]:
    return [t.get_text() for ax in fig.axes for t in ax.texts]


def by_gid(fig: Figure) -> dict[str, object]:
    return {artist.get_gid(): artist for ax in fig.axes
            for artist in [*ax.patches, *ax.lines] if artist.get_gid()}


@pytest.fixture
def figure():
    fig = memory_map(model(), chinese=False)
    yield fig
    plt.close(fig)


def test_returns_a_figure_with_the_notes_diagram(figure):
    assert isinstance(figure, Figure)
    labels = texts(figure)
    for memory in MEMORIES:
        assert f"{memory} memory" in labels
    for word in ("attention", "storage", "retrieval"):
        assert word in labels
    arrows = by_gid(figure)
    # attention between sensory and working memory; storage down and retrieval up (⇄)
    assert {"notes:attention", "notes:storage", "notes:retrieval"} <= set(arrows)
    storage, retrieval = arrows["notes:storage"], arrows["notes:retrieval"]
    assert storage._posA_posB[0][1] > storage._posA_posB[1][1]  # working → long-term
    assert retrieval._posA_posB[0][1] < retrieval._posA_posB[1][1]  # long-term → working


def test_network_parts_in_the_notation_of_the_chapter(figure):
    joined = "\n".join(texts(figure))
    for part in ("$x_t$", "$W_x x_t + b$", "$h_{t-1}$", "$h_t = \\tanh(\\cdot)$", "$W_x$",
                 "$W_h$", "$W_o$", "MemoryRNN(vocab_size=6, hidden_size=24)"):
        assert part in joined, part
    assert "the input layer" in joined and "the hidden state" in joined
    assert "the weights" in joined


def test_each_memory_shares_its_colour_and_a_dashed_link_with_its_part(figure):
    parts = by_gid(figure)
    pairs = {"sensory": ["network:x_t", "network:W_x x_t"],
             "working": ["network:h_t-1", "network:h_t"],
             "long-term": ["network:weights"]}
    for memory, network_parts in pairs.items():
        colour = to_rgb(MEMORY_COLOURS[memory])
        assert to_rgb(parts[f"notes:{memory}"].get_edgecolor()) == colour
        for part in network_parts:
            assert to_rgb(parts[part].get_edgecolor()) == colour, part
        link = parts[f"link:{memory}"]
        assert link.get_linestyle() == "--" and to_rgb(link.get_color()) == colour


def test_sizes_are_the_models_own():
    fig = memory_map(model(vocab=5, hidden=7), chinese=False)
    joined = "\n".join(texts(fig))
    plt.close(fig)
    assert "MemoryRNN(vocab_size=5, hidden_size=7)" in joined
    assert "one-hot, 5" in joined and "7 numbers" in joined and "5 logits" in joined
    assert "$W_x$ 7×5" in joined and "$W_h$ 7×7" in joined and "$W_o$ 5×7" in joined
    total = sum(p.numel() for p in model(vocab=5, hidden=7).parameters())
    assert total == 7 * 5 + 7 + 7 * 7 + 5 * 7 + 5
    assert f"{total} numbers, changed only by training" in joined


def test_the_chapters_model_has_894_numbers(figure):
    assert "894 numbers, changed only by training" in "\n".join(texts(figure))
    assert "$W_x$ 24×6" in "\n".join(texts(figure))


def test_chinese_names_only_with_a_cjk_font(monkeypatch):
    monkeypatch.setattr(chapter_01, "cjk_font", lambda: "DejaVu Sans")
    fig = memory_map(model())
    labels = texts(fig)
    plt.close(fig)
    assert {"感觉记忆", "工作记忆", "长期记忆"} <= set(labels)
    english_only = memory_map(model(), chinese=False)
    assert not any("记忆" in text for text in texts(english_only))
    plt.close(english_only)
    monkeypatch.setattr(chapter_01, "cjk_font", lambda: None)
    fig = memory_map(model())
    assert not any("记忆" in text for text in texts(fig))
    plt.close(fig)
    with pytest.raises(ValueError, match="CJK"):
        memory_map(model(), chinese=True)


def test_draws_without_warnings_and_closes_cleanly():
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a missing glyph would warn when the text is drawn
        fig = memory_map(model())
        fig.canvas.draw()
    number = fig.number
    plt.close(fig)
    assert number not in plt.get_fignums()


def test_rejects_another_model():
    with pytest.raises(TypeError, match="MemoryRNN"):
        memory_map(object())
