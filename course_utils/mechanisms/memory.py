"""The notes' three memories in a real model, and attention as a lookup in a memory.

* :class:`MemoryRNN`: a tiny recurrent network in which the notes' mapping is literal:
  sensory memory (感觉记忆) = the input layer, working memory (工作记忆) = the hidden state,
  long-term memory (长期记忆) = the weights.
* :class:`KeyValueRetriever`: a query map followed by a lookup in a key-value memory, either
  **soft** (score → softmax → weighted sum) or **hard** (argmax); only the soft one can learn.
* :class:`AttentionRecall`: :class:`MemoryRNN`'s task without a recurrent state: every input
  is kept in a key-value memory, stamped with the time it was read, and a learned query
  attends over all of them.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from .attention import context_vector, dot_product_scores, hard_attention_weights, masked_softmax

__all__ = ["MemoryRNN", "KeyValueRetriever", "AttentionRecall"]


class MemoryRNN(nn.Module):
    """An Elman RNN:  h_t = tanh(W_x x_t + b + W_h h_{t-1}),  logits = W_o h_T + b_o.

    * sensory memory  = the input layer's encoding ``W_x x_t + b`` of the symbol read at
      step t (``x_t`` is its one-hot code); it exists only at that step.
    * working memory  = ``h_t``, the hidden state, carried from step to step.
    * long-term memory = the parameters of the layers ``sensory`` (W_x, b), ``recurrent``
      (W_h) and ``readout`` (W_o, b_o), changed only by training. (A layer is *named* after
      the memory it computes; its *weights* are long-term memory.)

    Args:
        vocab_size: number of symbols; hidden_size: width of the working memory.
    """

    def __init__(self, vocab_size: int, hidden_size: int = 24) -> None:
        super().__init__()
        self.vocab_size = vocab_size
        self.sensory = nn.Linear(vocab_size, hidden_size)  # input layer: W_x x_t + b
        self.recurrent = nn.Linear(hidden_size, hidden_size, bias=False)  # W_h h_{t-1}
        self.readout = nn.Linear(hidden_size, vocab_size)  # W_o h_T

    def forward(self, symbols: Tensor, forget_after: int | None = None,
                blank_input_at: int | None = None) -> tuple[Tensor, Tensor]:
        """Read the sequence and answer at the end.

        Args:
            symbols: ``(batch, length)`` ints in [0, vocab_size).
            forget_after: if given, wipe the working memory (h = 0) after reading that many
                symbols: the ablation that shows what the hidden state was holding.
            blank_input_at: if given, wipe the sensory memory of that step (0-based): x_t = 0,
                so the symbol of step t is never perceived.

        Returns:
            ``(logits, states)``: logits ``(batch, vocab_size)`` from the last state, states
            ``(batch, length, hidden_size)``, the working memory after every step.
        """
        if symbols.dim() != 2 or symbols.dtype not in (torch.int64, torch.int32):
            raise ValueError(f"symbols must be an int tensor (batch, length); got "
                             f"{symbols.dtype} {tuple(symbols.shape)}")
        length = symbols.shape[1]
        if length == 0:
            raise ValueError("symbols must hold at least one step; got length 0")
        if forget_after is not None and not (
                isinstance(forget_after, int) and not isinstance(forget_after, bool)
                and 1 <= forget_after <= length):
            raise ValueError(f"forget_after must be an int in [1, {length}] (the number of "
                             f"symbols read before the wipe), got {forget_after!r}")
        if blank_input_at is not None and not (
                isinstance(blank_input_at, int) and not isinstance(blank_input_at, bool)
                and 0 <= blank_input_at < length):
            raise ValueError(f"blank_input_at must be a step in [0, {length - 1}], got "
                             f"{blank_input_at!r}")
        inputs = nn.functional.one_hot(symbols.long(), self.vocab_size).to(
            self.sensory.weight.dtype)  # x_t: one-hot code of the symbol read at step t
        if blank_input_at is not None:
            inputs[:, blank_input_at] = 0.0  # wipe the sensory memory of that step
        h = inputs.new_zeros(symbols.shape[0], self.recurrent.in_features)
        states = []
        for t in range(length):
            h = torch.tanh(self.sensory(inputs[:, t]) + self.recurrent(h))  # h_t
            if forget_after is not None and t + 1 == forget_after:
                h = torch.zeros_like(h)  # wipe the working memory
            states.append(h)
        return self.readout(h), torch.stack(states, dim=1)


class KeyValueRetriever(nn.Module):
    """Look up a memory of (key, value) pairs with a learned query.

    q = W c  (the query map, the only parameter);  sᵢ = q·kᵢ;
    soft: α = softmax(s),  hard: α = one_hot(argmax s);  output = Σᵢ αᵢ vᵢ.

    Shapes of ``forward``: cue ``(batch, d)``, keys ``(batch, n, d)``, values
    ``(batch, n, d_v)`` → output ``(batch, d_v)``, weights ``(batch, n)``.
    """

    def __init__(self, key_size: int, lookup: str = "soft") -> None:
        super().__init__()
        if lookup not in ("soft", "hard"):
            raise ValueError(f"lookup must be 'soft' or 'hard', got {lookup!r}")
        self.lookup = lookup
        self.w_query = nn.Linear(key_size, key_size, bias=False)

    def forward(self, cue: Tensor, keys: Tensor, values: Tensor) -> tuple[Tensor, Tensor]:
        query = self.w_query(cue).unsqueeze(1)  # (batch, 1, d): q = W c
        scores = dot_product_scores(query, keys, scaled=False)  # (batch, 1, n): sᵢ = q·kᵢ
        if self.lookup == "soft":
            weights = masked_softmax(scores)  # α = softmax(s)
        else:
            weights = hard_attention_weights(scores)  # α = one_hot(argmax s): no gradient
        output = context_vector(weights, values)  # Σᵢ αᵢ vᵢ
        return output.squeeze(1), weights.squeeze(1)


class AttentionRecall(nn.Module):
    """Answer from a memory of every input, looked up by attention; no recurrent state.

    Every step t is stored as a key-value pair:  key_t = [x_t ; t]  (what was read, as its
    one-hot code x_t, and *when*, as the time stamp t = 0, 1, 2, …),  value_t = x_t.
    One learned query q (the question is the same for every sequence, so it is a parameter)
    scores every key, s_t = q·key_t;  α = softmax(s);  c = Σ_t α_t value_t;
    logits = W_o c + b_o.  The parameters are q and the readout (W_o, b_o); q starts at 0,
    a uniform lookup.

    Args:
        vocab_size: number of symbols.
        time_stamps: if False, every key's time stamp is 0: the keys hold only what was read,
            so two steps that read the same symbol have the same key.
    """

    def __init__(self, vocab_size: int, time_stamps: bool = True) -> None:
        super().__init__()
        self.vocab_size = vocab_size
        self.time_stamps = time_stamps
        self.query = nn.Parameter(torch.zeros(vocab_size + 1))  # q = [content part ; time part]
        self.readout = nn.Linear(vocab_size, vocab_size)  # W_o c + b_o

    def memory(self, symbols: Tensor) -> tuple[Tensor, Tensor]:
        """The stored inputs: keys ``(batch, length, vocab_size + 1)``, values
        ``(batch, length, vocab_size)``."""
        if symbols.dim() != 2 or symbols.dtype not in (torch.int64, torch.int32):
            raise ValueError(f"symbols must be an int tensor (batch, length); got "
                             f"{symbols.dtype} {tuple(symbols.shape)}")
        if symbols.shape[1] == 0:
            raise ValueError("symbols must hold at least one step; got length 0")
        values = nn.functional.one_hot(symbols.long(), self.vocab_size).to(self.query.dtype)
        stamps = torch.arange(symbols.shape[1], dtype=values.dtype)  # t = 0, 1, 2, …
        if not self.time_stamps:
            stamps = torch.zeros_like(stamps)
        stamps = stamps.expand(symbols.shape[0], -1).unsqueeze(-1)  # (batch, length, 1)
        return torch.cat([values, stamps], dim=-1), values

    def forward(self, symbols: Tensor) -> tuple[Tensor, Tensor]:
        """Look up the memory of ``symbols (batch, length)``.

        Returns:
            ``(logits, weights)``: logits ``(batch, vocab_size)``, the attention weights
            ``(batch, length)`` over the stored steps.
        """
        keys, values = self.memory(symbols)
        query = self.query.expand(symbols.shape[0], 1, -1)  # (batch, 1, vocab_size + 1)
        scores = dot_product_scores(query, keys, scaled=False)  # (batch, 1, length): q·key_t
        weights = masked_softmax(scores)  # α = softmax(s)
        context = context_vector(weights, values).squeeze(1)  # c = Σ_t α_t value_t
        return self.readout(context), weights.squeeze(1)
