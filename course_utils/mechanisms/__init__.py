"""Layer 1 of the course package: the mechanisms the notes teach.

* ``attention``    score → softmax → weighted sum; additive attention; multi-head attention
* ``positional``   sinusoidal positional encoding
* ``memory``       chapter 01's memories in a tiny RNN; key-value retrieval; attention recall
* ``ntm``          Neural Turing Machine addressing, read, write; the NTM and an LSTM baseline
* ``efficient``    exact attention in chunks with an online softmax; counts of bytes and
                   operations
* ``transformer``  the encoder and decoder blocks, the causal mask, the key/value cache

Modules here import torch, :mod:`course_utils.foundations` and one another only.
"""
