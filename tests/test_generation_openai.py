"""The openai backend against fake OpenAI-compatible servers on 127.0.0.1 (well-behaved,
failing, slow), and the runner's promises: kill -9 then resume gives every id exactly
once, shards merge into the whole split."""

import hashlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from gcaf_fairseq.cli.generate_context import main as generate_main
from gcaf_fairseq.cli.merge_generations import main as merge_main
from gcaf_fairseq.data.utterance_table import write_utterance_table
from gcaf_fairseq.generation.backends import BackendError, OpenAIBackend
from gcaf_fairseq.generation.generation_file import read_generations, shard_of
from gcaf_fairseq.generation.prompts import PROMPTS
from gcaf_fairseq.generation.runner import run_generation
from gcaf_fairseq.generation.templates import STABLEBELUGA_DEFAULT_SYSTEM, build_template

REPOSITORY = Path(__file__).resolve().parents[1]


def fake_generation(prompt_key: str) -> str:
    """What the fake servers answer: a function of the prompt, so tests can check it."""
    return "title " + hashlib.sha1(prompt_key.encode()).hexdigest()[:8]


class FakeOpenAIServer:
    """``/v1/completions`` and ``/v1/chat/completions`` on 127.0.0.1 in a thread.

    ``failures``: how many first attempts of each prompt get ``failure_status``;
    ``slow_first``: seconds the first attempt of each prompt sleeps (a timeout);
    ``delay``: seconds every request takes. Records requests and the most in flight.
    """

    def __init__(self, failures=0, failure_status=500, slow_first=0.0, delay=0.0):
        self.failures, self.failure_status, self.slow_first, self.delay = failures, failure_status, slow_first, delay
        self.requests, self.attempts = [], {}
        self.in_flight = self.max_in_flight = 0
        self.lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                server.handle(self, body)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.base_url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc_info):
        self.httpd.shutdown()
        self.httpd.server_close()

    def handle(self, handler, body):
        chat = handler.path == "/v1/chat/completions"
        key = json.dumps(body["messages"]) if chat else body["prompt"]
        with self.lock:
            self.requests.append((handler.path, body))
            attempt = self.attempts[key] = self.attempts.get(key, 0) + 1
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            time.sleep(self.delay + (self.slow_first if attempt == 1 else 0.0))
            if attempt <= self.failures:
                return self.reply(handler, self.failure_status, {"error": {"message": "busy, try again", "type": "server_error"}})
            text = fake_generation(key)
            choice = {"index": 0, "finish_reason": "stop", "logprobs": None}
            choice.update({"message": {"role": "assistant", "content": " " + text}} if chat else {"text": " " + text})
            self.reply(handler, 200, {
                "id": "fake", "object": "chat.completion" if chat else "text_completion", "created": 0,
                "model": body["model"], "choices": [choice],
                "usage": {"prompt_tokens": len(key.split()), "completion_tokens": 2, "total_tokens": len(key.split()) + 2},
            })
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up (timeout)
        finally:
            with self.lock:
                self.in_flight -= 1

    @staticmethod
    def reply(handler, status, payload):
        data = json.dumps(payload).encode()
        handler.send_response(status)
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Content-Length", str(len(data)))
        handler.end_headers()
        handler.wfile.write(data)


def write_table(path, streams=6, per_stream=5):
    rows = []
    for s in range(streams):
        for k in range(per_stream):
            rows.append({
                "id": f"s{s}-{k:02d}", "stream": f"s{s}", "position": k, "audio": "unused.flac",
                "text": f"sentence {k} of stream {s}", "prev_id": f"s{s}-{k - 1:02d}" if k else None,
                "next_id": f"s{s}-{k + 1:02d}" if k + 1 < per_stream else None, "in_split": True,
            })
    write_utterance_table(path, rows)
    return [row["id"] for row in rows]


def test_completions_endpoint_with_a_text_template(tmp_path):
    ids = write_table(tmp_path / "u.jsonl", streams=2, per_stream=3)
    with FakeOpenAIServer() as server:
        backend = OpenAIBackend(server.base_url, "beluga-13b", max_new_tokens=256, concurrency=2)
        template = build_template("stablebeluga", "openai")
        summary = run_generation(tmp_path / "u.jsonl", tmp_path / "gen.jsonl", "P4", template, backend, progress=False)
    assert summary["generated"] == 4 and summary["no_previous"] == 2
    records = {r["id"]: r for r in read_generations(tmp_path / "gen.jsonl").records}
    assert set(records) == set(ids)
    sent = f"### System:\n{STABLEBELUGA_DEFAULT_SYSTEM}\n\n### User:\n{PROMPTS['P4']} sentence 0 of stream 1\n\n### Assistant:\n"
    assert records["s1-01"]["prompt_sent"] == sent and records["s1-01"]["generation"] == fake_generation(sent)
    assert records["s1-01"]["finish_reason"] == "stop" and records["s1-01"]["completion_tokens"] == 2
    paths = {path for path, _ in server.requests}
    bodies = [body for _, body in server.requests]
    assert paths == {"/v1/completions"} and len(bodies) == 4
    assert all(b["temperature"] == 0 and b["max_tokens"] == 256 and b["model"] == "beluga-13b" for b in bodies)


def test_chat_endpoint_with_the_server_template(tmp_path):
    write_table(tmp_path / "u.jsonl", streams=1, per_stream=3)
    with FakeOpenAIServer() as server:
        backend = OpenAIBackend(server.base_url, "llama-2-13b-chat", max_new_tokens=16)
        template = build_template("auto", "openai", system="Answer briefly.")
        run_generation(tmp_path / "u.jsonl", tmp_path / "gen.jsonl", "P1", template, backend, progress=False)
    record = {r["id"]: r for r in read_generations(tmp_path / "gen.jsonl").records}["s0-02"]
    messages = [{"role": "system", "content": "Answer briefly."},
                {"role": "user", "content": f"{PROMPTS['P1']} sentence 1 of stream 0"}]
    assert json.loads(record["prompt_sent"]) == messages and record["generation"] == fake_generation(json.dumps(messages))
    assert {path for path, _ in server.requests} == {"/v1/chat/completions"}
    assert any(body["messages"] == messages for _, body in server.requests)
    assert all(body["max_tokens"] == 16 and body["temperature"] == 0 for _, body in server.requests)


def test_server_errors_are_retried_with_backoff():
    template = build_template("none", "openai")
    with FakeOpenAIServer(failures=2, failure_status=503) as server:
        backend = OpenAIBackend(server.base_url, "m", max_retries=3, retry_backoff=0.01)
        [[(_, completion)]] = list(backend.iterate_completions([template.render("hello")]))
    assert completion.text == fake_generation("hello") and server.attempts["hello"] == 3


def test_a_slow_request_times_out_and_is_retried():
    template = build_template("none", "openai")
    with FakeOpenAIServer(slow_first=1.5) as server:
        backend = OpenAIBackend(server.base_url, "m", timeout=0.3, max_retries=2, retry_backoff=0.01)
        started = time.perf_counter()
        [[(_, completion)]] = list(backend.iterate_completions([template.render("slow")]))
    assert completion.text == fake_generation("slow") and server.attempts["slow"] == 2
    assert time.perf_counter() - started < 1.5  # did not wait for the slow answer


def test_a_refused_request_fails_at_once():
    template = build_template("none", "openai")
    with FakeOpenAIServer(failures=99, failure_status=404) as server:
        backend = OpenAIBackend(server.base_url, "no-such-model", max_retries=5, retry_backoff=0.01)
        with pytest.raises(BackendError, match="request refused"):
            list(backend.iterate_completions([template.render("x")]))
    assert server.attempts["x"] == 1


def test_a_failing_server_keeps_what_finished_and_the_cli_says_resume(tmp_path, capsys):
    write_table(tmp_path / "u.jsonl", streams=2, per_stream=4)
    arguments = ["--utterances", str(tmp_path / "u.jsonl"), "--prompt", "P4", "--out", str(tmp_path / "gen.jsonl"),
                 "--backend", "openai", "--model", "m", "--template", "none", "--max-retries", "1",
                 "--retry-backoff", "0.01", "--concurrency", "1", "--batch-size", "1", "--no-progress"]
    with FakeOpenAIServer(failures=99) as server:
        arguments[arguments.index("--backend"):arguments.index("--backend")] = ["--base-url", server.base_url]
        with pytest.raises(SystemExit) as exit_info:
            generate_main(arguments)
    assert exit_info.value.code == 1
    error = capsys.readouterr().err
    assert "failed after 2 attempt(s)" in error and "rerun the same command to resume" in error
    assert len(read_generations(tmp_path / "gen.jsonl").records) == 2  # the no-previous records are kept
    with FakeOpenAIServer() as server:
        arguments[arguments.index("--base-url") + 1] = server.base_url
        generate_main(arguments)
    summary = json.loads(capsys.readouterr().out)
    assert summary["already_done"] == 2 and summary["generated"] == 6


def test_concurrency_is_bounded():
    template = build_template("none", "openai")
    prompts = [template.render(f"prompt {k}") for k in range(12)]
    with FakeOpenAIServer(delay=0.1) as server:
        backend = OpenAIBackend(server.base_url, "m", concurrency=3, batch_size=4)
        groups = list(backend.iterate_completions(prompts))
    assert server.max_in_flight == 3
    assert sorted(index for group in groups for index, _ in group) == list(range(12))
    assert all(len(group) == 4 for group in groups)


def _cli_command(table, out, base_url, *extra):
    return [sys.executable, "-m", "gcaf_fairseq.cli.generate_context", "--utterances", str(table), "--prompt", "P4",
            "--out", str(out), "--backend", "openai", "--base-url", base_url, "--model", "m", "--template", "none",
            "--concurrency", "2", "--batch-size", "2", "--no-progress", *extra]


def _environment():
    return {**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPOSITORY)}


def test_kill_9_then_resume_gives_every_id_once(tmp_path):
    ids = write_table(tmp_path / "u.jsonl", streams=6, per_stream=6)
    out = tmp_path / "gen.jsonl"
    with FakeOpenAIServer(delay=0.25) as server:
        job = subprocess.Popen(_cli_command(tmp_path / "u.jsonl", out, server.base_url), cwd=REPOSITORY,
                               env=_environment(), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and (not out.exists() or out.read_bytes().count(b"\n") < 12):
            time.sleep(0.02)
        job.send_signal(signal.SIGKILL)
        job.wait()
        assert job.returncode == -signal.SIGKILL
        lines_at_kill = out.read_bytes().count(b"\n")
        assert 12 <= lines_at_kill < len(ids), "the job finished before it could be killed"
        with open(out, "ab") as stream:  # what a write torn by the kill would leave
            stream.write(b'{"id": "s5-05", "prev_id": "s5-')
        assert read_generations(out).incomplete_last_line
        resumed = subprocess.run(_cli_command(tmp_path / "u.jsonl", out, server.base_url), cwd=REPOSITORY,
                                 env=_environment(), capture_output=True, text=True, timeout=120)
    assert resumed.returncode == 0, resumed.stderr
    summary = json.loads(resumed.stdout)
    assert summary["already_done"] == lines_at_kill and summary["already_done"] + summary["generated"] + summary["no_previous"] == len(ids)
    generations = read_generations(out)
    assert sorted(r["id"] for r in generations.records) == sorted(ids) and not generations.incomplete_last_line
    assert all(r["generation"] == fake_generation(r["prompt_sent"]) for r in generations.records if r["prev_id"])


def test_shards_then_merge_cover_the_split(tmp_path, capsys):
    ids = write_table(tmp_path / "u.jsonl", streams=4, per_stream=5)
    with FakeOpenAIServer() as server:
        for k in (1, 2, 3):
            generate_main(_cli_command(tmp_path / "u.jsonl", tmp_path / f"gen.{k}.jsonl", server.base_url, "--shard", f"{k}/3")[3:])
    shards = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [s["shard"] for s in shards] == ["1/3", "2/3", "3/3"] and sum(s["utterances"] for s in shards) == len(ids)
    for k in (1, 2, 3):
        assert all(shard_of(r["id"], 3) == k for r in read_generations(tmp_path / f"gen.{k}.jsonl").records)
    merge_main(["--utterances", str(tmp_path / "u.jsonl"), "--out", str(tmp_path / "gen.jsonl"),
                *(str(tmp_path / f"gen.{k}.jsonl") for k in (1, 2, 3))])
    assert json.loads(capsys.readouterr().out)["utterances"] == len(ids)
    assert [r["id"] for r in read_generations(tmp_path / "gen.jsonl").records] == ids
