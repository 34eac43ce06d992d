"""gcaf-context-texts (the previous / current text file) and the K-previous stores it feeds:
one concatenated text, or K [CLS] rows of a sequence store (gcaf-embed-context --pooling
cls-per-text) that a context_pooling=sequence model reads."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from gcaf_fairseq.cli.context_texts import main
from gcaf_fairseq.data.utterance_table import previous_texts, read_utterance_table, write_utterance_table
from gcaf_fairseq.embedding.context_texts import context_text_records, write_context_texts

REPOSITORY = Path(__file__).resolve().parents[2]


def _row(stream, position, text, prev_id, next_id, in_split=True):
    return {
        "id": f"{stream}-{position}", "stream": stream, "position": position, "audio": f"/a/{stream}-{position}.flac",
        "text": text, "prev_id": prev_id, "next_id": next_id, "in_split": in_split,
    }  # fmt: skip


def _stream(stream, texts, first_in_split=0):
    rows = []
    for n, text in enumerate(texts):
        rows.append(_row(
            stream, n, text, f"{stream}-{n - 1}" if n else None, f"{stream}-{n + 1}" if n + 1 < len(texts) else None,
            in_split=n >= first_in_split,
        ))  # fmt: skip
    return rows


# s: a stream of 5; t: 3, whose first row is a neighbour outside the split; u: a prev_id that has no row;
# v: an empty transcript in the middle
ROWS = (
    _stream("s", ["ONE", "TWO", "THREE", "FOUR", "FIVE"])
    + _stream("t", ["OUTSIDE", "T ONE", "T TWO"], first_in_split=1)
    + [_row("u", 3, "U THREE", "u-2", None)]
    + _stream("v", ["V ZERO", "", "V TWO"])
)


@pytest.fixture
def table(tmp_path):
    path = tmp_path / "dev.utterances.jsonl"
    write_utterance_table(path, ROWS)
    return path


def _by_id(records):
    return {record["id"]: record for record in records}


def test_k_previous_lists_are_oldest_first_and_shorter_at_stream_starts():
    records, counts = context_text_records(ROWS, previous=3, join="separate")
    texts = {record["id"]: record["texts"] for record in records}
    assert texts["s-0"] == []  # the first utterance: no context
    assert texts["s-1"] == ["ONE"]  # the second: one
    assert texts["s-2"] == ["ONE", "TWO"]  # the k-th: k - 1 for K >= k - 1
    assert texts["s-3"] == ["ONE", "TWO", "THREE"]
    assert texts["s-4"] == ["TWO", "THREE", "FOUR"]  # then K, the most recent last
    assert _by_id(records)["s-4"]["prev_ids"] == ["s-1", "s-2", "s-3"] and _by_id(records)["s-4"]["prev_id"] == "s-3"
    assert texts["t-1"] == ["OUTSIDE"] and texts["t-2"] == ["OUTSIDE", "T ONE"]  # neighbours outside the split count
    assert "t-0" not in texts  # ... but get no record
    assert texts["u-3"] == []  # its prev_id has no row: the walk stops
    assert texts["v-2"] == ["V ZERO", ""]  # an empty transcript stays in its place
    assert [record["id"] for record in records] == [row["id"] for row in ROWS if row["in_split"]]
    assert counts == {"utterances": 11, "without_previous": 3, "fewer_than_previous": 6, "unknown_previous": 1}


def test_concat_joins_oldest_first_with_the_separator():
    records, _ = context_text_records(ROWS, previous=2)
    by_id = _by_id(records)
    assert by_id["s-4"] == {"id": "s-4", "prev_id": "s-3", "prev_ids": ["s-2", "s-3"], "text": "THREE FOUR"}
    assert by_id["s-1"]["text"] == "ONE" and by_id["s-0"]["text"] == ""
    records, _ = context_text_records(ROWS, previous=3, separator=" | ")
    assert _by_id(records)["s-3"]["text"] == "ONE | TWO | THREE"
    assert _by_id(records)["v-2"]["text"] == "V ZERO | "  # joined literally


def test_k1_is_todays_previous_text_file_exactly(table, tmp_path):
    rows = read_utterance_table(table)
    todays = "".join(json.dumps(record) + "\n" for record in previous_texts(rows)[0])
    summary = write_context_texts(table, tmp_path / "dev.prev.jsonl")
    assert (tmp_path / "dev.prev.jsonl").read_text() == todays
    assert summary["without_previous"] == previous_texts(rows)[1] == 3


def test_current_text_file(table, tmp_path, capsys):
    main(["--utterances", str(table), "--out", str(tmp_path / "cur.jsonl"), "--current"])
    lines = [json.loads(line) for line in (tmp_path / "cur.jsonl").read_text().splitlines()]
    assert lines[0] == {"id": "s-0", "text": "ONE"} and len(lines) == 11
    assert json.loads(capsys.readouterr().out) == {"utterances": 11, "without_text": 0, "current": True, "out": str(tmp_path / "cur.jsonl")}


def test_cli_writes_the_separate_file_and_prints_the_summary(table, tmp_path, capsys):
    out = tmp_path / "dev.prev3s.jsonl"
    main(["--utterances", str(table), "--out", str(out), "--previous", "3", "--join", "separate"])
    summary = json.loads(capsys.readouterr().out)
    assert summary["fewer_than_previous"] == 6 and summary["previous"] == 3 and summary["join"] == "separate"
    first = json.loads(out.read_text().splitlines()[0])
    assert first == {"id": "s-0", "prev_id": None, "prev_ids": [], "texts": []}


@pytest.mark.parametrize("arguments, message", [
    (["--current", "--join", "separate"], "--join separate lists the previous texts"),
    (["--previous", "2", "--join", "separate", "--separator", "|"], "--separator joins previous texts"),
    (["--previous", "0"], "--previous must be at least 1"),
    (["--previous", "2", "--current"], "not allowed with argument"),
])  # fmt: skip
def test_cli_refuses_contradictory_options(table, tmp_path, capsys, arguments, message):
    with pytest.raises(SystemExit) as exit_info:
        main(["--utterances", str(table), "--out", str(tmp_path / "x.jsonl"), *arguments])
    assert exit_info.value.code == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "x.jsonl").exists()


def test_bad_tables_are_named_and_nothing_is_written(tmp_path, capsys):
    path = tmp_path / "bad.utterances.jsonl"
    path.write_text('{"id": "a"}\n')
    with pytest.raises(SystemExit):
        main(["--utterances", str(path), "--out", str(tmp_path / "x.jsonl")])
    assert f"{path}:1: missing field(s)" in capsys.readouterr().err
    assert not (tmp_path / "x.jsonl").exists()
    looped = [dict(row) for row in _stream("s", ["A", "B", "C"])]
    looped[0]["prev_id"] = "s-2"  # s-0 <- s-2 <- s-1 <- s-0 (rows handed over in code, unchecked)
    with pytest.raises(ValueError, match="the prev_id links of utterance s-0 run in a cycle"):
        context_text_records(looped, previous=5)


def test_a_null_text_ends_the_walk_like_an_unknown_utterance():
    rows = _stream("b", ["ZERO", None, "TWO", "THREE"])
    records, counts = context_text_records(rows, previous=3, join="separate")
    assert [record["texts"] for record in records] == [[], ["ZERO"], [], ["TWO"]]
    assert counts["unknown_previous"] == 2 and counts["without_previous"] == 2
    k1, _ = context_text_records(rows, previous=1)
    assert k1 == previous_texts(rows)[0]
    current, counts = context_text_records(rows, current=True)
    assert current[1] == {"id": "b-1", "text": None} and counts["without_text"] == 1


def test_the_tool_imports_neither_torch_nor_transformers():
    probe = (
        "import sys, json; import gcaf_fairseq.cli.context_texts; "
        "print(json.dumps({m: m in sys.modules for m in ('torch', 'fairseq', 'transformers')}))"
    )
    loaded = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, cwd=REPOSITORY, check=True)
    assert json.loads(loaded.stdout) == {"torch": False, "fairseq": False, "transformers": False}


# --- hypotheses instead of the ground truth (two-pass decoding) -------------------------------

# what a first pass decoded: every utterance of the split, wrong words included
HYPOTHESES = {row["id"]: f"HYP {row['text'] or ''}".strip() for row in ROWS if row["in_split"]}


def test_hypotheses_take_the_place_of_the_texts_with_the_same_layouts_and_edges():
    records, counts = context_text_records(ROWS, previous=2, hypotheses=HYPOTHESES)
    by_id = _by_id(records)
    assert by_id["s-0"]["text"] == ""  # a stream's first utterance: no context, as with ground truth
    assert by_id["s-1"]["text"] == "HYP ONE" and by_id["s-4"]["text"] == "HYP THREE HYP FOUR"
    assert by_id["s-4"]["prev_ids"] == ["s-2", "s-3"]
    # t-0 lies outside the split: never decoded, so the walk stops there
    assert by_id["t-1"]["text"] == "" and by_id["t-2"] == {"id": "t-2", "prev_id": "t-1", "prev_ids": ["t-1"], "text": "HYP T ONE"}
    assert counts["previous_not_decoded"] == 2 and counts["unknown_previous"] == 1  # u-3: a prev_id without a row
    separate, _ = context_text_records(ROWS, previous=3, join="separate", hypotheses=HYPOTHESES)
    assert _by_id(separate)["s-3"]["texts"] == ["HYP ONE", "HYP TWO", "HYP THREE"]
    k1, _ = context_text_records(ROWS, hypotheses=HYPOTHESES)
    assert [r for r in k1 if r["id"].startswith("s")] == [
        {"id": "s-0", "prev_id": None, "text": ""}, *({"id": f"s-{n}", "prev_id": f"s-{n - 1}", "text": HYPOTHESES[f"s-{n - 1}"]} for n in range(1, 5))
    ]


def test_hypotheses_must_cover_the_split_and_nothing_else():
    incomplete = {key: value for key, value in HYPOTHESES.items() if key != "s-2"}
    with pytest.raises(ValueError, match=r"first.txt has no hypothesis for 1 of the 11 utterances of the split; first: s-2"):
        context_text_records(ROWS, hypotheses=incomplete, hypotheses_where="first.txt")
    with pytest.raises(ValueError, match=r"1 hypotheses of utterances outside the split \(first: t-0\)"):
        context_text_records(ROWS, hypotheses={**HYPOTHESES, "t-0": "X"})


def write_generate_output(path, manifest, texts_by_index):
    """fairseq-generate's output: S/T/H/D/P lines per dataset index, in batch order."""
    lines = []
    for index, text in texts_by_index.items():
        lines += [f"T-{index}\tREF", f"H-{index}\t-0.5\t{text}", f"D-{index}\t-0.5\t{text}", f"P-{index}\t-0.1"]
    path.write_text("\n".join(lines + ["Generate test with beam=1: WER: 1.0"]) + "\n")


def test_the_three_hypothesis_files_are_read_by_utterance_id(tmp_path):
    from gcaf_fairseq.embedding.hypothesis_texts import HypothesisFileError, read_hypotheses

    ids = ["s-2", "s-0", "s-1"]  # the manifest's order is not the streams'
    manifest = tmp_path / "test.tsv"
    manifest.write_text("/audio\n" + "".join(f"x/{i}.flac\t16000\n" for i in ids))
    expected = {"s-2": "C", "s-0": "", "s-1": "B B"}
    write_generate_output(tmp_path / "generate-test.txt", manifest, {2: "B B", 0: "C", 1: ""})
    assert read_hypotheses(tmp_path / "generate-test.txt", str(manifest)) == expected
    (tmp_path / "test.ids").write_text("s-0\ns-1\ns-2\n")
    (tmp_path / "test.hyp.wrd").write_text("\nB B\nC\n")
    assert read_hypotheses(tmp_path / "test.hyp.wrd") == expected
    (tmp_path / "h.jsonl").write_text("".join(json.dumps({"id": i, "text": t}) + "\n" for i, t in expected.items()))
    assert read_hypotheses(tmp_path / "h.jsonl") == expected
    with pytest.raises(HypothesisFileError, match="give the split's manifest"):
        read_hypotheses(tmp_path / "generate-test.txt")
    write_generate_output(tmp_path / "generate-test.txt", manifest, {2: "B B", 0: "C"})  # index 1 was left out
    with pytest.raises(HypothesisFileError, match=r"decodes 2 of the 3 utterances of .*missing indices: 1 \(s-0\)"):
        read_hypotheses(tmp_path / "generate-test.txt", str(manifest))
    (tmp_path / "test.ids").write_text("s-0\ns-1\n")
    with pytest.raises(HypothesisFileError, match="has 3 lines but .*test.ids has 2"):
        read_hypotheses(tmp_path / "test.hyp.wrd")


def test_cli_writes_the_previous_hypotheses(table, tmp_path, capsys):
    (tmp_path / "dev.ids").write_text("".join(i + "\n" for i in HYPOTHESES))
    (tmp_path / "dev.hyp.wrd").write_text("".join(t + "\n" for t in HYPOTHESES.values()))
    out = tmp_path / "dev.prev-hyp.jsonl"
    main(["--utterances", str(table), "--out", str(out), "--hypotheses", str(tmp_path / "dev.hyp.wrd")])
    summary = json.loads(capsys.readouterr().out)
    assert summary["previous_not_decoded"] == 1 and summary["hypotheses"] == str(tmp_path / "dev.hyp.wrd")
    assert json.loads(out.read_text().splitlines()[1]) == {"id": "s-1", "prev_id": "s-0", "text": "HYP ONE"}
    with pytest.raises(SystemExit):
        main(["--utterances", str(table), "--out", str(out), "--manifest", "x.tsv"])
    assert "--manifest names the utterances of a --hypotheses file" in capsys.readouterr().err



# --- the stores -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def encoder_path():
    from gcaf_demo.pipeline import demo_text_encoder

    return str(demo_text_encoder())


def test_cls_per_text_store_has_one_cls_row_per_previous_text(table, tmp_path, encoder_path, capsys):
    from gcaf_fairseq.cli.embed_context import main as embed_main
    from gcaf_fairseq.data.context_store import ContextStore
    from gcaf_fairseq.embedding.text_encoder import embed_texts

    texts = tmp_path / "dev.prev3s.jsonl"
    write_context_texts(table, texts, previous=3, join="separate")
    embed_main(["--texts", str(texts), "--texts-field", "texts", "--pooling", "cls-per-text", "--encoder", encoder_path,
                "--out", str(tmp_path / "dev.prev3.seq"), "--batch-size", "3", "--device", "cpu"])  # fmt: skip
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert (summary["pooling"], summary["store_pooling"]) == ("cls-per-text", "sequence")
    assert (summary["count"], summary["n_empty"], summary["n_texts"], summary["n_empty_texts"]) == (11, 3, 15, 1)
    store = ContextStore.open(str(tmp_path / "dev.prev3.seq"))
    assert store.pooling == "sequence" and store.meta["text_pooling"] == "cls-per-text"
    assert store.meta["texts_field"] == "texts" and store.meta["previous"] == 3
    rows = {i: np.asarray(store.get(i)) for i in store.ids}
    assert [rows[f"s-{n}"].shape[0] for n in range(5)] == [0, 1, 2, 3, 3]
    assert rows["u-3"].shape[0] == 0 and rows["v-2"].shape[0] == 1  # the empty transcript gets no row
    # each row is the [CLS] vector of that text alone, in list order (oldest first)
    single = embed_texts([(t, t) for t in ("ONE", "TWO", "THREE", "FOUR")], encoder_path, "cls", str(tmp_path / "one.cls"), progress=False)
    assert single["count"] == 4
    one = ContextStore.open(str(tmp_path / "one.cls"))
    expected = np.concatenate([np.asarray(one.get(t)) for t in ("TWO", "THREE", "FOUR")])
    np.testing.assert_allclose(rows["s-4"].astype(np.float32), expected.astype(np.float32), atol=2e-3)
    # K = 1 in one row per text is the papers' [CLS] store of the previous text
    write_context_texts(table, tmp_path / "k1s.jsonl", previous=1, join="separate")
    write_context_texts(table, tmp_path / "k1.jsonl", previous=1)
    from gcaf_fairseq.embedding.texts_file import read_text_list_records, read_text_records

    embed_texts(read_text_list_records(str(tmp_path / "k1s.jsonl"), "id", "texts"), encoder_path, "cls-per-text",
                str(tmp_path / "k1s.seq"), progress=False)  # fmt: skip
    embed_texts(read_text_records(str(tmp_path / "k1.jsonl"), "id", "text"), encoder_path, "cls", str(tmp_path / "k1.cls"), progress=False)
    per_text, cls = ContextStore.open(str(tmp_path / "k1s.seq")), ContextStore.open(str(tmp_path / "k1.cls"))
    assert per_text.ids == cls.ids
    for i in cls.ids:
        np.testing.assert_array_equal(np.asarray(per_text.get(i)), np.asarray(cls.get(i)))


@pytest.mark.parametrize("arguments, message", [
    (["--texts-field", "texts", "--pooling", "cls"], "--pooling cls-per-text goes with --texts-field"),
    (["--text-field", "text", "--pooling", "cls-per-text"], "--pooling cls-per-text goes with --texts-field"),
])  # fmt: skip
def test_embed_refuses_a_list_field_without_cls_per_text(tmp_path, encoder_path, capsys, arguments, message):
    from gcaf_fairseq.cli.embed_context import main as embed_main

    texts = tmp_path / "t.jsonl"
    texts.write_text('{"id": "a", "texts": ["x"], "text": "x"}\n')
    with pytest.raises(SystemExit):
        embed_main(["--texts", str(texts), "--encoder", encoder_path, "--out", str(tmp_path / "o"), *arguments])
    assert message in capsys.readouterr().err and not (tmp_path / "o").exists()


@pytest.mark.parametrize("line, message", [
    ('{"id": "a", "texts": "x"}', "texts field 'texts' of id 'a' must be a list of strings"),
    ('{"id": "a", "texts": ["x", 3]}', "must be a list of strings"),
    ('{"id": "a"}', "missing texts field 'texts'"),
])  # fmt: skip
def test_bad_text_lists_name_the_file_and_line(tmp_path, encoder_path, capsys, line, message):
    from gcaf_fairseq.cli.embed_context import main as embed_main

    texts = tmp_path / "t.jsonl"
    texts.write_text('{"id": "z", "texts": []}\n' + line + "\n")
    with pytest.raises(SystemExit):
        embed_main(["--texts", str(texts), "--texts-field", "texts", "--pooling", "cls-per-text", "--encoder", encoder_path,
                    "--out", str(tmp_path / "o")])  # fmt: skip
    error = capsys.readouterr().err
    assert f"{texts}:2: " in error and message in error and not (tmp_path / "o").exists()


def test_a_sequence_model_reads_the_k_previous_store(corpus, w2v_checkpoint, tmp_path, encoder_path):
    """The cls-per-text store is a sequence store: the task joins it unchanged and the model's
    cross-attention gets the K rows of each utterance with a padding mask."""
    import torch
    from conftest import build, make_task

    from gcaf_fairseq.embedding.text_encoder import embed_texts
    from gcaf_fairseq.embedding.texts_file import read_text_list_records

    write_context_texts(corpus / "test.utterances.jsonl", tmp_path / "test.prev3s.jsonl", previous=3, join="separate")
    records = read_text_list_records(str(tmp_path / "test.prev3s.jsonl"), "id", "texts")
    embed_texts(records, encoder_path, "cls-per-text", str(tmp_path / "test.prev3.seq"), progress=False)
    task = make_task(corpus, context_store=str(tmp_path / "{split}.prev3.seq"))
    model = build(task, w2v_checkpoint, corpus, context_source="text", context_pooling="sequence")
    task.load_dataset("test")
    dataset = task.datasets["test"]
    batch = dataset.collater([dataset[i] for i in range(len(dataset))])
    lengths = (~batch["net_input"]["context_padding_mask"]).sum(-1).tolist()
    expected = {utterance_id: len(texts) for utterance_id, texts in records}
    assert sorted(lengths) == sorted(expected.values()) == [0, 1, 2, 3]  # one chapter of 4 sentences
    assert batch["net_input"]["context"].shape == (4, 3, 384)
    model.eval()
    with torch.no_grad():
        out = model(**batch["net_input"])
    assert out["encoder_out"].shape[1] == 4 and torch.isfinite(out["encoder_out"]).all()


def test_the_store_records_how_many_previous_texts_it_holds(tmp_path):
    from gcaf_fairseq.embedding.texts_file import previous_count

    for previous, join in ((1, "concat"), (2, "concat"), (3, "separate")):
        write_context_texts_rows(tmp_path / "t.jsonl", previous, join)
        assert previous_count(str(tmp_path / "t.jsonl")) == previous
    (tmp_path / "generations.jsonl").write_text('{"id": "a", "text": "x"}\n')
    assert previous_count(str(tmp_path / "generations.jsonl")) is None  # not a file of previous texts


def write_context_texts_rows(path, previous, join):
    records, _ = context_text_records(ROWS, previous=previous, join=join)
    path.write_text("".join(json.dumps(record) + "\n" for record in records))
