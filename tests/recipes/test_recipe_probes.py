"""Tables you can trust (issue 22): the researcher's probes on the real recipe. One smoke run of
scripts/reproduce_librilight.sh (GCAF Table 6, row E, one seed, 6 updates) into an --out whose
path holds an apostrophe, a space, '$', '${oc.env:HOME}' and non-ASCII, then cheap
perturbations, each rerunning only what it must: the steps that ran are read from the
runner's output ('[stage N] run: ...') and asserted exactly, with the reason it gives.
(The runner's rules step by step: test_runner.py; the context check: test_context_check.py.)"""

import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from gcaf_demo.lookalike_trees import build_librispeech_trees
from speech_clips import PHRASES, clip, needs_speech_tools, speech_clips  # noqa: F401  (session fixture)

pytestmark = [pytest.mark.slow, needs_speech_tools]

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "reproduce_librilight.sh"
ODD = "it's a $dir ${oc.env:HOME} é"  # every kind of character that broke a path on its way to Hydra
RUN = Path("runs") / "librilight-asr" / "1h" / "E" / "seed1"
DEV_OTHER = Path("dev-other") / "201" / "301"
TIMES = {}
LLM_STEPS = 40  # 5 steps write nothing (empty titles), which the recipe refuses: test_an_llm_that_writes_nothing...


class Probes:
    """The trees, the models and the --out of the smoke run, and how to run the recipe again."""

    def __init__(self, root: Path, trees: dict, w2v: Path, llm: Path, encoder: Path):
        self.root, self.trees, self.w2v, self.llm, self.encoder = root, trees, w2v, llm, encoder
        self.out = root / ODD / "out"
        self.overrides = ["optimization.max_update=6"]

    def command(self, llm=None) -> list:
        return ["bash", str(SCRIPT), "--out", str(self.out), "--w2v", str(self.w2v), "--text-encoder", str(self.encoder),
                "--llm", str(llm or self.llm), "--llm-max-new-tokens", "12",
                "--librispeech", str(self.trees["librispeech"]), "--librilight", str(self.trees["librilight"]),
                "--tables", "gcaf-table6", "--systems", "E", "--seeds", "1", "--cpu", "--smoke", "--", *self.overrides]

    def run(self, name: str, llm=None, ok: bool = True) -> subprocess.CompletedProcess:
        started = time.perf_counter()
        result = subprocess.run(self.command(llm), env={**os.environ, "PYTHON": sys.executable, "OMP_NUM_THREADS": "1"},
                                capture_output=True, text=True)
        TIMES[name] = time.perf_counter() - started
        if ok:
            assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
        return result

    def cell(self) -> dict:
        return json.loads((self.out / "tables" / "gcaf-table6.json").read_text())["rows"][1]["cells"]["wer"]

    def run_json(self) -> dict:
        return json.loads((self.out / RUN / "run.json").read_text())


SUBSET = re.compile(r"/(train_1h|dev_other)[.']")


def ran(result: subprocess.CompletedProcess) -> list:
    """The steps that ran, by short names (``prepare dev_other``, ``train``, ...), sorted."""
    names = []
    for line in result.stdout.splitlines():
        match = re.match(r"\[stage (\d)\] run: (.*)", line)
        if not match:
            continue
        stage, command = int(match.group(1)), match.group(2)
        subset = SUBSET.search(command) or re.search(r"--name (\w+)", command)
        names.append({1: "prepare", 2: "generate", 3: "check" if command.startswith("# check") else "embed",
                      4: "train", 5: "decode", 7: "tables"}[stage] + (f" {subset.group(1)}" if stage <= 3 else ""))
    return sorted(names)


def steps(*names: str) -> list:
    return sorted(names)


def why(result: subprocess.CompletedProcess) -> str:
    return "\n".join(line for line in result.stdout.splitlines() if "]   why: " in line)


DOWNSTREAM = ["decode", "tables", "train"]


@pytest.fixture(scope="module")
def probes(tmp_path_factory, speech_clips, w2v_checkpoint, corpus):
    from gcaf_demo.pipeline import demo_text_encoder
    from gcaf_demo.tiny_llm import train_tiny_llm

    root = tmp_path_factory.mktemp("probes")
    trees = build_librispeech_trees(root / "trees", lambda number: clip(speech_clips, number),
                                    lambda speaker, number: PHRASES[number % len(PHRASES)].upper())
    llm = root / "llm"
    shutil.copytree(train_tiny_llm(corpus, root / "llm-trained", steps=LLM_STEPS).folder, llm)
    state = Probes(root, trees, w2v_checkpoint, llm, demo_text_encoder())
    state.speech_clips = speech_clips
    first = state.run("first run")
    assert ran(first) == steps("check dev_other", "check train_1h", "embed dev_other", "embed train_1h",
                               "generate dev_other", "generate train_1h", "prepare dev_other", "prepare train_1h",
                               *DOWNSTREAM)
    state.first = first
    return state


def test_the_first_run_goes_through_an_out_any_file_system_allows(probes):
    """An apostrophe used to fail stage 4 after stages 1-3 ran, and '${oc.env:HOME}' sent
    training (and decoding) outside --out."""
    cell = probes.cell()
    assert cell["status"] == "filled" and cell["n"] == 1
    assert sorted(path.name for path in (probes.root / ODD).iterdir()) == ["out"]
    assert not (probes.root / ODD.replace("${oc.env:HOME}", os.environ["HOME"])).exists()
    assert (probes.out / RUN / ".hydra" / "config.yaml").is_file()  # Hydra's own files: in the run folder too
    printed = probes.first.stdout
    assert "[stage 4] 1 of 1: librilight-asr/1h/E/seed1: 6/6 updates (100%)" in printed  # progress
    assert "[stage 5] 1 of 1: librilight-asr/1h/E/seed1: 1/1 subsets (100%)" in printed
    context = probes.run_json()
    assert context["text_encoder"]["folder"] == str(probes.encoder) and context["llm_model"]["folder"] == str(probes.llm)
    assert {Path(store["path"]).name for store in context["context_stores"]} == {"train_1h.P4-13B.cls",
                                                                                   "dev_other.P4-13B.cls"}
    assert cell["values"][0]["context"]["llm_model"]["fingerprint"] == context["llm_model"]["fingerprint"]
    again = probes.run("nothing changed")
    assert ran(again) == []


def test_an_empty_wer_json_is_decoded_again(probes):
    """It gave an 'unreadable result' cell, never decoded again."""
    (probes.out / RUN / "decode" / "dev_other" / "dev_other.wer.json").write_text("")
    result = probes.run("empty wer.json")
    assert ran(result) == steps("decode", "tables")
    assert "changed since it was made (truncated or edited?)" in why(result)
    assert probes.cell()["status"] == "filled"


def test_a_finished_run_without_checkpoint_best_is_trained_again(probes):
    """Training exited 'complete' without writing a best, every rerun retrained, and decoding
    failed with 'Model file not found'."""
    (probes.out / RUN / "checkpoint_best.pt").unlink()
    result = probes.run("checkpoint_best.pt deleted")
    assert ran(result) == steps(*DOWNSTREAM)
    assert f"output {probes.out / RUN / 'checkpoint_best.pt'} is missing" in why(result)
    assert (probes.out / RUN / "checkpoint_best.pt").is_file() and probes.cell()["status"] == "filled"


def test_changed_overrides_train_again_and_run_json_says_so(probes):
    """max_update 12 -> 20 was 'skip (trained (12 updates))', and run.json still said 12."""
    probes.overrides = ["optimization.max_update=7"]
    result = probes.run("-- max_update 6 -> 7")
    assert ran(result) == steps(*DOWNSTREAM)
    assert "settings changed: argv: -optimization.max_update=6, +optimization.max_update=7" in why(result)
    assert probes.run_json()["max_update"] == 7 and "optimization.max_update=7" in probes.run_json()["overrides"]
    from gcaf_fairseq.tables.train_log import read_training_log

    assert read_training_log(probes.out / RUN / "train.log").num_updates == 7


def test_a_truncated_generation_file_and_store_are_made_again(probes):
    """Both were skipped and failed only a later stage. Each is made again, and comes out as it
    was (greedy decoding; a store holds no creation time), so what was made from them stands."""
    generations = probes.out / "context" / "librispeech" / "train_1h.P4-13B.gen.jsonl"
    whole = generations.read_bytes()
    generations.write_bytes(whole[: len(whole) // 2])
    store = probes.out / "context" / "librispeech" / "dev_other.P4-13B.cls"
    whole_store = store.read_bytes()
    store.write_bytes(whole_store[:100])
    result = probes.run("truncated generation file and store")
    assert ran(result) == steps("embed dev_other", "generate train_1h")
    assert generations.read_bytes() == whole and store.read_bytes() == whole_store


def test_a_transcript_edited_in_the_source_tree_reaches_the_table(probes):
    """The prepared labels, texts, generations, stores, trainings, decodes and the table all
    held the old text."""
    transcript = probes.trees["librispeech"] / DEV_OTHER / "201-301.trans.txt"
    transcript.write_text(transcript.read_text().replace("201-301-0001 A BIRD SANG", "201-301-0001 A BIRD SAT"))
    result = probes.run("transcript edited")
    assert ran(result) == steps("check dev_other", "embed dev_other", "generate dev_other", "prepare dev_other",
                                *DOWNSTREAM)
    assert f"input changed: {probes.trees['librispeech'] / 'dev-other'}/201/301: 201-301.trans.txt" in why(result)
    generated = [json.loads(line) for line in
                 (probes.out / "context" / "librispeech" / "dev_other.P4-13B.gen.jsonl").read_text().splitlines()]
    assert next(record for record in generated if record["id"] == "201-301-0002")["previous_text"] == "A BIRD SAT"
    decoded = probes.out / RUN / "decode" / "dev_other" / "dev_other.ref.wrd"
    assert "A BIRD SAT" in decoded.read_text()
    assert probes.cell()["values"][0]["files"]["score_file"].endswith("dev_other.wer.json")


def test_a_flac_replaced_then_restored_is_prepared_and_decoded_again_both_times(probes):
    """Decoding failed forever on the stale manifest."""
    flac = probes.trees["librispeech"] / DEV_OTHER / "201-301-0000.flac"
    original = flac.read_bytes()
    import soundfile

    soundfile.write(str(flac), clip(probes.speech_clips, 2), 16000, subtype="PCM_16")  # another length
    replaced = probes.run("flac replaced")
    assert ran(replaced) == steps("prepare dev_other", *DOWNSTREAM)
    assert "audio or checkpoints (3 -> 3 files, sizes or times)" in why(replaced)
    flac.write_bytes(original)
    restored = probes.run("flac restored")
    assert ran(restored) == steps("prepare dev_other", *DOWNSTREAM) and probes.cell()["status"] == "filled"


def test_another_text_encoder_embeds_again_and_trains_again(probes):
    """The store was kept, run.json still said 384 after the header printed 32, and training
    was skipped."""
    probes.encoder = tiny_bert(probes.root / "tiny-bert", probes.encoder)
    result = probes.run("--text-encoder swapped (384 -> 32)")
    assert ran(result) == steps("check dev_other", "check train_1h", "embed dev_other", "embed train_1h", *DOWNSTREAM)
    assert "# model.context_embed_dim = 32" in result.stdout
    recorded = probes.run_json()
    assert "model.context_embed_dim=32" in recorded["overrides"]
    assert recorded["text_encoder"]["folder"] == str(probes.encoder)
    assert all(store["encoder"] == str(probes.encoder) for store in recorded["context_stores"])


def test_an_llm_changed_in_place_generates_again_and_everything_downstream(probes, corpus):
    """Replacing the model folder's contents in place went unnoticed."""
    from gcaf_demo.tiny_llm import train_tiny_llm

    before = probes.run_json()["llm_model"]["fingerprint"]
    other = train_tiny_llm(corpus, probes.root / "llm-other", steps=2 * LLM_STEPS).folder  # other titles
    shutil.copyfile(other / "model.safetensors", probes.llm / "model.safetensors")
    result = probes.run("--llm changed in place")
    assert ran(result) == steps("check dev_other", "check train_1h", "embed dev_other", "embed train_1h",
                           "generate dev_other", "generate train_1h", *DOWNSTREAM)
    assert f"input changed: {probes.llm}: model.safetensors" in why(result)
    assert probes.run_json()["llm_model"]["fingerprint"] != before


def test_an_llm_that_writes_nothing_stops_the_recipe_before_training(probes):
    """A tiny LLM that wrote only newlines gave 16 of 16 empty titles; E trained without any
    context loss and the table filled row E as usual. Swapped for it, the recipe generates
    again, embeds, and stops naming the store, the count and the first ids."""
    mute = mute_llm(probes.llm, probes.root / "mute")
    result = probes.run("--llm swapped for one that writes nothing", llm=mute, ok=False)
    assert result.returncode != 0 and ran(result) == steps("check train_1h", "embed dev_other", "embed train_1h",
                                                           "generate dev_other", "generate train_1h")
    store = probes.out / "context" / "librispeech" / "train_1h.P4-13B.cls"
    assert (f"error: {store}: 5 of 5 utterances that should have context have none (100.0%), more than "
            "--max-empty-context 1%; first: 19-198-0003, 103-1240-0001") in result.stderr
    assert "[stage 4]" not in result.stdout
    print("\n" + ", ".join(f"{name} {seconds:.0f} s" for name, seconds in TIMES.items()))


def tiny_bert(folder: Path, tokenizer_from: Path) -> Path:
    """A 1-layer BERT of hidden size 32 with MiniLM's tokenizer (random weights)."""
    import torch
    from transformers import AutoTokenizer, BertConfig, BertModel

    tokenizer = AutoTokenizer.from_pretrained(str(tokenizer_from))
    torch.manual_seed(0)
    BertModel(BertConfig(vocab_size=tokenizer.vocab_size, hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
                         intermediate_size=64)).save_pretrained(str(folder))
    tokenizer.save_pretrained(str(folder))
    return folder


def mute_llm(llm: Path, folder: Path) -> Path:
    """``llm`` with a zero output layer: every logit ties, greedy decoding picks token 0
    (the padding token), and each generation decodes to an empty text."""
    import torch
    from transformers import AutoModelForCausalLM

    shutil.copytree(llm, folder)
    model = AutoModelForCausalLM.from_pretrained(str(llm))
    with torch.no_grad():
        model.lm_head.weight.zero_()
    model.save_pretrained(str(folder))
    return folder
