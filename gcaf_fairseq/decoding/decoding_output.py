"""Word-level decoding results in utterance-id order, written once a subset is complete."""

import json
from pathlib import Path
from typing import Dict, List, Mapping, Optional, Sequence

from ..data.atomic_files import write_lines, write_text_atomically
from ..data.manifest import SAMPLE_RATE, manifest_utterance_ids
from ..scoring.wer import corpus_wer


class DecodingRecorder:
    """Collects every utterance's hypothesis and reference words during fairseq-generate
    and, when the last utterance of the subset is decoded, writes to ``out_dir``:

    - ``{subset}.ids``: the utterance ids, sorted;
    - ``{subset}.hyp.wrd`` / ``{subset}.ref.wrd``: one line of words per id, same order;
    - ``{subset}.wer.json``: ``gcaf-score wer``'s corpus-level WER and CER (percent) with
      the counts;
    - ``{subset}.timing.json`` (with a ``timer``, the generator's
      :class:`~gcaf_fairseq.decoding.ctc_generator.GenerationTimer`): the generation loop's
      seconds, the audio seconds decoded, the real-time factor and the device.
    """

    def __init__(self, out_dir, subset: str, utterance_ids: Sequence[str], timer=None):
        self.out_dir = Path(out_dir)
        self.subset = subset
        self.utterance_ids = list(utterance_ids)
        self.timer = timer
        self.hypotheses: Dict[int, List[str]] = {}
        self.references: Dict[int, List[str]] = {}
        self.written = False

    def add(self, index: int, hypothesis_words: List[str], reference_words: List[str]) -> None:
        self.hypotheses[index] = hypothesis_words
        self.references[index] = reference_words
        if len(self.hypotheses) == len(self.utterance_ids) and not self.written:
            self.write()

    def write(self) -> dict:
        order = sorted(range(len(self.utterance_ids)), key=lambda index: self.utterance_ids[index])
        references = [" ".join(self.references[i]) for i in order]
        hypotheses = [" ".join(self.hypotheses[i]) for i in order]
        report = {"subset": self.subset, **corpus_wer(references, hypotheses)}
        self.out_dir.mkdir(parents=True, exist_ok=True)
        prefix = self.out_dir / self.subset
        write_lines(prefix.with_suffix(".ids"), [self.utterance_ids[i] for i in order])
        write_lines(prefix.with_suffix(".hyp.wrd"), hypotheses)
        write_lines(prefix.with_suffix(".ref.wrd"), references)
        write_text_atomically(prefix.with_suffix(".wer.json"), json.dumps(report, indent=2) + "\n")
        if self.timer is not None:
            timing = self.timer.timing().as_dict(SAMPLE_RATE)
            write_text_atomically(prefix.with_suffix(".timing.json"), json.dumps(timing, indent=2) + "\n")
        self.written = True
        return report


def recorder_for_subset(out_dir: Optional[str], datasets: Mapping[str, object], timer=None) -> Optional[DecodingRecorder]:
    """A recorder for the one subset fairseq-generate has loaded (it loads exactly the decoded
    subset before building the generator); ``None`` without ``out_dir`` or with other than one
    subset loaded. ``timer``: the generator's, whose seconds it writes too."""
    if out_dir is None or len(datasets) != 1:
        return None
    (subset, dataset), = datasets.items()
    return DecodingRecorder(out_dir, subset, manifest_utterance_ids(dataset), timer)
