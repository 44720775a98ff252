"""Chapter 07's exercises: layer normalisation, add & norm.

Each exercise: a reference solution, its test cases and the typical mistakes it
recognises, registered with the engine under this chapter (:func:`.engine.register`).
"""

from __future__ import annotations

from collections.abc import Iterator

import torch
from torch import Tensor

from .engine import (
    Exercise,
    close,
    generator,
    register,
    wrong_shape,
)

CHAPTER = "07_transformer_encoder"


def _norm_reference(x: Tensor) -> Tensor:
    return torch.nn.functional.layer_norm(x, x.shape[-1:], eps=1e-5)


def _norm_cases() -> Iterator[tuple]:
    for seed, (shape, scale) in enumerate([((3, 4), 3.0), ((2, 3, 5), 3.0), ((1, 6), 3.0),
                                           ((2, 8), 0.01)]):  # a tiny variance: ε matters
        yield (scale * torch.randn(*shape, generator=generator(110 + seed)) + 1,)


def _norm_mistakes(args: tuple, got: Tensor, expected: Tensor) -> str | None:
    (x,) = args
    if got.shape != expected.shape or close(got, expected):
        return None
    mean = x.mean(-1, keepdim=True)
    if close(got, (x - mean) / torch.sqrt(x.var(-1, keepdim=True) + 1e-5)):
        return ("torch.var divides by n − 1 by default: LayerNorm uses the plain variance, "
                "x.var(-1, unbiased=False, keepdim=True)")
    if x.shape[0] > 1 and close(got, torch.nn.functional.layer_norm(
            x.transpose(0, -1), x.transpose(0, -1).shape[-1:]).transpose(0, -1)):
        return ("you normalised across positions (dim 0): LayerNorm normalises each position's "
                "features, the last axis")
    if close(got, (x - mean) / x.std(-1, unbiased=False, keepdim=True)):
        return ("almost: add ε = 1e-5 to the variance inside the square root (it matters when "
                "a position's variance is tiny, as in this case)")
    if close(got, (x - mean.mean()) / torch.sqrt(x.var(unbiased=False) + 1e-5)):
        return "you normalised the whole tensor at once: normalise each position on its own"
    if close(got, x - mean):
        return "the mean is removed but the result is not divided by the standard deviation"
    return None


def _add_norm_reference(x: Tensor, sublayer_out: Tensor) -> Tensor:
    return _norm_reference(x + sublayer_out)


def _add_norm_cases() -> Iterator[tuple]:
    for seed, shape in enumerate([(3, 4), (2, 3, 5)]):
        g = generator(120 + seed)
        yield 2 * torch.randn(*shape, generator=g), torch.randn(*shape, generator=g)


def _add_norm_mistakes(args: tuple, got: Tensor, expected: Tensor) -> str | None:
    x, out = args
    if got.shape != expected.shape or close(got, expected):
        return None
    if close(got, x + _norm_reference(out)):
        return ("that normalises the sublayer's output and then adds x unnormalised, "
                "x + LayerNorm(sublayer(x)): neither post-norm nor pre-norm (pre-norm normalises "
                "the sublayer's input, x + sublayer(LayerNorm(x))); the notes' block (post-norm) "
                "adds first and normalises the sum: LayerNorm(x + sublayer(x))")
    if close(got, _norm_reference(out)):
        return "the residual is missing: add x before normalising, LayerNorm(x + sublayer(x))"
    if close(got, x + out):
        return "the sum is not normalised: LayerNorm(x + sublayer(x))"
    return None


register(
    CHAPTER,
    Exercise(
        name="layer_norm",
        signature="layer_norm(x (..., d)) -> (..., d), each position: mean 0, variance 1",
        reference=_norm_reference,
        cases=_norm_cases,
        diagnoses=[wrong_shape, _norm_mistakes],
        atol=1e-4,
    ),
    Exercise(
        name="add_and_norm",
        signature="add_and_norm(x (..., d), sublayer_out (..., d)) -> (..., d)",
        reference=_add_norm_reference,
        cases=_add_norm_cases,
        diagnoses=[wrong_shape, _add_norm_mistakes],
        atol=1e-4,
    ),
)
