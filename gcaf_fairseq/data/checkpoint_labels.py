"""Label names that travel with the model: a checkpoint's class names and CTC dictionary,
checked against the data's when the checkpoint is loaded.

fairseq keeps a task's state in the checkpoint (``task_state``: ``FairseqTask.state_dict``,
restored by ``load_state_dict`` before the model is built). ``audio_finetuning`` already keeps
its ``target_dictionary`` there, and the task ``audio_context_finetuning`` adds
``label_names``: the classifier's class names, index k being class k.

When a checkpoint is loaded (fairseq-generate, gcaf-predict-labels), :func:`check_checkpoint_labels`
compares them with the data folder's:

- class names (``labels.{labels}.txt``): the same names in another order are remapped by
  name (the checkpoint's order gives the indices; targets are read by name), logged; a
  different set of names is an error naming both; a checkpoint without names (written
  before they were saved) keeps loading with a warning, and the data's file gives the
  indices as before;
- the CTC dictionary (``dict.{labels}.txt``, or ``--target-dictionary``'s): any difference
  in its symbols or their order is an error naming both. It cannot be remapped by name:
  fairseq-generate reads the data's dictionary before the checkpoint and prints
  references and hypotheses through it, while the checkpoint's encodes them. A data folder
  without the file decodes with the checkpoint's dictionary.
"""

import logging
import os
from typing import List, Optional

from .classification_dataset import read_label_names

logger = logging.getLogger(__name__)


class LabelMismatchError(ValueError):
    """A checkpoint's labels that do not fit the data's."""


def check_checkpoint_labels(state_dict: dict, cfg) -> dict:
    """Check the task state ``state_dict`` of a checkpoint against the data of ``cfg`` (the
    running task config: ``data``, ``labels``, ``target_dictionary``); return it to merge."""
    state_dict = dict(state_dict or {})
    labels = getattr(cfg, "labels", None)
    if not labels:
        return state_dict
    data_names_path = os.path.join(cfg.data, f"labels.{labels}.txt")
    data_names = read_label_names(cfg.data, labels)
    if "label_names" not in state_dict:
        if data_names is not None:
            logger.warning(
                f"the checkpoint stores no class names (written before they were saved): class k is read as "
                f"line k+1 of {data_names_path}, {data_names}; this must be the order the model was trained with"
            )
            return state_dict
    else:
        saved_names = state_dict["label_names"]
        if saved_names is not None:
            _check_names(list(saved_names), data_names, data_names_path)
            return state_dict
        if data_names is not None:
            raise LabelMismatchError(
                f"{data_names_path} makes '{labels}' classification labels, but the checkpoint holds a CTC "
                "model (no class names in its task state): use data with its dict.{labels}.txt, or a "
                "classification checkpoint"
            )
    saved_dictionary = state_dict.get("target_dictionary")
    if saved_dictionary is not None:
        _check_dictionary(saved_dictionary, cfg, labels)
    return state_dict


def _check_names(saved: List[str], data: Optional[List[str]], data_path: str) -> None:
    if data is None:
        logger.info(f"class names from the checkpoint: {saved} ({data_path} does not exist)")
        return
    if set(saved) != set(data):
        only_saved = [name for name in saved if name not in data]
        only_data = [name for name in data if name not in saved]
        raise LabelMismatchError(
            f"the checkpoint's class names {saved} differ from {data_path}'s {data}: only in the checkpoint "
            f"{only_saved}, only in the data {only_data}. Use data labelled with the checkpoint's classes, "
            "or a checkpoint trained on these"
        )
    if saved != data:
        logger.warning(
            f"{data_path} lists the checkpoint's classes in another order ({data}; the checkpoint: {saved}): "
            "remapped by name, class indices follow the checkpoint"
        )


def _check_dictionary(saved, cfg, labels: str) -> None:
    folder = getattr(cfg, "target_dictionary", None) or cfg.data
    path = os.path.join(folder, f"dict.{labels}.txt")
    if not os.path.exists(path):
        logger.info(f"CTC dictionary from the checkpoint ({len(saved)} symbols); {path} does not exist")
        return
    from fairseq.data import Dictionary

    data = Dictionary.load(path)
    saved_symbols, data_symbols = list(saved.symbols), list(data.symbols)
    if saved_symbols == data_symbols:
        return
    only_data = [symbol for symbol in data_symbols if symbol not in saved.indices]
    only_saved = [symbol for symbol in saved_symbols if symbol not in data.indices]
    first = next(k for k, (a, b) in enumerate(zip(saved_symbols + [None], data_symbols + [None])) if a != b)
    raise LabelMismatchError(
        f"{path} is not the checkpoint's CTC dictionary: "
        + (f"symbols only in {path}: {only_data} (they would become <unk>); " if only_data else "")
        + (f"symbols only in the checkpoint's: {only_saved}; " if only_saved else "")
        + f"first difference at index {first} ({data_symbols[first] if first < len(data_symbols) else 'end'!r} "
        f"here, {saved_symbols[first] if first < len(saved_symbols) else 'end'!r} in the checkpoint). "
        "fairseq-generate prints references and hypotheses through this file, so the indices must agree: "
        f"write the checkpoint's dictionary there (torch.load(checkpoint)['task_state']['target_dictionary'].save({path!r})), "
        "or point --target-dictionary at a folder that holds it"
    )
