"""Data path set-up at scale: the task's dataset set-up for text and for audio context.

Builds a synthetic split of ``--utterances`` N utterances (chapters of 25, one folder each,
as LibriSpeech): wav files that are hard links to a few 8 s files (the set-up cost, not the
audio, is measured; the split costs one file's bytes), a manifest and letters, an utterance table with texts and neighbour links, a
random ``--dim``-dim context store, and the neighbour index (as data preparation writes it,
where the checked-out code has one). Then it times ``task.load_dataset`` in a fresh process
each, with the checkout this script belongs to (so that an older worktree measures its own
code):

- ``first_start``: no context, the first start on this split: it reads every audio header
  (``data/dataset_checks.py``) and remembers, in a stamp beside the manifest, that they passed;
- ``plain``: no context (fairseq's own dataset load), as every later start;
- ``text``: text context (``context_use=injection``, the store joined);
- ``audio``: audio context, window (3, -1), the neighbour index present;
- ``audio_first``: the same without the index (it is built on first use, where the code
  has one).

    .venv/bin/python scripts/bench/data_path.py --utterances 100000

The last line is JSON: ``text_setup_s``, ``audio_setup_s``, ``audio_setup_rss_mb`` (RSS
growth during the audio set-up), and the others.
"""

import argparse
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
PER_CHAPTER = 25
WORDS = "the of and to a in that was he it his with as for had you but be not on at by".upper().split()

CHILD = r"""
import json, os, sys, time
def rss_mb():
    for line in open("/proc/self/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
import gcaf_fairseq.plugin
from omegaconf import OmegaConf
from gcaf_fairseq.models import Wav2Vec2ContextCtcConfig
from gcaf_fairseq.tasks import AudioContextFinetuningConfig, AudioContextFinetuningTask
data, mode, dim = sys.argv[1], sys.argv[2], int(sys.argv[3])
task_options = dict(data=data, labels="ltr", tpu=False, seed=1)
model_options = dict(w2v_path="unused", data=data, context_embed_dim=dim)
if mode == "text":
    task_options["context_store"] = os.path.join(data, "{split}.cls")
    model_options.update(context_source="text", context_use="injection")
elif mode.startswith("audio"):
    task_options["utterance_table"] = os.path.join(data, "{split}.utterances.jsonl")
    model_options.update(context_source="audio", context_use="injection", context_fusion="concat",
                         context_window=3, context_offset=-1)
task = AudioContextFinetuningTask(OmegaConf.structured(AudioContextFinetuningConfig(**task_options)))
task.context_model_cfg = OmegaConf.structured(Wav2Vec2ContextCtcConfig(**model_options))
before = rss_mb()
started = time.perf_counter()
task.load_dataset("train")
seconds = time.perf_counter() - started
dataset = task.datasets["train"]
item = dataset[len(dataset) // 2]
print(json.dumps({"seconds": seconds, "rss_mb": rss_mb() - before, "rss_total_mb": rss_mb(),
                  "utterances": len(dataset), "package": os.path.dirname(gcaf_fairseq.__file__)}))
"""

WRITE_INDEX = r"""
import sys, time
try:
    from gcaf_fairseq.data.neighbour_index import write_neighbour_index
except ImportError:
    print("none"); sys.exit(0)
started = time.perf_counter()
write_neighbour_index(sys.argv[1])
print(time.perf_counter() - started)
"""

WRITE_STORE = r"""
import sys
import numpy as np
from gcaf_fairseq.data.context_store import ContextStoreWriter
path, dim, ids = sys.argv[1], int(sys.argv[2]), open(sys.argv[3]).read().split()
rng = np.random.default_rng(0)
with ContextStoreWriter(path, dim, "cls") as writer:
    for start in range(0, len(ids), 4096):
        block = rng.standard_normal((min(4096, len(ids) - start), dim), dtype=np.float32)
        for offset, row in enumerate(block):
            writer.add(ids[start + offset], row[None])
print("ok")
"""


def child(code: str, *arguments) -> str:
    """Run ``code`` in a fresh interpreter that imports this checkout's package."""
    out = subprocess.run([sys.executable, "-c", code, *map(str, arguments)], cwd=REPO, capture_output=True, text=True)
    if out.returncode:
        raise RuntimeError(f"child failed:\n{out.stderr[-4000:]}")
    return out.stdout.strip().splitlines()[-1]


SAMPLES = 8 * 16000  # per file: the dataset checks want at least a frame per letter


def tiny_wav(path: Path) -> None:
    """A 16 kHz mono 16-bit wav of :data:`SAMPLES` samples of silence."""
    import struct

    data = b"\x00\x00" * SAMPLES
    header = b"RIFF" + struct.pack("<I", 36 + len(data)) + b"WAVEfmt " + struct.pack("<IHHIIHH", 16, 1, 1, 16000, 32000, 2, 16)
    path.write_bytes(header + b"data" + struct.pack("<I", len(data)) + data)


def build_split(data: Path, count: int, dim: int, seed: int = 0) -> dict:
    rng = random.Random(seed)
    started = time.perf_counter()
    audio = data / "audio"
    audio.mkdir(parents=True)
    manifest, letters, table, ids = [str(audio)], [], [], []
    chapters = (count + PER_CHAPTER - 1) // PER_CHAPTER
    for chapter in range(chapters):
        speaker, number = 100 + chapter // 4, chapter
        folder = audio / str(speaker) / str(number)
        folder.mkdir(parents=True)
        source = data / f"source{chapter // 1000}.wav"  # 25,000 links each: below ext4's 65,000
        if not source.exists():
            tiny_wav(source)
        size = min(PER_CHAPTER, count - chapter * PER_CHAPTER)
        chapter_ids = [f"{speaker}-{number}-{k:04d}" for k in range(size)]
        for k, utterance_id in enumerate(chapter_ids):
            relative = f"{speaker}/{number}/{utterance_id}.wav"
            os.link(source, audio / relative)
            text = " ".join(rng.choice(WORDS) for _ in range(rng.randint(8, 30)))
            manifest.append(f"{relative}\t{SAMPLES}")  # the file's true length: set-up checks may read headers
            letters.append(" ".join(text.replace(" ", "|")) + " |")
            table.append(json.dumps({
                "id": utterance_id, "stream": f"{speaker}-{number}", "position": k, "audio": f"audio/{relative}",
                "text": text, "prev_id": chapter_ids[k - 1] if k else None,
                "next_id": chapter_ids[k + 1] if k + 1 < size else None, "in_split": True,
            }))
            ids.append(utterance_id)
    (data / "train.tsv").write_text("\n".join(manifest) + "\n")
    (data / "train.ltr").write_text("\n".join(letters) + "\n")
    (data / "train.utterances.jsonl").write_text("\n".join(table) + "\n")
    (data / "dict.ltr.txt").write_text("".join(f"{c} {1000 - i}\n" for i, c in enumerate("|ETAONIHSRDLUMWCFGYPBVK'XJQZ")))
    (data / "ids.txt").write_text("\n".join(ids))
    files_s = time.perf_counter() - started
    started = time.perf_counter()
    child(WRITE_STORE, data / "train.cls", dim, data / "ids.txt")
    return {"build_files_s": round(files_s, 2), "build_store_s": round(time.perf_counter() - started, 2),
            "table_mb": round((data / "train.utterances.jsonl").stat().st_size / 2**20, 1)}


def measure(data: Path, mode: str, dim: int) -> dict:
    return json.loads(child(CHILD, data, mode, dim))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--utterances", type=int, default=100_000)
    parser.add_argument("--dim", type=int, default=768, help="context store embedding size")
    parser.add_argument("--work", help="folder for the synthetic split (default: a temporary one, removed)")
    args = parser.parse_args()
    work = Path(args.work) if args.work else Path(tempfile.mkdtemp(prefix="gcaf_data_path_"))
    data = work / f"split_{args.utterances}"
    try:
        if data.exists():
            shutil.rmtree(data)
        report = {"utterances": args.utterances, "dim": args.dim, "cpus": os.cpu_count(),
                  "load_average": round(os.getloadavg()[0], 2), **build_split(data, args.utterances, args.dim)}
        # The first start reads every audio header (data/dataset_checks.py) and remembers that
        # they passed; the starts measured after it, as every later start of a job, do not.
        results = {"first_start": measure(data, "plain", args.dim)}
        results.update({mode: measure(data, mode, args.dim) for mode in ("plain", "text")})
        results["audio_first"] = measure(data, "audio_first", args.dim)  # no index yet: built on first use
        index_s = child(WRITE_INDEX, data / "train.utterances.jsonl")  # as preparation writes it
        report["index_write_s"] = None if index_s == "none" else round(float(index_s), 2)
        results["audio"] = measure(data, "audio", args.dim)
        for mode, result in results.items():
            report[f"{mode}_setup_s"] = round(result["seconds"], 3)
            report[f"{mode}_setup_rss_mb"] = round(result["rss_mb"], 1)
        report["audio_over_text"] = round(results["audio"]["seconds"] / results["text"]["seconds"], 2)
        report["package"] = results["audio"]["package"]
        print(json.dumps(report))
    finally:
        if not args.work:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
