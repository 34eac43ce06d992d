"""The recipes' planner (gcaf_fairseq/recipes): the run matrix from the tables, options, scale,
the resumable runner, and --dry-run of every table (no training here: test_reproduce_librilight.py
and test_reproduce_slue.py run the recipes end to end)."""

import io
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from gcaf_fairseq.recipes.options import OptionError, llm_sources, parse_options, parse_stages
from gcaf_fairseq.recipes.plan import context_need, plan_runs, system_overlay
from gcaf_fairseq.recipes.scale import published_hyperparameters, scale_for, text_encoder_dim
from gcaf_fairseq.recipes.recipe import Recipe
from gcaf_fairseq.recipes.run import run_recipe
from gcaf_fairseq.recipes.runner import RecipeError, Runner
from gcaf_fairseq.recipes.runner import Step as Command
from gcaf_fairseq.tables.cells import cell_spec
from gcaf_fairseq.tables.published import BENCHMARK_TABLES, TABLES
from gcaf_fairseq.tables.runs import read_run

ROOT = Path(__file__).resolve().parents[2]
ENCODER_DIM = 384  # all-MiniLM-L6-v2


@pytest.fixture
def encoder(tmp_path):
    folder = tmp_path / "encoder"
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps({"hidden_size": ENCODER_DIM}))
    return folder


def base_argv(benchmark, out, encoder, *extra):
    data = (["--librispeech", "/data/LibriSpeech", "--librilight", "/data/librispeech_finetuning"]
            if benchmark == "librilight" else ["--slue-voxceleb", "/data/vc", "--slue-voxpopuli", "/data/vp"])
    return ["--out", str(out), "--w2v", "/models/wav2vec_small.pt", "--text-encoder", str(encoder),
            "--llm", "/models/13b", "--llm", "7B=/models/7b", "--llm", "30B=/models/30b", "--llm", "70B=/models/70b",
            *data, *extra]


def dry_run(benchmark, out, encoder, *extra):
    options = parse_options(benchmark, base_argv(benchmark, out, encoder, "--dry-run", *extra))
    stream = io.StringIO()
    run_recipe(options, stream=stream)
    return options, stream.getvalue()


def cell_measures(spec):
    """The measures a cell reads (none for a ROUGE cell)."""
    if spec.kind == "rouge":
        return []
    return [spec.measure] if spec.kind == "measure" else [measure for _, measure in spec.components]


# ---------------------------------------------------------------- the run matrix


def test_table7_and_table8_matrices_come_from_the_tables():
    table7 = plan_runs(["gcaf-table7"], seeds=3)
    assert len(table7.runs) == 5 * 4 * 3 and table7.cells == 80
    assert {(run.split, run.system) for run in table7.runs} == {
        tuple(row.key.split("/")) for row in TABLES["gcaf-table7"].rows}
    assert all(len(run.decodings) == 4 for run in table7.runs)  # dev/test clean/other, greedy
    table8 = plan_runs(["gcaf-table8"], seeds=3)
    assert len(table8.runs) == 5 * 4 * 3  # rows x (VC ASR, VP ASR, VP NER, VC SA) x seeds
    assert {run.task_name for run in table8.runs} == {
        "voxceleb-asr", "voxpopuli-asr", "voxpopuli-ner", "voxceleb-sentiment"}


@pytest.mark.parametrize("benchmark", ["librilight", "slue"])
def test_every_cell_of_every_table_has_its_runs_and_folders_are_distinct(benchmark, tmp_path):
    tables = list(BENCHMARK_TABLES[benchmark])
    plan = plan_runs(tables, seeds=2)
    folders = [run.folder(tmp_path) for run in plan.runs]
    assert len(folders) == len(set(folders))
    for name in tables:
        for row in TABLES[name].rows:
            for column in TABLES[name].columns:
                spec = cell_spec(name, row.key, column.key)
                where = f"{name}: {row.key} / {column.key}"
                if spec.kind == "rouge":
                    assert plan.rouge
                    continue
                assert sum(where in run.cells for run in plan.runs) >= 2, where


def test_ca_sweep_runs_are_named_by_the_knobs_that_differ(tmp_path):
    plan = plan_runs(["ca-table1"], seeds=1)
    names = sorted(run.row_name() for run in plan.runs)
    assert "B-alpha0.0001-O-1" in names and "B-alpha100000-O-1" in names and "B-O-1" in names
    run = next(run for run in plan.runs if run.row_name() == "B-alpha0.0001-O-1")
    assert run.folder(tmp_path) == tmp_path / "voxceleb-asr" / "fine-tune" / "B-alpha0.0001-O-1" / "seed1"
    assert {decoding.lm for decoding in run.decodings} == {False, True}


def test_filters_keep_only_the_cells_of_the_chosen_rows_and_splits():
    plan = plan_runs(["gcaf-table7"], seeds=2, systems=["A", "E"], splits=["10m"])
    assert sorted({(run.split, run.system) for run in plan.runs}) == [("10m", "A"), ("10m", "E")]
    assert plan.filtered_cells == 80 - 8
    slue = plan_runs(["gcaf-table8"], seeds=1, splits=["voxceleb-sentiment"])
    assert {run.task_name for run in slue.runs} == {"voxceleb-sentiment"}


def test_context_of_each_row():
    plan = {run.system: run for run in plan_runs(["gcaf-table2", "gcaf-table5", "gcaf-table7"], seeds=1).runs}
    assert context_need(plan["A"]).source == "none"
    assert (context_need(plan["B"]).source, context_need(plan["B"]).at_decoding) == ("neighbours", False)
    assert (context_need(plan["C4"]).kind, context_need(plan["C4"]).pooling) == ("cur", "sequence")
    assert system_overlay(plan["C4"]) == "C2" and system_overlay(plan["D5"]) == "C1"
    assert (context_need(plan["D5"]).kind, context_need(plan["D5"]).at_decoding) == ("P4-7B", True)
    assert (context_need(plan["E"]).kind, context_need(plan["E"]).at_decoding) == ("P4-13B", False)


# ---------------------------------------------------------------- options


def test_llm_per_size_and_sharded_servers():
    sources = llm_sources(["/m/13b", "7B=/m/7b"], ["30B=http://a:8000/v1", "30b=http://b:8000/v1"], ["30B=llama-30b"])
    assert sources["13B"].model_dir == "/m/13b" and sources["7B"].model_dir == "/m/7b"
    assert sources["30B"].urls == ["http://a:8000/v1", "http://b:8000/v1"] and sources["30B"].name == "llama-30b"
    served = llm_sources([], ["http://host:8000/v1"], ["beluga"])
    assert served["13B"].urls == ["http://host:8000/v1"] and served["13B"].backend == "openai"


@pytest.mark.parametrize("llm, urls, names, message", [
    (["/a", "13B=/b"], [], [], "two models for the 13B rows"),
    ([], ["http://x/v1"], [], "needs the served model's name"),
    ([], [], ["beluga"], "no --llm-url for the 13B rows"),
    (["x13=/a"], [], [], None),  # not SIZE=: a folder name containing '='
])
def test_llm_option_errors(llm, urls, names, message):
    if message is None:
        assert llm_sources(llm, urls, names)["13B"].model_dir == "x13=/a"
        return
    with pytest.raises(OptionError, match=message):
        llm_sources(llm, urls, names)


def test_stage_selection():
    assert parse_stages("all") == [1, 2, 3, 4, 5, 6, 7]
    assert parse_stages("4-7") == [4, 5, 6, 7] and parse_stages("1,5") == [1, 5]
    with pytest.raises(OptionError, match="stages are 1-7"):
        parse_stages("0-3")


def test_bad_options_are_named(tmp_path, encoder):
    with pytest.raises(OptionError, match="belong to the slue benchmark"):
        parse_options("librilight", base_argv("librilight", tmp_path, encoder, "--tables", "gcaf-table8"))
    with pytest.raises(OptionError, match="--lm and --lexicon go together"):
        parse_options("librilight", base_argv("librilight", tmp_path, encoder, "--lm", "x.arpa"))
    with pytest.raises(OptionError, match="--lm-asr and --lexicon-asr go together"):
        parse_options("slue", base_argv("slue", tmp_path, encoder, "--lm-asr", "t3.bin"))
    with pytest.raises(OptionError, match="SLUE decodes with two LMs.*--lm-asr FILE --lexicon-asr FILE.*--lm-ner"):
        parse_options("slue", base_argv("slue", tmp_path, encoder, "--lm", "x.arpa", "--lexicon", "x.txt"))
    with pytest.raises(OptionError, match="not one of 10m, 1h, 10h, 100h"):
        parse_options("librilight", base_argv("librilight", tmp_path, encoder, "--splits", "5h"))
    options = parse_options("librilight", base_argv("librilight", tmp_path, encoder, "--", "optimization.max_update=9"))
    assert options.overrides == ["optimization.max_update=9"] and options.seeds == 3


# ---------------------------------------------------------------- sizes and scale


def test_effective_batch_is_kept_on_any_number_of_gpus():
    published = published_hyperparameters("librilight_1h")  # 2 GPUs x update_freq 4 (fairseq's base_1h.yaml)
    assert (published.world_size, published.update_freq, published.max_tokens) == (2, 4, 3200000)
    assert [scale_for(published, gpus, False, False, "fp16").update_freq for gpus in (1, 2, 4, 8)] == [8, 4, 2, 1]
    three = scale_for(published, 3, False, False, "bf16")
    assert three.update_freq == 3 and "NOT exactly" in three.note and "common.bf16=true" in three.overrides
    cpu = scale_for(published, 0, True, False, "fp16")
    assert cpu.overrides[:3] == ["+hardware=cpu", "distributed_training.distributed_world_size=1",
                                 "optimization.update_freq=[8]"]
    assert scale_for(published, 0, True, True, "fp16").update_freq == 1  # smoke


def test_context_embed_dim_is_read_from_the_text_encoder(tmp_path, encoder):
    assert text_encoder_dim(encoder) == ENCODER_DIM
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "config.json").write_text('{"hidden_size": "wide"}')
    with pytest.raises(ValueError, match=re.escape(str(bad / "config.json")) + ".*hidden_size"):
        text_encoder_dim(bad)
    with pytest.raises(ValueError, match="cannot read the text encoder's config"):
        text_encoder_dim(tmp_path / "absent")


# ---------------------------------------------------------------- --dry-run of every table


@pytest.mark.parametrize("table", list(TABLES))
def test_dry_run_of_every_table_prints_its_runs_and_the_published_hyperparameters(table, tmp_path, encoder):
    benchmark = TABLES[table].benchmark
    options, printed = dry_run(benchmark, tmp_path / "out", encoder, "--tables", table, "--seeds", "2")
    plan = plan_runs([table], seeds=2)
    trainings = [line for line in printed.splitlines() if "fairseq-hydra-train " in line]
    assert len(trainings) == len(plan.runs)
    for run in plan.runs:
        folder = run.folder(tmp_path / "out" / "runs")
        assert any(f"checkpoint.save_dir={folder} " in line and f"common.seed={run.seed}" in line for line in trainings)
    for config in {run.config_name for run in plan.runs}:
        published = published_hyperparameters(config)
        line = next(line for line in printed.splitlines() if line.startswith(f"# published {config}:"))
        phases = ", ".join(f"{ratio:g}" for ratio in published.phase_ratio)
        for text in (f"lr {published.lr:g}", f"max_update {published.max_update}", f"phase_ratio [{phases}]",
                     f"mask_prob {published.mask_prob:g}",
                     f"mask_channel_prob {published.mask_channel_prob:g}", f"layerdrop {published.layerdrop:g}",
                     f"freeze_finetune_updates {published.freeze_finetune_updates}", "effective batch"):
            assert text in line, (text, line)
    # every table's GPU-hours, with the source of its seconds; the LM of its +LM cells
    assert re.search(r"^# estimate: ASSUMED 2.5 GPU-s per 3.2M-sample batch .*facebookresearch/fairseq#4002", printed, re.M)
    assert re.search(rf"^#   {re.escape(table)}: {len(plan.runs)} training run\(s\), [\d,.]+ ", printed, re.M)
    lm_cells = sum(1 for row in TABLES[table].rows for column in TABLES[table].columns
                   if any(measure.lm for measure in cell_measures(cell_spec(table, row.key, column.key))))
    printed_lm = [int(count) for count in re.findall(rf"^# \+LM cells \((\d+) of {re.escape(table)}\): slue-(?:asr|ner) LM",
                                                    printed, re.M)]
    assert (sum(printed_lm) > 0) == (lm_cells > 0) and max(printed_lm, default=0) <= lm_cells
    stages = re.findall(r"^# stage (\d):", printed, flags=re.M)
    assert stages == ["1", "2", "3", "4", "5", "6", "7"]
    assert not (tmp_path / "out").exists()  # nothing ran, nothing written
    if plan.runs and any(context_need(run).source == "store" for run in plan.runs):
        assert f"model.context_embed_dim={ENCODER_DIM}" in printed


def test_lm_rows_without_an_lm_are_reported_not_dropped(tmp_path, encoder, monkeypatch):
    monkeypatch.setenv("PATH", "/usr/bin:/bin")  # no KenLM lmplz to build the NER LM with
    _, printed = dry_run("slue", tmp_path / "out", encoder, "--tables", "ca-table4", "--seeds", "1")
    assert "not decoded: no LM given (--lm-asr FILE --lexicon-asr FILE: the TED-LIUM 3 3-gram" in printed
    ner_text = tmp_path / "out" / "data" / "voxpopuli" / "e2e_ner" / "fine-tune.raw.wrd"
    ner_lm = tmp_path / "out" / "lm" / "slue-ner"
    # SLUE-toolkit's scripts/create_ngram.sh on NER text (not lower-cased), as the command to run elsewhere
    assert (f"not decoded: no LM given (--lm-ner FILE), and KenLM's lmplz and build_binary are not on PATH to build "
            f"SLUE's VoxPopuli NER 4-gram here. Build it elsewhere as SLUE-toolkit's scripts/build_vp_ner_lm.sh does: "
            f"cat {ner_text} | lmplz --skip_symbols -o 4 > {ner_lm}/4gram.arpa && build_binary {ner_lm}/4gram.arpa "
            f"{ner_lm}/4gram.bin; then run again with --lm-ner {ner_lm}/4gram.bin") in printed


def decode_lines(printed: str, task: str):
    return [line for line in printed.splitlines() if "gcaf_fairseq.recipes.decode" in line and f"/{task}/" in line
            and "--suffix +lm" in line]


def test_each_lm_cell_is_decoded_with_its_tasks_lm_and_slue_toolkits_settings(tmp_path, encoder):
    """SLUE decodes ASR with the TED-LIUM 3 3-gram (slue_toolkit/eval/eval_w2v.py: beam 500, LM weight 2,
    word score -1) and NER with the VoxPopuli NER 4-gram (baselines/ner/e2e_scripts/eval-ner.sh: word
    score 1); --dry-run names the LM of every +LM cell and the table step checks them."""
    _, printed = dry_run("slue", tmp_path / "out", encoder, "--tables", "ca-table4", "--seeds", "1",
                         "--lm-asr", "/lm/t3/3gram.bin", "--lexicon-asr", "/lm/t3/lexicon.lst",
                         "--lm-ner", "/lm/vp_ner/4gram.bin", "--lexicon-ner", "/lm/vp_ner/lexicon.lst")
    ner, vp_asr = decode_lines(printed, "voxpopuli-ner"), decode_lines(printed, "voxpopuli-asr")
    vc_asr = decode_lines(printed, "voxceleb-asr")
    assert len(ner) == len(vp_asr) == len(vc_asr) == 3  # runs A (rows (a) and (a)*), ca_b (b), B (c)
    for line in ner:
        assert ("--lm-role slue-ner" in line and "--decoder-lm /lm/vp_ner/4gram.bin --decoder-lexicon "
                "/lm/vp_ner/lexicon.lst --decoder-beam 500 --decoder-lm-weight 2 --decoder-word-score 1" in line)
    for line in vp_asr + vc_asr:
        assert ("--lm-role slue-asr" in line and "--decoder-lm /lm/t3/3gram.bin --decoder-lexicon "
                "/lm/t3/lexicon.lst --decoder-beam 500 --decoder-lm-weight 2 --decoder-word-score -1" in line)
    assert "# +LM cells (12 of ca-table4): slue-asr LM (TED-LIUM 3 3-gram): /lm/t3/3gram.bin" in printed
    assert "# +LM cells (8 of ca-table4): slue-ner LM (VoxPopuli NER 4-gram" in printed
    assert "--lm slue-asr=/lm/t3/3gram.bin --lm slue-ner=/lm/vp_ner/4gram.bin" in printed  # gcaf-collect-results
    assert "# published slue_voxpopuli_ner: lr 5e-05, max_update 20000, phase_ratio [0.1, 0, 0.9]," in printed


ARPA = """\\data\\
ngram 1=5

\\1-grams:
-1.0\t<unk>\t0
-99\t<s>\t0
-1.0\t</s>\t0
-0.5\tin\t0
-0.7\t&\t0

\\end\\
"""


def test_the_ner_lm_is_built_from_the_prepared_fine_tune_text_when_kenlm_is_on_path(tmp_path, encoder, monkeypatch):
    """As SLUE-toolkit's scripts/build_vp_ner_lm.sh (create_ngram.sh: lmplz --skip_symbols -o 4 on
    e2e_ner/fine-tune.raw.wrd as it is, then build_binary; create_lexicon.py's lexicon). KenLM cannot be
    installed here: stand-ins for lmplz and build_binary record what they are given and write a small
    ARPA file the test holds."""
    from gcaf_fairseq.recipes.language_models import lm_build_steps
    from gcaf_fairseq.data.lexicon import read_lexicon

    tools = tmp_path / "kenlm"
    tools.mkdir()
    (tools / "lmplz").write_text(f"#!{sys.executable}\nimport pathlib, sys\n"
                                 f"pathlib.Path({str(tools / 'lmplz.args')!r}).write_text(' '.join(sys.argv[1:]))\n"
                                 f"pathlib.Path({str(tools / 'lmplz.stdin')!r}).write_text(sys.stdin.read())\n"
                                 f"sys.stdout.write({ARPA!r})\n")
    (tools / "build_binary").write_text("#!/bin/sh\ncp \"$1\" \"$2\"\n")
    for tool in ("lmplz", "build_binary"):
        (tools / tool).chmod(0o755)
    monkeypatch.setenv("PATH", f"{tools}:/usr/bin:/bin")
    out = tmp_path / "out"
    ner_data = out / "data" / "voxpopuli" / "e2e_ner"
    ner_data.mkdir(parents=True)
    text = "in & article twenty one ] in\nthe } commission ] said quiz\n"
    (ner_data / "fine-tune.raw.wrd").write_text(text)
    (ner_data / "dict.raw.ltr.txt").write_text("".join(f"{symbol} 1\n" for symbol in "|inartcleowyhsmd&}]"))
    options = parse_options("slue", base_argv("slue", out, encoder, "--tables", "ca-table4", "--seeds", "1"))
    recipe = Recipe(options)
    Runner(out, stream=io.StringIO()).run_stage(1, lm_build_steps(recipe, 1))
    assert (tools / "lmplz.args").read_text() == "--skip_symbols -o 4"
    assert (tools / "lmplz.stdin").read_text() == text  # the tag characters kept, nothing lower-cased
    assert (out / "lm" / "slue-ner" / "4gram.bin").read_text() == ARPA
    lexicon = read_lexicon(out / "lm" / "slue-ner" / "lexicon.lst")
    assert lexicon["&"] == [["&", "|"]] and lexicon["article"] == [list("article") + ["|"]]
    assert "quiz" not in lexicon  # spelled with a letter outside the dictionary: left out (and counted)
    _, printed = dry_run("slue", out, encoder, "--tables", "ca-table4", "--seeds", "1")
    assert f"--decoder-lm {out}/lm/slue-ner/4gram.bin --decoder-lexicon {out}/lm/slue-ner/lexicon.lst" in printed


def test_a_row_without_its_llm_is_written_as_skipped(tmp_path, encoder):
    for folder in ("13b", "ls", "ll"):  # a recipe that runs checks its paths first
        (tmp_path / folder).mkdir()
    (tmp_path / "w.pt").write_bytes(b"")
    argv = ["--out", str(tmp_path / "out"), "--w2v", str(tmp_path / "w.pt"), "--text-encoder", str(encoder),
            "--llm", str(tmp_path / "13b"), "--librispeech", str(tmp_path / "ls"), "--librilight", str(tmp_path / "ll"),
            "--tables", "gcaf-table5", "--systems", "D5", "D6", "D7", "--seeds", "1", "--stage", "2-4"]
    stream = io.StringIO()
    run_recipe(parse_options("librilight", argv), stream=stream)  # nothing to generate, embed or train
    assert "[stage 4] run: # not trained (no 7B LLM given" in stream.getvalue()
    for row, size in (("D5", "7B"), ("D6", "30B"), ("D7", "70B")):
        folder = tmp_path / "out" / "runs" / "librilight-asr" / "1h" / row / "seed1"
        assert read_run(folder).system == row
        assert f"no {size} LLM given (--llm {size}=DIR" in json.loads((folder / "skipped.json").read_text())["reason"]


def test_gpus_slurm_and_overrides_in_the_training_command(tmp_path, encoder):
    _, printed = dry_run("librilight", tmp_path / "out", encoder, "--tables", "gcaf-table7", "--splits", "1h",
                         "--systems", "E", "--seeds", "1", "--gpus", "4", "--precision", "bf16", "--slurm", "gpu",
                         "--", "optimization.max_update=50")
    line = next(line for line in printed.splitlines() if "fairseq-hydra-train " in line)
    assert line.split()[1] == "--multirun"  # before the overrides: Hydra refuses a flag after them
    for text in ("hydra/launcher=submitit_slurm", "hydra.launcher.partition=gpu",
                 "distributed_training.distributed_world_size=4", "optimization.update_freq=[2]", "common.bf16=true",
                 f"model.context_embed_dim={ENCODER_DIM}", "+system=E", "optimization.max_update=50"):
        assert text in line
    assert line.index("optimization.update_freq=[2]") < line.index("optimization.max_update=50")  # user's last
    assert "# published librilight_1h:" in printed and "4 GPU(s) x update_freq 2 keeps" in printed


def test_slurm_jobs_get_their_gpus_time_account_constraint_and_settings(tmp_path, encoder, monkeypatch):
    """A cluster user's settings: the partition, GPUs per node (--gpus; 1 by default, not the login
    node's count: a login node without GPUs made every job a CPU training), the time limit, the account
    and constraint, and any other submitit_slurm setting, after the recipe's so that they win."""
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")  # a login node without GPUs
    _, printed = dry_run("librilight", tmp_path / "out", encoder, "--tables", "gcaf-table7", "--splits", "1h",
                         "--systems", "A", "--seeds", "1", "--slurm", "gpu", "--slurm-time", "600",
                         "--slurm-account", "speech", "--slurm-constraint", "a100", "--slurm-setting", "qos=high",
                         "--slurm-setting", "cpus_per_task=10")
    line = next(line for line in printed.splitlines() if "fairseq-hydra-train " in line)
    for text in ("hydra.launcher.partition=gpu hydra.launcher.account=speech hydra.launcher.constraint=a100 "
                 "hydra.launcher.gpus_per_node=1", "hydra.launcher.timeout_min=600", "hydra.launcher.qos=high",
                 "distributed_training.distributed_world_size=1", "optimization.update_freq=[8]", "common.fp16=true"):
        assert text in line, text
    assert "+hardware=cpu" not in line
    assert line.index("hydra.launcher.cpus_per_task=8") < line.index("hydra.launcher.cpus_per_task=10")
    with pytest.raises(OptionError, match="--slurm-setting 'qos': use KEY=VALUE"):
        parse_options("librilight", base_argv("librilight", tmp_path, encoder, "--slurm", "gpu", "--slurm-setting", "qos"))


def test_shell_script_dry_run_prints_every_stage_in_order(tmp_path, encoder):
    script = ROOT / "scripts" / "reproduce_slue.sh"
    result = subprocess.run(
        ["bash", str(script), *base_argv("slue", tmp_path / "out", encoder, "--tables", "ca-fig3", "--seeds", "1",
                                         "--dry-run", "--llm-url", "7B=http://a/v1", "--llm-name", "7B=x")],
        capture_output=True, text=True, env={"PYTHON": sys.executable, "PATH": "/usr/bin:/bin"})
    assert result.returncode != 0 and "two" not in result.stderr  # --llm 7B and --llm-url 7B clash
    assert "--llm-url: the 7B rows already use --llm" in result.stderr
    result = subprocess.run(["bash", str(script), *base_argv("slue", tmp_path / "out", encoder, "--tables", "ca-fig3",
                                                             "--seeds", "1", "--dry-run")],
                            capture_output=True, text=True, env={"PYTHON": sys.executable, "PATH": "/usr/bin:/bin"})
    assert result.returncode == 0, result.stderr
    assert re.findall(r"^# stage (\d):", result.stdout, flags=re.M) == ["1", "2", "3", "4", "5", "6", "7"]
    assert result.stdout.count("# published slue_voxceleb_asr") == 1  # the plan once, not per stage
    assert "gcaf_fairseq.recipes.decode" in result.stdout and "collect_results" in result.stdout


# ---------------------------------------------------------------- the runner


def test_runner_skips_done_commands_and_reruns_changed_ones(tmp_path):
    out = tmp_path / "out"
    target = out / "made.txt"

    def command(text):
        return Command(1, [sys.executable, "-c", f"open({str(target)!r}, 'w').write({text!r})"], [target])

    runner = Runner(out, dry_run=False, stream=io.StringIO())
    runner.run_stage(1, [command("one")])
    assert target.read_text() == "one" and len(runner.ran) == 1
    runner.run_stage(1, [command("one")])
    assert len(runner.ran) == 1  # done: skipped
    target.write_text("edited")
    runner.run_stage(1, [command("two")])  # another command line: not done
    assert target.read_text() == "two" and len(runner.ran) == 2
    log = (out / "recipe.log").read_text()
    assert log.count("[stage 1] run:") == 2 and log.count("[stage 1] skip (done):") == 1


def test_runner_failure_names_the_command_and_its_log(tmp_path):
    log = tmp_path / "job.log"
    failing = Command(4, [sys.executable, "-c", "import sys; print('boom'); sys.exit(3)"], [tmp_path / "x"], log=log)
    with pytest.raises(RecipeError, match=r"stage 4: exit 3: .*\n.*job.log.*\n.*boom"):
        Runner(tmp_path, dry_run=False, stream=io.StringIO()).run_stage(4, [failing])
    missing = Command(6, [sys.executable, "-c", "pass"], [tmp_path / "never.json"])
    with pytest.raises(RecipeError, match="finished without writing .*never.json"):
        Runner(tmp_path, dry_run=False, stream=io.StringIO()).run_stage(6, [missing])


def test_recipe_needs_a_text_encoder_for_text_rows(tmp_path):
    options = parse_options("librilight", ["--out", str(tmp_path), "--w2v", "/w.pt", "--tables", "gcaf-table2",
                                           "--dry-run"])
    with pytest.raises(ValueError, match="rows C1, C2, C3, C4 embed context texts: give --text-encoder"):
        Recipe(options)


def test_each_dataset_gets_its_own_context_logs(tmp_path, encoder):
    """Generating and embedding VoxCeleb's and VoxPopuli's context used to log both into
    context/voxceleb/*.log."""
    _, printed = dry_run("slue", tmp_path / "out", encoder, "--tables", "gcaf-table8", "--systems", "E", "C1",
                         "--seeds", "1", "--stage", "2-3")
    logs = {}
    for line in printed.splitlines():
        match = re.search(r"--(?:texts|utterances) (\S+?)/(voxceleb|voxpopuli)/.* >> (\S+)/(voxceleb|voxpopuli)/"
                          r"(\w+)\.log 2>&1$", line)
        if match:
            assert match.group(2) == match.group(4), line  # a dataset's step logs under its own folder
            logs.setdefault(match.group(4), set()).add(match.group(5))
    assert logs == {"voxceleb": {"generate_context", "embed_context"}, "voxpopuli": {"generate_context", "embed_context"}}
