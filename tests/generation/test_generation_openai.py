"""The openai backend against fake OpenAI-compatible servers on 127.0.0.1 (well-behaved,
failing, slow, trickling, answering what the protocol does not promise), and the runner's
promises: kill -9 then resume gives every id exactly once, shards merge into the whole
split, a changed input is refused or redone."""

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
from gcaf_fairseq.embedding.texts_file import read_text_records
from gcaf_fairseq.generation.backends import BackendError, OpenAIBackend
from gcaf_fairseq.generation.generation_file import read_generations, shard_of
from gcaf_fairseq.generation.prompts import PROMPTS
from gcaf_fairseq.generation.runner import run_generation
from gcaf_fairseq.generation.templates import STABLEBELUGA_DEFAULT_SYSTEM, build_template

REPOSITORY = Path(__file__).resolve().parents[2]


def fake_generation(prompt_key: str) -> str:
    """What the fake servers answer: a function of the prompt, so tests can check it."""
    return "title " + hashlib.sha1(prompt_key.encode()).hexdigest()[:8]


# What a misbehaving server or proxy answers (FakeOpenAIServer(bad=...)).
BAD_KINDS = ("trickle", "malformed_json", "html_200", "html_502", "null_text", "missing_text")
TRICKLE_SECONDS = 0.2
TRICKLE_BYTES = 40  # 8 s at most, then the fake server gives up by itself
PROXY_PAGE = (
    b"<!DOCTYPE html>\n<html>\n<head><title>502 Bad Gateway</title></head>\n<body>\n<center><h1>502 Bad Gateway"
    b"</h1></center>\n<hr><center>nginx/1.24.0</center>\n" + b"<!-- padding -->\n" * 40 + b"</body>\n</html>\n"
)


class FakeOpenAIServer:
    """``/v1/completions`` and ``/v1/chat/completions`` on 127.0.0.1 in a thread.

    ``failures``: how many first attempts of each prompt get ``failure_status``;
    ``slow_first``: seconds the first attempt of each prompt sleeps (a timeout);
    ``delay``: seconds every request takes; ``bad``: one of :data:`BAD_KINDS`, the answer of
    the first ``bad_attempts`` attempts of each prompt (then good ones). Records requests
    and the most in flight.
    """

    def __init__(self, failures=0, failure_status=500, slow_first=0.0, delay=0.0, bad=None, bad_attempts=99):
        self.failures, self.failure_status, self.slow_first, self.delay = failures, failure_status, slow_first, delay
        assert bad is None or bad in BAD_KINDS
        self.bad, self.bad_attempts = bad, bad_attempts
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
            payload = {
                "id": "fake", "object": "chat.completion" if chat else "text_completion", "created": 0,
                "model": body["model"], "choices": [choice],
                "usage": {"prompt_tokens": len(key.split()), "completion_tokens": 2, "total_tokens": len(key.split()) + 2},
            }
            if self.bad and attempt <= self.bad_attempts:
                return self.reply_badly(handler, payload, chat)
            self.reply(handler, 200, payload)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up (timeout)
        finally:
            with self.lock:
                self.in_flight -= 1

    @staticmethod
    def reply(handler, status, payload, content_type="application/json"):
        data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        handler.send_response(status)
        handler.send_header("Content-Type", content_type)
        handler.send_header("Content-Length", str(len(data)))
        handler.end_headers()
        handler.wfile.write(data)

    def reply_badly(self, handler, payload, chat):
        if self.bad == "trickle":
            # A good answer, one byte every TRICKLE_SECONDS: a read timeout never expires. It
            # stops by itself after TRICKLE_BYTES bytes (the connection then closes short).
            data = json.dumps(payload).encode()
            handler.send_response(200)
            handler.send_header("Content-Type", "application/json")
            handler.send_header("Content-Length", str(len(data)))
            handler.end_headers()
            for byte in data[:TRICKLE_BYTES]:
                handler.wfile.write(bytes([byte]))
                handler.wfile.flush()
                time.sleep(TRICKLE_SECONDS)
        elif self.bad == "malformed_json":
            self.reply(handler, 200, json.dumps(payload).encode()[:-25])  # truncated
        elif self.bad in ("html_200", "html_502"):
            self.reply(handler, 200 if self.bad == "html_200" else 502, PROXY_PAGE, "text/html")
        else:
            holder = payload["choices"][0]["message"] if chat else payload["choices"][0]
            field = "content" if chat else "text"
            if self.bad == "null_text":
                holder[field] = None
            else:
                del holder[field]
            self.reply(handler, 200, payload)


def write_table(path, streams=6, per_stream=5, edited=None):
    """A table of ``streams`` streams of ``per_stream`` utterances; ``edited``: ``{id: text}``
    replacing some texts."""
    rows = []
    for s in range(streams):
        for k in range(per_stream):
            utterance_id = f"s{s}-{k:02d}"
            rows.append({
                "id": utterance_id, "stream": f"s{s}", "position": k, "audio": "unused.flac",
                "text": (edited or {}).get(utterance_id, f"sentence {k} of stream {s}"),
                "prev_id": f"s{s}-{k - 1:02d}" if k else None,
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


def _generate_arguments(table, out, base_url, *extra):
    return ["--utterances", str(table), "--prompt", "P4", "--out", str(out), "--backend", "openai",
            "--base-url", base_url, "--model", "m", "--template", "none", "--retry-backoff", "0.01",
            "--concurrency", "1", "--no-progress", *extra]


def test_a_trickling_server_is_cut_off_by_the_deadline(tmp_path, capsys):
    # One byte every 0.2 s: a read timeout never expires, --timeout is a deadline per attempt.
    write_table(tmp_path / "u.jsonl", streams=1, per_stream=2)
    with FakeOpenAIServer(bad="trickle") as server:
        started = time.perf_counter()
        with pytest.raises(SystemExit) as exit_info:
            generate_main(_generate_arguments(tmp_path / "u.jsonl", tmp_path / "gen.jsonl", server.base_url,
                                              "--timeout", "0.6", "--max-retries", "1"))
        elapsed = time.perf_counter() - started
    assert exit_info.value.code == 1
    error = capsys.readouterr().err
    assert elapsed < 4.0, f"{elapsed:.1f} s: the trickle was waited for"  # 2 attempts x 0.6 s, not 2 x 8 s
    assert server.base_url in error and "utterance 's0-01'" in error and "failed after 2 attempt(s)" in error
    assert "within the 0.6 s deadline" in error and list(server.attempts.values()) == [2]
    assert [r["id"] for r in read_generations(tmp_path / "gen.jsonl").records] == ["s0-00"]


def test_a_trickling_first_attempt_is_retried():
    template = build_template("none", "openai")
    with FakeOpenAIServer(bad="trickle", bad_attempts=1) as server:
        backend = OpenAIBackend(server.base_url, "m", timeout=0.6, max_retries=2, retry_backoff=0.01)
        started = time.perf_counter()
        [[(_, completion)]] = list(backend.iterate_completions([template.render("hello")]))
    assert completion.text == fake_generation("hello") and server.attempts["hello"] == 2
    assert time.perf_counter() - started < 3.0


PROTOCOL_BREAKS = [
    ("malformed_json", False, "malformed JSON (Expecting"),
    ("html_200", False, "an HTML page titled '502 Bad Gateway' instead of JSON"),
    ("html_502", False, "HTTP 502: an HTML page titled '502 Bad Gateway' instead of JSON"),
    ("null_text", False, "choices[0].text is null (finish_reason 'stop'): the server sent no generation"),
    ("missing_text", False, "choices[0].text is missing"),
    ("null_text", True, "choices[0].message.content is null (finish_reason 'stop')"),
    ("missing_text", True, "choices[0].message.content is missing"),
]


@pytest.mark.parametrize("bad, chat, expected", PROTOCOL_BREAKS)
def test_a_response_against_the_protocol_fails_naming_server_and_utterance(tmp_path, bad, chat, expected):
    write_table(tmp_path / "u.jsonl", streams=1, per_stream=2)
    with FakeOpenAIServer(bad=bad) as server:
        backend = OpenAIBackend(server.base_url, "m", max_retries=2, retry_backoff=0.01)
        template = build_template("auto" if chat else "none", "openai")
        with pytest.raises(BackendError) as error_info:
            run_generation(tmp_path / "u.jsonl", tmp_path / "gen.jsonl", "P4", template, backend, progress=False)
    message = str(error_info.value)
    assert expected in message, message
    assert server.base_url in message and "utterance 's0-01'" in message and "failed after 3 attempt(s)" in message
    assert list(server.attempts.values()) == [3]  # retried: proxies and overloaded servers do this transiently
    assert len(message) < 500  # an HTML page is named by its title, not pasted
    # never recorded as a (possibly empty) generation
    assert [r["id"] for r in read_generations(tmp_path / "gen.jsonl").records] == ["s0-00"]


@pytest.mark.parametrize("bad", sorted({bad for bad, _, _ in PROTOCOL_BREAKS}))
def test_a_response_against_the_protocol_is_retried(bad):
    template = build_template("none", "openai")
    with FakeOpenAIServer(bad=bad, bad_attempts=1) as server:
        backend = OpenAIBackend(server.base_url, "m", max_retries=1, retry_backoff=0.01)
        [[(_, completion)]] = list(backend.iterate_completions([template.render("hello")]))
    assert completion.text == fake_generation("hello") and server.attempts["hello"] == 2


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
        job.communicate()
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


def test_a_changed_input_is_refused_then_redone(tmp_path, capsys):
    table, out = tmp_path / "u.jsonl", tmp_path / "gen.jsonl"
    ids = write_table(table, streams=2, per_stream=3)
    with FakeOpenAIServer() as server:
        arguments = _generate_arguments(table, out, server.base_url)
        generate_main(arguments)
        assert json.loads(capsys.readouterr().out)["generated"] == 4
        before = out.read_bytes()
        # the table is corrected after the run: the inputs of s0-01 and s1-02 change
        write_table(table, streams=2, per_stream=3, edited={"s0-00": "a corrected sentence", "s1-01": "another one"})
        with pytest.raises(SystemExit) as exit_info:
            generate_main(arguments)
        assert exit_info.value.code == 2
        error = capsys.readouterr().err
        assert "2 record(s) were generated from an input that has changed since" in error
        assert "'s0-01', 's1-02'" in error and "--redo-changed" in error
        assert out.read_bytes() == before  # nothing touched
        generate_main(arguments + ["--redo-changed"])
        summary = json.loads(capsys.readouterr().out)
        assert summary["redone"] == 2 and summary["generated"] == 2 and summary["already_done"] == 4
        generate_main(arguments)  # in step now: nothing to do, no complaint
        assert json.loads(capsys.readouterr().out)["already_done"] == 6
    records = {r["id"]: r for r in read_generations(out).records}
    assert sorted(records) == sorted(ids)  # one record per id
    assert records["s0-01"]["previous_text"] == "a corrected sentence"
    assert records["s1-02"]["previous_text"] == "another one"
    assert all(r["generation"] == fake_generation(r["prompt_sent"]) for r in records.values() if r["prev_id"])
    unchanged = [line for line in before.splitlines() if json.loads(line)["id"] not in ("s0-01", "s1-02")]
    assert out.read_bytes().splitlines()[: len(unchanged)] == unchanged  # kept byte for byte
    # the readers of the file still work on it: gcaf-embed-context's and gcaf-merge-generations
    assert len(read_text_records(str(out), "id", "generation")) == 6
    merge_main(["--utterances", str(table), "--out", str(tmp_path / "merged.jsonl"), str(out)])
    assert json.loads(capsys.readouterr().out)["utterances"] == 6


def test_a_changed_input_is_found_in_a_file_from_before_the_fingerprint(tmp_path, capsys):
    table, out = tmp_path / "u.jsonl", tmp_path / "gen.jsonl"
    write_table(table, streams=1, per_stream=3)
    with FakeOpenAIServer() as server:
        arguments = _generate_arguments(table, out, server.base_url)
        generate_main(arguments)
        records = [json.loads(line) for line in out.read_text().splitlines()]
        out.write_text("".join(json.dumps({k: v for k, v in r.items() if k != "input_sha256"}) + "\n" for r in records))
        assert len(read_generations(out).records) == 3  # still readable
        write_table(table, streams=1, per_stream=3, edited={"s0-01": "edited"})
        with pytest.raises(SystemExit) as exit_info:
            generate_main(arguments)
        assert exit_info.value.code == 2 and "1 record(s)" in capsys.readouterr().err
        generate_main(arguments + ["--redo-changed"])
    record = {r["id"]: r for r in read_generations(out).records}["s0-02"]
    assert record["previous_text"] == "edited" and "input_sha256" in record
