"""Neural Turing Machines (神经图灵机): attention on an external memory (Graves et al., 2014).

The memory is a matrix of N rows (locations) of width M. A head reads and writes it through a
**weighting** w — attention over the rows, w ≥ 0, Σᵢ wᵢ = 1 — which it computes at every step
in four stages (section 3.3):

1. content addressing (eq. 5–6): w^c = softmax(β · cosine(k, Mᵢ)) — look up by similarity;
2. interpolation (eq. 7): w^g = g · w^c + (1 − g) · w_prev — or keep the previous focus;
3. convolutional shift (eq. 8): w̃ᵢ = Σⱼ w^g_{i−j} s_j (indices mod N) — move the focus;
4. sharpening (eq. 9): wᵢ = w̃ᵢ^γ / Σⱼ w̃ⱼ^γ — undo the blur of the shift.

Reading (eq. 2): r = Σᵢ wᵢ Mᵢ. Writing (eq. 3–4): erase then add, M ← M ⊙ (1 − w eᵀ) + w aᵀ.

All tensors are batch first: memory ``(batch, N, M)``, weightings ``(batch, N)``. Each function
refuses at once a parameter outside its range — β < 0, g or e outside [0, 1], a negative shift
weight, γ < 1, a negative weighting to sharpen — and tensors of different dtypes. (A shift
that does not sum to 1 is allowed: eq. 8 is linear in it.)
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import Tensor, nn

from ..foundations.checks import positive_int, same_dtype, sums_to_one, values_in

__all__ = ["content_addressing", "interpolate", "circular_shift", "sharpen", "read", "write",
           "NTMOutput", "NTM", "LSTMBaseline"]

EPS = 1e-8


def _check(name: str, x: object, dims: int, expected: str) -> Tensor:
    if not isinstance(x, Tensor):
        raise TypeError(f"{name} must be a torch.Tensor of shape {expected}, got "
                        f"{type(x).__name__}")
    if not x.is_floating_point():
        raise TypeError(f"{name} must be a floating-point tensor, got dtype {x.dtype}")
    if x.dim() != dims:
        raise ValueError(f"{name} must have shape {expected}, got {tuple(x.shape)}")
    return x


def _check_sequence(x: object, input_size: int, exact: bool) -> None:
    """``x (batch, time, input_size)`` with time ≥ 1 (the last size checked when ``exact``;
    the LSTM baseline leaves that to ``nn.LSTM``)."""
    x = _check("x", x, 3, f"(batch, time, {input_size})")
    if exact and x.shape[-1] != input_size:
        raise ValueError(f"x must have shape (batch, time, {input_size}), got "
                         f"{tuple(x.shape)}")
    if x.shape[1] == 0:
        raise ValueError(f"x must hold at least one time step; got a sequence of length 0, "
                         f"shape {tuple(x.shape)}")


def _check_scalar(name: str, x: object, batch: int) -> Tensor:
    x = _check(name, x, 2, "(batch, 1)")
    if x.shape != (batch, 1):
        raise ValueError(f"{name} must have shape ({batch}, 1), got {tuple(x.shape)}")
    return x


def _check_weighting(name: str, w: object, batch: int | None = None,
                     rows: int | None = None) -> Tensor:
    w = _check(name, w, 2, "(batch, N)")
    if (batch is not None and w.shape[0] != batch) or (rows is not None and w.shape[1] != rows):
        raise ValueError(f"{name} must have shape ({batch}, {rows}), got {tuple(w.shape)}")
    return w


# --------------------------------------------------------------------------- addressing
def content_addressing(memory: Tensor, key: Tensor, beta: Tensor) -> Tensor:
    """Eq. 5–6: w^c_i = exp(β K[k, Mᵢ]) / Σⱼ exp(β K[k, Mⱼ]), K the cosine similarity.

    ``memory (batch, N, M)``, ``key (batch, M)``, ``beta (batch, 1)`` ≥ 0 (the key strength:
    0 = uniform, large = a sharp lookup) → ``(batch, N)``.
    """
    _check_content_addressing(memory, key, beta)
    similarity = nn.functional.cosine_similarity(memory, key.unsqueeze(1), dim=-1, eps=EPS)
    return torch.softmax(beta * similarity, dim=-1)  # (batch, N)


def _check_content_addressing(memory: object, key: object, beta: object) -> None:
    memory = _check("memory", memory, 3, "(batch, N, M)")
    batch, _, width = memory.shape
    key = _check("key", key, 2, f"(batch, {width})")
    if key.shape != (batch, width):
        raise ValueError(f"key must have shape ({batch}, {width}), got {tuple(key.shape)}")
    beta = _check_scalar("beta", beta, batch)
    same_dtype(memory=memory, key=key, beta=beta)
    values_in("beta", beta, 0, meaning="the key strength")


def interpolate(w_content: Tensor, w_prev: Tensor, g: Tensor) -> Tensor:
    """Eq. 7: w^g = g · w^c + (1 − g) · w_prev, with the gate ``g (batch, 1)`` in [0, 1]:
    1 = use the content lookup, 0 = keep the previous weighting. Weightings ``(batch, N)``."""
    _check_interpolate(w_content, w_prev, g)
    return g * w_content + (1 - g) * w_prev


def _check_interpolate(w_content: object, w_prev: object, g: object) -> None:
    w_content = _check_weighting("w_content", w_content)
    w_prev = _check_weighting("w_prev", w_prev, *w_content.shape)
    g = _check_scalar("g", g, w_content.shape[0])
    same_dtype(w_content=w_content, w_prev=w_prev, g=g)
    values_in("g", g, 0, 1, meaning="the gate: 1 = content lookup, 0 = previous weighting")


def circular_shift(w: Tensor, shift: Tensor) -> Tensor:
    """Eq. 8, a circular convolution: out[i] = Σⱼ w[(i − (j − K//2)) mod N] · shift[j].

    ``w (batch, N)``; ``shift (batch, K)``, K odd, a distribution over the shifts −K//2 … K//2
    (column K//2 = no shift). A shift of +1 moves a one-hot weighting from row i to row i + 1
    (and from the last row to row 0).
    """
    _check_circular_shift(w, shift)
    size = shift.shape[1]
    half = size // 2
    # torch.roll(w, s)[i] = w[(i − s) mod N]: the weighting moved s rows down.
    moved = torch.stack([torch.roll(w, j - half, dims=1) for j in range(size)], dim=-1)
    return (moved * shift.unsqueeze(1)).sum(dim=-1)  # (batch, N)


def _check_circular_shift(w: object, shift: object) -> None:
    w = _check_weighting("w", w)
    shift = _check("shift", shift, 2, "(batch, K)")
    size = shift.shape[1]
    if shift.shape[0] != w.shape[0] or size % 2 == 0:
        raise ValueError(f"shift must have shape ({w.shape[0]}, K) with K odd, got "
                         f"{tuple(shift.shape)}")
    if size > w.shape[1]:
        raise ValueError(f"shift has {size} entries but the memory has only {w.shape[1]} rows")
    same_dtype(w=w, shift=shift)
    values_in("shift", shift, 0, meaning="the weights of the shifts −K//2 … K//2")
    sums_to_one("shift", shift, meaning="a distribution over the shifts −K//2 … K//2")


def sharpen(w: Tensor, gamma: Tensor) -> Tensor:
    """Eq. 9: wᵢ^γ / Σⱼ wⱼ^γ with ``gamma (batch, 1)`` ≥ 1 (γ = 1 changes nothing).
    ``w (batch, N)`` → ``(batch, N)``."""
    _check_sharpen(w, gamma)
    # w^γ / Σ w^γ = softmax(γ log w), computed in the log domain: (wᵢ)^γ itself would
    # underflow to 0 for a spread-out w and a large γ, and 0/0 is NaN. EPS: log 0 = −∞.
    return torch.softmax(gamma * torch.log(w + EPS), dim=-1)


def _check_sharpen(w: object, gamma: object) -> None:
    w = _check_weighting("w", w)
    gamma = _check_scalar("gamma", gamma, w.shape[0])
    same_dtype(w=w, gamma=gamma)
    values_in("w", w, 0, meaning="a weighting")
    values_in("gamma", gamma, 1, meaning="γ = 1 changes nothing, a larger γ sharpens")


# --------------------------------------------------------------------------- read / write
def read(memory: Tensor, w: Tensor) -> Tensor:
    """Eq. 2: r = Σᵢ wᵢ Mᵢ. ``memory (batch, N, M)``, ``w (batch, N)`` → ``(batch, M)``."""
    _check_read(memory, w)
    return (w.unsqueeze(1) @ memory).squeeze(1)  # Σᵢ wᵢ Mᵢ


def _check_read(memory: object, w: object) -> None:
    memory = _check("memory", memory, 3, "(batch, N, M)")
    w = _check_weighting("w", w, *memory.shape[:2])
    same_dtype(memory=memory, w=w)


def write(memory: Tensor, w: Tensor, erase: Tensor, add: Tensor) -> Tensor:
    """Eq. 3–4: erase then add, M ⊙ (1 − w eᵀ) + w aᵀ. Returns a new memory; the input
    tensor is not modified.

    ``memory (batch, N, M)``, ``w (batch, N)``, ``erase (batch, M)`` in [0, 1], ``add
    (batch, M)`` → ``(batch, N, M)``.
    """
    _check_write(memory, w, erase, add)
    w = w.unsqueeze(-1)  # (batch, N, 1)
    erased = memory * (1 - w * erase.unsqueeze(1))  # M ⊙ (1 − w eᵀ)
    return erased + w * add.unsqueeze(1)  # + w aᵀ


def _check_write(memory: object, w: object, erase: object, add: object) -> None:
    memory = _check("memory", memory, 3, "(batch, N, M)")
    batch, rows, width = memory.shape
    w = _check_weighting("w", w, batch, rows)
    for name, vector in (("erase", erase), ("add", add)):
        vector = _check(name, vector, 2, f"({batch}, {width})")
        if vector.shape != (batch, width):
            raise ValueError(f"{name} must have shape ({batch}, {width}), got "
                             f"{tuple(vector.shape)}")
    same_dtype(memory=memory, w=w, erase=erase, add=add)
    values_in("erase", erase, 0, 1, meaning="the fraction of each column erased")


# --------------------------------------------------------------------------- the machine
class NTMOutput(NamedTuple):
    """``outputs (batch, time, output_size)`` (logits: apply a sigmoid for bits),
    ``read_weights`` and ``write_weights`` ``(batch, time, N)``."""

    outputs: Tensor
    read_weights: Tensor
    write_weights: Tensor


class _Head(nn.Module):
    """Turns the controller's state into one head's addressing parameters:

    key k = the raw linear output (M), β = softplus (≥ 0), g = sigmoid (∈ [0, 1]),
    s = softmax over the 3 shifts −1, 0, +1, γ = 1 + softplus (≥ 1); a write head also
    emits the erase vector e = sigmoid (∈ [0, 1]) and the add vector a = tanh.
    """

    def __init__(self, controller_size: int, width: int, writes: bool) -> None:
        super().__init__()
        self.width, self.writes = width, writes
        self.layer = nn.Linear(controller_size, width + 1 + 1 + 3 + 1 + (2 * width if writes
                                                                            else 0))

    def forward(self, h: Tensor, memory: Tensor, w_prev: Tensor) -> tuple[Tensor, ...]:
        m = self.width
        out = self.layer(h)
        key, beta, g = out[:, :m], out[:, m:m + 1], out[:, m + 1:m + 2]
        shift, gamma = out[:, m + 2:m + 5], out[:, m + 5:m + 6]
        w = content_addressing(memory, key, nn.functional.softplus(beta))  # eq. 5–6
        w = interpolate(w, w_prev, torch.sigmoid(g))  # eq. 7
        w = circular_shift(w, torch.softmax(shift, dim=-1))  # eq. 8
        w = sharpen(w, 1 + nn.functional.softplus(gamma))  # eq. 9
        if not self.writes:
            return (w,)
        erase = torch.sigmoid(out[:, m + 6:2 * m + 6])
        add = torch.tanh(out[:, 2 * m + 6:])
        return w, erase, add


class NTM(nn.Module):
    """A Neural Turing Machine with an LSTM controller, one read head and one write head.

    Each step t: the controller reads [x_t; r_{t−1}]; the write head addresses the memory
    and writes (erase, add); the read head addresses it and reads r_t; the output is a linear
    map of [h_t; r_t]. The memory starts at a small constant, both heads' weightings at row 0
    and r_0 at zero, for every sequence.

    ``forward(x (batch, time, input_size))`` → :class:`NTMOutput`.
    """

    def __init__(self, input_size: int, output_size: int, controller_size: int = 100,
                 memory_rows: int = 128, memory_width: int = 20) -> None:
        super().__init__()
        for name, value in (("input_size", input_size), ("output_size", output_size),
                            ("controller_size", controller_size), ("memory_rows", memory_rows),
                            ("memory_width", memory_width)):
            positive_int(name, value)
        if memory_rows < 3:
            raise ValueError(f"memory_rows must be at least 3 (shifts −1, 0, +1), got "
                             f"{memory_rows}")
        self.input_size, self.rows, self.width = input_size, memory_rows, memory_width
        self.controller = nn.LSTMCell(input_size + memory_width, controller_size)
        self.read_head = _Head(controller_size, memory_width, writes=False)
        self.write_head = _Head(controller_size, memory_width, writes=True)
        self.out = nn.Linear(controller_size + memory_width, output_size)

    def forward(self, x: Tensor) -> NTMOutput:
        _check_sequence(x, self.input_size, exact=True)
        batch, steps, _ = x.shape
        memory = torch.full((batch, self.rows, self.width), 1e-6, dtype=x.dtype,
                            device=x.device)
        start = torch.zeros(batch, self.rows, dtype=x.dtype, device=x.device)
        start[:, 0] = 1.0
        w_read, w_write = start, start
        r = torch.zeros(batch, self.width, dtype=x.dtype, device=x.device)
        state = None
        outputs, reads, writes = [], [], []
        for t in range(steps):
            state = self.controller(torch.cat([x[:, t], r], dim=-1), state)
            h = state[0]
            w_write, erase, add = self.write_head(h, memory, w_write)
            memory = write(memory, w_write, erase, add)
            (w_read,) = self.read_head(h, memory, w_read)
            r = read(memory, w_read)
            outputs.append(self.out(torch.cat([h, r], dim=-1)))
            reads.append(w_read)
            writes.append(w_write)
        return NTMOutput(torch.stack(outputs, 1), torch.stack(reads, 1), torch.stack(writes, 1))


# --------------------------------------------------------------------------- the baseline
class LSTMBaseline(nn.Module):
    """The paper's comparison: an LSTM network without external memory. ``forward(x (batch,
    time, input_size))`` → ``NTMOutput(outputs (batch, time, output_size), empty, empty)``
    (no weightings), so that it trains and evaluates like :class:`NTM` (on the copy task:
    :func:`course_utils.worlds.copy_training.train_copy`)."""

    def __init__(self, input_size: int, output_size: int, hidden_size: int = 118,
                 layers: int = 1) -> None:
        super().__init__()
        self.lstm = nn.LSTM(input_size, hidden_size, num_layers=layers, batch_first=True)
        self.out = nn.Linear(hidden_size, output_size)

    def forward(self, x: Tensor) -> NTMOutput:
        _check_sequence(x, self.lstm.input_size, exact=False)
        h, _ = self.lstm(x)
        none = x.new_zeros(x.shape[0], x.shape[1], 0)
        return NTMOutput(self.out(h), none, none)
