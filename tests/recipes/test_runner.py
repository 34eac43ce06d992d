"""The recipes' one runner (gcaf_fairseq.recipes.runner): a step is done only when it was made
from the same inputs with the same settings and its outputs are still what it made; a change
is named and redone downstream, and nowhere else; a killed step resumes."""

import io
import json
import os
import sys
import time
from pathlib import Path

import pytest

from gcaf_fairseq.recipes.fingerprints import HashCache, fingerprint
from gcaf_fairseq.recipes.runner import RecipeError, Runner, Step


def copy_step(stage, source: Path, target: Path, suffix: str = "", **extra) -> Step:
    """A step that copies ``source`` (a file) to ``target``, appending ``suffix``."""
    code = f"import pathlib; pathlib.Path({str(target)!r}).write_text(pathlib.Path({str(source)!r}).read_text() + {suffix!r})"
    return Step(stage, [sys.executable, "-c", code], [target], inputs=[source], **extra)


def run(out: Path, steps) -> Runner:
    runner = Runner(out, stream=io.StringIO())
    for step in steps:
        runner.run_stage(step.stage, [step], name="test")
    return runner


def printed(runner: Runner) -> str:
    return runner.stream.getvalue()


@pytest.fixture
def chain(tmp_path):
    """source.txt -> a.txt -> b.txt, and other.txt -> c.txt beside them."""
    source, other = tmp_path / "source.txt", tmp_path / "other.txt"
    source.write_text("ONE\n")
    other.write_text("OTHER\n")
    out = tmp_path / "out"
    steps = lambda suffix="": [copy_step(1, source, out / "a.txt"), copy_step(2, out / "a.txt", out / "b.txt", suffix),  # noqa: E731
                               copy_step(2, other, out / "c.txt")]
    return source, other, out, steps


def test_a_changed_input_is_named_and_redone_downstream_only(chain):
    source, other, out, steps = chain
    first = run(out, steps())
    assert len(first.ran) == 3 and (out / "b.txt").read_text() == "ONE\n"
    again = run(out, steps())
    assert again.ran == [] and len(again.skipped) == 3
    source.write_text("ONE EDITED\n")  # a transcript edited in the source tree
    edited = run(out, steps())
    assert len(edited.ran) == 2 and (out / "b.txt").read_text() == "ONE EDITED\n"  # a and b, not c
    assert f"input changed: {source} changed (content)" in printed(edited)
    assert f"input changed: {out / 'a.txt'} changed (content)" in printed(edited)


def test_changed_settings_are_named_and_redone(chain):
    _, _, out, steps = chain
    run(out, steps())
    changed = run(out, steps(suffix="+20"))
    assert len(changed.ran) == 1 and (out / "b.txt").read_text() == "ONE\n+20"
    assert "settings changed: argv:" in printed(changed)


def test_replaced_then_restored_audio_is_redone_both_times(tmp_path):
    source = tmp_path / "source"
    source.mkdir()
    audio = source / "x.flac"
    audio.write_bytes(b"fLaC" + b"\0" * 100)
    out = tmp_path / "out"
    (source / "list.txt").write_text("x.flac\n")

    def manifest_step():
        made = copy_step(1, source / "list.txt", out / "manifest.tsv")
        made.inputs.append(source)  # the source folder: audio by size and time
        return made

    assert len(run(out, [manifest_step()]).ran) == 1
    original = audio.read_bytes()
    audio.write_bytes(b"fLaC" + b"\1" * 50)  # replaced
    replaced = run(out, [manifest_step()])
    assert len(replaced.ran) == 1 and "audio or checkpoints (1 -> 1 files, sizes or times)" in printed(replaced)
    audio.write_bytes(original)  # restored: same bytes, a new time
    assert len(run(out, [manifest_step()]).ran) == 1
    assert run(out, [manifest_step()]).ran == []


def test_an_output_truncated_or_missing_after_it_was_made_is_redone(chain):
    _, _, out, steps = chain
    run(out, steps())
    (out / "c.txt").write_text("OTH")  # truncated
    (out / "b.txt").unlink()
    again = run(out, steps())
    assert sorted(Path(line.split(".write_text")[0].split("Path(")[-1].strip("'\")")).name for line in again.ran) \
        == ["b.txt", "c.txt"]
    assert "changed since it was made (truncated or edited?)" in printed(again) and "is missing" in printed(again)


def test_a_failed_check_redoes_the_step(tmp_path):
    source = tmp_path / "s.txt"
    source.write_text("x")
    out = tmp_path / "out"
    verdict = {"problem": None}
    step = lambda: copy_step(1, source, out / "t.txt", check=lambda: verdict["problem"])  # noqa: E731
    run(out, [step()])
    verdict["problem"] = "training unfinished: 12 of 20 updates"  # e.g. checkpoint_best.pt deleted
    runner = Runner(out, stream=io.StringIO())
    with pytest.raises(RecipeError, match="training unfinished: 12 of 20 updates"):
        runner.run_stage(1, [step()], name="test")  # redone, and still not right: an error, not a skip
    assert len(runner.ran) == 1 and "why: training unfinished" in printed(runner)
    verdict["problem"] = None
    assert len(run(out, [step()]).ran) == 1 and run(out, [step()]).ran == []


def test_a_killed_step_resumes_with_its_outputs_unless_its_settings_changed(tmp_path):
    """A step that died after its start keeps what it made for a rerun with the same settings
    (fairseq resumes from checkpoint_last.pt); with other settings it starts from nothing."""
    out = tmp_path / "out"
    folder = out / "run"
    log = tmp_path / "calls.txt"
    code = ("import pathlib, sys; folder = pathlib.Path(sys.argv[1]); folder.mkdir(parents=True, exist_ok=True); "
            "partial = folder / 'checkpoint_last.pt'; resumed = partial.exists(); "
            "open(sys.argv[3], 'a').write(f'{sys.argv[2]} resumed={resumed}\\n'); partial.write_text('x'); "
            "sys.exit(0 if sys.argv[2].endswith('finish') else 1)")

    def step(setting):
        from gcaf_fairseq.recipes.stages.common import empty_folder

        return Step(4, [sys.executable, "-c", code, str(folder), setting, str(log)], [folder / "checkpoint_last.pt"],
                    discard=empty_folder(folder), key_paths=[folder])

    with pytest.raises(Exception):
        run(out, [step("lr=1 die")])
    with pytest.raises(Exception):
        run(out, [step("lr=1 die")])  # the same settings: resumed
    with pytest.raises(Exception):
        run(out, [step("lr=2 die")])  # other settings: from scratch
    assert log.read_text().splitlines() == ["lr=1 die resumed=False", "lr=1 die resumed=True",
                                            "lr=2 die resumed=False"]


def test_model_weights_are_hashed_once_and_cached(tmp_path):
    weights = tmp_path / "model.safetensors"
    weights.write_bytes(os.urandom(1 << 16))
    cache = HashCache(tmp_path / "cache.json")
    first = fingerprint(weights, cache)
    cache.save()
    reopened = HashCache(tmp_path / "cache.json")
    calls = []
    import gcaf_fairseq.data.fingerprints as module

    original = module.file_sha256
    module.file_sha256 = lambda path: calls.append(path) or original(path)
    try:
        assert fingerprint(weights, reopened) == first and calls == []  # from the cache
        time.sleep(0.01)
        weights.write_bytes(os.urandom(1 << 16))  # replaced in place
        assert fingerprint(weights, reopened) != first and calls == [weights]
    finally:
        module.file_sha256 = original


def test_records_say_what_a_step_was_made_from(chain):
    _, _, out, steps = chain
    runner = run(out, steps())
    record = json.loads(runner.record_path(steps()[1]).read_text())
    assert set(record) >= {"settings", "inputs", "outputs", "finished", "wall_seconds"}
    assert str(out / "a.txt") in record["inputs"] and str(out / "b.txt") in record["outputs"]


FAKE_TRAINING = (
    "import sys, time\n"
    "for update in range(1, 7):\n"
    "    time.sleep(0.15)\n"
    "    print('[2026-01-01 00:00:00,000][train_inner][INFO] - {\"num_updates\": \"%d\"}' % update, flush=True)\n"
    "open(sys.argv[1], 'w').write('trained')\n")


def test_trainings_show_run_k_of_n_updates_and_an_eta_at_most_every_interval(tmp_path, capsys):
    out = tmp_path / "out"
    steps = [Step(4, [sys.executable, "-c", FAKE_TRAINING, str(out / name / "checkpoint_best.pt")],
                  [out / name / "checkpoint_best.pt"], log=out / name / "train.log", progress=("updates", 6),
                  name=f"librilight-asr/10m/{name}/seed1") for name in ("A", "E")]
    Runner(out, stream=io.StringIO(), progress_seconds=0.4).run_stage(4, steps, name="train")
    lines = [line for line in capsys.readouterr().out.splitlines() if line.startswith("[stage 4]")]
    for number, name in ((1, "A"), (2, "E")):
        mine = [line for line in lines if line.startswith(f"[stage 4] {number} of 2: librilight-asr/10m/{name}/seed1: ")]
        assert mine and mine[-1].split(": ", 2)[2].startswith("6/6 updates (100%), ")  # the last line: the end
        assert len(mine) <= 4, mine  # about 1 s of training at most every 0.4 s, and the last line
        counts = [int(line.split(": ", 2)[2].split("/")[0]) for line in mine]
        assert counts == sorted(counts)
        assert all(", ETA " in line for line in mine[:-1])


def test_a_decoding_shows_its_subsets_one_by_one(tmp_path, capsys):
    out = tmp_path / "out"
    code = ("import sys, time\nfor subset in ('dev_clean', 'dev_other'):\n    time.sleep(0.1)\n"
            "    print(f'decoded {subset}: 3 utterances in 0.1 s', flush=True)\nopen(sys.argv[1], 'w').write('x')\n")
    step = Step(5, [sys.executable, "-c", code, str(out / "d" / "done")], [out / "d" / "done"],
                log=out / "d" / "decode.log", progress=("subsets", 2), name="librilight-asr/10m/A/seed1")
    Runner(out, stream=io.StringIO()).run_stage(5, [step], name="decode")
    lines = [line for line in capsys.readouterr().out.splitlines() if line.startswith("[stage 5]")]
    assert lines[0].startswith("[stage 5] 1 of 1: librilight-asr/10m/A/seed1: 1/2 subsets (50%), ")
    assert ", ETA " in lines[0] and lines[0].endswith("[dev_clean]")
    assert lines[1].startswith("[stage 5] 1 of 1: librilight-asr/10m/A/seed1: 2/2 subsets (100%), ")
    assert lines[1].endswith("[dev_other]") and len(lines) == 2


def test_a_step_reading_what_an_earlier_step_of_its_stage_made_follows_it(chain):
    """A stage's steps were all judged before any ran: a step whose input an earlier step of the
    same stage made (a store checked after it is embedded, shards merged after they are
    generated) was recorded with that input missing and redone at every rerun, and kept its
    stale output when the earlier step was redone."""
    source, _, out, steps = chain

    def one_stage():
        runner = Runner(out, stream=io.StringIO())
        runner.run_stage(1, [copy_step(1, source, out / "a.txt"), copy_step(1, out / "a.txt", out / "b.txt")],
                         name="test")
        return runner

    assert len(one_stage().ran) == 2
    assert one_stage().ran == []  # b's record holds the a.txt it read
    source.write_text("TWO\n")
    again = one_stage()
    assert len(again.ran) == 2 and (out / "b.txt").read_text() == "TWO\n"
    assert f"input changed: {out / 'a.txt'} changed (content)" in printed(again)
