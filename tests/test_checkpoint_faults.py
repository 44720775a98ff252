"""course_utils.checkpoints reads every SHA256SUMS form GNU sha256sum writes, and a bad manifest
line or an unreadable file is an error that names it (tiny nn.Linear models)."""

from __future__ import annotations

import shutil
import subprocess

import pytest
import torch
from torch import nn

from course_utils.checkpoints import MANIFEST, load_checkpoint, save_checkpoint, sha256

needs_sha256sum = pytest.mark.skipif(shutil.which("sha256sum") is None,
                                     reason="GNU sha256sum is not installed")


def linear(seed: int) -> nn.Linear:
    torch.manual_seed(seed)
    return nn.Linear(3, 2)


def saved(tmp_path, name="w.safetensors"):
    """A checkpoint saved by save_checkpoint and the model it holds."""
    model = linear(0)
    save_checkpoint(model, tmp_path / name)
    return tmp_path / name, model


def assert_loads(path, model):
    fresh = load_checkpoint(linear(1), path)
    assert torch.equal(fresh.weight, model.weight) and torch.equal(fresh.bias, model.bias)


@pytest.mark.parametrize("line", ["{hex}  {name}\n", "{hex} *{name}\n", "{HEX}  {name}\n",
                                  "{HEX} *{name}\r\n", "{hex}  {name}\r\n"],
                         ids=["text", "binary", "upper", "upper-binary-crlf", "crlf"])
def test_every_sha256sum_line_form_is_accepted(tmp_path, line):
    path, model = saved(tmp_path)
    digest = sha256(path)
    text = line.format(hex=digest, HEX=digest.upper(), name=path.name)
    (tmp_path / MANIFEST).write_bytes(text.encode())
    assert_loads(path, model)


@pytest.mark.parametrize("garbage", ["not a checksum line", "abc123  w.safetensors",
                                     "{hex}w.safetensors"])
def test_a_garbage_line_names_the_manifest_and_the_line(tmp_path, garbage):
    path, _ = saved(tmp_path)
    good = (tmp_path / MANIFEST).read_text()
    bad = garbage.format(hex=sha256(path))
    (tmp_path / MANIFEST).write_text(f"{good}{bad}\n")
    with pytest.raises(ValueError, match=MANIFEST) as error:
        load_checkpoint(linear(1), path)
    assert "line 2" in str(error.value) and bad in str(error.value)


@pytest.mark.parametrize("content", [bytes(range(256)) * 4, b""], ids=["random", "empty"])
def test_an_unreadable_file_with_its_right_digest_names_the_file(tmp_path, content):
    path = tmp_path / "broken.safetensors"
    path.write_bytes(content)
    (tmp_path / MANIFEST).write_text(f"{sha256(path)}  {path.name}\n")
    with pytest.raises(ValueError, match="broken.safetensors"):
        load_checkpoint(linear(1), path)


@needs_sha256sum
def test_the_manifest_passes_sha256sum_check(tmp_path):
    saved(tmp_path, "a.safetensors")
    saved(tmp_path, "my model.safetensors")
    result = subprocess.run(["sha256sum", "-c", MANIFEST], cwd=tmp_path, capture_output=True,
                            text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.count(": OK") == 2


@needs_sha256sum
def test_a_manifest_written_by_sha256sum_binary_mode_loads(tmp_path):
    path, model = saved(tmp_path)
    written = subprocess.run(["sha256sum", "-b", path.name], cwd=tmp_path, capture_output=True,
                             check=True).stdout
    assert b" *w.safetensors" in written
    (tmp_path / MANIFEST).write_bytes(written)
    assert_loads(path, model)
