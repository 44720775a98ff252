"""The checkpoints shipped in checkpoints/ match their SHA-256 manifests and load."""

from __future__ import annotations

from pathlib import Path

import pytest

from course_utils.checkpoints import MANIFEST, load_checkpoint, sha256
from course_utils.seq2seq import ATTENTION_KINDS, Seq2Seq
from course_utils.translation import ToyTranslation

ROOT = Path(__file__).resolve().parent.parent
MANIFESTS = sorted((ROOT / "checkpoints").glob(f"*/{MANIFEST}"))


def test_there_are_checkpoints():
    assert MANIFESTS, "no checkpoints/*/SHA256SUMS found"


@pytest.mark.parametrize("manifest", MANIFESTS, ids=lambda p: p.parent.name)
def test_every_listed_file_matches_its_digest(manifest):
    lines = [line.split(maxsplit=1) for line in manifest.read_text().splitlines() if line]
    assert lines
    for digest, name in lines:
        assert sha256(manifest.parent / name) == digest, name
    listed = {name for _, name in lines}
    shipped = {p.name for p in manifest.parent.glob("*.safetensors")}
    assert shipped == listed, "every shipped safetensors file must be in the manifest"


@pytest.mark.parametrize("kind", ATTENTION_KINDS)
def test_chapter_02_translators_load(kind):
    task = ToyTranslation(seed=0)
    model = Seq2Seq(len(task.source_vocab), len(task.target_vocab), kind)
    path = ROOT / "checkpoints" / "02_seq2seq_attention" / f"{kind}.safetensors"
    load_checkpoint(model, path)
    assert model.attention == kind


@pytest.mark.parametrize("attention", ["additive", "none"])
def test_chapter_03_captioners_load(attention):
    from course_utils.captioning import Captioner, ShapesWorld

    model = Captioner(len(ShapesWorld().vocab), attention)
    load_checkpoint(model, ROOT / "checkpoints" / "03_attention_applications"
                    / f"captioner_{attention}.safetensors")
    assert model.attention == attention


@pytest.mark.parametrize("hops", [1, 2, 3])
def test_chapter_03_readers_load(hops):
    from course_utils.reading import MemoryNetwork, StoryWorld

    world = StoryWorld()
    model = MemoryNetwork(len(world.vocab), len(world.answers), hops)
    load_checkpoint(model, ROOT / "checkpoints" / "03_attention_applications"
                    / f"reader_{hops}hop.safetensors")
    assert model.hops == hops


def test_chapter_08_models_load_and_the_ntm_copies():
    import torch

    from course_utils.ntm import NTM, LSTMBaseline
    from course_utils.tasks import copy_cost_bits, copy_task_batch

    folder = ROOT / "checkpoints" / "08_neural_turing_machines"
    ntm = load_checkpoint(NTM(9, 8, 100, 64, 20), folder / "ntm.safetensors").eval()
    lstm = load_checkpoint(LSTMBaseline(9, 8, 118), folder / "lstm.safetensors").eval()
    inputs, targets = copy_task_batch(50, 20, torch.Generator().manual_seed(99))
    with torch.no_grad():
        costs = [copy_cost_bits(m(inputs).outputs[:, 21:], targets).mean().item()
                 for m in (ntm, lstm)]
    assert costs[0] < 0.1 < 50 < costs[1]            # bits per sequence of length 20


# ====================================================================== chapter 10's three
def chapter_10_history() -> dict:
    import json

    return json.loads((ROOT / "checkpoints" / "10_transformer" / "history.json").read_text())


def test_chapter_10_models_load():
    from course_utils.transformer import Transformer

    task = ToyTranslation(seed=0)
    vocab = (len(task.source_vocab), len(task.target_vocab))
    history = chapter_10_history()
    assert set(history["runs"]) == {"rnn", "transformer_equal_time", "transformer_equal_steps"}
    for run in history["runs"].values():
        model = (Transformer(*vocab, **history["config"]) if run["model"] == "transformer"
                 else Seq2Seq(*vocab, "additive"))
        load_checkpoint(model, ROOT / "checkpoints" / "10_transformer" / run["checkpoint"])
        assert sum(p.numel() for p in model.parameters()) == run["parameters"]


def test_chapter_10_tuning_was_the_same_for_both_models_and_chose_on_validation():
    """Every run tried the same settings; each kept the best on the validation sentences (the
    first of equals); the budgets are the ones the chapter states."""
    history = chapter_10_history()
    runs = history["runs"]
    for name, run in runs.items():
        assert [t["setting"] for t in run["tuning"]] == history["grid"], name
        scores = [tuple(t["valid"]["3–30"]) for t in run["tuning"]]
        assert run["chosen"] == run["tuning"][scores.index(max(scores))]["setting"], name
        assert set(run["test_by_seed"]) == {"0", "1", "2"}, name
    budget = history["budget"]
    assert runs["rnn"]["steps"] == runs["transformer_equal_steps"]["steps"] == budget["rnn_steps"]
    assert runs["transformer_equal_time"]["steps"] == budget["equal_time_steps"]
    # the fixed equal-time budget matches the step-time ratio measured when it was trained
    assert abs(budget["equal_time_steps"] / budget["transformer_steps_for_rnn_time"] - 1) < 0.1
