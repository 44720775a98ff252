"""The instructor guide (docs/teaching.md) quotes results from the chapters' saved outputs and
run times from the README. These tests keep the quotes true: every entry of ``QUOTES`` names a
chapter, a regular expression that finds the quote in the guide and one that finds the same
numbers in the chapter's saved text outputs, and the two must agree.

Maintaining it:

* a result changed in a notebook → the test says which quote and shows both; fix the guide;
* a sentence of the guide rewritten so that its pattern no longer matches → the test says so;
  fix the pattern here (or drop the entry if the guide no longer quotes that number);
* a new number quoted in the guide → add an entry.

A pattern is a regular expression with three shorthands: ``{}`` captures a number, ``{_}``
matches one without capturing it, ``{name}`` captures it as ``name`` (when the guide and the
notebook give the numbers in a different order, both patterns use the same names). A space
matches any run of whitespace, line breaks included (the guide wraps its lines; the notebooks
align their columns). Patterns use ``re.MULTILINE``.

A quote agrees with a result when the result, rounded to the quote's decimals, is the quote:
the guide may say "18 GFLOP" for a printed 17.99, never for 17.4. Numbers in scientific
notation must be equal. Times that change with the machine and from run to run (the progress
bars of live training, the timing tables) are not quoted with digits at all; the last test
keeps it that way.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from decimal import ROUND_HALF_EVEN, ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import NamedTuple

import nbformat
import pytest

ROOT = Path(__file__).resolve().parent.parent
GUIDE = ROOT / "docs" / "teaching.md"
README = ROOT / "README.md"
NOTEBOOKS = ROOT / "notebooks"

NUMBER = r"-?\d+(?:,\d{3})*(?:\.\d+)?(?:e[-+]?\d+)?"


class Quote(NamedTuple):
    chapter: str                 # "01" … "10": whose saved outputs hold the numbers
    name: str                    # what is quoted (the test's id)
    guide: str                   # pattern in docs/teaching.md (every match is checked)
    notebook: str                # pattern in the chapter's saved text outputs (first match)
    derive: Callable | None = None   # numbers computed from the notebook's groups, if needed


def numbers(text: str) -> list[float]:
    return [float(n.replace(",", "")) for n in re.findall(NUMBER, text)]


def percents(line: str) -> list[float]:
    """The per-head percentages of a line "… head 1  42%  head 2  45% …"."""
    return [float(n) for n in re.findall(rf"head \d+\s+({NUMBER})%", line)]


def _cross_attention(g):
    spread, layer2_right, layer1_last = g
    shares = percents(layer2_right)
    last = percents(layer1_last)
    return [min(shares), max(shares), spread, min(last), max(last)]


def _seeds(g):
    """Chapter 10's seed table: a row per model, per bucket "mean% ( lowest%– highest%)"."""
    rnn, time, steps = ([float(n) for n in re.findall(r"([\d.]+)%", row)] for row in g)
    low = lambda row: min(row[1:9:3])               # noqa: E731  the 3–30 buckets' lowest
    high = lambda row: max(row[2:9:3])              # noqa: E731  and highest
    return {"t_lo": low(time), "t_hi": high(time), "r_lo": low(rnn), "r_hi": high(rnn),
            "s_lo": steps[7], "s_hi": steps[8], "r3": rnn[6]}


def _causal_change(g):
    with_mask, without = g
    before = numbers(without)[:3]                    # positions 0–2, before the changed word
    return [with_mask, min(before), max(before)]


def _online_softmax(g):
    return {**g, "gap": float(g["m2"]) - float(g["m1"])}


# Chapter 02's result table, a row per model: the guide's and the notebook's.
ROW_GUIDE = r" \| {}% / {}% \| {}% / {}% \| {}% / {}% \| {}% / {}% \|$"
ROW_SAVED = r" {}% / {}% {}% / {}% {}% / {}% {}% / {}%$"

QUOTES: list[Quote] = [
    # ---- 01 · Attention and memory
    Quote("01", "recall after training", r"reaches {}% \(chance {}%\)",
          r"test accuracy after training: {}% \(chance: {}%\)"),
    Quote("01", "memory ablation",
          r"intact {}%, sensory wiped {}%, working wiped {}%, long-term wiped {}%, "
          r"control \(later inputs scrambled\) {}%",
          r"^intact {}%\nsensory memory wiped [^\n]*? {}%\nworking memory wiped [^\n]*? {}%\n"
          r"long-term memory wiped [^\n]*? {}%\ncontrol: later inputs scrambled {}%"),
    Quote("01", "hidden-state spread", r"at the last step: trained {}, untrained {}",
          r"spread at the last step: trained {} untrained {}"),
    Quote("01", "hard lookup", r"best key k@60° → value {}", r"best key: k@60° → value {}"),
    Quote("01", "recall by length (margins)",
          r"above {}% at 8, below {}% at 16, 24 and 32 \(chance {}%\); over lengths 9–64 below {}% "
          r"at more than half, above {}% at a few",
          r"length 8, as trained: above {}%; lengths 16, 24 and 32: each below {}% \(chance {}%\)"
          r"\nlengths 9 to 64: below {}% at more than half of them, above {}% at a few"),
    Quote("01", "new readout (margins)",
          r"new readout on the same h: above {}% at 32, below {}% at 8",
          r"new readout on the same working memory: recall at length 32 above {}%, at length 8 "
          r"below {}%"),
    Quote("01", "largest weight by τ", r"largest weight {} / {} / {} / {} / {} at τ",
          r"^ 100\.0 {} [^\n]*\n 10\.0 {} [^\n]*\n 1\.0 {} [^\n]*\n 0\.1 {} [^\n]*\n 0\.01 {} "),
    Quote("01", "‖dc/dq‖ by τ", r"‖dc/dq‖ {} / {} / {} / {} / {}",
          r"^ 100\.0 {_} {_} {} [^\n]*\n 10\.0 {_} {_} {} [^\n]*\n 1\.0 {_} {_} {} [^\n]*\n"
          r" 0\.1 {_} {_} {} [^\n]*\n 0\.01 {_} {_} {} "),
    Quote("01", "‖dc/dq‖ at τ = 0.01", r"‖dc/dq‖ = {} at τ = 0\.01", r"^ 0\.01 {_} {_} {} "),
    Quote("01", "retrieval before training", r"Before training soft {}%, hard {}% \(chance {}%\)",
          r"before training: soft {}%, hard {}% \(chance {}%\)"),
    Quote("01", "loss change when nudged", r"nudged by 1e-3 \({}; soft {}\)",
          r"hard lookup: loss change when W is nudged by 1e-3: {}\n"
          r"soft lookup: loss change when W is nudged by 1e-3: {}"),
    Quote("01", "retrieval after training", r"after 200 steps soft {}%, hard {}%",
          r"after 200 steps: soft {}%, hard {}%"),
    Quote("01", "learned query map", r"W·R ≈ {} · I, effective τ ≈ {}",
          r"W·R ≈ {} · I [^\n]*\n[^\n]*τ ≈ 1/{_} ≈ {}"),
    Quote("01", "learned temperature", r"(?:stops at|learned) τ ≈ {}", r"τ ≈ 1/{_} ≈ {}"),
    # ---- 02 · Seq2seq with attention
    *[Quote("02", f"results table, {model}", r"^\| " + model + ROW_GUIDE, "^" + model + ROW_SAVED)
      for model in ("none", "additive", "dot", "none_3x")],
    Quote("02", "α at step one", r"α = \[{}, {}, {}, {}, {}, {}\]",
          r"4\. α: tensor\(\[\[{}, {}, {}, {}, {}, {}\]\]\)"),
    Quote("02", "α at step two", r"α on fe {}, on gi {}", r"α on fe: {}, on gi: {}"),
    Quote("02", "α on fe (misconception)", r'α on "fe" {}', r"α on fe: {}"),
    Quote("02", "teacher forcing, one sentence", r"teacher-forced {}/16, greedy {}/16",
          r"teacher-forced {}/16 right[^\n]*\ngreedy {}/16 right"),
    Quote("02", "teacher forcing, token accuracy",
          r"`none` 11–20 words: {}% vs {}%; `additive`: {}% vs {}%",
          r"^none 11–20 words: {}% {}%[\s\S]*?^additive 11–20 words: {}% {}%"),
    Quote("02", "alignment peaks",
          r"additive peaks on the translated word {}%, on its right-hand neighbour {}%, within one "
          r"word {}%; dot {}%, {}%, {}%",
          r"additive: peak on the translated word {}%, on its right-hand neighbour {}%, within "
          r"one word {}%\s+dot\s*: peak on the translated word {}%, on its right-hand neighbour "
          r"{}%, within one word {}%"),
    Quote("02", "none_3x (misconception)",
          r"`none_3x` helps on short sentences \({}% exact match on 3–10 words\) but still gets "
          r"{}% on 21–30",
          r"^none_3x {}% / {_}% {_}% / {_}% {}% / {_}%"),
    # ---- 03 · Captions and reading comprehension
    Quote("03", "captioner parameters", r"with attention {}, without {} parameters",
          r"attention=additive {} parameters attention=none {} parameters"),
    Quote("03", "caption exact match",
          r"Exact match: additive {} on 1, 2, 3 shapes; none {} / {} / {} \(all {}\)",
          r"^attention=additive {} \1 \1 {_}\nattention=none {} {} {} {}"),
    Quote("03", "where a word looks",
          r"{} object words: {}% on the named shape's cell \(chance {}%\); colour words {}%, "
          r"shape words {}%",
          r"{} object words: the most attended region is the named shape's cell for {}% "
          r"\(chance {}%\)[^\n]*\n colour words: {}%[^\n]*\n shape words: {}%"),
    Quote("03", "shape words (misconception)", r"shape words land on the named shape {}%",
          r"shape words: {}%"),
    Quote("03", "misses", r"of the {} misses {}% land", r"of the {} misses, {}% land"),
    Quote("03", "hops, object questions",
          r"Object questions: 1 hop {}, 2 hops {}, 3 hops {}; the last-move rule alone {}%",
          r"^ 1 {_} {} {_}\n 2 {_} {} {_}\n 3 {_} {} {_}\n[\s\S]*?last move': {}% of object"),
    Quote("03", "one hop vs the rule (misconception)",
          r"one hop \({one}% on object questions\) does about as well as the rule \"answer the "
          r"story's last move\" \({rule}%\)",
          r"last move': {rule}% of object questions \(one hop: {one}%\)"),
    Quote("03", "who took it, one hop", r"never reads who took the object \({}%\)",
          r"^1 hop, object question: who took it {}%"),
    Quote("03", "hops overall (misconception)", r"3 hops {three} overall vs 2 hops {two}",
          r"^ 2 {_} {_} {two}\n 3 {_} {_} {three}$"),
    # ---- 04 · Self-attention
    *[Quote("04", f"√d_k table, d_k = {d}",
            rf"^\| {d} " + r"\| {} / {} \| {} / {} \| {} / {} \| {}% / {}% \|$",
            rf"^ {d} " + r"\| {} {} \| {} {} \| {} {} \| {}% {}%$")
      for d in (4, 64, 1024)],
    Quote("04", "dead queries (misconception)", r"\({}% at d_k = 1024\)",
          r"^ 1024 \| {_} {_} \| {_} {_} \| {_} {_} \| {}% {_}%$"),
    Quote("04", "score variance (board)",
          r"unscaled variance is {a} / {b} / {c} at d_k = 4 / 64 / 1024, the scaled one "
          r"{d} / {e} / {f}",
          r"^ 4 \| {a} {d} \|[\s\S]*?^ 64 \| {b} {e} \|[\s\S]*?^ 1024 \| {c} {f} \|"),
    Quote("04", "gradients reaching the queries",
          r"unscaled at d_k = 1024: {a}% below 0\.01, {b}% above 10, largest {c} \(d_k = 64: "
          r"{d}%, {e}%, {f}\); scaled: {g}%, {h}%, largest {i}–{j}",
          r"^ 64 \| unscaled \| {d}% \| {e}% \| {f}\n \| scaled \| {g}% \| {h}% \| {j}\n"
          r"1024 \| unscaled \| {a}% \| {b}% \| {c}\n \| scaled \| {_}% \| {_}% \| {i}$"),
    Quote("04", "gradients reaching the queries (board)",
          r"\({a}% get less than 1% of the typical scaled gradient\) to over ten times as much "
          r"\({b}%; the largest {c}×\)",
          r"^1024 \| unscaled \| {a}% \| {b}% \| {c}$"),
    # ---- 05 · Multi-head attention
    Quote("05", "parameters for every h", r"{} parameters for 1, 2, 4 and 8 heads",
          r"^ 1 64 {}\n 2 32 \1\n 4 16 \1\n 8 8 \1$"),
    Quote("05", "seeds per claim",
          r"for 1 / 2 / 4 heads: previous digit ≥ 0\.95 in {p1}/3, {p2}/3, {p4}/3 seeds; partner "
          r"digit ≥ 0\.95 in {q1}/3, {q2}/3, {q4}/3; the relations in separate heads in {s1}/3, "
          r"{s2}/3, {s4}/3",
          r"^ 1 \| {p1}/3 \| {q1}/3 \| {s1}/3\n 2 \| {p2}/3 \| {q2}/3 \| {s2}/3\n"
          r" 4 \| {p4}/3 \| {q4}/3 \| {s4}/3$"),
    Quote("05", "one head fails one answer",
          r"1 head: previous digit ≤ {} in {}/3 seeds \(chance {}\), partner digit ≥ {} in {}/3",
          r"1 head: previous digit ≤ {} in {}/3 seeds \(chance {}\), partner digit ≥ {} in {}/3"),
    Quote("05", "one head splits its rows",
          r"rows that split \(each of the two gets ≥ 1/4 of their weight\) ≥ {}% in {}/3 seeds, "
          r"rows that do not split ≤ {}% in {}/3",
          r"rows that split \(each of the two gets ≥ 1/4 of their weight\): ≥ {}%: {}/3 seeds\n"
          r"rows that do not split \(one of the two gets < 1/10\): ≤ {}%: {}/3 seeds"),
    # ---- 06 · Positional encoding
    Quote("06", "order-blind rule", r"order-blind rule's {}% \(chance {}%\)",
          r"order-blind rule \(most frequent other digit\): {}% \(chance {}%\)"),
    Quote("06", "order-blind limit (misconception)", r"order-blind limit \({}%\)",
          r"order-blind rule \(most frequent other digit\): {}%"),
    Quote("06", "threshold with the encoding", r"with the encoding ≥ {}%",
          r"with the positional encoding, at least {}% right: True"),
    Quote("06", "raw index residual", r"not a linear map\W+residual {}", r"^raw index {_} {_} {}"),
    # ---- 07 · The Transformer encoder
    Quote("07", "std before LayerNorm", r"Per-position std before {} … {};",
          r"per-position std tensor\(\[([^\]]*)\]\)", lambda g: [min(numbers(g[0])),
                                                                  max(numbers(g[0]))]),
    Quote("07", "residual gradients",
          r"with residuals {w1} / {w64}, without {o1} / {o64}",
          r"depth with residuals without\n 1 {w1} {o1}\n[\s\S]*?^ 64 {w64} {o64}$"),
    Quote("07", "reach of the first input", r"‖∂y_n/∂x_1‖ at n = 64: GRU {}, attention block {}",
          r"‖∂y_n/∂x_1‖: GRU self-attention block\n[\s\S]*?^ 64 {} {}$"),
    Quote("07", "memory of the weights",
          r"Weights of one head at n = 2048: {one} MiB; 12 layers × 12 heads at n = 32768: "
          r"{big} GiB",
          r"^ 32768 {_} MiB {big} GiB$[\s\S]*?one head's weights at n = 2048: {one} MiB"),
    # ---- 08 · Neural Turing Machines
    Quote("08", "read vector", r"Read r = {}·row 1 \+ {}·row 2 \+ {}·row 3",
          r"= {}·row 1 \+ {}·row 2 \+ {}·row 3"),
    *[Quote("08", f"copy table, length {n}", rf"^\| {n} " + r"\| {} \({}\) \| {} \({}\) \| {} \|$",
            rf"^ {n} " + r"│ {} \(\s*{}\) │ {} \(\s*{}\) │ {}$")
      for n in (10, 20, 30, 40)],
    Quote("08", "bits per recalled vector",
          r"bits per recalled vector {} at 40 and 50, {} at 60, {} at 64, {} at 70",
          r"^ 40 {}\n 50 \1\n 60 {}\n 64 {}\n 70 {}"),
    Quote("08", "write head", r"write head \+1 row per step {}% of the time",
          r"length 40: the write head moves \+1 row per input step {}% of the time"),
    Quote("08", "training time (checkpoints)", r"training took {} min \(NTM\) vs {} min \(LSTM\)",
          r"NTM : {_} parameters, trained in {} min[^\n]*\n"
          r"LSTM: {_} parameters, trained in {} min"),
    Quote("08", "a tie survives sharpening", r"the weighting stays {} / {} at γ = 10",
          r"s = \(0, ½, ½\), γ = 10: tensor\(\[{_}, {_}, {}, {},"),
    # ---- 09 · The cost of attention
    Quote("09", "naive peak and slope",
          r"Peak of naive attention {} MiB at n = 2048 \(8 heads\); fitted slope \(n ≥ 512\) {}",
          r"^ 2048 {} MiB {_} MiB$[\s\S]*?fitted slope \(n ≥ 512\) {}"),
    Quote("09", "rescale factor", r"rescaling by {}", r"\(rescaled by {}\)"),
    Quote("09", "online softmax (board)",
          r"m goes from {m1} to {m2} after block 2, and the old sums are multiplied by "
          r"e\^\(−{gap}\) = {factor}",
          r"after block 1: m = {m1},[^\n]*\nafter block 2: m = {m2},[^\n]*\(rescaled by {factor}\)",
          _online_softmax),
    Quote("09", "scaling experiment",
          r"Peak MiB at n = 2048: naive {}, chunked {}, torch \(fused\) {}; slopes naive {}, "
          r"chunked {}",
          r"\(peak MiB\)[\s\S]*?^ 2048 {} {} {}\nslopes \(n ≥ 512\): naive {}, chunked {}"),
    Quote("09", "kept for backward", r"n = 256 → 1024: naive ×{}, chunked ×{}, torch \(fused\) ×{}",
          r"growth from n = 256 to 1024: naive ×{}, chunked ×{}, torch \(fused\) ×{}"),
    # ---- 10 · The whole Transformer
    Quote("10", "weights' shapes",
          r"weights \({}, {}, {}, {}\) self vs \({}, {}, {}, {}\) cross",
          r"self-attention weights \({}, {}, {}, {}\)[^\n]*\ncross-attention weights "
          r"\({}, {}, {}, {}\)"),
    Quote("10", "causal mask, changed word",
          r"positions 0–2 move by exactly {}, without by {}–{}",
          r"with the causal mask change per position: \[{},[^\n]*\nwithout a mask change per "
          r"position: \[([^\]]*)\]", _causal_change),
    Quote("10", "parameters", r"{total} parameters, {decoder} of them in the decoder",
          r"^ decoder {decoder} parameters[\s\S]*?^ total {total}$"),
    Quote("10", "budgets", r"equal steps \({}\) and equal time \({} Transformer steps\)",
          r"^RNN \+ attention {_} parameters, {} steps,[^\n]*\n"
          r"Transformer, equal time {_} parameters, {} steps"),
    Quote("10", "tuning: constant rates", r"the Transformer at a constant rate never passes {}%",
          r"^lr {_}, constant {_}% ([\d.]+)%[^\n]*\nlr {_}, constant {_}% ([\d.]+)%[^\n]*\n"
          r"lr {_}, constant {_}% ([\d.]+)%[^\n]*\nlr {_}, constant {_}% ([\d.]+)%",
          lambda g: [max(float(v) for v in g)]),
    Quote("10", "experiment",
          r"Equal time: level — {t3} / {r3}% exact on 21–30 words \(Transformer / RNN\)"
          r"[\s\S]*?31–40 words: {t4}% vs {r4}% — first word right {tf}% vs {rf}%",
          r"^RNN \+ attention {_}% / {_}% {_}% / {_}% {r3}% / {_}% {r4}% / {_}%\n"
          r"Transformer, equal time {_}% / {_}% {_}% / {_}% {t3}% / {_}% {t4}% / {_}%"
          r"[\s\S]*?^RNN \+ attention {rf}% {_}%\s+Transformer {tf}%"),
    Quote("10", "three seeds",
          r"{t_lo}–{t_hi}% vs {r_lo}–{r_hi}% over three seeds on 3–30; equal steps: the "
          r"Transformer behind, {s_lo}–{s_hi}% vs {r3}%",
          r"mean \(lowest–highest\)\n[^\n]*\n^RNN \+ attention ([^\n]*)\n"
          r"Transformer, equal time ([^\n]*)\nTransformer, equal steps ([^\n]*)", _seeds),
    Quote("10", "beyond the trained lengths (misconception)", r"{}% exact on 31–40 words",
          r"^Transformer, equal time {_}% / {_}% {_}% / {_}% {_}% / {_}% {}% / {_}%"),
    Quote("10", "sequential operations",
          r"{rnn} operations one after another (?:vs|against) {transformer} at every length",
          r"^RNN \+ attention operations {_} {_} {_} {_} {rnn}\n"
          r"Transformer operations {_} {_} {_} {_} {transformer}$"),
    Quote("10", "arithmetic per training step", r"{} vs {} GFLOP",
          r"^RNN \+ attention GFLOP {_} {_} {_} {_} {}\nTransformer GFLOP {_} {_} {_} {_} {}$"),
    Quote("10", "cross-attention heads",
          r"Layer 2's heads: {}–{}% on the right word \(even spread ≈ {}%\); layer 1's: {}–{}% "
          r"on the last word",
          r"would give {}%\non the right word layer 1:[^\n]*\non the right word layer 2:([^\n]*)"
          r"\non the last word layer 1:([^\n]*)", _cross_attention),
    Quote("10", "arithmetic saved by the cache",
          r"the arithmetic saved, counted: {}× at 16 words, {}× at 96",
          r"× less arithmetic {}× {_}× {_}× {}×"),
    # ---- 11 · Inside a real Transformer
    Quote("11", "words of the notes", r"Of {} words, {} whole, {} cut, {} `\[UNK\]`",
          r"^{} words: {} whole, {} cut into pieces, {} \[UNK\]"),
    Quote("11", "retrieval", r"Titles {}% / {}% \(top-1 / top-3\), with the notes' text {}% / {}%; "
                             r"chance {}% / {}%",
          r"titles {}% {}%\n title \+ text {}% {}%\n chance \(a random ranking\) {}% {}%"),
    Quote("11", "parameters", r"{}% of the {} parameters are the word embeddings",
          r"^word embeddings \(30,522 × 384\) {_} {}%[^$]*?^total {}"),
    Quote("11", "positional heads", r"previous token \({}%\), 1 on the next \({}%\)",
          r"strongest previous-token head: layer 1, head 3, {}%\nstrongest next-token head: "
          r"layer 2, head 9, {}%"),
    Quote("11", "paraphrases", r"Paraphrases at {} and {}, the cat ≤ {}",
          r"paraphrases: softmax pair {}, memory pair {}; the cat with any other ≤ {}"),
]


def pattern(text: str) -> re.Pattern:
    """The compiled form of a ``QUOTES`` pattern (see the module's docstring)."""
    def shorthand(match: re.Match) -> str:
        name = match[1]
        if name is None:
            return f"({NUMBER})"
        if name == "_":
            return f"(?:{NUMBER})"
        return f"(?P<{name}>{NUMBER})"
    text = re.sub(r"\{([A-Za-z_]\w*)?\}", shorthand, text)
    return re.compile(text.replace(" ", r"\s+"), re.MULTILINE)


def chapter_path(chapter: str) -> Path:
    (path,) = NOTEBOOKS.glob(f"{chapter}_*.ipynb")
    return path


def saved_text(path: Path) -> str:
    """The notebook's saved text outputs, cell after cell: what the guide quotes from."""
    cells = []
    for cell in nbformat.read(path, as_version=4).cells:
        if cell.cell_type != "code":
            continue
        streams = "".join(o.text for o in cell.outputs if o.output_type == "stream")
        results = [o.data["text/plain"] for o in cell.outputs
                   if o.output_type in ("execute_result", "display_data")
                   and "text/plain" in o.get("data", {})]
        cells.append("\n".join([streams, *results]))
    return "\n".join(cells)


_SAVED: dict[str, str] = {}


def saved(chapter: str) -> str:
    if chapter not in _SAVED:
        _SAVED[chapter] = saved_text(chapter_path(chapter))
    return _SAVED[chapter]


def guide_text() -> str:
    return GUIDE.read_text(encoding="utf-8")


def agrees(quoted: str, actual) -> bool:
    """Whether ``actual`` (a printed number or a computed one), rounded to the decimals of
    ``quoted`` (a number as the guide writes it), is ``quoted``."""
    quoted, actual = quoted.replace(",", ""), str(actual).replace(",", "")
    if "e" in quoted.lower() or "e" in actual.lower():
        return float(quoted) == float(actual)
    step = Decimal(1).scaleb(-len(quoted.partition(".")[2]))
    return any(Decimal(actual).quantize(step, rounding=r) == Decimal(quoted)
               for r in (ROUND_HALF_UP, ROUND_HALF_EVEN))


def values(match: re.Match, derive: Callable | None):
    """The numbers of a match: by name when the pattern names them, else in order."""
    found = match.groupdict() if match.re.groupindex else list(match.groups())
    return derive(found) if derive else found


@pytest.mark.parametrize("quote", QUOTES, ids=lambda q: f"{q.chapter} {q.name}")
def test_guide_quotes_agree_with_the_saved_outputs(quote: Quote):
    text = saved(quote.chapter)
    assert text.strip(), f"chapter {quote.chapter} has no saved outputs: run it and save it"
    found = pattern(quote.notebook).search(text)
    assert found, (f"chapter {quote.chapter}'s saved outputs no longer print what the guide "
                   f"quotes as {quote.name!r}; update QUOTES (pattern: {quote.notebook!r})")
    actual = values(found, quote.derive)
    quotes = list(pattern(quote.guide).finditer(guide_text()))
    assert quotes, (f"the guide no longer quotes {quote.name!r} (chapter {quote.chapter}) in "
                    f"this form; update QUOTES (pattern: {quote.guide!r})")
    for match in quotes:
        quoted = values(match, None)
        keys = quoted.keys() if isinstance(quoted, dict) else range(len(quoted))
        assert len(quoted) == len(actual) and all(
            agrees(quoted[k], actual[k]) for k in keys), (
            f"the guide quotes chapter {quote.chapter}'s {quote.name} as {quoted}, the saved "
            f"outputs say {actual}:\n  guide:    {match[0]!r}\n  notebook: {found[0]!r}")


def test_every_quote_pattern_takes_numbers():
    for quote in QUOTES:
        guide, notebook = pattern(quote.guide), pattern(quote.notebook)
        assert guide.groups, quote.name
        if quote.derive is None:
            assert (set(guide.groupindex) == set(notebook.groupindex)
                    and (guide.groupindex or guide.groups == notebook.groups)), quote.name


def test_agreement_rounds_to_the_quoted_decimals():
    assert agrees("18", "17.99") and agrees("4.4", "4.44") and agrees("100", "100.0")
    assert agrees("1,072", "1072") and agrees("0.0e+00", "0.0") and agrees("23", 22.75)
    assert not agrees("18", "17.4") and not agrees("0.21", "0.2") and not agrees("1e-05", "1e-06")


# ---- chapter by chapter: quiz sizes and run times

def chapter_sections(text: str) -> dict[str, str]:
    """Per chapter number, its part of the lecture plans (heading to the next heading)."""
    parts = re.split(r"^(?=#{2,3} )", text, flags=re.MULTILINE)
    return {m[1]: part for part in parts if (m := re.match(r"### Chapter (\d\d) · ", part))}


CHAPTERS = sorted(p.name[:2] for p in NOTEBOOKS.glob("[0-9][0-9]_*.ipynb"))


def test_every_chapter_has_a_lecture_plan():
    assert sorted(chapter_sections(guide_text())) == CHAPTERS


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_quiz_sizes(chapter: str):
    (size,) = re.findall(r"\((\d+) questions\)", saved(chapter))
    section = chapter_sections(guide_text())[chapter]
    quoted = re.findall(r"\b(\d+) questions\b", section)
    assert quoted and set(quoted) == {size}, (chapter, quoted, size)
    (at_a_glance,) = re.findall(rf"^\| {chapter} \| (\d+) \|", guide_text(), re.MULTILINE)
    assert at_a_glance == size


def readme_run_times() -> dict[str, str]:
    """Per chapter number, its run time in the README's *Performance* table."""
    rows = re.findall(r"^\| (\d\d)_\w+ \| (\d+\.\d) \|", README.read_text(encoding="utf-8"),
                      re.MULTILINE)
    return dict(rows)


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_run_times_are_the_readme_s(chapter: str):
    section = chapter_sections(guide_text())[chapter]
    assert re.findall(r"Run time (\d+\.\d) s", section) == [readme_run_times()[chapter]]


def test_shortest_and_longest_run_are_the_readme_s():
    times = readme_run_times()
    first, last = (min(times, key=lambda c: float(times[c])),
                   max(times, key=lambda c: float(times[c])))
    quoted = re.search(r"takes (\S+) s \(chapter (\d\d)\)\s+to (\S+) s \(chapter (\d\d)\)",
                       guide_text())
    assert quoted and quoted.groups() == (times[first], first, times[last], last)


def test_machine_dependent_times_are_not_quoted_with_digits():
    """A live training's time (a progress bar, `# NBVAL_IGNORE_OUTPUT`) changes with every run:
    the guide describes it ("a few seconds each"), it does not quote the saved run's number."""
    stale = re.findall(r"[^.\n]*\d s(?: each)? in the saved run[^.\n]*|~\d+ s\b[^.\n]*",
                       guide_text())
    assert not stale, stale
