"""Train chapter 03's models and save them as checkpoints.

Usage: ``make checkpoints`` (or ``python tools/train_chapter03.py``). About 8 minutes on 2
cores (one thread). ``--only captioners`` or ``--only readers`` retrains one family and keeps
the other's files and history.

Writes to ``checkpoints/03_attention_applications/``:

* ``captioner_additive.safetensors`` and ``captioner_none.safetensors``: the captioner with
  attention over the image regions and the one without (every word reads the mean region),
  same data, steps, batch size, learning rate and seed;
* ``reader_1hop.safetensors``, ``reader_2hop.safetensors``, ``reader_3hop.safetensors``: the
  memory network with 1, 2 and 3 hops, same budget;
* ``SHA256SUMS`` and ``history.json`` (the loss of every step and the training times).
"""

from __future__ import annotations

import argparse
import json
import sys
import time

import torch

from course_utils.worlds.captioning import CAPTION_SPLIT, ShapesWorld, train_captioner
from course_utils.worlds.checkpoints import checkpoint_dir, save_checkpoint
from course_utils.worlds.reading import STORY_SPLIT, StoryWorld, train_reader

CHAPTER = "03_attention_applications"
CAPTION_STEPS = 1500
READER_STEPS = 1500
HOPS = (1, 2, 3)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", choices=["captioners", "readers"],
                        help="retrain only these models")
    only = parser.parse_args(argv).only
    torch.set_num_threads(1)  # small models: one thread is deterministic (and fast enough)
    folder = checkpoint_dir(CHAPTER)
    log_file = folder / "history.json"
    history: dict = {"caption_steps": CAPTION_STEPS, "reader_steps": READER_STEPS,
                     "batch_size": 64, "models": {}}
    if only and log_file.is_file():
        history["models"] = json.loads(log_file.read_text())["models"]

    def keep(name: str, model: torch.nn.Module, log: dict, seconds: float) -> None:
        digest = save_checkpoint(model, folder / f"{name}.safetensors")
        history["models"][name] = {"seconds": round(seconds, 1),
                                   "loss": [round(x, 4) for x in log["loss"]]}
        print(f"{name:20s} trained in {seconds:4.0f} s, final loss {log['loss'][-1]:.4f}, "
              f"sha256 {digest[:12]}…", flush=True)

    world = ShapesWorld()
    scenes = world.split(**CAPTION_SPLIT)["train"] if only != "readers" else []
    for attention in ("additive", "none") if only != "readers" else ():
        start = time.perf_counter()
        model, log = train_captioner(scenes, world.vocab, attention, steps=CAPTION_STEPS)
        keep(f"captioner_{attention}", model, log, time.perf_counter() - start)

    stories = StoryWorld()
    train_stories = stories.split(**STORY_SPLIT)["train"]
    for hops in HOPS if only != "captioners" else ():
        start = time.perf_counter()
        model, log = train_reader(train_stories, stories, hops=hops, steps=READER_STEPS)
        keep(f"reader_{hops}hop", model, log, time.perf_counter() - start)
    log_file.write_text(json.dumps(history) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
