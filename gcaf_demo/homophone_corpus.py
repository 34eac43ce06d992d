"""A synthetic corpus where only the previous sentence tells how to spell a homophone.

Every chapter is about one topic (kitchen, garden, sailing, ...) and is read by one
"speaker" (an espeak-ng voice at one speed). Its sentences alternate, starting with a
topic-bearing one:

* **topic-bearing** sentences name several words of the chapter's topic (a verb, nouns,
  an adjective, a place) and, half of the time, one homophone of the topic;
* **topic-neutral** sentences ("then the FLOUR came back") hold no topic word at all and
  exactly one homophone, spelled as the chapter's topic demands: FLOUR in a kitchen
  chapter, FLOWER in a garden chapter.

Each member of a homophone pair belongs to a different topic, so a neutral sentence can
only be spelled right from the context. That holds only when espeak-ng pronounces both
members the same: before planning any text, the builder synthesizes both members of every
candidate pair alone, for every voice and speed the corpus uses, converts them to 16 kHz
16-bit without dither, and keeps a pair only if the samples are identical; the others are
reported as dropped, with the first difference (cached in ``homophone_checks.json``).

Chapters are laid out in rounds (one chapter per topic per round); the first rounds are
``train``, then ``valid``, then the held-out ``test`` rounds, so every split has every topic
and no chapter is split. Speaker ``k`` reads topic ``t`` in round ``r`` when
``k = (t + r) mod speakers``, so a topic is not tied to one voice. Ids are LibriSpeech-style
``SPEAKER-CHAPTER-NNNN``. Everything depends only on the parameters (same seed, same bytes).

Output (``out_dir``)::

    audio/SPEAKER/CHAPTER/SPEAKER-CHAPTER-NNNN.flac
    {split}.tsv  {split}.ltr  {split}.wrd      fairseq wav2vec manifests and labels
    {split}.utterances.jsonl                   utterance table (data/utterance_table.py)
    {split}.homophones.jsonl                   per utterance: {"id", "kind", "targets":
                                               [{"word_index", "word", "other"}]}
    dict.ltr.txt                               letter dictionary (train counts)
    homophone_checks.json                      cache of the identical-audio checks
    homophones.json                            parameters, pairs kept and dropped, topics,
                                               chapters and summary; written last
"""

import json
import random
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import numpy as np
import soundfile

from gcaf_fairseq.data.atomic_files import write_lines, write_text_atomically
from gcaf_fairseq.data.manifest import SAMPLE_RATE
from gcaf_fairseq.data.symbol_dictionary import write_dictionary
from .corpus import (
    DEFAULT_VOICES,
    FIRST_CHAPTER_ID,
    FIRST_SPEAKER_ID,
    NAMES,
    SPLIT_FILES,
    SPLITS,
    TOPICS,
    TRANSCRIPT_PATTERN,
    Topic,
    Utterance,
    existing_summary,
    letter_dictionary,
    require_speech_tools,
    split_of_chapters,
    synthesize_all,
)
from .corpus import write_split as write_corpus_split

FORMAT_VERSION = 2  # 2: the candidate pairs are a parameter
DEFAULT_SPEEDS = (150, 175)
CHECK_CACHE_NAME = "homophone_checks.json"
DESCRIPTION_NAME = "homophones.json"
MAX_SENTENCE_WORDS = 14
TOPIC_SENTENCE_TARGET_PROBABILITY = 0.5

# Candidate pairs: each member is a noun tied to one topic of corpus.TOPICS. The last ones
# are spelled alike by some espeak-ng voices only (or by none), so the check drops them
# for the default voices.
CANDIDATE_PAIRS = (
    (("flour", "kitchen"), ("flower", "garden")),
    (("sail", "sailing"), ("sale", "market")),
    (("knight", "castle"), ("night", "weather")),
    (("reign", "castle"), ("rain", "weather")),
    (("key", "castle"), ("quay", "sailing")),
    (("dough", "kitchen"), ("doe", "forest")),
    (("leek", "kitchen"), ("leak", "sailing")),
    (("steak", "kitchen"), ("stake", "garden")),
    (("sweet", "kitchen"), ("suite", "music")),
    (("beet", "farm"), ("beat", "music")),
    (("tail", "farm"), ("tale", "school")),
    (("cellar", "castle"), ("seller", "market")),
    (("sole", "market"), ("soul", "music")),
    (("paws", "forest"), ("pause", "music")),
    (("pear", "garden"), ("pair", "market")),
    (("meat", "market"), ("meet", "school")),
    (("peace", "castle"), ("piece", "music")),
    (("fir", "forest"), ("fur", "farm")),
    (("kernel", "farm"), ("colonel", "castle")),
    (("chord", "music"), ("cord", "sailing")),
    (("root", "garden"), ("route", "sailing")),
    (("thyme", "garden"), ("time", "school")),
    (("carrot", "garden"), ("carat", "market")),
)
CANDIDATE_WORDS = frozenset(word for pair in CANDIDATE_PAIRS for word, _ in pair)

# Slots: {name} {verb} {noun} {noun2} {adj} {place}, and {target} for the homophone.
TOPIC_TEMPLATES = (
    "{name} {verb} the {adj} {noun} in the {place}",
    "in the {place} {name} {verb} the {adj} {noun}",
    "{name} {verb} the {noun} and the {adj} {noun2} in the {place}",
    "one morning {name} {verb} the {adj} {noun} near the {place}",
)
TOPIC_TARGET_TEMPLATES = (
    "{name} {verb} the {adj} {noun} beside the {target} in the {place}",
    "in the {place} {name} {verb} the {noun} and the {target}",
    "the {adj} {noun} lay near the {target} in the {place}",
)
# Topic-neutral frames: no topic word, no other candidate word, singular or plural target.
NEUTRAL_TEMPLATES = (
    "then the {target} came back",
    "{name} said the {target} looked strange",
    "after a while {name} saw the {target} again",
    "everybody talked about the {target} later",
    "{name} asked about the {target} again",
    "nobody mentioned the {target} after that",
    "{name} remembered the {target} very well",
    "{name} thought about the {target} all evening",
)
TARGET_MARK = "\x00"


@dataclass(frozen=True)
class Speaker:
    """An espeak-ng voice at one speed; ``id`` is the LibriSpeech-style speaker number."""

    id: int
    voice: str
    speed: int


@dataclass(frozen=True)
class Sentence:
    """One planned sentence: upper-case text, its kind and its homophone target, if any."""

    text: str
    kind: str
    target_index: Optional[int]  # index of the homophone in text.split()
    target_other: Optional[str]  # the other member of the homophone's pair, upper case


def without_candidates(words) -> tuple:
    """``words`` less every entry containing a candidate homophone (e.g. 'flower bed')."""
    return tuple(entry for entry in words if not set(entry.split()) & CANDIDATE_WORDS)


def topic_vocabulary(topic_name: str) -> Topic:
    """The demo corpus's vocabulary of a topic, with no candidate homophone in it, so a
    homophone is spoken only where it is a target."""
    topic = TOPICS[topic_name]
    return Topic(
        nouns=without_candidates(topic.nouns),
        places=without_candidates(topic.places),
        verbs=without_candidates(topic.verbs),
        adjectives=without_candidates(topic.adjectives),
    )


def all_topic_words() -> frozenset:
    """Every word of every topic's vocabulary (multi-word entries split)."""
    words = set()
    for topic in TOPICS.values():
        for entry in topic.nouns + topic.places + topic.verbs + topic.adjectives:
            words.update(entry.split())
    return frozenset(words)


TOPIC_WORDS = all_topic_words()
# Protagonists: no name that is also a topic word ('rose') or a homophone.
PROTAGONISTS = tuple(name for name in NAMES if name not in TOPIC_WORDS | CANDIDATE_WORDS)


def speakers_of(voices, speeds) -> list:
    """Every voice at every speed, numbered from :data:`FIRST_SPEAKER_ID` (voice-major)."""
    combinations = [(voice, speed) for voice in voices for speed in speeds]
    return [Speaker(FIRST_SPEAKER_ID + index, voice, speed) for index, (voice, speed) in enumerate(combinations)]


def espeak_version() -> str:
    """``espeak-ng --version`` without the data path, e.g. 'eSpeak NG text-to-speech: 1.51'."""
    output = subprocess.run(["espeak-ng", "--version"], check=True, capture_output=True, text=True).stdout
    return output.split("Data at")[0].strip()


def first_difference(first: np.ndarray, second: np.ndarray) -> Optional[str]:
    """Why two sample arrays differ ('lengths 13946 vs 13937 samples, first differing sample
    1203'), or None if they are identical."""
    common = min(len(first), len(second))
    differing = np.flatnonzero(first[:common] != second[:common])
    if len(first) == len(second) and len(differing) == 0:
        return None
    where = f"first differing sample {int(differing[0])}" if len(differing) else f"identical for {common} samples"
    return f"lengths {len(first)} vs {len(second)} samples, {where}"


def pair_key(pair) -> str:
    """'FLOUR/FLOWER': how a pair is named in reports and in the check cache."""
    return "/".join(word.upper() for word, _ in pair)


def check_key(pair, speaker: Speaker) -> str:
    """'FLOUR/FLOWER en-us 150': one identical-audio check in the cache."""
    return f"{pair_key(pair)} {speaker.voice} {speaker.speed}"


def check_pairs(pairs, speakers, work_dir: Path, jobs: int = 2, cache_path=None) -> dict:
    """Whether espeak-ng speaks both members of each pair identically, per speaker.

    Each member is synthesized alone (lower case, the speaker's voice and speed, converted
    as the corpus audio is: 16 kHz mono 16-bit, no dither) and the int16 samples are
    compared exactly. Returns ``{check_key: None or reason}`` (``None``: identical). With
    ``cache_path``, results of the same espeak-ng version are read from and added to that
    JSON file, so only new (pair, voice, speed) combinations are synthesized.
    """
    version = espeak_version()
    cached = {}
    if cache_path is not None and Path(cache_path).is_file():
        try:
            cache = json.loads(Path(cache_path).read_text())
        except ValueError:
            cache = None
        if isinstance(cache, dict) and cache.get("espeak_ng") == version and isinstance(cache.get("checks"), dict):
            cached = cache["checks"]
    wanted = {check_key(pair, speaker): (pair, speaker) for pair in pairs for speaker in speakers}
    results = {key: cached[key] for key in wanted if key in cached}
    missing = [combination for key, combination in wanted.items() if key not in cached]
    if not missing:
        return results

    words = sorted({word for pair, _ in missing for word, _ in pair})
    needed = sorted(
        {(word, speaker) for pair, speaker in missing for word, _ in pair}, key=lambda item: (item[0], item[1].id)
    )
    work_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=work_dir, prefix=".homophone-check-") as scratch:
        # One clip per (word, speaker), filed by synthesize_utterance as SPEAKER/WORD_NUMBER/.
        clips = [
            Utterance(speaker=speaker.id, chapter=words.index(word), position=0, text=word.upper(),
                      voice=speaker.voice, speed=speaker.speed)
            for word, speaker in needed
        ]
        synthesize_all(clips, Path(scratch), jobs)
        samples = {
            (word, speaker): soundfile.read(str(Path(scratch) / clip.relative_audio_path), dtype="int16")[0]
            for (word, speaker), clip in zip(needed, clips)
        }
    for pair, speaker in missing:
        (first, _), (second, _) = pair
        results[check_key(pair, speaker)] = first_difference(samples[first, speaker], samples[second, speaker])
    if cache_path is not None:
        cache = {"espeak_ng": version, "checks": {**cached, **results}}
        write_text_atomically(cache_path, json.dumps(cache, indent=1, sort_keys=True) + "\n")
    return results


def pair_record(pair) -> dict:
    """How ``homophones.json`` describes a pair: its name and members with their topics."""
    return {"pair": pair_key(pair), "members": [{"word": word.upper(), "topic": topic} for word, topic in pair]}


def candidate_pairs(names=None) -> tuple:
    """The pairs of :data:`CANDIDATE_PAIRS` named in ``names`` ('FLOUR/FLOWER', any case,
    either order), in that order; all of them when ``names`` is None. Raises ``ValueError``
    naming an unknown pair."""
    if names is None:
        return CANDIDATE_PAIRS
    by_name = {}
    for pair in CANDIDATE_PAIRS:
        by_name[pair_key(pair)] = by_name["/".join(word.upper() for word, _ in reversed(pair))] = pair
    unknown = [name for name in names if name.upper() not in by_name]
    if unknown:
        raise ValueError(f"unknown homophone pair(s) {unknown}; candidates: {', '.join(map(pair_key, CANDIDATE_PAIRS))}")
    chosen = []
    for name in names:
        if by_name[name.upper()] not in chosen:
            chosen.append(by_name[name.upper()])
    return tuple(chosen)


def select_pairs(topic_names, speakers, work_dir: Path, jobs: int, candidates=CANDIDATE_PAIRS) -> tuple:
    """``(kept, dropped)``: the ``candidates`` usable with these topics and speakers.

    A pair is usable when both members' topics are in the corpus and every speaker says
    both members with identical samples. ``kept`` holds the pairs (tuples as in
    :data:`CANDIDATE_PAIRS`), ``dropped`` one report per other candidate with its reason.
    """
    in_corpus = [pair for pair in candidates if all(topic in topic_names for _, topic in pair)]
    checks = check_pairs(in_corpus, speakers, work_dir, jobs, work_dir / CHECK_CACHE_NAME)
    kept, dropped = [], []
    for pair in candidates:
        absent = [topic for _, topic in pair if topic not in topic_names]
        if absent:
            dropped.append({**pair_record(pair), "reason": f"topic not in the corpus: {', '.join(absent)}"})
            continue
        differences = [
            {"voice": speaker.voice, "speed": speaker.speed, "difference": checks[check_key(pair, speaker)]}
            for speaker in speakers
            if checks[check_key(pair, speaker)] is not None
        ]
        if differences:
            voices = ", ".join(f"{difference['voice']} at {difference['speed']}" for difference in differences)
            dropped.append({**pair_record(pair), "reason": f"audio differs for {voices}", "differences": differences})
        else:
            kept.append(pair)
    return kept, dropped


def target_words_by_topic(kept_pairs, topic_names) -> dict:
    """``{topic: {WORD: OTHER}}``: the homophones each topic spells its way."""
    targets = {topic: {} for topic in topic_names}
    for (first, first_topic), (second, second_topic) in kept_pairs:
        targets[first_topic][first.upper()] = second.upper()
        targets[second_topic][second.upper()] = first.upper()
    return targets


def make_sentence(template: str, slots: dict, kind: str, target=None, other=None) -> Sentence:
    """Fill ``template``; the target word's index is found through a mark, so multi-word
    slot values (e.g. 'concert hall') are counted right."""
    words = template.format(**slots, target=TARGET_MARK).upper().split()
    target_index = words.index(TARGET_MARK) if TARGET_MARK in words else None
    if target_index is not None:
        words[target_index] = target
    text = " ".join(words)
    if not TRANSCRIPT_PATTERN.fullmatch(text) or not 5 <= len(words) <= MAX_SENTENCE_WORDS:
        raise AssertionError(f"template {template!r} produced an invalid sentence {text!r}")
    stray = [word for index, word in enumerate(words) if word.lower() in CANDIDATE_WORDS and index != target_index]
    if stray:
        raise AssertionError(f"sentence {text!r} holds homophones {stray} that are not its target")
    if kind == "neutral":
        topical = {word.lower() for index, word in enumerate(words) if index != target_index} & TOPIC_WORDS
        if topical:
            raise AssertionError(f"neutral sentence {text!r} holds topic words {sorted(topical)}")
    return Sentence(text, kind, target_index, other)


def chapter_sentences(topic_name: str, targets: dict, count: int, rng: random.Random) -> list:
    """``count`` sentences of one chapter: topic-bearing at even positions (0, 2, ...),
    topic-neutral with one homophone from ``targets`` (``{WORD: OTHER}``) at odd ones."""
    vocabulary = topic_vocabulary(topic_name)
    name = rng.choice(PROTAGONISTS)
    nouns = rng.sample(vocabulary.nouns, 4)
    places = rng.sample(vocabulary.places, 3)
    verbs = rng.sample(vocabulary.verbs, 4)
    adjectives = rng.sample(vocabulary.adjectives, 3)
    target_words = sorted(targets)
    sentences = []
    for position in range(count):
        noun, other_noun = rng.sample(nouns, 2)
        slots = {"name": name, "verb": rng.choice(verbs), "noun": noun, "noun2": other_noun,
                 "adj": rng.choice(adjectives), "place": rng.choice(places)}
        target = rng.choice(target_words)
        if position % 2 == 1:
            sentences.append(make_sentence(rng.choice(NEUTRAL_TEMPLATES), slots, "neutral", target, targets[target]))
        elif rng.random() < TOPIC_SENTENCE_TARGET_PROBABILITY:
            sentences.append(make_sentence(rng.choice(TOPIC_TARGET_TEMPLATES), slots, "topic", target, targets[target]))
        else:
            sentences.append(make_sentence(rng.choice(TOPIC_TEMPLATES), slots, "topic"))
    return sentences


@dataclass(frozen=True)
class Chapter:
    """One chapter: its topic, split, speaker and planned sentences."""

    number: int
    topic: str
    split: str
    speaker: Speaker
    sentences: tuple

    def utterances(self) -> list:
        """The chapter's sentences as :class:`corpus.Utterance` (ids, audio paths, voice)."""
        return [
            Utterance(speaker=self.speaker.id, chapter=self.number, position=position, text=sentence.text,
                      voice=self.speaker.voice, speed=self.speaker.speed)
            for position, sentence in enumerate(self.sentences)
        ]

    def homophone_rows(self) -> list:
        """The ``{split}.homophones.jsonl`` rows of this chapter, in order."""
        rows = []
        for utterance, sentence in zip(self.utterances(), self.sentences):
            targets = []
            if sentence.target_index is not None:
                word = sentence.text.split()[sentence.target_index]
                targets.append({"word_index": sentence.target_index, "word": word, "other": sentence.target_other})
            rows.append({"id": utterance.id, "kind": sentence.kind, "targets": targets})
        return rows


def chapter_layout(topic_names, speakers, rounds: int, valid_rounds: int, test_rounds: int, seed: int) -> list:
    """``(number, topic, split, speaker)`` of every chapter, round by round."""
    topic_order = sorted(topic_names)
    random.Random(seed).shuffle(topic_order)
    layout = []
    for round_index, split in enumerate(split_of_chapters(rounds, valid_rounds, test_rounds)):
        for topic_index, topic in enumerate(topic_order):
            number = FIRST_CHAPTER_ID + round_index * len(topic_order) + topic_index
            speaker = speakers[(topic_index + round_index) % len(speakers)]
            layout.append((number, topic, split, speaker))
    return layout


def write_split(out_dir: Path, split: str, chapters: list, audio_root: Path, num_samples: dict) -> list:
    """The demo corpus's split files plus the homophone targets; returns the ``.ltr`` lines."""
    letters = write_corpus_split(out_dir, split, [chapter.utterances() for chapter in chapters], audio_root, num_samples)
    targets = [json.dumps(row) for chapter in chapters for row in chapter.homophone_rows()]
    write_lines(out_dir / f"{split}.homophones.jsonl", targets)
    return letters


def build_homophone_corpus(
    out_dir,
    chapters_per_topic: int = 6,
    sentences_per_chapter: int = 8,
    valid_chapters_per_topic: int = 1,
    test_chapters_per_topic: int = 1,
    seed: int = 0,
    jobs: int = 2,
    voices=None,
    speeds=None,
    topics=None,
    pairs=None,
) -> dict:
    """Build (or find) the homophone corpus in ``out_dir``; see the module docstring.

    Args:
        out_dir: output folder (created if needed).
        chapters_per_topic: chapters of every topic, all splits together.
        sentences_per_chapter: utterances per chapter (alternately topic-bearing and neutral).
        valid_chapters_per_topic, test_chapters_per_topic: chapters of every topic put in
            ``valid`` and ``test``; at least one chapter per topic is left for ``train``.
        seed: fixes the topic order and the texts.
        jobs: synthesis processes run at the same time (from worker threads).
        voices: espeak-ng voices, default :data:`corpus.DEFAULT_VOICES`.
        speeds: espeak-ng speeds (words per minute), default :data:`DEFAULT_SPEEDS`; every
            voice at every speed is one speaker.
        topics: topic names of :data:`corpus.TOPICS` to use; default all of them, or with
            ``pairs`` the topics of their members.
        pairs: candidate pairs to use, named as 'FLOUR/FLOWER'; default all of
            :data:`CANDIDATE_PAIRS`. Fewer pairs make each target word more frequent.

    Returns:
        ``{"out_dir", "audio_root", "splits": {split: {"chapters", "utterances",
        "targets": {"neutral", "topic"}, "duration_s"}}, "utterances", "duration_s",
        "kept_pairs", "dropped_pairs"}``; ``dropped_pairs`` maps 'WORD/WORD' to the reason.
        A complete corpus with the same parameters (its ``homophones.json``) is returned
        without synthesizing anything.

    Raises:
        ValueError: bad counts, an unknown topic or pair, or a topic left with no homophone pair.
    """
    candidates = candidate_pairs(pairs)
    topic_names = sorted(topics or ({topic for pair in candidates for _, topic in pair} if pairs else TOPICS))
    unknown = [name for name in topic_names if name not in TOPICS]
    if unknown:
        raise ValueError(f"unknown topic(s) {unknown}; known: {sorted(TOPICS)}")
    if len(topic_names) < 2:
        raise ValueError(f"need at least two topics, got {topic_names}")
    if chapters_per_topic - valid_chapters_per_topic - test_chapters_per_topic < 1 or min(
        valid_chapters_per_topic, test_chapters_per_topic
    ) < 0:
        raise ValueError(
            f"need at least one train chapter per topic: chapters_per_topic={chapters_per_topic}, "
            f"valid_chapters_per_topic={valid_chapters_per_topic}, test_chapters_per_topic={test_chapters_per_topic}"
        )
    if sentences_per_chapter < 2:
        raise ValueError(
            f"sentences_per_chapter must be at least 2 (a topic and a neutral one), got {sentences_per_chapter}"
        )
    voices = list(voices or DEFAULT_VOICES)
    speeds = [int(speed) for speed in (speeds or DEFAULT_SPEEDS)]
    out_dir = Path(out_dir).absolute()
    audio_root = out_dir / "audio"
    parameters = {
        "format_version": FORMAT_VERSION,
        "topics": topic_names,
        "pairs": [pair_key(pair) for pair in candidates],
        "chapters_per_topic": chapters_per_topic,
        "sentences_per_chapter": sentences_per_chapter,
        "valid_chapters_per_topic": valid_chapters_per_topic,
        "test_chapters_per_topic": test_chapters_per_topic,
        "seed": seed,
        "voices": voices,
        "speeds": speeds,
    }
    summary = existing_summary(out_dir, parameters, DESCRIPTION_NAME, SPLIT_FILES + ("homophones.jsonl",))
    if summary is not None:
        return summary
    require_speech_tools()
    out_dir.mkdir(parents=True, exist_ok=True)
    # A description left by other parameters must not vouch for the files rewritten below.
    (out_dir / DESCRIPTION_NAME).unlink(missing_ok=True)
    layout = chapter_layout(topic_names, speakers_of(voices, speeds), chapters_per_topic,
                            valid_chapters_per_topic, test_chapters_per_topic, seed)
    used_speakers = sorted({speaker for _, _, _, speaker in layout}, key=lambda speaker: speaker.id)
    kept_pairs, dropped_pairs = select_pairs(topic_names, used_speakers, out_dir, jobs, candidates)
    targets_by_topic = target_words_by_topic(kept_pairs, topic_names)
    bare_topics = [topic for topic in topic_names if not targets_by_topic[topic]]
    if bare_topics:
        raise ValueError(
            f"no homophone pair is left for topic(s) {bare_topics}: "
            + "; ".join(f"{record['pair']}: {record['reason']}" for record in dropped_pairs)
        )
    chapters = []
    for number, topic, split, speaker in layout:
        rng = random.Random(seed * 1_000_003 + number)
        sentences = chapter_sentences(topic, targets_by_topic[topic], sentences_per_chapter, rng)
        chapters.append(Chapter(number, topic, split, speaker, tuple(sentences)))

    utterances = [utterance for chapter in chapters for utterance in chapter.utterances()]
    sample_counts = synthesize_all(utterances, audio_root, jobs)
    num_samples = {utterance.id: count for utterance, count in zip(utterances, sample_counts)}

    summary = {"out_dir": str(out_dir), "audio_root": str(audio_root), "splits": {}}
    letters_by_split = {}
    for split in SPLITS:
        split_chapters = [chapter for chapter in chapters if chapter.split == split]
        if not split_chapters:
            continue
        letters_by_split[split] = write_split(out_dir, split, split_chapters, audio_root, num_samples)
        rows = [row for chapter in split_chapters for row in chapter.homophone_rows()]
        summary["splits"][split] = {
            "chapters": len(split_chapters),
            "utterances": len(rows),
            "targets": {
                kind: sum(len(row["targets"]) for row in rows if row["kind"] == kind) for kind in ("neutral", "topic")
            },
            "duration_s": round(sum(num_samples[row["id"]] for row in rows) / SAMPLE_RATE, 3),
        }
    write_dictionary(out_dir / "dict.ltr.txt", letter_dictionary(letters_by_split))
    summary["utterances"] = len(utterances)
    summary["duration_s"] = round(sum(sample_counts) / SAMPLE_RATE, 3)
    summary["kept_pairs"] = [pair_key(pair) for pair in kept_pairs]
    summary["dropped_pairs"] = {record["pair"]: record["reason"] for record in dropped_pairs}
    description = {
        "parameters": parameters,
        "audio_root": str(audio_root),
        "espeak_ng": espeak_version(),
        "kept_pairs": [pair_record(pair) for pair in kept_pairs],
        "dropped_pairs": dropped_pairs,
        "topics": {topic: targets_by_topic[topic] for topic in topic_names},
        "chapters": [
            {"stream": f"{chapter.speaker.id}-{chapter.number}", "topic": chapter.topic, "split": chapter.split,
             "voice": chapter.speaker.voice, "speed": chapter.speaker.speed}
            for chapter in chapters
        ],
        "summary": summary,
    }
    write_text_atomically(out_dir / DESCRIPTION_NAME, json.dumps(description, indent=2) + "\n")
    return summary
