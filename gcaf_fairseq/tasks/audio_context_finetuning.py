"""``audio_context_finetuning``: fairseq's ``audio_finetuning`` plus context stores, a CTC
generator for ``fairseq-generate``, and batches that keep every utterance."""

import logging
import os
from dataclasses import dataclass, field
from typing import List, Optional

from fairseq import utils
from fairseq.dataclass import ChoiceEnum
from fairseq.tasks import register_task
from fairseq.tasks.audio_finetuning import AudioFinetuningConfig, AudioFinetuningTask
from fairseq.tasks.audio_pretraining import AudioPretrainingTask

from ..data.checkpoint_labels import check_checkpoint_labels
from ..data.classification_dataset import add_class_targets, check_classification_model, read_label_names
from ..data.context_dataset import ContextDataset
from ..data.context_join import context_paths, join_context, join_neighbour_audio, split_path
from ..data.context_store import ContextStore
from ..data.dataset_checks import check_max_tokens, check_split
from ..data.manifest import manifest_utterance_ids
from ..data.neighbour_audio import NeighbourAudioDataset
from ..data.neighbour_index import load_neighbour_index
from ..data.stream_order import StreamOrderDataset, stream_order
from ..decoding.config import DecodingConfig
from ..decoding.ctc_decoders import build_ctc_decoder
from ..decoding.ctc_generator import CtcGenerator, GenerationTimer
from ..decoding.decoding_output import recorder_for_subset
from ..decoding.sequential_context import (
    SequentialPlan,
    build_sequential_generator,
    check_sequential_model,
    check_sequential_text_settings,
    differing_settings,
    plan_cached_neighbours,
    text_encoder_settings,
)

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
    utterance_table: Optional[str] = field(
        default=None,
        metadata={
            "help": "path template of the utterance table, with {split}, e.g. /data/{split}.utterances.jsonl: "
            "where context_source=audio models find each utterance's neighbours (by id, through "
            "prev_id/next_id). Needed by injection models on every split, by aware models for training"
        },
    )
    context_from_checkpoint: bool = field(
        default=False,
        metadata={
            "help": "decoding a checkpoint: with no context_store / utterance_table on the command line, "
            "read the ones saved in the checkpoint. Without it an injection model refuses (naming the "
            "saved path) and an aware model decodes from the current audio alone"
        },
    )
    context_missing: CONTEXT_MISSING_CHOICES = field(
        default="error",
        metadata={
            "help": "an utterance absent from the store: error (fail at set-up, naming the count "
            "and the first ids) or zero (zero context vector / empty mask, counted and logged)"
        },
    )
    allow_stereo: bool = field(
        default=False,
        metadata={
            "help": "accept multi-channel audio, averaged to mono as fairseq does (counted and logged); "
            "by default a multi-channel file is an error naming its manifest line"
        },
    )
    allow_duplicate_ids: bool = field(
        default=False,
        metadata={
            "help": "accept manifest rows that repeat an utterance id (the file name without extension), "
            "each trained on or decoded as given (counted and logged); by default an error naming the lines. "
            "A split joined with a context store needs unique ids either way"
        },
    )
    skip_audio_header_check: bool = field(
        default=False,
        metadata={
            "help": "skip reading every audio file's header at dataset load (existence, sample rate, channels, "
            "length against the manifest; about 20 us per FLAC file, 100-150 us per other file on a local "
            "disk, once per unchanged manifest); a bad file then fails when fairseq first reads it"
        },
    )
    # fairseq-generate's options; flat on the command line (--ctc-decoder, --decoder-lm, ...,
    # --decoding-output), task.decoding.* in hydra.
    decoding: DecodingConfig = field(default_factory=DecodingConfig)


@register_task("audio_context_finetuning", dataclass=AudioContextFinetuningConfig)
class AudioContextFinetuningTask(AudioFinetuningTask):
    """Fine-tuning with a context embedding per utterance, joined by utterance id."""

    cfg: AudioContextFinetuningConfig

    def __init__(self, cfg: AudioContextFinetuningConfig):
        super().__init__(cfg)
        self.context_model_cfg = None
        self.context_missing_counts = {}
        self.sequential_plans = {}  # split -> SequentialPlan, with --sequential-context
        # Saved in the checkpoint's task state, like fairseq's target_dictionary.
        self.state.add_factory("label_names", self._data_label_names)

    def _data_label_names(self) -> Optional[List[str]]:
        return read_label_names(self.cfg.data, self.cfg.labels) if self.cfg.labels else None

    @property
    def label_names(self) -> Optional[List[str]]:
        """Class names, index k being class k: the checkpoint's (its task state) when one was
        loaded, else ``labels.{labels}.txt`` (SLUE's layout, e.g. ``labels.sent.txt``), one per
        line; ``None`` for CTC targets (no such file)."""
        return self.state.label_names

    def load_state_dict(self, state_dict):
        """A checkpoint's task state: its class names and CTC dictionary, checked against the
        data's (see :func:`~gcaf_fairseq.data.checkpoint_labels.check_checkpoint_labels`)."""
        super().load_state_dict(check_checkpoint_labels(state_dict, self.cfg))

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
        """The split's audio and targets (letters, or class indices), then its context."""
        if task_cfg is not None and task_cfg.labels != self.cfg.labels:
            # fairseq-generate turns label indices into text with dict.{--labels}.txt: a
            # different label set than the checkpoint's would print and score garbage.
            raise ValueError(
                f"the checkpoint was trained with labels '{task_cfg.labels}' but this command reads "
                f"'{self.cfg.labels}': pass --labels {task_cfg.labels}"
            )
        check_split(self.cfg, split, task_cfg, self.context_model_cfg)  # manifest, labels, audio: file:line errors
        if self.label_names is not None:
            self._load_classification_dataset(split, task_cfg, **kwargs)
        else:
            super().load_dataset(split, task_cfg, **kwargs)
        if self.cfg.decoding.sequential_context:
            self._load_sequential_dataset(split, task_cfg)
            return
        # Training (task_cfg None): the running config's store or table. Decoding a checkpoint
        # (fairseq-generate passes its saved task config): only the command's, the saved ones
        # on opt-in; the running command's context_missing policy decides.
        context_store, utterance_table = context_paths(self.cfg, task_cfg, self.context_model_cfg, split)
        join = join_context(
            self.datasets[split],
            split,
            self.context_model_cfg,
            manifest=os.path.join(self.cfg.data, f"{split}.tsv"),
            context_store=context_store,
            utterance_table=utterance_table,
            context_missing=self.cfg.context_missing,
        )
        if join.missing is not None:
            self.context_missing_counts[split] = join.missing
        if join.store is not None and task_cfg is None:
            self._record_text_encoder(join.store)
        self.datasets[split] = ContextDataset(join.dataset, join.store, join.rows)

    def _record_text_encoder(self, store) -> None:
        """Keep the training store's text-encoder settings in the task state, saved in the
        checkpoint: the sequential pass embeds its hypotheses the same way. Two stores of one
        training embedded differently are worth a warning."""
        settings = text_encoder_settings(store)
        recorded = self.state.state_dict.get("context_text_encoder")
        if recorded is None:
            self.state.merge_state_dict({"context_text_encoder": settings})
        elif differing_settings(recorded, settings):
            logger.warning(
                f"{store.path} and {recorded.get('store')} were embedded differently "
                f"({', '.join(differing_settings(recorded, settings))}); the checkpoint records the latter's settings"
            )

    def _load_sequential_dataset(self, split: str, task_cfg) -> None:
        """The split in stream order for ``--sequential-context``, and its :class:`SequentialPlan`:
        text models get no store (the generator embeds the hypotheses), audio models carry only
        the audio of neighbours this pass does not decode."""
        model_cfg = self.context_model_cfg
        check_sequential_model(model_cfg, task_cfg, self.label_names)
        manifest = os.path.join(self.cfg.data, f"{split}.tsv")
        dataset = self.datasets[split]
        utterance_ids = manifest_utterance_ids(dataset)
        if model_cfg.context_source == "audio":
            _, table = context_paths(self.cfg, task_cfg, model_cfg, split)
        else:
            table = self.cfg.utterance_table
        if not table:
            raise ValueError(
                f"--sequential-context decodes each stream of '{split}' in order: give the split's utterance table "
                "(--utterance-table TEMPLATE, task.utterance_table), whose prev_id links say which utterance follows which"
            )
        table_path = split_path(table, split, "utterance_table")
        if not os.path.exists(table_path):
            raise FileNotFoundError(f"utterance table {table_path} for split '{split}' does not exist (--utterance-table {table})")
        order = stream_order(utterance_ids, load_neighbour_index(table_path), self.cfg.context_missing, where=manifest)
        if model_cfg.context_source == "audio":
            join = join_neighbour_audio(dataset, split, model_cfg, manifest, table, self.cfg.context_missing)
            lookup, cached = plan_cached_neighbours(join.dataset.neighbours, utterance_ids)
            dataset = ContextDataset(NeighbourAudioDataset(dataset, lookup, join.dataset.audio))
            plan = SequentialPlan(order, cached_neighbours=cached)
        else:
            settings = self._sequential_text_settings(split)
            dataset = ContextDataset(dataset)
            plan = SequentialPlan(order, text_settings=settings)
        logger.info(f"{split}: sequential pass in stream order from {table_path}: {order.counts}")
        self.sequential_plans[split] = plan
        self.datasets[split] = StreamOrderDataset(dataset, order)

    def _sequential_text_settings(self, split: str) -> dict:
        """How the training store was embedded: recorded in the checkpoint's task state, or
        read from the metadata of the command's ``--context-store`` (not its embeddings)."""
        recorded = self.state.state_dict.get("context_text_encoder")
        given = None
        if self.cfg.context_store:
            path = split_path(self.cfg.context_store, split)
            if not os.path.exists(path):
                raise FileNotFoundError(f"context store {path} does not exist (--context-store {self.cfg.context_store})")
            given = text_encoder_settings(ContextStore.open(path, check_values=False))
        if recorded is not None and given is not None and differing_settings(recorded, given):
            raise ValueError(
                f"--context-store {given['store']} was embedded differently from the model's training store "
                f"{recorded.get('store')} ({', '.join(differing_settings(recorded, given))}): the hypotheses must be "
                "embedded as the training texts were; leave --context-store out to use the training store's settings"
            )
        settings = recorded or given
        if settings is None:
            raise ValueError(
                "--sequential-context embeds the hypotheses as the model's training texts were embedded, but this "
                "checkpoint does not record how (it was trained before the settings were saved): pass --context-store "
                "with a store written by gcaf-embed-context with the same encoder and pooling (only its metadata is read)"
            )
        check_sequential_text_settings(settings, self.context_model_cfg)
        return settings

    def sequential_plan(self) -> Optional[SequentialPlan]:
        """The plan of the one split fairseq-generate has loaded, when decoding sequentially."""
        if not self.cfg.decoding.sequential_context or len(self.datasets) != 1:
            return None
        return self.sequential_plans.get(next(iter(self.datasets)))

    def _load_classification_dataset(self, split, task_cfg, **kwargs):
        """Audio from ``{split}.tsv``, one class name per line from ``{split}.{labels}``."""
        check_classification_model(self.context_model_cfg, self.cfg.labels)
        AudioPretrainingTask.load_dataset(self, split, task_cfg, **kwargs)
        self.datasets[split] = add_class_targets(
            self.datasets[split],
            os.path.join(self.cfg.data, f"{split}.{self.cfg.labels}"),
            self.label_names,
            split,
            self.cfg.text_compression_level,
        )

    def get_batch_iterator(self, dataset, max_tokens=None, max_positions=None, ignore_invalid_inputs=False, **kwargs):
        # An utterance longer than max_tokens fits in no batch: named here, then filtered by
        # fairseq (as max_positions) where skipping is allowed.
        split = next((name for name, loaded in self.datasets.items() if loaded is dataset), "?")
        if split in self.sequential_plans and kwargs.get("num_shards", 1) > 1:
            raise ValueError(
                f"--sequential-context decodes every stream of '{split}' in order in one process; fairseq shards the "
                f"batches over {kwargs['num_shards']} processes: decode with one (--distributed-world-size 1)"
            )
        if check_max_tokens(dataset, os.path.join(self.cfg.data, f"{split}.tsv"), max_tokens, ignore_invalid_inputs):
            max_positions = utils.resolve_max_positions(max_positions or self.max_positions(), max_tokens)
        return super().get_batch_iterator(
            dataset, max_tokens=max_tokens, max_positions=max_positions, ignore_invalid_inputs=ignore_invalid_inputs, **kwargs
        )

    def build_generator(self, models, args, seq_gen_cls=None, extra_gen_cls_kwargs=None, **kwargs):
        if self.cfg.autoregressive:
            return super().build_generator(models, args, seq_gen_cls, extra_gen_cls_kwargs, **kwargs)
        post_process_symbol = self.cfg.eval_wer_post_process
        blank_index = self.target_dictionary.index(self.blank_symbol)
        decoder = build_ctc_decoder(self.cfg.decoding, self.target_dictionary, blank_index, post_process_symbol)
        # A decoding that writes its results is timed too ({subset}.timing.json; CA Fig. 3)
        timer = GenerationTimer() if self.cfg.decoding.decoding_output is not None else None
        recorder = recorder_for_subset(self.cfg.decoding.decoding_output, self.datasets, timer)
        plan = self.sequential_plan()
        if plan is not None:
            return build_sequential_generator(
                plan, self.cfg.decoding, models, decoder, self.target_dictionary, recorder, post_process_symbol, timer
            )
        if self.cfg.decoding.sequential_context:
            raise ValueError("--sequential-context: build the generator after loading exactly one split, as fairseq-generate does")
        return CtcGenerator(decoder, self.target_dictionary, recorder=recorder, post_process_symbol=post_process_symbol,
                            timer=timer)
