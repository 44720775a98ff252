"""The cost of attention, measured (chapter 09): time and peak memory of three ways to compute
softmax(QKᵀ/√d) V as the sequence length n grows.

* ``naive``   — :func:`course_utils.efficient.naive_attention`, the (n × n) scores in memory;
* ``chunked`` — :func:`course_utils.efficient.chunked_attention`, blocks + online softmax;
* ``torch``   — :func:`torch.nn.functional.scaled_dot_product_attention` (PyTorch's fused
  kernel).

Every (method, n) runs in a **fresh subprocess**: one batch, 8 heads, d_head 64, float32,
PyTorch's default threads. The peak is the process's resident memory (Linux ``VmHWM``, reset
just before the call, minus the resident memory just before it; where the reset is not
available, the growth of ``ru_maxrss``). The time is the best of three calls after a warm-up
on a small problem. The max abs difference is against PyTorch's output.

Usage: ``python benchmarks/attention_cost.py [--sizes 256 512 ... 8192] [--chunk 1024]``.
Prints a Markdown table (the README keeps one).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
METHODS = ("naive", "chunked", "torch")
SIZES = (256, 512, 1024, 2048, 4096, 8192)

WORKER = r"""
import json, resource, sys, time
import torch
from torch.nn.functional import scaled_dot_product_attention
from course_utils.mechanisms.efficient import chunked_attention, naive_attention

method, n, chunk = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
fn = {"naive": naive_attention,
      "chunked": lambda q, k, v: chunked_attention(q, k, v, chunk_size=chunk),
      "torch": scaled_dot_product_attention}[method]

def status(field):  # kB from /proc/self/status, or None off Linux
    try:
        for line in open("/proc/self/status"):
            if line.startswith(field):
                return int(line.split()[1]) * 1024
    except OSError:
        return None

def reset_peak():
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False

g = torch.Generator().manual_seed(0)
q, k, v = (torch.randn(1, 8, n, 64, generator=g) for _ in range(3))
small = [t[..., :64, :].contiguous() for t in (q, k, v)]
fn(*small)                                                   # warm-up: kernels, thread pool
before = status("VmRSS")
exact = reset_peak()
maxrss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
start = time.perf_counter()
out = fn(q, k, v)
first = time.perf_counter() - start
if exact:
    peak = status("VmHWM") - before
else:  # ru_maxrss: kB on Linux, bytes on macOS
    unit = 1 if sys.platform == "darwin" else 1024
    peak = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - maxrss_before) * unit
times = [first]
for _ in range(2):
    start = time.perf_counter()
    fn(q, k, v)
    times.append(time.perf_counter() - start)
error = (out - scaled_dot_product_attention(q, k, v)).abs().max().item()
print(json.dumps({"method": method, "n": n, "peak_bytes": peak, "seconds": min(times),
                  "max_abs_diff": error, "exact_peak": exact,
                  "threads": torch.get_num_threads()}))
"""


def measure(method: str, n: int, chunk: int) -> dict:
    """Run one (method, n) in a fresh Python process and return its measurements."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, "-c", WORKER, method, str(n), str(chunk)],
                          capture_output=True, text=True, env=env, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"{method} at n = {n} failed:\n{done.stderr}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def table(rows: list[dict]) -> str:
    by = {(r["method"], r["n"]): r for r in rows}
    sizes = sorted({r["n"] for r in rows})
    lines = ["| n | naive: peak MiB | time s | chunked: peak MiB | time s | max abs diff | "
             "torch: peak MiB | time s | naive ÷ chunked peak |",
             "|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for n in sizes:
        naive, chunked, fused = (by[(m, n)] for m in METHODS)
        ratio = naive["peak_bytes"] / max(chunked["peak_bytes"], 1)
        lines.append(
            f"| {n} | {naive['peak_bytes'] / 2**20:.1f} | {naive['seconds']:.3f} | "
            f"{chunked['peak_bytes'] / 2**20:.1f} | {chunked['seconds']:.3f} | "
            f"{chunked['max_abs_diff']:.1e} | {fused['peak_bytes'] / 2**20:.1f} | "
            f"{fused['seconds']:.3f} | {ratio:.1f}× |")
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=list(SIZES))
    parser.add_argument("--chunk", type=int, default=1024)
    args = parser.parse_args(argv)
    rows = []
    for n in args.sizes:
        for method in METHODS:
            rows.append(measure(method, n, args.chunk))
            r = rows[-1]
            print(f"{method:8s} n = {n:5d}: peak {r['peak_bytes'] / 2**20:8.1f} MiB, "
                  f"{r['seconds']:.3f} s, max abs diff {r['max_abs_diff']:.1e}",
                  file=sys.stderr, flush=True)
    exact = all(r["exact_peak"] for r in rows)
    print(f"\n1 batch × 8 heads × d_head 64, float32, {rows[0]['threads']} threads, chunk "
          f"{args.chunk}; peak = resident memory above the start of the call "
          f"({'VmHWM, reset before the call' if exact else 'growth of ru_maxrss'}).\n")
    print(table(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
