"""Prompts, built-in templates, the generation file (writer, torn-line tolerant reader,
settings check, shards, merge) and ROUGE-1: everything of GCAF 2.2.1 that needs no LLM."""

import json

import pytest

from gcaf_fairseq.embedding.texts_file import read_text_records
from gcaf_fairseq.cli.merge_generations import main as merge_main
from gcaf_fairseq.cli.rouge import main as rouge_main
from gcaf_fairseq.data.utterance_table import write_utterance_table
from gcaf_fairseq.generation.generation_file import (
    NO_PREVIOUS,
    GenerationFileError,
    GenerationWriter,
    make_header,
    input_fingerprint,
    make_record,
    merge_generations,
    parse_shard,
    read_generations,
    shard_of,
)
from gcaf_fairseq.generation.prompts import PROMPTS, build_user_message, resolve_prompt
from gcaf_fairseq.generation.rouge import rouge1_f, rouge_table
from gcaf_fairseq.generation.templates import STABLEBELUGA_DEFAULT_SYSTEM, TemplateError, build_template

SETTINGS = {"prompt_id": "P4", "prompt": PROMPTS["P4"], "backend": {"backend": "hf", "model": "tiny"}}


def test_prompts_are_the_papers_verbatim():
    assert PROMPTS == {
        "P1": "Provide a next sentence for the given text:",
        "P2": "This is part of the answer. Can you predict what was the question? text :",
        "P3": "Predict topic of the given text:",
        "P4": "Predict title of the given text:",
    }
    assert resolve_prompt("P2") == ("P2", PROMPTS["P2"])
    assert resolve_prompt("Summarize: {text} in five words") == ("custom", "Summarize: {text} in five words")
    with pytest.raises(ValueError, match="empty"):
        resolve_prompt("  ")
    assert build_user_message(PROMPTS["P4"], "i could spell") == "Predict title of the given text: i could spell"
    assert build_user_message("Summarize: {text} in five words", "a b") == "Summarize: a b in five words"


def test_builtin_templates_byte_for_byte():
    user = "Predict title of the given text: i could spell"
    beluga = build_template("stablebeluga", "hf").render(user)
    assert beluga.text == (
        f"### System:\n{STABLEBELUGA_DEFAULT_SYSTEM}\n\n### User:\n{user}\n\n### Assistant:\n"
    )
    assert beluga.add_special_tokens and beluga.messages is None
    assert build_template("stablebeluga", "openai", system="Be brief.").render(user).text == (
        f"### System:\nBe brief.\n\n### User:\n{user}\n\n### Assistant:\n"
    )
    assert build_template("llama2", "hf").render(user).text == f"[INST] {user} [/INST]"
    assert build_template("llama2", "hf", system="Be brief.").render(user).text == (
        f"[INST] <<SYS>>\nBe brief.\n<</SYS>>\n\n{user} [/INST]"
    )
    assert build_template("none", "hf").render(user).text == user
    served = build_template("auto", "openai", system="Be brief.").render(user)
    assert served.messages == ({"role": "system", "content": "Be brief."}, {"role": "user", "content": user})
    assert json.loads(served.text) == list(served.messages)


@pytest.mark.parametrize(
    "name, backend, options, message",
    [
        ("server", "hf", {}, "needs the openai backend"),
        ("tokenizer", "openai", {}, "needs the hf backend"),
        ("auto", "hf", {}, "needs the hf backend"),  # no tokenizer given
        ("none", "hf", {"system": "x"}, "no place for --system"),
        ("chatml", "hf", {}, "unknown template"),
    ],
)
def test_template_errors(name, backend, options, message):
    with pytest.raises(TemplateError, match=message):
        build_template(name, backend, **options)


def _records(ids, settings_id, text="a title"):
    return [
        make_record(i, f"p{i}", "P4", settings_id, previous_text="prev", prompt_sent="sent", generation=text,
                    finish_reason="stop", prompt_tokens=3, completion_tokens=2)
        for i in ids
    ]


def test_writer_reader_roundtrip_and_resume(tmp_path):
    path = tmp_path / "gen.jsonl"
    header = make_header(SETTINGS, model_location="/models/tiny")
    with GenerationWriter(path, header) as writer:
        assert writer.finished_ids == set()
        writer.write(_records(["a", "b"], header["settings_id"]))
        writer.write([make_record("c", None, "P4", header["settings_id"])])
    generations = read_generations(path)
    assert [r["id"] for r in generations.records] == ["a", "b", "c"]
    assert generations.records[2]["generation"] is None and generations.records[2]["finish_reason"] == NO_PREVIOUS
    assert generations.header["settings"] == SETTINGS and not generations.incomplete_last_line
    with GenerationWriter(path, make_header(SETTINGS)) as writer:  # same settings: resumes
        assert writer.finished_ids == {"a", "b", "c"}
    # directly embeddable: every line is a record with the id and the generation
    assert read_text_records(str(path), "id", "generation") == [("a", "a title"), ("b", "a title"), ("c", "")]


def test_incomplete_last_line_is_ignored_then_cut_off(tmp_path, caplog):
    path = tmp_path / "gen.jsonl"
    header = make_header(SETTINGS)
    with GenerationWriter(path, header) as writer:
        writer.write(_records(["a", "b"], header["settings_id"]))
    with open(path, "ab") as stream:  # a write torn by kill -9 or a power cut
        stream.write(json.dumps(_records(["c"], header["settings_id"])[0]).encode()[:40])
    generations = read_generations(path)
    assert [r["id"] for r in generations.records] == ["a", "b"] and generations.incomplete_last_line
    assert "incomplete last line" in caplog.text
    with GenerationWriter(path, header) as writer:
        assert writer.finished_ids == {"a", "b"}
        writer.write(_records(["c"], header["settings_id"]))
    generations = read_generations(path)
    assert [r["id"] for r in generations.records] == ["a", "b", "c"] and not generations.incomplete_last_line


def test_bad_line_before_the_end_names_file_and_line(tmp_path):
    path = tmp_path / "gen.jsonl"
    header = make_header(SETTINGS)
    with GenerationWriter(path, header) as writer:
        writer.write(_records(["a"], header["settings_id"]))
    with open(path, "a") as stream:
        stream.write('{"id": "b", "gener\n')
        stream.write(json.dumps(_records(["c"], header["settings_id"])[0]) + "\n")
    with pytest.raises(GenerationFileError, match="gen.jsonl:2: invalid JSON"):
        read_generations(path)
    line = json.dumps(_records(["a"], header["settings_id"])[0]) + "\n"
    path.write_text(line + line)
    with pytest.raises(GenerationFileError, match="gen.jsonl:2: id 'a' repeats line 1"):
        read_generations(path)


def test_input_fingerprints_find_changed_records_and_redo_keeps_one_record_per_id(tmp_path):
    path = tmp_path / "gen.jsonl"
    header = make_header(SETTINGS)
    with GenerationWriter(path, header) as writer:
        writer.write(_records(["a", "b", "c"], header["settings_id"]))  # input: (p<id>, "prev")
        writer.write([make_record("d", None, "P4", header["settings_id"])])
    assert read_generations(path).records[0]["input_sha256"] == input_fingerprint("pa", "prev")
    now = {i: input_fingerprint(f"p{i}", "prev") for i in "abc"}
    now["b"] = input_fingerprint("pb", "prev, corrected")
    now["d"] = input_fingerprint("x", "d has a previous utterance now")
    with GenerationWriter(path, header) as writer:
        assert writer.check_inputs({i: now[i] for i in "ac"}) == []  # ids not given are left alone
        with pytest.raises(GenerationFileError, match=r"gen.jsonl: 2 record\(s\) .* changed since .*'b', 'd'.*--redo-changed"):
            writer.check_inputs(now)
        assert writer.check_inputs(now, redo_changed=True) == ["b", "d"]
        assert writer.finished_ids == {"a", "c"}
        with pytest.raises(GenerationFileError, match="another process"):  # the lock moved to the new file
            GenerationWriter(path, header)
        writer.write(_records(["b"], header["settings_id"], text="redone"))
    records = read_generations(path).records
    assert [r["id"] for r in records] == ["a", "c", "b"] and records[2]["generation"] == "redone"
    assert read_text_records(str(path), "id", "generation")[2] == ("b", "redone")


def test_a_hand_edited_input_fingerprint_names_the_line(tmp_path):
    path = tmp_path / "gen.jsonl"
    header = make_header(SETTINGS)
    record = _records(["a"], header["settings_id"])[0]
    with GenerationWriter(path, header) as writer:
        writer.write([record, {**record, "id": "b", "previous_text": "edited by hand"}])
    with pytest.raises(GenerationFileError, match=r"gen.jsonl:2: input_sha256 does not match .*edited by hand"):
        read_generations(path)


def test_appending_with_other_settings_is_refused(tmp_path):
    path = tmp_path / "gen.jsonl"
    with GenerationWriter(path, make_header(SETTINGS)) as writer:
        writer.write(_records(["a"], writer.header["settings_id"]))
    other = {**SETTINGS, "backend": {"backend": "hf", "model": "bigger"}}
    with pytest.raises(GenerationFileError, match=r"other settings.*backend\.model: 'tiny' -> 'bigger'"):
        GenerationWriter(path, make_header(other))
    with pytest.raises(GenerationFileError, match=r"shard: None -> '1/2'"):
        GenerationWriter(path, make_header(SETTINGS, shard="1/2"))
    foreign = tmp_path / "foreign.jsonl"
    foreign.write_text('{"id": "x"}\n')
    with pytest.raises(GenerationFileError, match="no header file"):
        GenerationWriter(foreign, make_header(SETTINGS))
    assert read_generations(path).records[0]["id"] == "a"  # untouched


def test_a_second_writer_on_the_same_file_is_refused(tmp_path):
    path = tmp_path / "gen.jsonl"
    with GenerationWriter(path, make_header(SETTINGS)):
        with pytest.raises(GenerationFileError, match="another process"):
            GenerationWriter(path, make_header(SETTINGS))


def test_shards_partition_the_ids():
    ids = [f"utt-{k}" for k in range(200)]
    shards = [shard_of(i, 4) for i in ids]
    assert set(shards) == {1, 2, 3, 4} and shards == [shard_of(i, 4) for i in ids]
    assert parse_shard("3/4") == (3, 4)
    for bad in ("0/4", "5/4", "4", "a/b"):
        with pytest.raises(ValueError):
            parse_shard(bad)


def _shard_files(tmp_path, ids, count):
    paths = []
    for k in range(1, count + 1):
        path = tmp_path / f"gen.{k}.jsonl"
        with GenerationWriter(path, make_header(SETTINGS, shard=f"{k}/{count}")) as writer:
            writer.write(_records([i for i in ids if shard_of(i, count) == k], writer.header["settings_id"]))
        paths.append(path)
    return paths


def test_merge_checks_coverage(tmp_path):
    ids = [f"utt-{k}" for k in range(30)]
    paths = _shard_files(tmp_path, ids, 3)
    summary = merge_generations(paths, ids, tmp_path / "merged.jsonl")
    assert summary["utterances"] == 30 and summary["shards"] == 3
    merged = read_generations(tmp_path / "merged.jsonl")
    assert [r["id"] for r in merged.records] == ids and merged.header["shard"] is None
    missing_shard = shard_of(ids[0], 3)
    rest = [p for k, p in enumerate(paths, start=1) if k != missing_shard]
    with pytest.raises(GenerationFileError, match=rf"have no record \(from shard\(s\) {missing_shard}/3"):
        merge_generations(rest, ids, tmp_path / "merged2.jsonl")
    with pytest.raises(GenerationFileError, match="shards must not overlap"):
        merge_generations(paths + [paths[0]], ids, tmp_path / "merged3.jsonl")
    with pytest.raises(GenerationFileError, match="not utterances of the table"):
        merge_generations(paths, ids[1:], tmp_path / "merged4.jsonl")
    other = tmp_path / "other.jsonl"
    with GenerationWriter(other, make_header({**SETTINGS, "prompt_id": "P3"})) as writer:
        writer.write(_records(["zz"], writer.header["settings_id"]))
    with pytest.raises(GenerationFileError, match="other settings.*prompt_id"):
        merge_generations(paths + [other], ids, tmp_path / "merged5.jsonl")


def _table(path, streams):
    rows = []
    for stream, texts in streams.items():
        for position, text in enumerate(texts):
            rows.append({
                "id": f"{stream}-{position}", "stream": stream, "position": position, "audio": f"{stream}-{position}.flac",
                "text": text, "prev_id": f"{stream}-{position - 1}" if position else None,
                "next_id": f"{stream}-{position + 1}" if position + 1 < len(texts) else None, "in_split": True,
            })
    write_utterance_table(path, rows)
    return rows


def test_merge_cli(tmp_path, capsys):
    rows = _table(tmp_path / "u.jsonl", {"s": [f"sentence {k}" for k in range(12)]})
    ids = [row["id"] for row in rows]
    paths = _shard_files(tmp_path, ids, 2)
    merge_main(["--utterances", str(tmp_path / "u.jsonl"), "--out", str(tmp_path / "m.jsonl"), *map(str, paths)])
    assert json.loads(capsys.readouterr().out)["utterances"] == 12
    with pytest.raises(SystemExit) as exit_info:
        merge_main(["--utterances", str(tmp_path / "u.jsonl"), "--out", str(tmp_path / "m2.jsonl"), str(paths[0])])
    assert exit_info.value.code == 2 and "have no record" in capsys.readouterr().err


def test_rouge1_hand_checked_pairs():
    # unigrams: the x2, cat, sat, on, mat vs the, cat, lay, on, a, mat: 4 shared of 6 and 6
    assert rouge1_f("the cat sat on the mat", "the cat lay on a mat") == pytest.approx(4 / 6)
    assert rouge1_f("Hello, World!", "hello world") == pytest.approx(1.0)  # lower case, punctuation dropped
    # 1 shared ("garden") of 2 and 4 words: P = 1/4, R = 1/2, F = 2PR/(P+R) = 1/3
    assert rouge1_f("THE GARDEN", "a story garden today") == pytest.approx(1 / 3)
    assert rouge1_f("the cat", "") == 0.0


def test_rouge_table_and_cli(tmp_path, capsys):
    _table(tmp_path / "u.jsonl", {"s": ["the cat sat on the mat", "the cat lay on a mat", "THE GARDEN"]})
    path = tmp_path / "gen.jsonl"
    with GenerationWriter(path, make_header(SETTINGS)) as writer:
        sid = writer.header["settings_id"]
        writer.write([
            make_record("s-0", None, "P4", sid),
            make_record("s-1", "s-0", "P4", sid, generation="the cat sat on the mat", finish_reason="stop"),
            make_record("s-2", "s-1", "P4", sid, generation="a story garden today", finish_reason="stop"),
        ])
    previous_row, generated_row = rouge_table([path], tmp_path / "u.jsonl")
    # previous GT vs current: s-1 4/6; s-2 "the cat lay on a mat" vs "THE GARDEN": "the" shared,
    # P = 1/6, R = 1/2, F = 1/4
    assert previous_row.rouge1_f == pytest.approx((4 / 6 + 1 / 4) / 2) and previous_row.utterances == 2
    assert previous_row.average_words == pytest.approx((6 + 6) / 2)
    assert generated_row.rouge1_f == pytest.approx((4 / 6 + 1 / 3) / 2) and generated_row.utterances == 2
    assert generated_row.average_words == pytest.approx((6 + 4) / 2) and generated_row.row.startswith("generated with P4")
    rouge_main(["--generations", str(path), "--utterances", str(tmp_path / "u.jsonl")])
    table = capsys.readouterr().out
    assert "| previous GT text | 0.46 | 6.0 | 2 |" in table
    assert "| generated with P4 (tiny) | 0.50 | 5.0 | 2 |" in table
