"""Predict one class label per utterance with a ``wav2vec2_context_seq_cls`` checkpoint."""

from pathlib import Path
from typing import Dict, Optional

import torch

from ..data.atomic_files import write_lines
from ..data.manifest import manifest_utterance_ids

PLUGIN_TASK = "audio_context_finetuning"  # registered by gcaf_fairseq.tasks (not imported here: tasks imports decoding)


def predict_labels(
    checkpoint: str,
    data: str,
    split: str,
    out: str,
    context_store: Optional[str] = None,
    context_missing: Optional[str] = None,
    utterance_table: Optional[str] = None,
    context_from_checkpoint: bool = False,
    max_tokens: int = 1_400_000,
    device: str = "auto",
) -> Dict:
    """Write ``out`` (``ID<TAB>LABEL`` per utterance, sorted by id) and ``out.ref`` (the
    reference labels of ``{split}.{labels}`` in the same form), atomically, for
    ``gcaf-score sentiment --id-format tsv``; return a summary with the macro F1
    (scikit-learn's, in percent) and the accuracy.

    As with fairseq-generate, only this call's ``context_store`` / ``utterance_table`` are read
    (the checkpoint's saved ones with ``context_from_checkpoint``): an injection model without
    them fails naming the saved path; an aware model predicts from the current audio alone.

    The plugin must be registered in this process (``import gcaf_fairseq.plugin``; the
    ``gcaf-predict-labels`` tool does it): the checkpoint names its task and model."""
    import copy

    from fairseq import checkpoint_utils, tasks, utils
    from omegaconf import open_dict
    from sklearn.metrics import f1_score

    if PLUGIN_TASK not in tasks.TASK_REGISTRY:  # else the load below fails on the allowlist, or later on the task
        raise RuntimeError(
            f"gcaf-fairseq's task {PLUGIN_TASK!r} is not registered in this process: import gcaf_fairseq.plugin "
            f"before calling predict_labels (to read {checkpoint})"
        )
    state = checkpoint_utils.load_checkpoint_to_cpu(checkpoint, {"data": data})
    saved = state["cfg"].task
    command = copy.deepcopy(saved)
    with open_dict(command):
        command.context_store, command.utterance_table = context_store, utterance_table
        command.context_from_checkpoint = context_from_checkpoint
        if context_missing is not None:
            command.context_missing = context_missing
    task = tasks.setup_task(command, from_checkpoint=True)
    models, _cfg = checkpoint_utils.load_model_ensemble([checkpoint], task=task, state=state)
    model = models[0].eval()
    use_cuda = device == "cuda" or (device == "auto" and torch.cuda.is_available())
    if use_cuda:
        model.cuda()
    task.load_dataset(split, task_cfg=saved)  # the task decides which context is read, as in fairseq-generate
    dataset = task.dataset(split)
    utterance_ids = manifest_utterance_ids(dataset)
    batches = task.get_batch_iterator(dataset, max_tokens=max_tokens, required_batch_size_multiple=1).next_epoch_itr(shuffle=False)
    predicted, reference = {}, {}
    with torch.no_grad():
        for batch in batches:
            batch = utils.move_to_cuda(batch) if use_cuda else batch
            logits = model(**batch["net_input"])["logits"]
            for index, label, target in zip(batch["id"].tolist(), logits.argmax(-1).tolist(), batch["target"].view(-1).tolist()):
                predicted[utterance_ids[index]] = task.label_names[label]
                reference[utterance_ids[index]] = task.label_names[target]
    if len(predicted) != len(dataset):
        raise RuntimeError(f"predicted {len(predicted)} of {len(dataset)} utterances of {split}")
    ids = sorted(predicted)
    path = Path(out)
    for target, labels in ((path, predicted), (path.with_name(path.name + ".ref"), reference)):
        write_lines(target, [f"{i}\t{labels[i]}" for i in ids])
    truth, guess = [reference[i] for i in ids], [predicted[i] for i in ids]
    return {
        "split": split,
        "utterances": len(ids),
        "out": str(path),
        "macro_f1": 100.0 * f1_score(truth, guess, average="macro"),
        "accuracy": 100.0 * sum(t == g for t, g in zip(truth, guess)) / len(ids),
    }
