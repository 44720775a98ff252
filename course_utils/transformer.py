"""The Transformer's encoder block (编码器模块), post-norm as in the notes and the original paper:

    x = LayerNorm(x + MultiHeadAttention(x, x, x))   residual (残差连接) + LayerNorm (层归一化)
    x = LayerNorm(x + FFN(x)),   FFN(x) = W₂ ReLU(W₁ x + b₁) + b₂

Built from the course's own :class:`~course_utils.attention.MultiHeadAttention`;
``EncoderBlock.from_torch`` copies a ``torch.nn.TransformerEncoderLayer(batch_first=True,
norm_first=False, activation="relu")``, whose output it then equals in eval mode.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from .attention import MultiHeadAttention

__all__ = ["FeedForward", "EncoderBlock"]


class FeedForward(nn.Module):
    """The position-wise 2-layer network: ``(..., d_model)`` → ``(..., d_model)``,
    FFN(x) = W₂ ReLU(W₁ x + b₁) + b₂ with a hidden width ``d_ff``."""

    def __init__(self, d_model: int, d_ff: int, dropout: float = 0.0) -> None:
        super().__init__()
        self.linear1 = nn.Linear(d_model, d_ff)
        self.linear2 = nn.Linear(d_ff, d_model)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: Tensor) -> Tensor:
        return self.linear2(self.dropout(torch.relu(self.linear1(x))))


class EncoderBlock(nn.Module):
    """One encoder block: self-attention and a feed-forward network, each wrapped in a
    residual connection and a LayerNorm (post-norm).

    Args:
        d_model: width of the tokens; num_heads: heads of the attention (d_model % num_heads
            must be 0); d_ff: hidden width of the FFN; dropout: after the attention and the FFN
            and inside the FFN, as in PyTorch's layer (which also drops attention weights,
            which this block does not); 0 in this course, so the two agree in training too.

    ``forward(x (batch, n, d_model), mask=None)`` → ``(output (batch, n, d_model), weights
    (batch, num_heads, n, n))``; ``mask`` bool, True = may attend, broadcastable to
    ``(batch, num_heads, n, n)`` (e.g. ``(batch, 1, 1, n)`` for padding, ``(n, n)`` causal).
    """

    def __init__(self, d_model: int, num_heads: int, d_ff: int, dropout: float = 0.0) -> None:
        super().__init__()
        self.attention = MultiHeadAttention(d_model, num_heads)
        self.norm1 = nn.LayerNorm(d_model)
        self.ffn = FeedForward(d_model, d_ff, dropout)
        self.norm2 = nn.LayerNorm(d_model)
        self.dropout1 = nn.Dropout(dropout)
        self.dropout2 = nn.Dropout(dropout)

    def forward(self, x: Tensor, mask: Tensor | None = None) -> tuple[Tensor, Tensor]:
        attended, weights = self.attention(x, x, x, mask)
        x = self.norm1(x + self.dropout1(attended))  # LayerNorm(x + MHA(x))
        x = self.norm2(x + self.dropout2(self.ffn(x)))  # LayerNorm(x + FFN(x))
        return x, weights

    @classmethod
    def from_torch(cls, layer: nn.TransformerEncoderLayer) -> EncoderBlock:
        """A copy with the weights of a ``torch.nn.TransformerEncoderLayer`` built with
        ``batch_first=True, norm_first=False, activation="relu"``."""
        if not isinstance(layer, nn.TransformerEncoderLayer):
            raise TypeError(f"layer must be a torch.nn.TransformerEncoderLayer, got "
                            f"{type(layer).__name__}")
        if layer.norm_first:
            raise ValueError("only post-norm layers (norm_first=False) match the notes' block")
        if not layer.self_attn.batch_first:
            raise ValueError("build the layer with batch_first=True")
        activation = layer.activation
        if not (activation is torch.nn.functional.relu or isinstance(activation, nn.ReLU)):
            raise ValueError(f"only activation='relu' is supported, got {activation!r}")
        d_model = layer.linear1.in_features
        block = cls(d_model, layer.self_attn.num_heads, layer.linear1.out_features,
                    layer.dropout.p).to(layer.linear1.weight.dtype)
        block.attention = MultiHeadAttention.from_torch(layer.self_attn)
        with torch.no_grad():
            for ours, theirs in ((block.ffn.linear1, layer.linear1),
                                 (block.ffn.linear2, layer.linear2),
                                 (block.norm1, layer.norm1), (block.norm2, layer.norm2)):
                ours.weight.copy_(theirs.weight)
                if theirs.bias is None:  # a layer built with bias=False: a zero bias is the same
                    ours.bias.zero_()
                else:
                    ours.bias.copy_(theirs.bias)
        block.norm1.eps, block.norm2.eps = layer.norm1.eps, layer.norm2.eps
        return block.train(layer.training)
