"""Let torch's ``weights_only`` loader accept fairseq checkpoints without turning it off.

torch >= 2.6 loads with ``weights_only=True``: only allowlisted classes may be unpickled.
Fine-tuned fairseq checkpoints pickle a :class:`fairseq.data.Dictionary` (the task state);
released checkpoints of older fairseq versions pickle an :class:`argparse.Namespace`
(``args``). Both are plain data holders, so they are added to the allowlist; anything else
still fails loudly.
"""

import argparse

import torch
from fairseq.data.dictionary import Dictionary

FAIRSEQ_CHECKPOINT_CLASSES = (Dictionary, argparse.Namespace)


def allow_fairseq_checkpoint_classes() -> None:
    """Register the classes fairseq checkpoints pickle with torch's safe-globals allowlist
    (a set: calling this again changes nothing)."""
    torch.serialization.add_safe_globals(list(FAIRSEQ_CHECKPOINT_CLASSES))
