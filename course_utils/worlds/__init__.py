"""Layer 2 of the course package: the chapters' toy worlds — tasks and data, the models built
for them, their training and decoding loops, checkpoints.

* ``toy_tasks``     generated toy tasks: recall, retrieval, the copy task
* ``translation``   chapter 02's toy language pair;  ``seq2seq``  RNN encoder-decoder
* ``translation_transformer``  the whole Transformer for chapter 02's task, and its trainer
* ``copy_training`` chapter 08's copy-task training of the NTM and the LSTM baseline
* ``captioning``    image captioning with attention;  ``reading``  a multi-hop memory network
* ``relations``     chapter 05's two-relation task
* ``training``      a training loop with a progress bar;  ``checkpoints``  safetensors + SHA-256
* ``wordpiece``     chapter 11's WordPiece tokenizer;  ``pretrained``  all-MiniLM-L6-v2 rebuilt
  from the course's encoder blocks, its weights read (SHA-256 checked) from an installed package

Modules here import :mod:`course_utils.foundations`, :mod:`course_utils.mechanisms` and one
another only.
"""
