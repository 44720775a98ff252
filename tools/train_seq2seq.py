"""Train chapter 02's translators and save them as checkpoints.

Usage: ``make checkpoints`` (or ``python tools/train_seq2seq.py``). About 5 minutes on 2 cores
(one thread per model).

Writes ``checkpoints/02_seq2seq_attention/{none,additive,dot}.safetensors``, their SHA-256 in
``SHA256SUMS`` and ``history.json`` (the loss of every step and the training time). The three
models get the same budget: same data, steps, batch size, learning rate and seed. A fourth,
``none_3x``, is the model without attention trained three times as long (a control).
"""

from __future__ import annotations

import json
import sys
import time

import torch

from course_utils.worlds.checkpoints import checkpoint_dir, save_checkpoint
from course_utils.worlds.seq2seq import ATTENTION_KINDS, train_translator
from course_utils.worlds.translation import CHAPTER_SPLIT, ToyTranslation

STEPS = 400
CHAPTER = "02_seq2seq_attention"


def main() -> int:
    torch.set_num_threads(1)  # small models: one thread is fastest and deterministic
    task = ToyTranslation(seed=0)
    data = task.split(**CHAPTER_SPLIT)
    folder = checkpoint_dir(CHAPTER)
    history = {"steps": STEPS, "batch_size": 64, "lr": 3e-3, "max_grad_norm": 1.0, "models": {}}
    for kind in ATTENTION_KINDS:
        start = time.perf_counter()
        model, log = train_translator(kind, task, data["train"], steps=STEPS)
        seconds = time.perf_counter() - start
        digest = save_checkpoint(model, folder / f"{kind}.safetensors")
        history["models"][kind] = {"seconds": round(seconds, 1),
                                   "loss": [round(x, 4) for x in log["loss"]]}
        print(f"{kind:9s} trained in {seconds:.0f} s, final loss {log['loss'][-1]:.3f}, "
              f"sha256 {digest[:12]}…", flush=True)
    # A control: the model without attention given three times the budget, to separate
    # "cannot carry long sentences" from "learns more slowly".
    start = time.perf_counter()
    model, log = train_translator("none", task, data["train"], steps=3 * STEPS)
    seconds = time.perf_counter() - start
    save_checkpoint(model, folder / "none_3x.safetensors")
    history["models"]["none_3x"] = {"seconds": round(seconds, 1),
                                    "loss": [round(x, 4) for x in log["loss"]]}
    print(f"none_3x   trained in {seconds:.0f} s, final loss {log['loss'][-1]:.3f}", flush=True)
    (folder / "history.json").write_text(json.dumps(history) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
