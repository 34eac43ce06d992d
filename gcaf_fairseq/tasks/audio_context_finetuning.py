"""``audio_context_finetuning``: fairseq's ``audio_finetuning`` plus context stores, a CTC
generator for ``fairseq-generate``, and batches that keep every utterance."""

import argparse
import logging
import math
import os
import sys
from collections import Counter
from dataclasses import dataclass, field
from typing import List, Optional

import numpy as np
import torch
from fairseq.data import AddTargetDataset
from fairseq.data.audio.raw_audio_dataset import FileAudioDataset
from fairseq.data.text_compressor import TextCompressionLevel, TextCompressor
from fairseq.dataclass import ChoiceEnum
from fairseq.tasks import register_task
from fairseq.tasks.audio_finetuning import AudioFinetuningConfig, AudioFinetuningTask
from fairseq.tasks.audio_pretraining import AudioPretrainingTask

from ..data.context_dataset import ContextDataset
from ..data.context_store import ContextStore
from ..data.neighbour_audio import NeighbourAudioDataset, find_neighbours
from ..data.utterance_table import read_utterance_table
from ..models.context_config import window_neighbour_offsets
from .ctc_decoders import KenLMDecoder, ViterbiDecoder
from .ctc_generator import CtcGenerator
from .decoding_output import DecodingRecorder

logger = logging.getLogger(__name__)

CONTEXT_MISSING_CHOICES = ChoiceEnum(["error", "zero"])
CTC_DECODER_CHOICES = ChoiceEnum(["viterbi", "kenlm"])

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
    utterance_table: Optional[str] = field(
        default=None,
        metadata={
            "help": "path template of the utterance table, with {split}, e.g. /data/{split}.utterances.jsonl: "
            "where context_source=audio models find each utterance's neighbours (by id, through "
            "prev_id/next_id). Needed by injection models on every split, by aware models for training"
        },
    )
    context_missing: CONTEXT_MISSING_CHOICES = field(
        default="error",
        metadata={
            "help": "an utterance absent from the store: error (fail at set-up, naming the count "
            "and the first ids) or zero (zero context vector / empty mask, counted and logged)"
        },
    )
    # Decoding (fairseq-generate). Defaults: the papers' LM decoding (beam 500, LM weight 2,
    # word score -1; SLUE NER uses word score +1).
    ctc_decoder: CTC_DECODER_CHOICES = field(
        default="viterbi",
        metadata={"help": "viterbi: greedy CTC; kenlm: beam search with --decoder-lm through flashlight-text"},
    )
    decoder_lm: Optional[str] = field(default=None, metadata={"help": "KenLM model (ARPA or binary) for --ctc-decoder kenlm"})
    decoder_lexicon: Optional[str] = field(
        default=None,
        metadata={"help": "lexicon 'WORD T O K E N S |' per line (gcaf-build-lexicon); without one, "
                  "lexicon-free decoding with a token-level LM"},
    )
    decoder_beam: int = field(default=500, metadata={"help": "beam size"})
    decoder_beam_size_token: Optional[int] = field(default=None, metadata={"help": "tokens considered per frame (default: all)"})
    decoder_beam_threshold: float = field(default=25.0, metadata={"help": "drop hypotheses this far below the best"})
    decoder_lm_weight: float = field(default=2.0, metadata={"help": "LM weight"})
    decoder_word_score: float = field(default=-1.0, metadata={"help": "score added per word (SLUE NER: 1)"})
    decoder_sil_weight: float = field(default=0.0, metadata={"help": "score added per word separator"})
    decoder_unk_score: float = field(default=-math.inf, metadata={"help": "score of an unknown word (lexicon decoding)"})
    decoding_output: Optional[str] = field(
        default=None,
        metadata={"help": "folder for {subset}.ids/.hyp.wrd/.ref.wrd/.wer.json in utterance-id order "
                  "(default: fairseq-generate's --results-path)"},
    )


def file_audio_dataset(dataset) -> FileAudioDataset:
    """The :class:`FileAudioDataset` under fairseq's dataset wrappers."""
    audio = dataset
    while not isinstance(audio, FileAudioDataset) and hasattr(audio, "dataset"):
        audio = audio.dataset
    if not isinstance(audio, FileAudioDataset):
        raise ValueError(
            f"context needs a tsv manifest (FileAudioDataset), got {type(audio).__name__}: "
            "binarized and multi-corpus datasets are not supported"
        )
    return audio


def manifest_utterance_ids(dataset) -> List[str]:
    """Utterance ids of a fairseq audio dataset, in dataset order: each manifest file name
    without folder and extension (``SPEAKER-CHAPTER-0001.flac`` -> ``SPEAKER-CHAPTER-0001``)."""
    audio = file_audio_dataset(dataset)
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
        self._label_names = None

    @property
    def label_names(self) -> Optional[List[str]]:
        """Class names from ``labels.{labels}.txt`` (SLUE's layout, e.g. ``labels.sent.txt``),
        one per line; ``None`` when the data has no such file (CTC targets)."""
        if self._label_names is None and self.cfg.labels:
            path = os.path.join(self.cfg.data, f"labels.{self.cfg.labels}.txt")
            if os.path.exists(path):
                with open(path, encoding="utf-8") as names:
                    self._label_names = [line.strip() for line in names if line.strip()]
                if len(set(self._label_names)) != len(self._label_names) or not self._label_names:
                    raise ValueError(f"{path}: label names must be unique and non-empty")
        return self._label_names

    def load_target_dictionary(self):
        if self.label_names is not None:
            return None  # classification: targets are indices into label_names
        return super().load_target_dictionary()

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
        if self.label_names is not None:
            self._load_classification_dataset(split, task_cfg, **kwargs)
        else:
            super().load_dataset(split, task_cfg, **kwargs)
        store, context_rows = None, None
        if getattr(self.context_model_cfg, "context_source", "none") == "audio":
            self.datasets[split] = self._with_neighbours(split, task_cfg or self.cfg)
        else:
            store, context_rows = self._load_context(split, task_cfg or self.cfg)
        self.datasets[split] = ContextDataset(self.datasets[split], store, context_rows)

    def _load_classification_dataset(self, split, task_cfg, **kwargs):
        """Audio from ``{split}.tsv``, one class name per line from ``{split}.{labels}``."""
        model_name = getattr(self.context_model_cfg, "_name", None)
        if model_name is not None and model_name != "wav2vec2_context_seq_cls":
            raise ValueError(
                f"labels.{self.cfg.labels}.txt makes '{self.cfg.labels}' classification labels, which "
                f"need the model wav2vec2_context_seq_cls, not {model_name}"
            )
        AudioPretrainingTask.load_dataset(self, split, task_cfg, **kwargs)
        audio = self.datasets[split]
        path = os.path.join(self.cfg.data, f"{split}.{self.cfg.labels}")
        index_of = {name: index for index, name in enumerate(self.label_names)}
        skipped = getattr(audio, "skipped_indices", set())
        labels = []
        with open(path, encoding="utf-8") as lines:
            for line_number, line in enumerate(lines, start=1):
                name = line.strip()
                if name not in index_of:
                    raise ValueError(f"{path}:{line_number}: label {name!r} is not one of {self.label_names}")
                if line_number - 1 not in skipped:
                    labels.append(name)
        if len(labels) != len(audio):
            raise ValueError(f"{path} has {len(labels)} labels for the {len(audio)} utterances of {split}.tsv")
        level = getattr(TextCompressionLevel, str(self.cfg.text_compression_level))
        compressor = TextCompressor(level=level)
        self.datasets[split] = AddTargetDataset(
            audio,
            [compressor.compress(name) for name in labels],
            pad=0,
            eos=0,
            batch_targets=True,
            process_label=lambda name: torch.LongTensor([index_of[name]]),
            label_len_fn=lambda name: 1,
            text_compression_level=level,
        )

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
        path = _split_path(template, split, "context_store")
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

    def _with_neighbours(self, split, task_cfg):
        """Audio context: wrap the split with its utterances' neighbours' audio."""
        model_cfg = self.context_model_cfg
        dataset = self.datasets[split]
        template = self.cfg.utterance_table or getattr(task_cfg, "utterance_table", None)
        injection = model_cfg.context_use == "injection"
        if not template:
            if injection:
                raise ValueError(
                    f"context_source=audio with context_use=injection needs the neighbours of every utterance of "
                    f"'{split}': set task.utterance_table (e.g. /data/{{split}}.utterances.jsonl)"
                )
            logger.info(f"{split}: no utterance table; the aware model needs no neighbours to decode")
            return dataset
        path = _split_path(template, split, "utterance_table")
        if not os.path.exists(path):
            if injection:
                raise FileNotFoundError(f"utterance table {path} for split '{split}' does not exist (task.utterance_table={template})")
            logger.warning(f"{split}: no utterance table at {path}; no context loss is computed on this split")
            return dataset
        offsets = window_neighbour_offsets(model_cfg.context_window, model_cfg.context_offset)
        lookup = find_neighbours(read_utterance_table(path), manifest_utterance_ids(dataset), offsets, path)
        manifest = os.path.join(self.cfg.data, f"{split}.tsv")
        if lookup.missing and self.cfg.context_missing != "zero":
            raise ValueError(
                f"{len(lookup.missing)} neighbours of utterances of {manifest} are missing "
                f"(window {model_cfg.context_window}, offset {model_cfg.context_offset}); first: {_first(lookup.missing, 3)}. "
                "Fix the table or the audio, or set task.context_missing=zero to go without them"
            )
        self.context_missing_counts[split] = len(lookup.missing)
        logger.info(f"{split}: neighbours at relative positions {offsets} from {path}: {lookup.counts()}")
        return NeighbourAudioDataset(dataset, lookup.paths, file_audio_dataset(dataset))

    def build_generator(self, models, args, seq_gen_cls=None, extra_gen_cls_kwargs=None, **kwargs):
        if self.cfg.autoregressive:
            return super().build_generator(models, args, seq_gen_cls, extra_gen_cls_kwargs, **kwargs)
        return CtcGenerator(
            self.build_ctc_decoder(),
            self.target_dictionary,
            recorder=self._decoding_recorder(),
            post_process_symbol=self.cfg.eval_wer_post_process,
        )

    def build_ctc_decoder(self):
        cfg = self.cfg
        blank_index = self.target_dictionary.index(self.blank_symbol)
        if cfg.ctc_decoder == "viterbi":
            return ViterbiDecoder(self.target_dictionary, blank_index, cfg.eval_wer_post_process)
        if not cfg.decoder_lm:
            raise ValueError("--ctc-decoder kenlm needs --decoder-lm (a KenLM ARPA or binary model)")
        for path in (cfg.decoder_lm, cfg.decoder_lexicon):
            if path and not os.path.exists(path):
                raise FileNotFoundError(f"{path} does not exist")
        return KenLMDecoder(
            self.target_dictionary,
            lm_path=cfg.decoder_lm,
            lexicon_path=cfg.decoder_lexicon,
            beam=cfg.decoder_beam,
            beam_size_token=cfg.decoder_beam_size_token,
            beam_threshold=cfg.decoder_beam_threshold,
            lm_weight=cfg.decoder_lm_weight,
            word_score=cfg.decoder_word_score,
            sil_weight=cfg.decoder_sil_weight,
            unk_score=cfg.decoder_unk_score,
            blank_index=blank_index,
            post_process_symbol=cfg.eval_wer_post_process,
        )

    def _decoding_recorder(self):
        """fairseq-generate loads exactly the decoded subset before building the generator."""
        out_dir = self.cfg.decoding_output or _results_path_from_command_line()
        if out_dir is None or len(self.datasets) != 1:
            return None
        (subset, dataset), = self.datasets.items()
        return DecodingRecorder(out_dir, subset, manifest_utterance_ids(dataset))


def _split_path(template: str, split: str, option: str) -> str:
    try:
        return template.format(split=split)
    except (KeyError, IndexError, ValueError) as error:
        raise ValueError(f"task.{option} '{template}' must be a path with only {{split}} to fill in") from error


def _results_path_from_command_line() -> Optional[str]:
    """fairseq-generate's ``--results-path``, which fairseq does not hand to the task."""
    parser = argparse.ArgumentParser(add_help=False)
    parser.add_argument("--results-path")
    known, _ = parser.parse_known_args(sys.argv[1:])
    return known.results_path
