"""Look-alike dataset trees in the public layouts (docs/reproduction.md, "Dataset layouts"), for
tests and smoke runs.

- :func:`write_librispeech_chapter`: one LibriSpeech chapter folder (``SPK/CHAP/SPK-CHAP-NNNN.flac``
  and ``SPK-CHAP.trans.txt``);
- :func:`build_librispeech_trees`: a LibriSpeech root (train-clean-100, train-other-500,
  dev-clean, dev-other, test-clean, test-other) and a ``librispeech_finetuning`` root
  (``1h/{0,1}/{clean,other}``, ``9h/{clean,other}``) whose utterances are subsets of the
  LibriSpeech training chapters, as Libri-light's are;
- :func:`write_slue_tsv`, :func:`write_voxpopuli_release`, :func:`write_voxceleb_release`:
  SLUE v0.2 release folders (tsv files and audio: VoxPopuli one OGG per utterance, VoxCeleb
  one raw FLAC per utterance cut to ``[start, end]`` by ``gcaf-prepare-slue``).

The audio is whatever the caller gives (``samples_of(index)``: int16 samples at 16 kHz mono),
e.g. the espeak-ng clips of ``tests/speech_clips.py``.
"""

from pathlib import Path
from typing import Callable, Dict, Iterable, List, Sequence

import numpy as np

from gcaf_fairseq.data.manifest import SAMPLE_RATE
SamplesOf = Callable[[int], np.ndarray]


def write_librispeech_chapter(root: Path, speaker: int, chapter: int, numbers: Iterable[int],
                              samples_of: SamplesOf, text_of: Callable[[int, int], str],
                              sample_rate: int = SAMPLE_RATE, channels: int = 1) -> Path:
    """A LibriSpeech chapter folder under ``root`` with utterances ``numbers`` (audio
    ``samples_of(number)``, text ``text_of(speaker, number)``); returns the folder."""
    import soundfile

    folder = Path(root) / str(speaker) / str(chapter)
    folder.mkdir(parents=True, exist_ok=True)
    lines = []
    for number in numbers:
        utterance_id = f"{speaker}-{chapter}-{number:04d}"
        samples = samples_of(number)
        if channels == 2:
            samples = np.stack([samples, samples], axis=1)
        soundfile.write(str(folder / f"{utterance_id}.flac"), samples, sample_rate, subtype="PCM_16")
        lines.append(f"{utterance_id} {text_of(speaker, number)}\n")
    (folder / f"{speaker}-{chapter}.trans.txt").write_text("".join(lines))
    return folder


def build_librispeech_trees(root: Path, samples_of: SamplesOf, text_of: Callable[[int, int], str],
                            eval_utterances: int = 3) -> Dict[str, Path]:
    """``root/LibriSpeech`` and ``root/librispeech_finetuning`` (see the module docstring).

    Training chapters: 103-1240 (7 utterances, train-clean-100) and 19-198 (5, train-other-500);
    the Libri-light folds keep some of them: ``1h/0`` = 103-1240-{1,2,4} and 19-198-{0,3};
    ``1h/1`` = 103-1240-6; ``9h`` = 103-1240-{0,3} and 19-198-1. Evaluation sets: one chapter of
    ``eval_utterances`` utterances each. Returns ``{"librispeech": ..., "librilight": ...}``."""
    root = Path(root)
    librispeech, librilight = root / "LibriSpeech", root / "librispeech_finetuning"
    write_librispeech_chapter(librispeech / "train-clean-100", 103, 1240, range(7), samples_of, text_of)
    write_librispeech_chapter(librispeech / "train-other-500", 19, 198, range(5), samples_of, text_of)
    for offset, name in enumerate(("dev-clean", "dev-other", "test-clean", "test-other")):
        write_librispeech_chapter(librispeech / name, 200 + offset, 300 + offset, range(eval_utterances),
                                  samples_of, text_of)
    write_librispeech_chapter(librilight / "1h" / "0" / "clean", 103, 1240, [1, 2, 4], samples_of, text_of)
    write_librispeech_chapter(librilight / "1h" / "0" / "other", 19, 198, [0, 3], samples_of, text_of)
    write_librispeech_chapter(librilight / "1h" / "1" / "clean", 103, 1240, [6], samples_of, text_of)
    write_librispeech_chapter(librilight / "9h" / "clean", 103, 1240, [0, 3], samples_of, text_of)
    write_librispeech_chapter(librilight / "9h" / "other", 19, 198, [1], samples_of, text_of)
    return {"librispeech": librispeech, "librilight": librilight}


def write_slue_tsv(path: Path, columns: Sequence[str], rows: Iterable[Sequence]) -> Path:
    """A SLUE tsv: a header line of ``columns``, then one tab-separated line per row."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join("\t".join(map(str, values)) + "\n" for values in [columns, *rows]))
    return path


VOXPOPULI_COLUMNS = ("id", "raw_text", "normalized_text", "speaker_id", "split", "raw_ner", "normalized_ner")
VOXCELEB_COLUMNS = ("id", "normalized_text", "speaker_id", "split", "sentiment", "start_second", "end_second")


def voxpopuli_row(utterance_id: str, text: str, spans: List[list]) -> tuple:
    """A VoxPopuli tsv row: ``spans`` are ``[TAG, char_start, char_len]`` over ``text``."""
    return (utterance_id, text.capitalize(), text, "speaker1", "train", "[]", str(spans) if spans else "None")


def write_voxpopuli_release(release: Path, splits: Dict[str, List[tuple]], samples_of: SamplesOf,
                            blind_test: bool = False) -> Path:
    """``release/slue-voxpopuli_{split}.tsv`` (rows from :func:`voxpopuli_row`, or for a blind
    test ``(id, speaker_id, split)``) and ``release/{split}/ID.ogg`` (row k: ``samples_of(k)``)."""
    import soundfile

    release = Path(release)
    for split, rows in splits.items():
        name = "test_blind" if split == "test" and blind_test else split
        columns = ("id", "speaker_id", "split") if name == "test_blind" else VOXPOPULI_COLUMNS
        write_slue_tsv(release / f"slue-voxpopuli_{name}.tsv", columns, rows)
        (release / split).mkdir(parents=True, exist_ok=True)
        for index, row in enumerate(rows):
            soundfile.write(str(release / split / f"{row[0]}.ogg"), samples_of(index), SAMPLE_RATE,
                            format="OGG", subtype="VORBIS")
    return release


def vc_row(utterance_id: str, text: str, sentiment: str, start: float, end: float) -> tuple:
    return (utterance_id, text, utterance_id.split("_")[0], "fine-tune", sentiment, start, end)


def write_voxceleb_release(release: Path, splits: Dict[str, List[tuple]], samples_of: SamplesOf,
                           blind_test: bool = False) -> Path:
    """``release/slue-voxceleb_{split}.tsv`` (rows from :func:`vc_row`, or for a blind test
    ``(id, speaker_id, start_second, end_second)``) and ``release/{split}_raw/ID.flac``: row k's
    raw clip is ``samples_of(k)``, 0.2 s of silence, ``samples_of(k + 1)``."""
    import soundfile

    release = Path(release)
    silence = np.zeros(SAMPLE_RATE // 5, dtype=np.int16)
    for split, rows in splits.items():
        name = "test_blind" if split == "test" and blind_test else split
        columns = ("id", "speaker_id", "start_second", "end_second") if name == "test_blind" else VOXCELEB_COLUMNS
        write_slue_tsv(release / f"slue-voxceleb_{name}.tsv", columns, rows)
        (release / f"{split}_raw").mkdir(parents=True, exist_ok=True)
        for index, row in enumerate(rows):
            raw = np.concatenate([samples_of(index), silence, samples_of(index + 1)])
            soundfile.write(str(release / f"{split}_raw" / f"{row[0]}.flac"), raw, SAMPLE_RATE)
    return release


def split_offsets(sizes: Dict[str, int], phrase_count: int) -> Dict[str, int]:
    """Where each split starts in the running utterance numbering of
    :func:`build_slue_releases`: after the previous split's utterances, moved on while it
    would start on the same phrase as an earlier split (so that row k of two splits never
    shares its phrase, unless there are fewer phrases than splits)."""
    offsets, next_offset = {}, 0
    for split, size in sizes.items():
        offset = next_offset
        for _ in range(phrase_count):
            if all((offset - earlier) % phrase_count for earlier in offsets.values()):
                break
            offset += 1
        offsets[split] = offset
        next_offset = offset + size
    return offsets


def build_slue_releases(root: Path, samples_of: SamplesOf, phrases: Sequence[str],
                        sizes: Dict[str, int] = None) -> Dict[str, Path]:
    """``root/slue-voxceleb`` and ``root/slue-voxpopuli``: labelled fine-tune, dev and test
    splits (``sizes``: utterances per split, default 5 / 3 / 3). Utterances are numbered on
    across the splits (:func:`split_offsets`): number n has the text ``phrases[n]`` (lower case,
    cycled), the audio ``samples_of(n)`` and the sentiment ``n % 3`` of (Positive, Neutral,
    Negative). So dev and test differ in texts and audio, row by row (with at least as many
    phrases as splits), and a dev/test mix-up shows. VoxCeleb: two videos per split.
    VoxPopuli: two sessions per split; every utterance tags its second word as a PERSON and,
    from the third utterance of its split on, its first word as a DATE. Returns
    ``{"voxceleb": ..., "voxpopuli": ...}``."""
    sizes = sizes or {"fine-tune": 5, "dev": 3, "test": 3}
    sentiments = ("Positive", "Neutral", "Negative")
    offsets = split_offsets(sizes, len(phrases))
    releases = {"voxceleb": Path(root) / "slue-voxceleb", "voxpopuli": Path(root) / "slue-voxpopuli"}
    for split_index, (split, size) in enumerate(sizes.items()):
        offset = offsets[split]
        vc_rows, vp_rows = [], []
        for index in range(size):
            number = offset + index
            text = phrases[number % len(phrases)].lower()
            video = f"id1{split_index}0{index % 2}_vid{split_index}x{index % 2}"
            duration = len(samples_of(number)) / SAMPLE_RATE
            vc_rows.append(vc_row(f"{video}_{index + 1:05d}", text, sentiments[number % 3], 0.0, round(duration, 2)))
            session = f"2013100{split_index + 1}-0900-PLENARY-{index % 2 + 1}"
            utterance_id = f"{session}-en_2013100{split_index + 1}-10:00:{index:02d}_{index + 1}"
            words = text.split()
            spans = [["PERSON", len(words[0]) + 1, len(words[1])]]
            if index >= 2:
                spans.append(["DATE", 0, len(words[0])])
            vp_rows.append(voxpopuli_row(utterance_id, text, spans))
        # each split on its own, so that its row k gets the audio of utterance number offset + k
        samples_of_split = lambda index, offset=offset: samples_of(offset + index)  # noqa: E731
        write_voxceleb_release(releases["voxceleb"], {split: vc_rows}, samples_of_split)
        write_voxpopuli_release(releases["voxpopuli"], {split: vp_rows}, samples_of_split)
    return releases
