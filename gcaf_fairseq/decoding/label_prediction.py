"""Predict one class label per utterance with a ``wav2vec2_context_seq_cls`` checkpoint."""

from pathlib import Path
from typing import Dict, Optional

import torch

from ..data.atomic_files import write_text_atomically
from ..data.manifest import manifest_utterance_ids


def predict_labels(
    checkpoint: str,
    data: str,
    split: str,
    out: str,
    context_store: Optional[str] = None,
    context_missing: Optional[str] = None,
    max_tokens: int = 1_400_000,
    device: str = "auto",
) -> Dict:
    """Write ``out`` (``ID<TAB>LABEL`` per utterance, sorted by id) and ``out.ref`` (the
    reference labels of ``{split}.{labels}`` in the same form), atomically, for
    ``gcaf-score sentiment --id-format tsv``; return a summary with the macro F1
    (scikit-learn's, in percent) and the accuracy."""
    from fairseq import checkpoint_utils, utils
    from sklearn.metrics import f1_score

    from .. import register

    register()  # the checkpoint names this plugin's task and model
    overrides = {"data": data}
    if context_store is not None:
        overrides["context_store"] = context_store
    if context_missing is not None:
        overrides["context_missing"] = context_missing
    models, _cfg, task = checkpoint_utils.load_model_ensemble_and_task([checkpoint], arg_overrides=overrides)
    model = models[0].eval()
    use_cuda = device == "cuda" or (device == "auto" and torch.cuda.is_available())
    if use_cuda:
        model.cuda()
    task.load_dataset(split)
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
        write_text_atomically(target, "".join(f"{i}\t{labels[i]}\n" for i in ids))
    truth, guess = [reference[i] for i in ids], [predicted[i] for i in ids]
    return {
        "split": split,
        "utterances": len(ids),
        "out": str(path),
        "macro_f1": 100.0 * f1_score(truth, guess, average="macro"),
        "accuracy": 100.0 * sum(t == g for t, g in zip(truth, guess)) / len(ids),
    }
