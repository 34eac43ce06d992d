"""Where a recipe puts everything under ``--out`` (pure Python)::

    OUT/data/...                     stage 1: manifests, labels, utterance tables
                                     (librispeech/: train_10m, train_1h, train_10h, train_100h,
                                     dev_clean, dev_other, test_clean, test_other;
                                     voxceleb/, voxpopuli/ (+ e2e_ner/): fine-tune, dev, test)
    OUT/context/{dataset}/...        stage 2: {subset}.prev.jsonl, {subset}.cur.jsonl (gcaf-context-texts),
                                     {subset}.P4-13B.gen.jsonl (gcaf-generate-context; shards/ when sharded)
                                     stage 3: the stores {subset}.{prev,cur,P4-13B}.{cls,seq}
    OUT/lm/slue-ner/                 stage 1: SLUE's VoxPopuli NER 4-gram (4gram.bin, lmplz on PATH) and
                                     its lexicon (lexicon.lst), made from the prepared fine-tune text
    OUT/calibration/, calibration.json  --calibrate: measured seconds per update (estimate.py)
    OUT/runs/...                     stages 4-6: one run folder per row x split x seed (plan.py),
                                     rouge/ (GCAF Table 3)
    OUT/tables/                      stage 7: gcaf-collect-results
    OUT/recipe.log                   every step run or skipped, with the reason
    OUT/.recipe/records/             what each finished step was made from (runner.py)
"""

from dataclasses import dataclass
from pathlib import Path

from .plan import PlannedRun


@dataclass(frozen=True)
class Layout:
    out: Path

    @property
    def data(self) -> Path:
        return self.out / "data"

    @property
    def context(self) -> Path:
        return self.out / "context"

    @property
    def runs(self) -> Path:
        return self.out / "runs"

    @property
    def tables(self) -> Path:
        return self.out / "tables"

    def lm_dir(self, role: str) -> Path:
        """Where the recipe builds the ``role`` LM (:mod:`gcaf_fairseq.data.language_models`)."""
        return self.out / "lm" / role

    @staticmethod
    def _dataset_folder(dataset: str) -> str:
        return "librispeech" if dataset == "librilight" else dataset

    def data_dir(self, dataset: str, task: str = "asr") -> Path:
        """The fairseq data folder (manifests, labels, dictionary) of a dataset's task."""
        folder = self.data / self._dataset_folder(dataset)
        return folder / "e2e_ner" if task == "ner" else folder

    def table_dir(self, dataset: str) -> Path:
        """Where the utterance tables of ``dataset`` are."""
        return self.data / self._dataset_folder(dataset)

    def utterances(self, dataset: str, subset: str) -> Path:
        return self.table_dir(dataset) / f"{subset}.utterances.jsonl"

    def utterance_template(self, dataset: str) -> str:
        return str(self.table_dir(dataset) / "{split}.utterances.jsonl")

    def context_dir(self, dataset: str) -> Path:
        return self.context / self._dataset_folder(dataset)

    def texts_file(self, dataset: str, subset: str, kind: str) -> Path:
        """The texts a store embeds: ``{subset}.prev.jsonl`` / ``.cur.jsonl`` (ground truth) or
        ``{subset}.P4-13B.gen.jsonl`` (an LLM's generations)."""
        if kind in ("prev", "cur"):
            return self.context_dir(dataset) / f"{subset}.{kind}.jsonl"
        return self.context_dir(dataset) / f"{subset}.{kind}.gen.jsonl"

    @staticmethod
    def store_suffix(pooling: str) -> str:
        return "cls" if pooling == "cls" else "seq"

    def store_file(self, dataset: str, subset: str, kind: str, pooling: str) -> Path:
        return self.context_dir(dataset) / f"{subset}.{kind}.{self.store_suffix(pooling)}"

    def store_template(self, dataset: str, kind: str, pooling: str) -> str:
        return str(self.context_dir(dataset) / f"{{split}}.{kind}.{self.store_suffix(pooling)}")

    def run_folder(self, run: PlannedRun) -> Path:
        return run.folder(self.runs)

    @staticmethod
    def train_subset(run: PlannedRun) -> str:
        return f"train_{run.split}" if run.dataset == "librilight" else "fine-tune"

    @staticmethod
    def valid_subset(run: PlannedRun) -> str:
        return "dev_other" if run.dataset == "librilight" else "dev"
