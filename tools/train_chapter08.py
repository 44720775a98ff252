"""Train chapter 08's copy-task models and save them as checkpoints.

Usage: ``python tools/train_chapter08.py`` (part of ``make checkpoints``). One thread,
deterministic (seed 0). Writes ``checkpoints/08_neural_turing_machines/{ntm,lstm}.safetensors``,
their SHA-256 in ``SHA256SUMS`` and ``history.json`` (the cost of every step in bits per
sequence, the length of every step, and the wall time). Both models get the same data and
budget: 6000 steps of 16 sequences of random lengths 1–20, RMSprop (lr 3e-4, momentum 0.9;
lr / 10 for the last 1200 steps), gradients clipped to norm 10.

The NTM: LSTM controller of 100, memory 64 × 20, one read and one write head (62 660
parameters); the LSTM baseline: one layer of 118 (61 840 parameters).
"""

from __future__ import annotations

import json
import sys
import time

import torch

from course_utils.foundations.seeding import set_seed
from course_utils.mechanisms.ntm import NTM, LSTMBaseline
from course_utils.worlds.checkpoints import checkpoint_dir, save_checkpoint
from course_utils.worlds.copy_training import train_copy

CHAPTER = "08_neural_turing_machines"
STEPS = 6000
MODELS = {
    "ntm": lambda: NTM(9, 8, controller_size=100, memory_rows=64, memory_width=20),
    "lstm": lambda: LSTMBaseline(9, 8, hidden_size=118),
}


def main() -> int:
    torch.set_num_threads(1)
    folder = checkpoint_dir(CHAPTER)
    history: dict = {"steps": STEPS, "batch_size": 16, "lr": 3e-4, "optimizer": "rmsprop",
                     "anneal": 0.2, "max_length": 20, "models": {}}
    for name, build in MODELS.items():
        set_seed(0)
        model = build()
        start = time.perf_counter()
        log = train_copy(model, STEPS, seed=0, description=name)
        seconds = time.perf_counter() - start
        digest = save_checkpoint(model, folder / f"{name}.safetensors")
        history["models"][name] = {"seconds": round(seconds, 1),
                                   "parameters": sum(p.numel() for p in model.parameters()),
                                   "bits": [round(b, 3) for b in log["bits"]],
                                   "lengths": log["lengths"]}
        tail = sum(log["bits"][-100:]) / 100
        print(f"{name:5s} trained in {seconds:.0f} s, last 100 steps {tail:.2f} bits/sequence, "
              f"sha256 {digest[:12]}…", flush=True)
    (folder / "history.json").write_text(json.dumps(history) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
