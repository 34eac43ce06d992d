"""What a recipe checks before stage 1 (gcaf_fairseq/recipes/preflight.py, options.py): recipe
options after --, paths that do not exist, a read-only --out and a second recipe run into one
--out are each refused in one line, before anything runs."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from gcaf_fairseq.recipes import run as run_module
from gcaf_fairseq.recipes.options import OptionError, parse_options
from gcaf_fairseq.recipes.preflight import OutLock, PreflightError
from gcaf_fairseq.recipes.run import run_recipe

PROG = "scripts/reproduce_librilight.sh"


@pytest.fixture
def given(tmp_path):
    """Paths that exist, as a recipe's command line names them."""
    encoder = tmp_path / "encoder"
    encoder.mkdir()
    (encoder / "config.json").write_text(json.dumps({"hidden_size": 8}))
    for folder in ("llm", "LibriSpeech", "librispeech_finetuning"):
        (tmp_path / folder).mkdir()
    (tmp_path / "w2v.pt").write_bytes(b"")
    return ["--w2v", str(tmp_path / "w2v.pt"), "--text-encoder", str(encoder), "--llm", str(tmp_path / "llm"),
            "--librispeech", str(tmp_path / "LibriSpeech"), "--librilight", str(tmp_path / "librispeech_finetuning"),
            "--tables", "gcaf-table6", "--seeds", "1", "--cpu"]


def exit_message(argv) -> str:
    with pytest.raises(SystemExit) as exit_:
        run_module.main(["librilight", *argv])
    return str(exit_.value.code)


def test_a_recipe_option_after_the_double_dash_is_refused_before_anything_runs(tmp_path, given):
    out = tmp_path / "out"
    message = exit_message(["--out", str(out), *given, "--", "optimization.max_update=20", "--dry-run"])
    assert message == (f"{PROG}: error: --dry-run comes after --, where only Hydra overrides for the trainings go "
                       "(key=value): put it before --")
    assert not out.exists()  # nothing ran, nothing was written
    with pytest.raises(OptionError, match="'-m' after -- is not a Hydra override"):
        parse_options("librilight", ["--out", str(out), *given, "--", "-m"])
    with pytest.raises(OptionError, match="--seeds comes after --"):
        parse_options("librilight", ["--out", str(out), *given, "--", "--seeds=2"])
    kept = parse_options("librilight", ["--out", str(out), *given, "--", "optimization.max_update=20", "+a.b=1", "~c"])
    assert kept.overrides == ["optimization.max_update=20", "+a.b=1", "~c"]


def test_every_path_given_is_checked_before_stage_1(tmp_path, given):
    out = tmp_path / "out"
    argv = ["--out", str(out), *given, "--lm", str(tmp_path / "4-gram.arpa"), "--lexicon", str(tmp_path / "llm")]
    message = exit_message(argv)
    assert message == (f"{PROG}: error: --lm {tmp_path / '4-gram.arpa'}: no such file; --lexicon {tmp_path / 'llm'}: "
                       "a folder, not a file")
    assert not out.exists()
    config = tmp_path / "encoder" / "config.json"
    text = config.read_text()
    config.unlink()
    with pytest.raises(PreflightError, match=r"--text-encoder .*: no config.json"):
        run_recipe(parse_options("librilight", ["--out", str(out), *given]))
    config.write_text(text)
    printed = []
    run_recipe(parse_options("librilight", argv + ["--dry-run"]), stream=_Lines(printed))  # shown, not refused
    assert f"# warning: --lm {tmp_path / '4-gram.arpa'}: no such file" in printed


class _Lines:
    def __init__(self, lines):
        self.lines = lines

    def write(self, text):
        self.lines.extend(line for line in text.splitlines() if line)

    def flush(self):
        pass


def test_a_read_only_out_is_one_line(tmp_path, given, monkeypatch):
    out = tmp_path / "read-only"

    def refuse(self, *args, **kwargs):
        raise PermissionError(13, "Permission denied", str(self))

    monkeypatch.setattr(Path, "mkdir", refuse)  # root ignores chmod: the file system's answer, as it comes
    message = exit_message(["--out", str(out), *given])
    assert message == (f"{PROG}: error: --out {out}: cannot write there (Permission denied: give an --out you can "
                       "write to)")


def test_two_recipe_runs_into_one_out_do_not_both_start(tmp_path, given):
    out = tmp_path / "out"
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys, time; from gcaf_fairseq.recipes.preflight import OutLock; "
         f"lock = OutLock({str(out)!r}); print('held', flush=True); time.sleep(60)"],
        stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        message = exit_message(["--out", str(out), *given, "--stage", "7"])
        assert message == (f"{PROG}: error: --out {out} is in use by another recipe run (pid {holder.pid}, lock "
                           f"{out / '.recipe' / 'lock'}): wait for it to finish or stop it, or give another --out")
        assert not (out / "recipe.log").exists()
    finally:
        holder.kill()
        holder.wait()
    with OutLock(out):  # released when its holder died
        pass


def test_slurm_with_an_out_holding_an_interpolation_is_refused(tmp_path, given):
    with pytest.raises(PreflightError, match=r"a path holding '\$\{' cannot go to SLURM"):
        run_recipe(parse_options("librilight", ["--out", str(tmp_path / "${oc.env:HOME}"), *given, "--slurm", "gpu"]))
