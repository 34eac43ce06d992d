"""Decode with ``fairseq-generate`` and read what it reports (the demo and the end-to-end tests).

Trainings go through the one runner of the recipes (:mod:`gcaf_fairseq.recipes.runner`,
:func:`gcaf_fairseq.recipes.processes.hydra_train`); ``train.log`` is read by
:mod:`gcaf_fairseq.tables.train_log`. Every run is a real fairseq process, with its log kept
next to its outputs.
"""

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Optional

from gcaf_fairseq.recipes.processes import RunTimes, fairseq_command, run_logged
from gcaf_fairseq.resources import PLUGIN_DIR, config_dir as _config_root


def config_dir_of(kind: str) -> Path:
    """``config/{kind}`` (``finetuning`` or ``pretraining``), wherever the package is installed."""
    return _config_root() / kind


def generate(
    data_dir: Path,
    checkpoint: Path,
    subset: str,
    results_dir: Path,
    extra_args: Optional[List[str]] = None,
) -> RunTimes:
    """``fairseq-generate`` with the task ``audio_context_finetuning``; writes
    ``generate-{subset}.txt`` and the id-ordered ``{subset}.ids/.hyp.wrd/.ref.wrd/.wer.json``
    to ``results_dir``. Returns the wall and CPU time."""
    command = [
        fairseq_command("fairseq-generate"), str(data_dir),
        "--user-dir", str(PLUGIN_DIR),
        "--task", "audio_context_finetuning",
        "--path", str(checkpoint),
        "--gen-subset", subset,
        "--results-path", str(results_dir),
        "--decoding-output", str(results_dir),
        "--scoring", "wer",
        "--cpu",
    ]
    return run_logged(command + list(extra_args or []), Path(results_dir) / f"generate-{subset}.log")


@dataclass
class DecodingReport:
    hypotheses: Dict[int, str]  # dataset index -> decoded words
    references: Dict[int, str]
    wer: float
    sentences: int
    generation_seconds: float


def read_generate_output(results_dir: Path, subset: str) -> DecodingReport:
    """Hypotheses, references and WER from ``generate-{subset}.txt``; the decoding time from
    the same file or, where fairseq's logging went to stderr, from ``generate-{subset}.log``."""
    results = Path(results_dir) / f"generate-{subset}.txt"
    hypotheses, references, wer, sentences, seconds = {}, {}, None, 0, float("nan")
    for line in results.read_text().splitlines():
        if line.startswith("D-"):
            index, _score, *words = line[2:].split("\t")
            hypotheses[int(index)] = words[0] if words else ""
        elif line.startswith("T-"):
            index, *words = line[2:].split("\t")
            references[int(index)] = words[0] if words else ""
        elif line.startswith("Generate ") and "WER:" in line:
            wer = float(line.rsplit("WER:", 1)[1].strip())
    if wer is None:
        raise ValueError(f"{results}: no WER line; did fairseq-generate finish?")
    log = Path(results_dir) / f"generate-{subset}.log"
    for text in (results.read_text(), log.read_text() if log.exists() else ""):
        match = re.search(r"Translated ([\d,]+) sentences .* in ([\d.]+)s", text)
        if match:
            sentences, seconds = int(match.group(1).replace(",", "")), float(match.group(2))
    return DecodingReport(hypotheses, references, wer, sentences, seconds)
