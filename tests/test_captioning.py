"""course_utils.captioning: the shapes world, the region CNN and the attentive captioner.

Tiny models (feature 16, embed 8, hidden 16, attention 8) and a few training steps.
"""

from __future__ import annotations

import math
import random

import pytest
import torch

from course_utils.captioning import (
    CELL,
    COLOURS,
    GRID,
    IMAGE_SIZE,
    SHAPES,
    AttentionOnObjects,
    CaptionBatch,
    Captioner,
    RegionEncoder,
    Scene,
    Shape,
    ShapesWorld,
    caption_images,
    describe,
    make_caption_batch,
    object_word_attention,
    regions_to_pixels,
    train_captioner,
)
from course_utils.seq2seq import Translation

torch.set_num_threads(1)

SIZES = {"feature_size": 16, "embed_size": 8, "hidden_size": 16, "attention_size": 8}


@pytest.fixture(scope="module")
def world() -> ShapesWorld:
    return ShapesWorld()


@pytest.fixture(scope="module")
def data(world):
    return world.split(n_train=64, n_test=8, seed=1)


def tiny(vocab_size: int, attention: str = "additive", seed: int = 0) -> Captioner:
    torch.manual_seed(seed)
    return Captioner(vocab_size, attention, **SIZES)


def two_scenes(world):
    """One shape (3 words) and two shapes in one row (8 words): captions of unequal length."""
    short = world.scene([Shape("red", "circle", (0, 0))], seed=1)
    long = world.scene([Shape("blue", "square", (1, 2)), Shape("green", "triangle", (1, 0))],
                       seed=2)
    return short, long


# ================================================================================== grammar
def test_describe_one_shape():
    words, owners = describe([Shape("red", "circle", (2, 3))])
    assert words == ("a", "red", "circle")
    assert owners == (None, 0, 0)


def test_describe_same_row_is_left_of():
    words, owners = describe([Shape("red", "circle", (1, 0)), Shape("blue", "square", (1, 3))])
    assert words == ("a", "red", "circle", "left", "of", "a", "blue", "square")
    assert owners == (None, 0, 0, None, None, None, 1, 1)


def test_describe_lower_row_is_above():
    # Column 3 then column 0: "above" depends on the row only, not on the column.
    words, owners = describe([Shape("yellow", "triangle", (0, 3)),
                              Shape("green", "circle", (2, 0))])
    assert words == ("a", "yellow", "triangle", "above", "a", "green", "circle")
    assert owners == (None, 0, 0, None, None, 1, 1)


def test_describe_three_shapes_mixes_both_relations():
    shapes = [Shape("red", "square", (0, 0)), Shape("blue", "circle", (0, 2)),
              Shape("green", "triangle", (3, 1))]
    words, owners = describe(shapes)
    assert " ".join(words) == ("a red square left of a blue circle above a green triangle")
    assert len(owners) == len(words)
    for word, owner in zip(words, owners, strict=True):
        if owner is None:
            assert word in ("a", "left", "of", "above")
        else:  # a colour or a shape word names the shape it belongs to
            assert word in (shapes[owner].colour, shapes[owner].kind)
    assert [k for k in owners if k is not None] == [0, 0, 1, 1, 2, 2]


def test_shape_region_is_row_major():
    assert Shape("red", "circle", (0, 1)).region == 1
    assert Shape("red", "circle", (1, 0)).region == GRID
    assert Shape("red", "circle", (2, 3)).region == 2 * GRID + 3
    assert Shape("red", "circle", (3, 3)).region == GRID * GRID - 1


# =================================================================================== scenes
def test_scene_image_shape_dtype_and_range(world):
    scene = world.scene([Shape("red", "circle", (0, 0)), Shape("blue", "square", (3, 2))],
                        seed=5)
    assert isinstance(scene, Scene)
    assert scene.image.shape == (3, IMAGE_SIZE, IMAGE_SIZE) == (3, 48, 48)
    assert scene.image.dtype == torch.float32
    assert scene.image.min() >= 0.0 and scene.image.max() <= 1.0


def cell_pixels(image: torch.Tensor, cell: tuple[int, int]) -> torch.Tensor:
    """The pixels of a grid cell as ``(CELL * CELL, 3)``."""
    r, c = cell
    return image[:, r * CELL:(r + 1) * CELL, c * CELL:(c + 1) * CELL].reshape(3, -1).T


def near(pixels: torch.Tensor, colour: str, tolerance: float = 0.2) -> int:
    """How many pixels are within ``tolerance`` (every channel) of the named colour."""
    target = torch.tensor(COLOURS[colour])
    return int(((pixels - target).abs().max(dim=1).values <= tolerance).sum())


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("kinds", [("circle", "square", "triangle"),
                                   ("triangle", "circle", "square")])
def test_each_shape_is_painted_in_its_own_cell(world, seed, kinds):
    shapes = [Shape("red", kinds[0], (0, 0)), Shape("green", kinds[1], (1, 2)),
              Shape("blue", kinds[2], (3, 3))]
    image = world.scene(shapes, seed=seed).image
    cells = [(r, c) for r in range(GRID) for c in range(GRID)]
    for shape in shapes:
        assert near(cell_pixels(image, shape.cell), shape.colour) >= 10, shape
        for cell in cells:  # the colour appears nowhere else (every colour is used once)
            if cell != shape.cell:
                assert near(cell_pixels(image, cell), shape.colour) == 0, (shape, cell)
    for cell in cells:
        if cell not in [s.cell for s in shapes]:  # an empty cell: the dark, noisy background
            pixels = cell_pixels(image, cell)
            assert pixels.max() < 0.4, cell
            assert abs(pixels.mean().item() - 0.12) < 0.02, cell


def test_scene_sorts_the_shapes_into_reading_order(world):
    shapes = [Shape("blue", "square", (2, 1)), Shape("red", "circle", (0, 3)),
              Shape("green", "triangle", (2, 0))]
    scene = world.scene(shapes, seed=0)
    assert [s.cell for s in scene.shapes] == [(0, 3), (2, 0), (2, 1)]
    assert scene.caption == ("a", "red", "circle", "above", "a", "green", "triangle", "left",
                             "of", "a", "blue", "square")
    assert (scene.caption, scene.word_shape) == describe(scene.shapes)
    # The order the shapes were given in does not matter.
    again = world.scene(list(reversed(shapes)), seed=0)
    assert again.shapes == scene.shapes and torch.equal(again.image, scene.image)


def test_render_is_seeded(world):
    shapes = [Shape("yellow", "circle", (1, 1))]
    assert torch.equal(world.scene(shapes, seed=3).image, world.scene(shapes, seed=3).image)
    assert not torch.equal(world.scene(shapes, seed=3).image, world.scene(shapes, seed=4).image)


def test_layout_draws_one_to_three_shapes_in_distinct_cells(world):
    rng = random.Random(0)
    counts = set()
    for _ in range(200):
        shapes = world.layout(rng)
        counts.add(len(shapes))
        cells = [s.cell for s in shapes]
        assert len(set(cells)) == len(cells)
        assert cells == sorted(cells)  # reading order
        for s in shapes:
            assert s.colour in COLOURS and s.kind in SHAPES
            assert all(0 <= v < GRID for v in s.cell)
    assert counts == {1, 2, 3}


@pytest.mark.parametrize("shapes", [
    [],
    [Shape("red", "circle", (0, 0)), Shape("blue", "square", (0, 0))],
    [Shape("purple", "circle", (0, 0))],
    [Shape("red", "hexagon", (0, 0))],
    [Shape("red", "circle", (4, 0))],
    [Shape("red", "circle", (0, -1))],
], ids=["empty", "same cell", "colour", "kind", "row 4", "column -1"])
def test_bad_shapes_are_rejected(world, shapes):
    with pytest.raises(ValueError):
        world.scene(shapes)


def test_bad_shape_message_names_the_shape(world):
    with pytest.raises(ValueError, match="bad shape .*purple"):
        world.scene([Shape("purple", "circle", (0, 0))])
    with pytest.raises(ValueError, match="distinct cells"):
        world.scene([Shape("red", "circle", (1, 1)), Shape("blue", "circle", (1, 1))])


# ==================================================================================== split
def test_split_sizes_and_determinism(world):
    a = world.split(n_train=30, n_test=10, seed=3)
    b = world.split(n_train=30, n_test=10, seed=3)
    assert len(a["train"]) == 30 and len(a["test"]) == 10
    for part in ("train", "test"):
        for x, y in zip(a[part], b[part], strict=True):
            assert x.shapes == y.shapes and x.caption == y.caption
            assert torch.equal(x.image, y.image)
    c = world.split(n_train=30, n_test=10, seed=4)
    assert [s.shapes for s in c["train"]] != [s.shapes for s in a["train"]]


def test_split_train_and_test_layouts_are_disjoint(world):
    data = world.split(n_train=300, n_test=100, seed=0)
    train = [s.shapes for s in data["train"]]
    test = [s.shapes for s in data["test"]]
    assert len(set(train)) == len(train) and len(set(test)) == len(test)
    assert not set(train) & set(test)
    for scene in data["train"][:20]:  # every scene is consistent with its own shapes
        assert (scene.caption, scene.word_shape) == describe(scene.shapes)


# ====================================================================== make_caption_batch
def test_make_caption_batch_pads_and_adds_bos_and_eos(world):
    short, long = two_scenes(world)
    vocab = world.vocab
    batch = make_caption_batch([short, long], vocab)
    assert isinstance(batch, CaptionBatch)
    assert batch.images.shape == (2, 3, 48, 48)
    assert torch.equal(batch.images[0], short.image) and torch.equal(batch.images[1], long.image)
    assert long.caption == ("a", "green", "triangle", "left", "of", "a", "blue", "square")
    ids_short = [vocab.stoi[w] for w in short.caption]
    ids_long = [vocab.stoi[w] for w in long.caption]
    assert ids_short == [3, 4, 8]  # a red circle
    assert batch.caption_out.shape == batch.caption_in.shape == (2, 9)
    assert batch.caption_out.tolist() == [ids_short + [2] + [0] * 5, ids_long + [2]]
    assert batch.caption_in.tolist() == [[1] + ids_short + [0] * 5, [1] + ids_long]
    # Teacher forcing: the input is the output shifted right by one step.
    real = batch.caption_out[:, :-1] != 2
    assert torch.equal(batch.caption_in[:, 1:][real], batch.caption_out[:, :-1][real])


def test_make_caption_batch_needs_a_scene(world):
    with pytest.raises(ValueError, match="at least one scene"):
        make_caption_batch([], world.vocab)


# ============================================================================ RegionEncoder
def test_region_encoder_shapes():
    torch.manual_seed(0)
    regions, mean = RegionEncoder(16)(torch.rand(2, 3, 48, 48))
    assert regions.shape == (2, GRID * GRID, 16)
    assert mean.shape == (2, 16)
    torch.testing.assert_close(mean, regions.mean(dim=1))


def test_region_feature_depends_mostly_on_its_own_cell():
    """The gradient of region (i, j)'s feature w.r.t. the image lies mostly in cell (i, j),
    a little in the neighbouring cells and not at all further away (or in other images)."""
    torch.manual_seed(0)
    encoder = RegionEncoder(16)
    images = torch.rand(2, 3, 48, 48, requires_grad=True)
    regions, _ = encoder(images)
    for region in range(GRID * GRID):
        (grad,) = torch.autograd.grad(regions[0, region].sum(), images, retain_graph=True)
        assert grad[1].abs().sum() == 0  # the other image of the batch plays no part
        mass = grad[0].abs().sum(dim=0).reshape(GRID, CELL, GRID, CELL).sum(dim=(1, 3))
        i, j = divmod(region, GRID)
        assert divmod(int(mass.argmax()), GRID) == (i, j), (region, mass)
        assert mass[i, j] / mass.sum() > 0.3, (region, mass)
        for r in range(GRID):
            for c in range(GRID):
                if max(abs(r - i), abs(c - j)) >= 2:
                    assert mass[r, c] == 0, (region, r, c)


def test_region_encoder_adds_a_learned_vector_per_region():
    torch.manual_seed(0)
    encoder = RegionEncoder(8)
    regions, _ = encoder(torch.zeros(1, 3, 48, 48))  # a blank image: the same CNN output
    assert encoder.where.shape == (GRID * GRID, 8)
    cnn = encoder.cnn(torch.zeros(1, 3, 48, 48)).flatten(2).transpose(1, 2)
    torch.testing.assert_close(regions, cnn + encoder.where)
    assert not torch.allclose(regions[0, 0], regions[0, 5])


@pytest.mark.parametrize("shape", [(3, 48, 48), (2, 1, 48, 48), (2, 3, 32, 32), (2, 3, 48, 47)])
def test_region_encoder_rejects_a_bad_image_shape(shape):
    with pytest.raises(ValueError, match=r"images must be \(batch, 3, 48, 48\)") as info:
        RegionEncoder(8)(torch.rand(shape))
    assert str(info.value).endswith(f"got {shape}")


# ================================================================================ Captioner
@pytest.mark.parametrize("attention", ["additive", "none"])
def test_captioner_forward_shapes(world, attention):
    batch = make_caption_batch(two_scenes(world), world.vocab)
    model = tiny(len(world.vocab), attention)
    assert model.attention == attention
    logits, weights = model(batch)
    assert logits.shape == (2, 9, len(world.vocab))
    assert weights.shape == (2, 9, GRID * GRID)
    if attention == "none":
        assert (weights == 0).all()
    else:
        torch.testing.assert_close(weights.sum(dim=-1), torch.ones(2, 9))
        assert (weights >= 0).all()


def test_captioner_weights_depend_on_the_image(world):
    batch = make_caption_batch(two_scenes(world), world.vocab)
    model = tiny(len(world.vocab))
    _, weights = model(batch)
    other = CaptionBatch(batch.images.flip(0), batch.caption_in, batch.caption_out)
    _, weights_other = model(other)
    assert not torch.allclose(weights, weights_other)


@pytest.mark.parametrize("attention", ["dot", "additve", ""])
def test_captioner_rejects_a_bad_attention(attention):
    with pytest.raises(ValueError, match="attention must be 'additive' or 'none'"):
        Captioner(14, attention)


def test_captioner_loss_ignores_padding_and_trains_the_cnn(world):
    batch = make_caption_batch(two_scenes(world), world.vocab)
    model = tiny(len(world.vocab))
    logits, _ = model(batch)
    real = batch.caption_out != 0
    assert not real.all()
    torch.testing.assert_close(model.loss(batch),
                               torch.nn.functional.cross_entropy(logits[real],
                                                                 batch.caption_out[real]))
    model.loss(batch).backward()
    assert model.encoder.cnn[0].weight.grad.abs().sum() > 0
    assert model.encoder.where.grad.abs().sum() > 0
    assert model.decoder.additive.v.weight.grad.abs().sum() > 0


def test_captioner_in_float64(world):
    batch = make_caption_batch(two_scenes(world), world.vocab)
    model = tiny(len(world.vocab)).double()
    logits, weights = model(CaptionBatch(batch.images.double(), batch.caption_in,
                                         batch.caption_out))
    assert logits.dtype == weights.dtype == torch.float64
    torch.testing.assert_close(weights.sum(-1), torch.ones(2, 9, dtype=torch.float64))


# =========================================================================== caption_images
@pytest.mark.parametrize("attention", ["additive", "none"])
def test_caption_images_shapes(world, attention):
    images = torch.stack([s.image for s in two_scenes(world)])
    model = tiny(len(world.vocab), attention)
    model.train()
    out = caption_images(model, images, max_length=6)
    assert isinstance(out, Translation)
    m = out.tokens.shape[1]
    assert 1 <= m <= 6
    assert out.tokens.shape == (2, m) and out.tokens.dtype == torch.int64
    assert out.weights.shape == (2, m, GRID * GRID)
    assert not model.training
    if attention == "none":
        assert (out.weights == 0).all()
    else:
        torch.testing.assert_close(out.weights.sum(dim=-1), torch.ones(2, m))


def saying(world, word: str) -> Captioner:
    """A captioner whose output layer always says ``word``."""
    model = tiny(len(world.vocab))
    with torch.no_grad():
        model.decoder.out.weight.zero_()
        model.decoder.out.bias.fill_(-5.0)
        model.decoder.out.bias[world.vocab.stoi[word]] = 5.0
    return model


def test_caption_images_stops_at_eos(world):
    images = torch.stack([s.image for s in two_scenes(world)])
    out = caption_images(saying(world, "<eos>"), images, max_length=10)
    assert torch.equal(out.tokens, torch.full((2, 1), 2))


def test_caption_images_runs_to_max_length_without_eos(world):
    images = torch.stack([s.image for s in two_scenes(world)])
    out = caption_images(saying(world, "red"), images, max_length=5)
    assert torch.equal(out.tokens, torch.full((2, 5), world.vocab.stoi["red"]))


def test_caption_images_pads_after_each_captions_eos(world, monkeypatch):
    images = torch.stack([s.image for s in two_scenes(world)])
    model = tiny(len(world.vocab))
    script = [[3, 3], [2, 4], [5, 8], [6, 2], [7, 7]]  # caption 0 ends at step 1, 1 at step 3
    seen = []

    def step(previous_word, z, states, mask, final, projected_keys=None):
        seen.append(previous_word.clone())
        logits = torch.full((2, len(world.vocab)), -1.0)
        logits[torch.arange(2), torch.tensor(script[len(seen) - 1])] = 1.0
        return logits, z, torch.full((2, 16), 1 / 16)

    monkeypatch.setattr(model.decoder, "step", step)
    out = caption_images(model, images, max_length=10)
    assert out.tokens.tolist() == [[3, 2, 0, 0], [3, 4, 8, 2]]
    assert len(seen) == 4
    assert seen[0].tolist() == [1, 1]  # <bos>
    assert world.vocab.decode(out.tokens[1]) == ["a", "red", "circle"]


# ======================================================================== regions_to_pixels
def test_regions_to_pixels_is_row_major():
    weights = torch.zeros(1, GRID * GRID)
    weights[0, 1] = 1.0  # region 1 = row 0, column 1
    pixels = regions_to_pixels(weights)
    assert pixels.shape == (1, 48, 48)
    assert (pixels[0, :CELL, CELL:2 * CELL] == 1).all()
    assert pixels.sum() == CELL * CELL  # nowhere else
    weights = torch.zeros(GRID * GRID)
    weights[GRID] = 1.0  # region 4 = row 1, column 0
    assert (regions_to_pixels(weights)[CELL:2 * CELL, :CELL] == 1).all()


def test_regions_to_pixels_is_constant_per_cell():
    g = torch.Generator().manual_seed(0)
    weights = torch.softmax(torch.randn(2, 3, GRID * GRID, generator=g), dim=-1)
    pixels = regions_to_pixels(weights)
    assert pixels.shape == (2, 3, 48, 48)
    for region in range(GRID * GRID):
        i, j = divmod(region, GRID)
        block = pixels[..., i * CELL:(i + 1) * CELL, j * CELL:(j + 1) * CELL]
        assert torch.equal(block, weights[..., region, None, None].expand_as(block))
    # Every pixel carries its region's weight: the mean pixel is the mean weight.
    torch.testing.assert_close(pixels.mean(dim=(-2, -1)), weights.mean(dim=-1))


def test_regions_to_pixels_keeps_float64():
    weights = torch.rand(2, 16, dtype=torch.float64)
    assert regions_to_pixels(weights).dtype == torch.float64


@pytest.mark.parametrize("shape", [(2, 15), (16, 1), (4, 4)])
def test_regions_to_pixels_rejects_a_bad_shape(shape):
    with pytest.raises(ValueError, match=r"weights must be \(\.\.\., 16\)"):
        regions_to_pixels(torch.rand(shape))


# ==================================================================== object_word_attention
@pytest.fixture(scope="module")
def scene(world) -> Scene:
    """"a red circle above a blue square": regions 1 and 11."""
    scene = world.scene([Shape("red", "circle", (0, 1)), Shape("blue", "square", (2, 3))])
    assert scene.caption == ("a", "red", "circle", "above", "a", "blue", "square")
    assert [s.region for s in scene.shapes] == [1, 11]
    return scene


def attention_on(regions_per_word: list[int | None], dtype=torch.float32) -> torch.Tensor:
    """``(1, m, 16)``: one-hot on the given region at each step, uniform where None."""
    weights = torch.full((1, len(regions_per_word), 16), 1 / 16, dtype=dtype)
    for t, region in enumerate(regions_per_word):
        if region is not None:
            weights[0, t] = 0.0
            weights[0, t, region] = 1.0
    return weights


def test_perfect_attention(scene):
    weights = attention_on([None, 1, 1, None, None, 11, 11, None])
    result = object_word_attention([scene], [list(scene.caption)], weights)
    assert result == AttentionOnObjects(4, 1.0, 1.0)


def test_attention_on_the_wrong_region(scene):
    weights = attention_on([None, 0, 11, None, None, 1, 5, None])  # never the named shape
    result = object_word_attention([scene], [list(scene.caption)], weights)
    assert result.words == 4 and result.on_target == 0.0 and result.mass == 0.0


def test_partial_attention(scene):
    weights = torch.zeros(1, 4, 16)
    weights[0, :, 0] = 1.0
    weights[0, 1] = 0.0
    weights[0, 1, 1], weights[0, 1, 5] = 0.7, 0.3  # "red": most on its region
    weights[0, 2] = 0.0
    weights[0, 2, 1], weights[0, 2, 0] = 0.4, 0.6  # "circle": most elsewhere
    result = object_word_attention([scene], [["a", "red", "circle"]], weights)
    assert result.words == 2
    assert result.on_target == 0.5
    assert math.isclose(result.mass, 0.55, rel_tol=1e-6)


def test_counting_stops_after_the_first_wrong_word(scene):
    # "green" is wrong: neither it nor "square" after it counts (their attention is off).
    said = ["a", "red", "circle", "above", "a", "green", "square"]
    weights = attention_on([None, 1, 1, None, None, 0, 0, None])
    result = object_word_attention([scene], [said], weights)
    assert result == AttentionOnObjects(2, 1.0, 1.0)
    # A wrong relation word also stops the count, before the second shape.
    said = ["a", "red", "circle", "left", "of", "a", "blue", "square"]
    result = object_word_attention([scene], [said], attention_on([None, 1, 1] + [11] * 5))
    assert result.words == 2


def test_a_short_caption_counts_only_its_words(scene):
    result = object_word_attention([scene], [["a", "red"]], attention_on([None, 1]))
    assert result == AttentionOnObjects(1, 1.0, 1.0)


def test_no_right_object_word_gives_nan(scene):
    result = object_word_attention([scene], [["a", "blue", "square"]],
                                   attention_on([None, 11, 11]))
    assert result.words == 0
    assert math.isnan(result.on_target) and math.isnan(result.mass)


def test_object_word_attention_over_several_scenes(world, scene):
    other = world.scene([Shape("green", "triangle", (3, 0))])  # region 12
    weights = torch.cat([attention_on([None, 1, 1, None, None, 11, 11, None]),
                         attention_on([None, 0, 0, None, None, None, None, None])])
    result = object_word_attention([scene, other], [list(scene.caption), list(other.caption)],
                                   weights)
    assert result.words == 6
    assert math.isclose(result.on_target, 4 / 6) and math.isclose(result.mass, 4 / 6)


def test_object_word_attention_accepts_float64(scene):
    weights = attention_on([None, 1, 1, None, None, 11, 11], dtype=torch.float64)
    assert object_word_attention([scene], [list(scene.caption)], weights).on_target == 1.0


@pytest.mark.parametrize("n_captions, n_rows", [(1, 2), (2, 1), (1, 1)])
def test_object_word_attention_rejects_mismatched_lengths(scene, n_captions, n_rows):
    with pytest.raises(ValueError, match="must match"):
        object_word_attention([scene, scene], [list(scene.caption)] * n_captions,
                              torch.zeros(n_rows, 8, 16))


# ========================================================================== train_captioner
@pytest.mark.usefixtures("_restore_determinism")
def test_train_captioner_tiny_run_learns(world, data):
    model, history = train_captioner(data["train"], world.vocab, steps=15, batch_size=8,
                                     lr=1e-2, seed=0, progress=False, **SIZES)
    assert isinstance(model, Captioner) and model.attention == "additive"
    assert model.encoder.where.shape == (16, 16)  # the sizes reach the model
    assert not model.training
    loss = history["loss"]
    assert len(loss) == 15 and all(math.isfinite(x) for x in loss)
    assert sum(loss[-3:]) / 3 < sum(loss[:3]) / 3 - 0.1


@pytest.mark.usefixtures("_restore_determinism")
def test_train_captioner_is_deterministic_and_takes_the_attention(world, data):
    runs = [train_captioner(data["train"], world.vocab, "none", steps=3, batch_size=4, seed=2,
                            progress=False, **SIZES) for _ in range(2)]
    (model, history), (model_again, history_again) = runs
    assert model.attention == "none"
    assert history["loss"] == history_again["loss"]
    for (name, p), (_, q) in zip(model.state_dict().items(), model_again.state_dict().items(),
                                 strict=True):
        assert torch.equal(p, q), name
