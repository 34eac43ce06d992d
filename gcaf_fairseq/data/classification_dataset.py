"""Utterance classification data in SLUE's layout: class names in ``labels.{labels}.txt``, one
class name per utterance in ``{split}.{labels}`` (line-aligned with ``{split}.tsv``)."""

import os
from typing import List, Optional

import torch
from fairseq.data import AddTargetDataset
from fairseq.data.text_compressor import TextCompressionLevel, TextCompressor

CLASSIFICATION_MODEL = "wav2vec2_context_seq_cls"


def read_label_names(data: str, labels: str) -> Optional[List[str]]:
    """Class names from ``{data}/labels.{labels}.txt`` (e.g. ``labels.sent.txt``), one per line;
    ``None`` when there is no such file (CTC targets)."""
    path = os.path.join(data, f"labels.{labels}.txt")
    if not os.path.exists(path):
        return None
    with open(path, encoding="utf-8") as names:
        label_names = [line.strip() for line in names if line.strip()]
    if len(set(label_names)) != len(label_names) or not label_names:
        raise ValueError(f"{path}: label names must be unique and non-empty")
    return label_names


def check_classification_model(model_cfg, labels: str) -> None:
    """Classification labels need the classification model (when one is built already)."""
    model_name = getattr(model_cfg, "_name", None)
    if model_name is not None and model_name != CLASSIFICATION_MODEL:
        raise ValueError(
            f"labels.{labels}.txt makes '{labels}' classification labels, which "
            f"need the model {CLASSIFICATION_MODEL}, not {model_name}"
        )


def add_class_targets(audio, path: str, label_names: List[str], split: str, text_compression_level) -> AddTargetDataset:
    """``audio`` (fairseq's audio dataset of ``{split}.tsv``) with each utterance's class index
    from ``path`` (one class name per line) as its ``(1,)`` target. Lines of utterances that
    fairseq skipped (too short or long) are skipped with them."""
    index_of = {name: index for index, name in enumerate(label_names)}
    skipped = getattr(audio, "skipped_indices", set())
    labels = []
    with open(path, encoding="utf-8") as lines:
        for line_number, line in enumerate(lines, start=1):
            name = line.strip()
            if name not in index_of:
                raise ValueError(f"{path}:{line_number}: label {name!r} is not one of {label_names}")
            if line_number - 1 not in skipped:
                labels.append(name)
    if len(labels) != len(audio):
        raise ValueError(f"{path} has {len(labels)} labels for the {len(audio)} utterances of {split}.tsv")
    level = getattr(TextCompressionLevel, str(text_compression_level))
    compressor = TextCompressor(level=level)
    return AddTargetDataset(
        audio,
        [compressor.compress(name) for name in labels],
        pad=0,
        eos=0,
        batch_targets=True,
        process_label=lambda name: torch.LongTensor([index_of[name]]),
        label_len_fn=lambda name: 1,
        text_compression_level=level,
    )
