"""course_utils.heatmaps: the static heatmap and the live HeatmapExplorer."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import base64  # noqa: E402
import io  # noqa: E402
import statistics  # noqa: E402

import ipywidgets as w  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import PIL.Image  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
from matplotlib.axes import Axes  # noqa: E402

from course_utils.heatmaps import Frame, HeatmapExplorer, heatmap  # noqa: E402

WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
SCORES = torch.tensor([[2.0, 0.5, -1.0, 0.0, 1.0, -0.5],
                       [0.1, 0.2, 0.3, 0.4, 0.5, 0.6],
                       [-2.0, 3.0, 0.0, 1.0, -1.0, 0.5],
                       [1.0, 1.0, 1.0, 1.0, 1.0, 1.0],
                       [0.0, -3.0, 2.5, 0.5, 0.0, 1.5]])  # (5, 6)


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def softmax_explorer(**kwargs) -> HeatmapExplorer:
    slider = w.FloatSlider(value=1.0, min=0.05, max=5.0, step=0.05, description="τ")
    return HeatmapExplorer(lambda temperature: torch.softmax(SCORES / temperature, dim=-1),
                           {"temperature": slider}, **kwargs)


def png_size(data: bytes) -> tuple[int, int]:
    return PIL.Image.open(io.BytesIO(data)).size


# ===================================================================================== heatmap
def test_heatmap_of_a_tensor():
    weights = torch.softmax(SCORES, dim=-1)
    rows = [f"q{i}" for i in range(5)]
    cols = ["the", "cat", "sat", "on", "a", "mat"]
    ax = heatmap(weights, rows, cols, title="weights")
    assert isinstance(ax, Axes)
    assert len(ax.images) == 1
    np.testing.assert_allclose(ax.images[0].get_array(), weights.numpy(), rtol=1e-6)
    assert ax.images[0].get_clim() == (0.0, 1.0)
    assert len(ax.texts) == 5 * 6
    assert ax.texts[0].get_text() == f"{weights[0, 0].item():.2f}"
    assert ax.texts[-1].get_text() == f"{weights[4, 5].item():.2f}"
    assert [t.get_text() for t in ax.get_xticklabels()] == cols
    assert [t.get_text() for t in ax.get_yticklabels()] == rows
    assert ax.get_title() == "weights"
    assert ax.get_xlabel() == "keys" and ax.get_ylabel() == "queries"


def test_heatmap_of_a_vector_and_on_a_given_axis():
    fig, ax = plt.subplots()
    result = heatmap(np.array([0.2, 0.3, 0.5]), ax=ax, colorbar=False)
    assert result is ax
    assert ax.images[0].get_array().shape == (1, 3)
    assert [t.get_text() for t in ax.texts] == ["0.20", "0.30", "0.50"]
    assert len(fig.axes) == 1  # no colour bar axis


def test_heatmap_annotation_switch():
    assert len(heatmap(torch.rand(13, 4)).texts) == 0  # too big to annotate by default
    assert len(heatmap(torch.rand(3, 4), annotate=False).texts) == 0
    assert len(heatmap(torch.rand(13, 4), annotate=True).texts) == 52


def test_heatmap_text_colour_follows_value():
    ax = heatmap(np.array([[0.0, 1.0]]))
    assert [t.get_color() for t in ax.texts] == ["white", "black"]


@pytest.mark.parametrize(
    ("rows", "cols", "expected"),
    [(["a", "b"], None, "row_labels has 2 labels but the weights have 3 rows"),
     (None, ["x"] * 5, "col_labels has 5 labels but the weights have 4 columns")],
)
def test_heatmap_wrong_label_count(rows, cols, expected):
    with pytest.raises(ValueError, match=expected):
        heatmap(torch.rand(3, 4), rows, cols)


@pytest.mark.parametrize("shape", [(2, 3, 4), (1, 1, 1, 1)])
def test_heatmap_rejects_more_than_two_dimensions(shape):
    with pytest.raises(ValueError, match=r"weights must be a matrix \(n_q, n_k\)") as info:
        heatmap(torch.rand(shape))
    assert str(info.value).endswith(f"got shape {shape}")


# ============================================================================ HeatmapExplorer
def test_explorer_initial_state():
    explorer = softmax_explorer()
    assert explorer.shape == (5, 6)
    np.testing.assert_allclose(explorer.weights, torch.softmax(SCORES, -1).numpy(), rtol=1e-6)
    assert isinstance(explorer.image, w.Image)
    assert bytes(explorer.image.value).startswith(PNG_MAGIC)
    assert bytes(explorer.image.value) == explorer.default_png
    assert png_size(explorer.default_png) == (480, 320)  # figsize (6, 4) at 80 dpi
    assert explorer.image.layout.width == "480px"  # shown at its own size, not stretched
    assert isinstance(explorer.widget, w.VBox)
    assert explorer.image in explorer.widget.children
    assert explorer.values == {"temperature": 1.0}


def test_slider_change_redraws_in_place():
    explorer = softmax_explorer()
    figure, image = explorer.figure, explorer.image
    before_png, before_weights = bytes(image.value), explorer.weights.copy()
    explorer.controls["temperature"].value = 0.1  # as a learner dragging the slider
    assert explorer.image is image and explorer.figure is figure  # same widget and figure
    after_png = bytes(image.value)
    assert after_png != before_png
    assert after_png.startswith(PNG_MAGIC)
    assert png_size(after_png) == png_size(before_png)
    expected = torch.softmax(SCORES / 0.1, -1).numpy()
    np.testing.assert_allclose(explorer.weights, expected, rtol=1e-5, atol=1e-7)
    assert not np.allclose(explorer.weights, before_weights)
    assert [t.get_text() for t in explorer.ax.texts] == [f"{v:.2f}" for v in expected.ravel()]
    assert len(explorer.update_times_ms) == 1
    explorer.set(temperature=1.0)  # back to the start: the same picture
    assert bytes(image.value) == explorer.default_png
    np.testing.assert_allclose(explorer.weights, before_weights)


def test_cell_labels_are_in_the_picture():
    """The annotations must reach the PNG, in the default state and after a redraw."""
    with_labels, without = softmax_explorer(), softmax_explorer(annotate=False)
    assert len(with_labels.ax.texts) == 30 and len(without.ax.texts) == 0
    assert with_labels.default_png != without.default_png
    with_labels.set(temperature=0.3)
    without.set(temperature=0.3)
    assert bytes(with_labels.image.value) != bytes(without.image.value)


def test_compute_may_return_a_title():
    slider = w.IntSlider(value=0, min=0, max=4)
    explorer = HeatmapExplorer(lambda row: (torch.softmax(SCORES[row:row + 1], -1),
                                            f"query {row}"), {"row": slider})
    assert explorer.ax.get_title() == "query 0"
    explorer.set(row=3)
    assert explorer.ax.get_title() == "query 3"
    np.testing.assert_allclose(explorer.weights, np.full((1, 6), 1 / 6), rtol=1e-6)


def test_a_new_shape_must_come_with_labels_that_fit():
    slider = w.IntSlider(value=5, min=1, max=8)
    rows = [f"q{i}" for i in range(5)]
    explorer = HeatmapExplorer(lambda n: torch.softmax(SCORES[:n], -1), {"n": slider},
                               row_labels=rows)
    with pytest.raises(ValueError, match="row_labels has 5 labels but the weights have 3 rows"):
        explorer.set(n=3)


def test_a_frame_with_new_labels_and_shape_redraws_the_whole_figure():
    def sentence(n):
        return Frame(torch.softmax(SCORES[:n, :n], -1), f"{n} words",
                     row_labels=[f"t{i}" for i in range(n)], col_labels=[f"s{i}" for i in range(n)])

    explorer = HeatmapExplorer(sentence, {"n": w.IntSlider(value=4, min=2, max=5)})
    before = explorer.image.value
    explorer.set(n=3)
    assert explorer.shape == (3, 3) and explorer.weights.shape == (3, 3)
    assert [t.get_text() for t in explorer.ax.get_yticklabels()] == ["t0", "t1", "t2"]
    assert len(explorer._texts) == 9 and explorer.ax.get_title() == "3 words"
    assert explorer.image.value != before
    explorer.set(n=5)  # and back to blitting on a value-only change
    assert [t.get_text() for t in explorer.ax.get_xticklabels()][-1] == "s4"


def test_explorer_rejects_bad_controls():
    with pytest.raises(TypeError, match="control 'temperature' must be an ipywidgets value "
                                        "widget, got float"):
        HeatmapExplorer(lambda temperature: SCORES, {"temperature": 1.0})
    with pytest.raises(TypeError, match="got Button"):
        HeatmapExplorer(lambda go: SCORES, {"go": w.Button()})
    with pytest.raises(ValueError, match="at least one widget"):
        HeatmapExplorer(lambda: SCORES, {})


def test_explorer_set_unknown_control():
    explorer = softmax_explorer()
    with pytest.raises(KeyError, match=r"no control 'tau'; controls are \['temperature'\]"):
        explorer.set(tau=0.5)
    assert explorer.update_times_ms == []


def test_explorer_mime_bundle_has_the_default_png():
    explorer = softmax_explorer()
    explorer.set(temperature=0.2)  # the saved picture stays the default state
    bundle = explorer._repr_mimebundle_()
    png = base64.b64decode(bundle["image/png"], validate=True)
    assert png == explorer.default_png
    assert png != bytes(explorer.image.value)
    assert png.startswith(PNG_MAGIC)
    assert bundle[WIDGET_VIEW]["model_id"] == explorer.widget.model_id
    assert "Heatmap explorer" in bundle["text/plain"]


def test_explorer_labels_are_checked():
    with pytest.raises(ValueError, match="col_labels has 2 labels"):
        softmax_explorer(col_labels=["a", "b"])


def test_redraw_is_fast_enough():
    """Product target: the median redraw of a 5 x 6 heatmap is at most 50 ms.

    The machine may be shared with other work, so the measurement is repeated up to three
    times and the best median kept; a consistently slow redraw still fails.
    """
    medians = []
    for _ in range(3):
        explorer = softmax_explorer()
        explorer.redraw()  # warm-up (font and text-layout caches)
        explorer.update_times_ms.clear()
        for temperature in np.linspace(0.1, 3.0, 10):
            explorer.set(temperature=float(temperature))
        assert len(explorer.update_times_ms) == 10
        medians.append(statistics.median(explorer.update_times_ms))
        if medians[-1] <= 50.0:
            break
    assert min(medians) <= 50.0, f"median redraw times {medians} ms exceed the 50 ms target"
