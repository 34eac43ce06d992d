"""A small synthetic speech corpus of consecutive sentences, in LibriSpeech layout.

Every chapter tells a little story about one topic (kitchen, garden, sailing, ...) read by
one espeak-ng voice: consecutive sentences of a chapter share a protagonist, a handful of
nouns, places and verbs, and most sentences pick up the object of the previous one, so
the previous utterance is informative about the current one. Texts come from built-in
word lists and templates and depend only on the seed; the audio is synthesized with
espeak-ng and converted with sox (no dither) to 16 kHz mono 16-bit FLAC, so the same
seed gives the same bytes.

Output (``out_dir``)::

    audio/SPEAKER/CHAPTER/SPEAKER-CHAPTER-NNNN.flac
    {split}.tsv  {split}.ltr  {split}.wrd      fairseq wav2vec manifests and labels
    {split}.utterances.jsonl                   one row per utterance, in stream order
    dict.ltr.txt                               letter dictionary (train counts)
    corpus.json                                parameters and summary, written last

Usage: ``python -m gcaf_demo.corpus --out DIR``.
"""

import argparse
import inspect
import json
import os
import random
import re
import shutil
import subprocess
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import soundfile

from gcaf_fairseq.data.atomic_files import write_lines, write_text_atomically
from gcaf_fairseq.data.manifest import SAMPLE_RATE, write_manifest
from gcaf_fairseq.data.letters import letters_line
from gcaf_fairseq.data.symbol_dictionary import count_symbols, write_dictionary
from gcaf_fairseq.data.neighbour_index import write_neighbour_index
from gcaf_fairseq.data.utterance_table import link_stream_neighbours, write_utterance_table

SPLITS = ("train", "valid", "test")
DEFAULT_VOICES = ("en-us", "en-gb-x-rp", "en-us+f3", "en-gb-scotland", "en-029+f2", "en-us-nyc")
FIRST_SPEAKER_ID = 101
FIRST_CHAPTER_ID = 2001
SPEED_RANGE = (150, 175)
CORPUS_FORMAT_VERSION = 1
TRANSCRIPT_PATTERN = re.compile(r"[A-Z']+( [A-Z']+)*")


@dataclass(frozen=True)
class Topic:
    """The vocabulary of one chapter topic: verbs are past-tense and transitive."""

    nouns: tuple
    places: tuple
    verbs: tuple
    adjectives: tuple


TOPICS = {
    "kitchen": Topic(
        nouns=("pot", "kettle", "bread", "soup", "spoon", "pan", "onion", "cake"),
        places=("kitchen", "pantry", "oven", "sink", "cupboard"),
        verbs=("stirred", "washed", "cooked", "tasted", "baked", "cleaned"),
        adjectives=("hot", "fresh", "warm", "heavy", "shiny", "sweet"),
    ),
    "garden": Topic(
        nouns=("rose", "spade", "tulip", "hedge", "seed", "bucket", "carrot", "ladder"),
        places=("garden", "greenhouse", "shed", "flower bed", "orchard"),
        verbs=("watered", "planted", "trimmed", "picked", "dug", "carried"),
        adjectives=("green", "tall", "muddy", "bright", "young", "tidy"),
    ),
    "sailing": Topic(
        nouns=("boat", "sail", "rope", "anchor", "mast", "compass", "oar", "flag"),
        places=("harbour", "bay", "deck", "river", "island"),
        verbs=("pulled", "tied", "raised", "checked", "lowered", "steered"),
        adjectives=("wet", "salty", "strong", "white", "long", "steady"),
    ),
    "castle": Topic(
        nouns=("sword", "shield", "banner", "crown", "gate", "tower", "key", "horse"),
        places=("castle", "courtyard", "great hall", "dungeon", "moat"),
        verbs=("guarded", "polished", "opened", "locked", "carried", "defended"),
        adjectives=("ancient", "golden", "iron", "royal", "grey", "proud"),
    ),
    "music": Topic(
        nouns=("piano", "violin", "drum", "song", "flute", "guitar", "trumpet", "melody"),
        places=("concert hall", "studio", "stage", "music room", "church"),
        verbs=("played", "tuned", "practised", "heard", "learned", "repeated"),
        adjectives=("loud", "soft", "gentle", "cheerful", "slow", "lovely"),
    ),
    "weather": Topic(
        nouns=("cloud", "storm", "rainbow", "umbrella", "wind", "snow", "thunder", "fog"),
        places=("valley", "hills", "village", "sky", "meadow"),
        verbs=("watched", "noticed", "feared", "photographed", "described", "expected"),
        adjectives=("dark", "cold", "grey", "wild", "sudden", "calm"),
    ),
    "farm": Topic(
        nouns=("cow", "tractor", "hay", "goat", "fence", "sheep", "barrel", "chicken"),
        places=("barn", "field", "stable", "farmyard", "pasture"),
        verbs=("fed", "moved", "counted", "mended", "brushed", "followed"),
        adjectives=("brown", "noisy", "dusty", "fat", "lazy", "old"),
    ),
    "school": Topic(
        nouns=("book", "pencil", "map", "lesson", "desk", "poem", "chalk", "notebook"),
        places=("classroom", "library", "playground", "hallway", "school"),
        verbs=("read", "opened", "copied", "studied", "borrowed", "explained"),
        adjectives=("new", "difficult", "thick", "clever", "quiet", "useful"),
    ),
    "market": Topic(
        nouns=("apple", "basket", "cheese", "coin", "lemon", "scarf", "melon", "jar"),
        places=("market", "square", "stall", "bakery", "street"),
        verbs=("bought", "sold", "weighed", "wrapped", "chose", "paid for"),
        adjectives=("ripe", "cheap", "round", "yellow", "small", "fine"),
    ),
    "forest": Topic(
        nouns=("owl", "fox", "mushroom", "branch", "acorn", "deer", "nest", "stream"),
        places=("forest", "clearing", "woods", "path", "cave"),
        verbs=("spotted", "followed", "gathered", "sketched", "found", "admired"),
        adjectives=("silent", "hidden", "tiny", "wild", "mossy", "dark"),
    ),
}

NAMES = (
    "anna", "ben", "clara", "david", "ella", "frank", "grace", "henry", "iris", "jack",
    "lucy", "martin", "nora", "oscar", "peter", "rose", "sam", "tom",
)

# Slots: {name} {verb} {noun} {adj} {adj2} {place}; {prev} is the noun the previous
# sentence was about. A template with {noun} makes that noun the next sentence's {prev}.
OPENING_TEMPLATES = (
    "{name} {verb} the {adj} {noun} in the {place}",
    "one morning {name} {verb} the {noun} near the {place}",
    "in the {place} {name} {verb} the {adj} {noun}",
)
FOLLOW_TEMPLATES = (
    "then {name} {verb} the {prev} near the {place}",
    "the {prev} was {adj} and very {adj2}",
    "{name} {verb} the {noun} beside the {prev}",
    "after that the {prev} stayed in the {place}",
    "everyone in the {place} liked the {adj} {prev}",
    "{name} said the {prev} looked {adj} today",
    "{name}'s {prev} was {adj} in the {place}",
    "it's the {adj} {prev} that {name} {verb}",
    "{name} {verb} the {prev} and the {adj} {noun}",
    "later {name} put the {prev} back in the {place}",
)


@dataclass(frozen=True)
class Utterance:
    """One sentence of a chapter, with where its audio goes and how it is spoken."""

    speaker: int
    chapter: int
    position: int
    text: str
    voice: str
    speed: int

    @property
    def stream(self) -> str:
        return f"{self.speaker}-{self.chapter}"

    @property
    def id(self) -> str:
        return f"{self.stream}-{self.position:04d}"

    @property
    def relative_audio_path(self) -> str:
        return f"{self.speaker}/{self.chapter}/{self.id}.flac"


def chapter_sentences(topic: Topic, count: int, rng: random.Random) -> list:
    """``count`` upper-case sentences about ``topic``, each tied to the previous one.

    The chapter draws a protagonist and a few nouns, places, verbs and adjectives of the
    topic once, so its sentences keep reusing them.
    """
    name = rng.choice(NAMES)
    nouns = rng.sample(topic.nouns, 4)
    places = rng.sample(topic.places, 3)
    verbs = rng.sample(topic.verbs, 4)
    adjectives = rng.sample(topic.adjectives, 4)
    sentences = []
    focus_noun = None
    for position in range(count):
        template = rng.choice(OPENING_TEMPLATES if position == 0 else FOLLOW_TEMPLATES)
        noun = rng.choice([candidate for candidate in nouns if candidate != focus_noun])
        adjective, other_adjective = rng.sample(adjectives, 2)
        text = template.format(
            name=name,
            verb=rng.choice(verbs),
            noun=noun,
            adj=adjective,
            adj2=other_adjective,
            place=rng.choice(places),
            prev=focus_noun,
        ).upper()
        if not TRANSCRIPT_PATTERN.fullmatch(text) or not 5 <= len(text.split()) <= 12:
            raise AssertionError(f"template {template!r} produced an invalid sentence {text!r}")
        sentences.append(text)
        if "{noun}" in template:
            focus_noun = noun
    return sentences


def plan_corpus(n_chapters: int, sentences_per_chapter: int, seed: int, voices) -> list:
    """The chapters (lists of :class:`Utterance`) of a corpus, without audio.

    A chapter's text, voice and speed depend only on the seed and the chapter's number,
    so a smaller corpus is a prefix of a larger one with the same seed.
    """
    topic_names = sorted(TOPICS)
    random.Random(seed).shuffle(topic_names)
    chapters = []
    for chapter_index in range(n_chapters):
        rng = random.Random(seed * 1_000_003 + chapter_index)
        topic = TOPICS[topic_names[chapter_index % len(topic_names)]]
        voice_index = chapter_index % len(voices)
        speed = rng.randint(*SPEED_RANGE)
        texts = chapter_sentences(topic, sentences_per_chapter, rng)
        chapters.append(
            [
                Utterance(
                    speaker=FIRST_SPEAKER_ID + voice_index,
                    chapter=FIRST_CHAPTER_ID + chapter_index,
                    position=position,
                    text=text,
                    voice=voices[voice_index],
                    speed=speed,
                )
                for position, text in enumerate(texts)
            ]
        )
    return chapters


def synthesize_utterance(utterance: Utterance, audio_root: Path) -> int:
    """Speak one utterance into its FLAC file (atomically); returns its number of samples."""
    target = audio_root / utterance.relative_audio_path
    target.parent.mkdir(parents=True, exist_ok=True)
    raw_wav = target.with_name(f".{target.stem}.espeak.wav")
    converted = target.with_name(f".{target.stem}.tmp.flac")
    try:
        # espeak-ng reads some all-capital words as acronyms: speak the lower-case text.
        speak = ["espeak-ng", "-v", utterance.voice, "-s", str(utterance.speed), "-w", str(raw_wav)]
        subprocess.run(speak + [utterance.text.lower()], check=True, capture_output=True)
        # -D: no dither, so the same text gives the same bytes.
        convert = ["sox", "-D", "-q", str(raw_wav), "-r", str(SAMPLE_RATE), "-c", "1", "-b", "16"]
        subprocess.run(convert + [str(converted)], check=True, capture_output=True)
        os.replace(converted, target)
    finally:
        raw_wav.unlink(missing_ok=True)
        converted.unlink(missing_ok=True)
    return soundfile.info(str(target)).frames


def require_speech_tools() -> None:
    for tool in ("espeak-ng", "sox"):
        if shutil.which(tool) is None:
            raise RuntimeError(f"{tool} is not installed (Debian: apt-get install espeak-ng sox)")


def synthesize_all(utterances, audio_root: Path, jobs: int) -> list:
    """Speak every utterance, ``jobs`` at a time (threads driving espeak-ng and sox);
    returns their numbers of samples, in order."""
    with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        return list(pool.map(synthesize_utterance, utterances, [audio_root] * len(utterances)))


def split_of_chapters(n_chapters: int, valid_chapters: int, test_chapters: int) -> list:
    """The split of each chapter: the first ones train, then valid, then test."""
    train_chapters = n_chapters - valid_chapters - test_chapters
    return ["train"] * train_chapters + ["valid"] * valid_chapters + ["test"] * test_chapters


def letter_dictionary(letters_by_split: dict) -> list:
    """``dict.ltr.txt`` entries ``(symbol, count)``: train counts, plus every symbol seen in
    another split (count 0); count descending, ties by symbol
    (:func:`gcaf_fairseq.data.symbol_dictionary.count_symbols`)."""
    others = [line for split, lines in letters_by_split.items() if split != "train" for line in lines]
    return count_symbols(letters_by_split.get("train", ()), others, ties="symbol")


def utterance_rows(chapter: list, audio_root: Path) -> list:
    """The ``{split}.utterances.jsonl`` rows of one chapter (one stream, consecutive
    positions), in order, linked to their neighbours."""
    rows = [
        {
            "id": utterance.id,
            "stream": utterance.stream,
            "position": utterance.position,
            "audio": str(audio_root / utterance.relative_audio_path),
            "text": utterance.text,
            "prev_id": None,
            "next_id": None,
            "in_split": True,
        }
        for utterance in chapter
    ]
    return link_stream_neighbours(rows)


def write_split(out_dir: Path, split: str, chapters: list, audio_root: Path, num_samples: dict) -> list:
    """Write ``{split}.tsv/.ltr/.wrd/.utterances.jsonl`` for ``chapters`` (lists of
    utterances); returns the ``.ltr`` lines."""
    utterances = [utterance for chapter in chapters for utterance in chapter]
    letters = [letters_line(utterance.text, final_boundary=True) for utterance in utterances]
    manifest = [(utterance.relative_audio_path, num_samples[utterance.id]) for utterance in utterances]
    write_manifest(out_dir / f"{split}.tsv", audio_root, manifest)
    write_lines(out_dir / f"{split}.ltr", letters)
    write_lines(out_dir / f"{split}.wrd", [utterance.text for utterance in utterances])
    table = [row for chapter in chapters for row in utterance_rows(chapter, audio_root)]
    write_utterance_table(out_dir / f"{split}.utterances.jsonl", table)
    write_neighbour_index(out_dir / f"{split}.utterances.jsonl", table, num_samples)
    return letters


SPLIT_FILES = ("tsv", "ltr", "wrd", "utterances.jsonl")


def existing_summary(out_dir: Path, parameters: dict, description_name="corpus.json", split_files=SPLIT_FILES):
    """The summary of a complete corpus in ``out_dir`` made with ``parameters`` (recorded in
    ``description_name``, with every split's ``split_files``), else None."""
    try:
        description = json.loads((out_dir / description_name).read_text())
    except (OSError, ValueError):
        return None
    if description.get("parameters") != parameters or description.get("audio_root") != str(out_dir / "audio"):
        return None
    expected_files = ["dict.ltr.txt"] + [
        f"{split}.{suffix}"
        for split in description["summary"]["splits"]
        for suffix in split_files
    ]
    if not all((out_dir / name).is_file() for name in expected_files):
        return None
    return description["summary"]


def synthesize_corpus(
    out_dir,
    n_chapters: int = 12,
    sentences_per_chapter: int = 8,
    valid_chapters: int = 2,
    test_chapters: int = 2,
    seed: int = 0,
    jobs: int = 2,
    voices=None,
) -> dict:
    """Build (or find) the synthetic corpus in ``out_dir``; see the module docstring.

    Args:
        out_dir: output folder (created if needed).
        n_chapters: number of chapters; each is one stream of consecutive sentences.
        sentences_per_chapter: utterances per chapter.
        valid_chapters, test_chapters: whole chapters put in ``valid`` and ``test``
            (the last ones); the others are ``train``. A split with no chapter is not written.
        seed: fixes the texts, voices and speeds.
        jobs: utterances synthesized at the same time (espeak-ng and sox run as child
            processes, so worker threads are enough to keep ``jobs`` cores busy).
        voices: espeak-ng voice names; chapter ``k`` uses ``voices[k % len(voices)]`` and
            gets speaker id ``101 + that index``. Defaults to :data:`DEFAULT_VOICES`.

    Returns:
        ``{"out_dir", "audio_root", "splits": {split: {"chapters", "utterances",
        "duration_s"}}, "utterances", "duration_s"}``. When ``out_dir`` already holds a
        complete corpus with the same parameters (its ``corpus.json``), it is returned
        without synthesizing anything.
    """
    if n_chapters - valid_chapters - test_chapters < 1 or min(valid_chapters, test_chapters) < 0:
        raise ValueError(
            f"need at least one train chapter: n_chapters={n_chapters}, "
            f"valid_chapters={valid_chapters}, test_chapters={test_chapters}"
        )
    if sentences_per_chapter < 1:
        raise ValueError(f"sentences_per_chapter must be positive, got {sentences_per_chapter}")
    voices = list(voices or DEFAULT_VOICES)
    out_dir = Path(out_dir).absolute()
    audio_root = out_dir / "audio"
    parameters = {
        "format_version": CORPUS_FORMAT_VERSION,
        "n_chapters": n_chapters,
        "sentences_per_chapter": sentences_per_chapter,
        "valid_chapters": valid_chapters,
        "test_chapters": test_chapters,
        "seed": seed,
        "voices": voices,
    }
    summary = existing_summary(out_dir, parameters)
    if summary is not None:
        return summary
    require_speech_tools()
    out_dir.mkdir(parents=True, exist_ok=True)
    # A corpus.json left by other parameters must not vouch for the files rewritten below.
    (out_dir / "corpus.json").unlink(missing_ok=True)
    chapters = plan_corpus(n_chapters, sentences_per_chapter, seed, voices)
    utterances = [utterance for chapter in chapters for utterance in chapter]
    sample_counts = synthesize_all(utterances, audio_root, jobs)
    num_samples = {utterance.id: count for utterance, count in zip(utterances, sample_counts)}

    chapters_by_split = {split: [] for split in SPLITS}
    for chapter, split in zip(chapters, split_of_chapters(n_chapters, valid_chapters, test_chapters)):
        chapters_by_split[split].append(chapter)
    summary = {"out_dir": str(out_dir), "audio_root": str(audio_root), "splits": {}}
    letters_by_split = {}
    for split, split_chapters in chapters_by_split.items():
        if not split_chapters:
            continue
        letters_by_split[split] = write_split(out_dir, split, split_chapters, audio_root, num_samples)
        split_ids = [utterance.id for chapter in split_chapters for utterance in chapter]
        summary["splits"][split] = {
            "chapters": len(split_chapters),
            "utterances": len(split_ids),
            "duration_s": round(sum(num_samples[utterance_id] for utterance_id in split_ids) / SAMPLE_RATE, 3),
        }
    write_dictionary(out_dir / "dict.ltr.txt", letter_dictionary(letters_by_split))
    summary["utterances"] = len(utterances)
    summary["duration_s"] = round(sum(sample_counts) / SAMPLE_RATE, 3)
    description = {"parameters": parameters, "audio_root": str(audio_root), "summary": summary}
    write_text_atomically(out_dir / "corpus.json", json.dumps(description, indent=2) + "\n")
    return summary


def main(argv=None) -> None:
    """Command line: synthesize a corpus and print its summary as JSON."""
    defaults = {name: parameter.default for name, parameter in inspect.signature(synthesize_corpus).parameters.items()}
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", required=True, help="output folder")
    parser.add_argument("--chapters", type=int, default=defaults["n_chapters"], help="number of chapters (streams)")
    parser.add_argument("--sentences-per-chapter", type=int, default=defaults["sentences_per_chapter"])
    parser.add_argument("--valid-chapters", type=int, default=defaults["valid_chapters"])
    parser.add_argument("--test-chapters", type=int, default=defaults["test_chapters"])
    parser.add_argument("--seed", type=int, default=defaults["seed"])
    parser.add_argument("--jobs", type=int, default=defaults["jobs"], help="utterances synthesized in parallel")
    args = parser.parse_args(argv)
    summary = synthesize_corpus(
        args.out,
        n_chapters=args.chapters,
        sentences_per_chapter=args.sentences_per_chapter,
        valid_chapters=args.valid_chapters,
        test_chapters=args.test_chapters,
        seed=args.seed,
        jobs=args.jobs,
    )
    print(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
