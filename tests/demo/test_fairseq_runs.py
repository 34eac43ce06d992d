"""The one runner's process layer (gcaf_fairseq.recipes.processes) and the demo's honesty: progress lines while a training runs (read
from fairseq's json log), wall and CPU time of each run, and the steps actually run."""

import json
import re
import sys
import textwrap

import pytest

from gcaf_fairseq.recipes.processes import TrainingProgress, format_duration, hydra_train, progress_line, run_logged
from gcaf_fairseq.tables.train_log import read_training_log, updates_in_log_line

INNER = '[2024-01-01 00:00:00,000][train_inner][INFO] - {{"epoch": 1, "loss": "3.1", "num_updates": "{n}", "lr": "0.001"}}'
EPOCH = '[2024-01-01 00:00:00,000][train][INFO] - {{"epoch": 2, "train_loss": "3.0", "train_num_updates": "{n}"}}'
VALID = '[2024-01-01 00:00:00,000][valid][INFO] - {"epoch": 1, "valid_loss": "3.2", "valid_num_updates": "40"}'


def test_update_counts_are_read_from_fairseqs_json_lines():
    assert updates_in_log_line(INNER.format(n=30)) == 30
    assert updates_in_log_line(EPOCH.format(n=41)) == 41
    assert updates_in_log_line(VALID) is None
    assert updates_in_log_line('[x][train_inner][INFO] - {"num_updates": ') is None  # a line still being written
    assert updates_in_log_line("epoch 001: 10 / 40 loss=3.1") is None


def test_progress_lines_show_updates_out_of_total_and_an_eta():
    assert progress_line("[demo]     C1", 300, 1500, 65, 0.2, "updates") == "[demo]     C1: 300/1500 updates (20%), 1m05s, ETA 4m00s"
    assert progress_line("x", 1000, 1000, 3725, None, "steps") == "x: 1000/1000 steps (100%), 1h02m"
    assert [format_duration(s) for s in (0, 59.4, 60, 3599, 3600)] == ["0s", "59s", "1m00s", "59m59s", "1h00m"]


def test_progress_follows_a_growing_log_and_throttles(tmp_path, capsys, monkeypatch):
    clock = iter([10.0, 11.0, 40.0, 41.0])
    monkeypatch.setattr("gcaf_fairseq.recipes.processes.time.perf_counter", lambda: next(clock))
    log = tmp_path / "train.log"
    progress = TrainingProgress("[demo]     A", 100, every_seconds=15)
    log.write_text("command\n" + INNER.format(n=10) + "\n" + INNER.format(n=20)[:30])  # a half-written line
    progress.follow(log, started=0.0)  # t=10: 10 updates in 10 s
    with open(log, "a") as stream:
        stream.write(INNER.format(n=20)[30:] + "\n")
    progress.follow(log, started=0.0)  # t=11: 20 updates, but a line was printed 1 s ago
    with open(log, "a") as stream:
        stream.write(INNER.format(n=50) + "\n")
    progress.follow(log, started=0.0)  # t=40: 40 updates in 30 s since the first count
    progress.follow(log, started=0.0, final=True)  # t=41
    lines = capsys.readouterr().out.splitlines()
    assert lines == [
        "[demo]     A: 10/100 updates (10%), 10s, ETA 1m30s",
        "[demo]     A: 50/100 updates (50%), 40s, ETA 38s",
        "[demo]     A: 50/100 updates (50%), 41s",
    ]


def test_run_logged_prints_progress_and_returns_wall_and_cpu_time(tmp_path, capsys):
    script = tmp_path / "fake_train.py"
    script.write_text(textwrap.dedent(f"""
        import time
        inner = {INNER!r}
        for n in (10, 20, 30):
            start = time.process_time()
            while time.process_time() - start < 0.15:  # burn CPU
                pass
            print(inner.format(n=n), flush=True)
            time.sleep(0.3)
    """))
    progress = TrainingProgress("[test] fake", 30, every_seconds=0)
    times = run_logged([sys.executable, str(script)], tmp_path / "fake.log", progress=progress, poll_seconds=0.1)
    lines = capsys.readouterr().out.splitlines()
    assert lines and all(line.startswith("[test] fake: ") for line in lines)
    assert "[test] fake: 10/30 updates (33%)" in lines[0] and "ETA" in lines[0]
    assert lines[-1].startswith("[test] fake: 30/30 updates (100%)") and "ETA" not in lines[-1]
    assert times.cpu_seconds >= 0.4  # the child's CPU time, not this process's
    assert times.wall_seconds >= 0.9 and times.wall_seconds >= times.cpu_seconds * 0.9
    assert (tmp_path / "fake.log").read_text().count("train_inner") == 3


def test_run_logged_raises_with_the_end_of_the_log(tmp_path):
    with pytest.raises(RuntimeError, match=r"(?s)failed \(exit 3\).*went wrong"):
        run_logged([sys.executable, "-c", "print('went wrong'); raise SystemExit(3)"], tmp_path / "bad.log")


@pytest.mark.slow
def test_a_short_real_training_shows_progress_and_reports_its_updates(corpus, w2v_checkpoint, tmp_path, capsys):
    save_dir = tmp_path / "A"
    progress = TrainingProgress("[demo]     A", 20, every_seconds=0)
    overrides = [f"task.data={corpus}", f"model.w2v_path={w2v_checkpoint}", "optimization.max_update=20"]
    times = hydra_train("demo_tiny", save_dir, overrides, system="A", progress=progress)
    lines = [line for line in capsys.readouterr().out.splitlines() if line.startswith("[demo]     A: ")]
    # fairseq logs every 10 updates and at each epoch's end, and the log is polled once a
    # second: which counts show before the end depends on the machine's speed (the stub test
    # above checks the lines in between). Each shows a count out of 20, growing, and an ETA.
    assert lines and lines[-1].startswith("[demo]     A: 20/20 updates (100%)"), lines
    counts = []
    for line in lines[:-1]:
        match = re.match(r"\[demo\]     A: (\d+)/20 updates \((\d+)%\), .*ETA", line)
        assert match and int(match.group(2)) == 5 * int(match.group(1)), lines
        counts.append(int(match.group(1)))
    assert counts == sorted(counts), lines
    assert read_training_log(save_dir / "train.log").num_updates == progress.updates == 20
    assert 0 < times.cpu_seconds and 0 < times.wall_seconds


def test_the_demo_llm_is_bounded_by_steps_and_reports_them(tmp_path, capsys):
    from gcaf_demo.corpus import DEFAULT_VOICES, plan_corpus, utterance_rows
    from gcaf_demo.tiny_llm import RUN_RECORD_NAME, train_tiny_llm
    from gcaf_fairseq.data.utterance_table import write_utterance_table

    chapters = plan_corpus(4, 4, 0, DEFAULT_VOICES)
    write_utterance_table(tmp_path / "train.utterances.jsonl", [r for c in chapters for r in utterance_rows(c, tmp_path)])
    run = train_tiny_llm(tmp_path, tmp_path / "llm", steps=5, seed=0, progress="[demo]     tiny LLM", progress_seconds=0)
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("[demo]     tiny LLM: 1/5 steps (20%)") and "ETA" in lines[0]
    assert lines[-1].startswith("[demo]     tiny LLM: 5/5 steps (100%)") and len(lines) == 5
    record = json.loads((run.folder / RUN_RECORD_NAME).read_text())
    assert run.steps == record["steps"] == 5 and run.cpu_seconds == record["cpu_seconds"] > 0
    assert run.summary()["steps"] == 5
    with pytest.raises(ValueError, match="number of steps >= 1"):
        train_tiny_llm(tmp_path, tmp_path / "llm2", steps=0)


def test_the_results_table_says_which_time_is_which():
    from gcaf_demo.pipeline import TIME_NOTE, SystemResult, results_table

    common = dict(homophones=None, valid_wer=50.0, updates=20, decode_seconds=1.0, decoded=6, context_at_inference="none")
    results = [
        SystemResult("A", "baseline", 60.0, parameters=100, train_seconds=300.0, train_cpu_seconds=120.0, **common),
        SystemResult("E", "student (LLM trained 5 steps)", 55.0, parameters=150, train_seconds=90.0, train_cpu_seconds=130.0,
                     llm={"steps": 5}, **common),
    ]  # fmt: skip
    table = results_table(results)
    header = table.splitlines()[0]
    assert "| train wall s | train CPU s |" in header
    assert "| 300 | 120 |" in table and "| 90 | 130 |" in table
    assert TIME_NOTE in table and "depend on what else the machine ran" in TIME_NOTE
