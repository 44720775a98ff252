"""Checkpoints the course trains itself: safetensors files with a SHA-256 manifest.

A chapter whose training would take more than about a minute loads the weights that
``tools/train_seq2seq.py`` (or a sibling script) produced, after checking the file's SHA-256
against ``SHA256SUMS`` in the same folder; the notebook keeps a flag to train from scratch.
Nothing is downloaded.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

from safetensors import SafetensorError
from safetensors.torch import load_file, save_file
from torch import nn

__all__ = ["checkpoint_dir", "sha256", "save_checkpoint", "load_checkpoint"]

MANIFEST = "SHA256SUMS"
# A line as GNU sha256sum writes it: the digest (either case), then "  name" (text mode) or
# " *name" (binary mode); read_text has already turned CRLF line ends into "\n".
MANIFEST_LINE = re.compile(r"([0-9a-fA-F]{64}) [ *](.+)")


def checkpoint_dir(chapter: str) -> Path:
    """``checkpoints/<chapter>/`` of the course."""
    return Path(__file__).resolve().parents[2] / "checkpoints" / chapter  # the course's root


def sha256(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def _read_manifest(folder: Path) -> dict[str, str]:
    manifest = folder / MANIFEST
    if not manifest.is_file():
        return {}
    entries = {}
    for number, line in enumerate(manifest.read_text().splitlines(), 1):
        if not line.strip():
            continue
        match = MANIFEST_LINE.fullmatch(line)
        if match is None:
            raise ValueError(f"{folder.name}/{MANIFEST} line {number} is not '<sha256>  <file>' "
                             f"(nor '<sha256> *<file>'): {line!r}")
        entries[match[2]] = match[1].lower()
    return entries


def save_checkpoint(model: nn.Module, path: str | Path) -> str:
    """Save ``model``'s weights as safetensors and record the file's SHA-256 in the folder's
    ``SHA256SUMS``; returns the digest."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().contiguous().cpu() for k, v in model.state_dict().items()}
    save_file(state, str(path))
    digest = sha256(path)
    entries = _read_manifest(path.parent)
    entries[path.name] = digest
    lines = [f"{entries[name]}  {name}" for name in sorted(entries)]
    (path.parent / MANIFEST).write_text("\n".join(lines) + "\n")
    return digest


def load_checkpoint(model: nn.Module, path: str | Path) -> nn.Module:
    """Load weights into ``model`` after checking the file against ``SHA256SUMS``.

    Raises ``FileNotFoundError`` when the file or its manifest entry is missing, and
    ``ValueError`` when the SHA-256 does not match (a corrupt or edited file), when a line of
    the manifest is not a ``sha256sum`` line, or when the file is not a safetensors file.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no checkpoint {path.name} in {path.parent.name}/; "
                                "train from scratch or re-create it with tools/")
    expected = _read_manifest(path.parent).get(path.name)
    if expected is None:
        raise FileNotFoundError(f"{path.name} has no entry in {path.parent.name}/{MANIFEST}")
    actual = sha256(path)
    if actual != expected:
        raise ValueError(f"{path.name}: SHA-256 {actual[:12]}… does not match the manifest's "
                         f"{expected[:12]}…; the file is corrupt or was changed")
    try:
        state = load_file(str(path))
    except SafetensorError as error:
        raise ValueError(f"{path.name} matches the manifest but is not a readable safetensors "
                         f"file ({error}); re-create it with tools/") from error
    model.load_state_dict(state)
    return model
