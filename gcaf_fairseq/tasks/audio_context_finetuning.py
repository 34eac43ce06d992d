"""``audio_context_finetuning``: fairseq's ``audio_finetuning`` plus context stores, a CTC
generator for ``fairseq-generate``, and batches that keep every utterance."""

import logging
import os
from collections import Counter
from dataclasses import dataclass, field
from typing import List, Optional

import numpy as np
from fairseq.data.audio.raw_audio_dataset import FileAudioDataset
from fairseq.dataclass import ChoiceEnum
from fairseq.tasks import register_task
from fairseq.tasks.audio_finetuning import AudioFinetuningConfig, AudioFinetuningTask

from ..data.context_dataset import ContextDataset
from ..data.context_store import ContextStore
from .ctc_viterbi_generator import CtcViterbiGenerator

logger = logging.getLogger(__name__)

CONTEXT_MISSING_CHOICES = ChoiceEnum(["error", "zero"])

# fairseq-generate's defaults suit text tasks; CTC letter targets want these instead.
GENERATE_DEFAULTS = {
    "labels": "ltr",  # fairseq-generate reads dict.{labels}.txt before it opens the checkpoint
    "post_process": "letter",  # score words, not letters
    "max_tokens": 3_200_000,  # audio samples per batch (fairseq's fine-tuning configs); 12000 = 0.75 s
}


@dataclass
class AudioContextFinetuningConfig(AudioFinetuningConfig):
    context_store: Optional[str] = field(
        default=None,
        metadata={
            "help": "path template of the context store, with {split}, e.g. /data/ctx/{split}.p4.cls "
            "(written by gcaf-embed-context). Needed by context_use=injection models on every "
            "split, and by aware models for training; aware models decode without it"
        },
    )
    context_missing: CONTEXT_MISSING_CHOICES = field(
        default="error",
        metadata={
            "help": "an utterance absent from the store: error (fail at set-up, naming the count "
            "and the first ids) or zero (zero context vector / empty mask, counted and logged)"
        },
    )


def manifest_utterance_ids(dataset) -> List[str]:
    """Utterance ids of a fairseq audio dataset, in dataset order: each manifest file name
    without folder and extension (``SPEAKER-CHAPTER-0001.flac`` -> ``SPEAKER-CHAPTER-0001``)."""
    audio = dataset
    while not isinstance(audio, FileAudioDataset) and hasattr(audio, "dataset"):
        audio = audio.dataset
    if not isinstance(audio, FileAudioDataset):
        raise ValueError(
            f"context needs a tsv manifest (FileAudioDataset), got {type(audio).__name__}: "
            "binarized and multi-corpus datasets are not supported"
        )
    names = audio.fnames if isinstance(audio.fnames, list) else [name.as_py() for name in audio.fnames]
    return [os.path.splitext(os.path.basename(audio.text_compressor.decompress(name)))[0] for name in names]


def _first(items, count=5) -> str:
    shown = ", ".join(items[:count])
    return shown + (f", ... ({len(items) - count} more)" if len(items) > count else "")


@register_task("audio_context_finetuning", dataclass=AudioContextFinetuningConfig)
class AudioContextFinetuningTask(AudioFinetuningTask):
    """Fine-tuning with a context embedding per utterance, joined by utterance id."""

    cfg: AudioContextFinetuningConfig

    def __init__(self, cfg: AudioContextFinetuningConfig):
        super().__init__(cfg)
        self.context_model_cfg = None
        self.context_missing_counts = {}

    @classmethod
    def add_args(cls, parser):
        super().add_args(parser)
        parser.set_defaults(**GENERATE_DEFAULTS)

    def build_model(self, model_cfg, from_checkpoint=False):
        model = super().build_model(model_cfg, from_checkpoint)
        # The stores of the splits loaded from now on are checked against this model.
        self.context_model_cfg = getattr(model, "cfg", model_cfg)
        return model

    def load_dataset(self, split: str, task_cfg: AudioContextFinetuningConfig = None, **kwargs):
        if task_cfg is not None and task_cfg.labels != self.cfg.labels:
            # fairseq-generate turns label indices into text with dict.{--labels}.txt: a
            # different label set than the checkpoint's would print and score garbage.
            raise ValueError(
                f"the checkpoint was trained with labels '{task_cfg.labels}' but this command reads "
                f"'{self.cfg.labels}': pass --labels {task_cfg.labels}"
            )
        super().load_dataset(split, task_cfg, **kwargs)
        store, context_rows = self._load_context(split, task_cfg or self.cfg)
        self.datasets[split] = ContextDataset(self.datasets[split], store, context_rows)

    def _load_context(self, split, task_cfg):
        model_cfg = self.context_model_cfg
        # The command line's store (fairseq-generate --context-store) wins over the one
        # saved with the checkpoint.
        template = self.cfg.context_store or getattr(task_cfg, "context_store", None)
        if model_cfg is None or getattr(model_cfg, "context_source", "none") == "none":
            if template:
                logger.info(f"{split}: the model takes no context; context_store {template} is not read")
            return None, None
        context_use = model_cfg.context_use
        if not template:
            if context_use == "aware":
                logger.info(f"{split}: no context store; the aware model needs none to decode")
                return None, None
            raise ValueError(
                f"context_use=injection needs a context embedding for every utterance of '{split}': "
                "set task.context_store (e.g. /data/ctx/{split}.p4.cls, written by gcaf-embed-context)"
            )
        try:
            path = template.format(split=split)
        except (KeyError, IndexError, ValueError) as error:
            raise ValueError(f"task.context_store '{template}' must be a path with only {{split}} to fill in") from error
        if not os.path.exists(path):
            if context_use == "aware":
                logger.warning(
                    f"{split}: no context store at {path}; the aware model decodes without it, "
                    "but no context loss is computed on this split"
                )
                return None, None
            raise FileNotFoundError(f"context store {path} for split '{split}' does not exist (task.context_store={template})")

        store = ContextStore.open(path)
        if store.dim != model_cfg.context_embed_dim:
            raise ValueError(
                f"context store {path} holds {store.dim}-dim embeddings but the model has "
                f"context_embed_dim={model_cfg.context_embed_dim}"
            )
        if store.pooling != model_cfg.context_pooling:
            raise ValueError(
                f"context store {path} holds '{store.pooling}' embeddings but the model has "
                f"context_pooling={model_cfg.context_pooling}"
            )
        utterance_ids = manifest_utterance_ids(self.datasets[split])
        manifest = os.path.join(self.cfg.data, f"{split}.tsv")
        duplicates = sorted(i for i, count in Counter(utterance_ids).items() if count > 1)
        if duplicates:
            raise ValueError(f"{manifest}: utterance ids must be unique to join contexts; repeated: {_first(duplicates)}")
        context_rows = np.array([store.index(i) if i in store else -1 for i in utterance_ids], dtype=np.int64)
        missing = [i for i, row in zip(utterance_ids, context_rows) if row < 0]
        # The running command's policy decides (fairseq-generate: --context-missing zero).
        if missing and self.cfg.context_missing != "zero":
            raise ValueError(
                f"{len(missing)} of {len(utterance_ids)} utterances of {manifest} have no entry in the "
                f"context store {path}; first missing ids: {_first(missing)}. Add them to the store, or "
                "set task.context_missing=zero to give them a zero context"
            )
        found = context_rows[context_rows >= 0]
        empty = int((store.lengths[found] == 0).sum())
        self.context_missing_counts[split] = len(missing)
        logger.info(
            f"{split}: context from {path} ({store.pooling}, dim {store.dim}) for "
            f"{len(utterance_ids) - len(missing)} of {len(utterance_ids)} utterances; "
            f"{len(missing)} missing (zero context), {empty} with an empty text (no context)"
        )
        return store, context_rows

    def build_generator(self, models, args, seq_gen_cls=None, extra_gen_cls_kwargs=None, **kwargs):
        if self.cfg.autoregressive:
            return super().build_generator(models, args, seq_gen_cls, extra_gen_cls_kwargs, **kwargs)
        return CtcViterbiGenerator(self.target_dictionary, blank_index=self.target_dictionary.index(self.blank_symbol))
