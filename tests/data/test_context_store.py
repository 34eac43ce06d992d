"""Context store: round trips, memory mapping, atomic writes and error messages."""

import json
import os
import pickle

import numpy as np
import pytest

from gcaf_fairseq.data.context_store import MAGIC, ContextStore, ContextStoreError, ContextStoreWriter

DIM = 8


def _random_rows(rng, rows):
    return rng.standard_normal((rows, DIM)).astype(np.float32)


def _write_store(path, contexts, pooling, meta=None):
    with ContextStoreWriter(str(path), DIM, pooling, meta=meta) as writer:
        for utterance_id, rows in contexts.items():
            writer.add(utterance_id, rows)


def test_cls_round_trip(tmp_path):
    rng = np.random.default_rng(0)
    contexts = {"a": _random_rows(rng, 1)[0], "b": np.zeros((0, DIM)), "c": _random_rows(rng, 1)}
    path = tmp_path / "cls.ctx"
    _write_store(path, contexts, "cls", meta={"encoder": "x", "n_empty": 1})

    store = ContextStore.open(str(path))
    assert store.ids == ["a", "b", "c"]
    assert (len(store), store.dim, store.pooling) == (3, DIM, "cls")
    assert store.meta == {"encoder": "x", "n_empty": 1}
    assert store.lengths.tolist() == [1, 0, 1]
    assert "b" in store and "z" not in store
    assert store.index("c") == 2
    for utterance_id, rows in contexts.items():
        stored, expected = store.get(utterance_id), np.reshape(rows, (-1, DIM)).astype(np.float16)
        assert stored.dtype == np.float16 and stored.shape == expected.shape
        np.testing.assert_array_equal(stored, expected)


def test_sequence_round_trip_ragged(tmp_path):
    rng = np.random.default_rng(1)
    row_counts = [3, 0, 1, 7, 0, 2]
    contexts = {f"utt{k}": _random_rows(rng, rows) for k, rows in enumerate(row_counts)}
    path = tmp_path / "seq.ctx"
    _write_store(path, contexts, "sequence")

    store = ContextStore(str(path))
    assert store.pooling == "sequence"
    assert store.total_rows == sum(row_counts)
    assert store.lengths.tolist() == row_counts
    for k, (utterance_id, rows) in enumerate(contexts.items()):
        np.testing.assert_array_equal(store.get(utterance_id), rows.astype(np.float16))
        np.testing.assert_array_equal(store.get_by_index(k), rows.astype(np.float16))

    raw = path.read_bytes()
    assert raw[:8] == MAGIC
    header_offset = int.from_bytes(raw[8:16], "little")
    header = json.loads(raw[header_offset:].decode("utf-8"))
    assert header["format"] == "gcaf-context-store" and header["version"] == 1
    assert header["embeddings_offset"] == 16 and header["offsets_offset"] % 8 == 0 and header_offset % 8 == 0


def test_returned_arrays_are_memory_mapped(tmp_path):
    path = tmp_path / "seq.ctx"
    _write_store(path, {"a": np.ones((4, DIM)), "b": np.ones((2, DIM))}, "sequence")
    store = ContextStore(str(path))
    rows = store.get("b")
    assert isinstance(rows, np.memmap)
    assert not rows.flags.writeable
    assert np.shares_memory(rows, store.embeddings)


def test_empty_and_all_empty_stores(tmp_path):
    _write_store(tmp_path / "none.ctx", {}, "cls")
    store = ContextStore(str(tmp_path / "none.ctx"))
    assert len(store) == 0 and store.lengths.tolist() == []

    _write_store(tmp_path / "blank.ctx", {"a": np.zeros((0, DIM))}, "sequence")
    store = ContextStore(str(tmp_path / "blank.ctx"))
    assert store.get("a").shape == (0, DIM)


def test_pickles_by_path(tmp_path):
    path = tmp_path / "seq.ctx"
    _write_store(path, {"a": np.full((2, DIM), 0.5)}, "sequence")
    payload = pickle.dumps(ContextStore(str(path)))
    assert len(payload) < 200  # the path, not the embeddings
    np.testing.assert_array_equal(pickle.loads(payload).get("a"), np.full((2, DIM), 0.5, np.float16))


def test_exception_mid_write_leaves_no_file(tmp_path):
    path = tmp_path / "store.ctx"
    with pytest.raises(RuntimeError, match="boom"):
        with ContextStoreWriter(str(path), DIM, "cls") as writer:
            writer.add("a", np.ones(DIM))
            raise RuntimeError("boom")
    assert os.listdir(tmp_path) == []


def test_failed_write_leaves_existing_store_untouched(tmp_path):
    path = tmp_path / "store.ctx"
    _write_store(path, {"old": np.ones(DIM)}, "cls")
    before = path.read_bytes()
    with pytest.raises(ValueError):
        with ContextStoreWriter(str(path), DIM, "cls") as writer:
            writer.add("new", np.ones(DIM))
            writer.add("new", np.ones(DIM))
    assert path.read_bytes() == before
    assert os.listdir(tmp_path) == ["store.ctx"]
    assert ContextStore(str(path)).ids == ["old"]


def test_writer_rejects_bad_embeddings(tmp_path):
    with ContextStoreWriter(str(tmp_path / "s.ctx"), DIM, "cls") as writer:
        writer.add("utt-7", np.ones(DIM))
        with pytest.raises(ValueError, match="duplicate utterance id 'utt-7'"):
            writer.add("utt-7", np.ones(DIM))
        with pytest.raises(ValueError, match=r"'wrong-dim'.*expected \(rows, 8\)"):
            writer.add("wrong-dim", np.ones((1, DIM + 1)))
        bad = np.ones(DIM)
        bad[3] = np.nan
        with pytest.raises(ValueError, match="'has-nan'.*non-finite"):
            writer.add("has-nan", bad)
        with pytest.raises(ValueError, match="'too-big'.*float16 range"):
            writer.add("too-big", np.full(DIM, 1e6))
        with pytest.raises(ValueError, match="'two-rows'.*'cls' store takes 0 or 1 row"):
            writer.add("two-rows", np.ones((2, DIM)))
    assert ContextStore(str(tmp_path / "s.ctx")).ids == ["utt-7"]  # rejected rows left no trace


@pytest.mark.parametrize("keep_bytes", [4, 16, -10, -200])
def test_truncated_file_error_names_path(tmp_path, keep_bytes):
    path = tmp_path / "seq.ctx"
    _write_store(path, {"a": np.ones((5, DIM)), "b": np.ones((3, DIM))}, "sequence")
    raw = path.read_bytes()
    path.write_bytes(raw[:keep_bytes])
    with pytest.raises(ContextStoreError, match=str(path)):
        ContextStore(str(path))


def test_foreign_file_error_names_path(tmp_path):
    path = tmp_path / "foreign.bin"
    path.write_bytes(b"not a store at all, just some bytes")
    with pytest.raises(ContextStoreError, match=f"{path} is not a context store"):
        ContextStore(str(path))


def test_unknown_id_error_names_id_and_path(tmp_path):
    path = tmp_path / "cls.ctx"
    _write_store(path, {"a": np.ones(DIM)}, "cls")
    with pytest.raises(KeyError, match=f"'missing'.*{path}"):
        ContextStore(str(path)).get("missing")


# --- values read back, and opening in workers ---------------------------------------------------


def _corrupt_value(path, row, column, bits=0x7E00):
    """Overwrite one float16 value of embedding row ``row`` in place (0x7E00: NaN, 0x7C00: inf)."""
    with open(path, "r+b") as store_file:
        store_file.seek(16 + (row * DIM + column) * 2)
        store_file.write(int(bits).to_bytes(2, "little"))


@pytest.mark.parametrize("bits", [0x7E00, 0x7C00, 0xFC00])  # NaN, +inf, -inf
def test_reader_refuses_non_finite_values_naming_the_utterance_and_the_store(tmp_path, bits):
    path = tmp_path / "seq.ctx"
    _write_store(path, {"a": np.ones((3, DIM)), "b": np.zeros((0, DIM)), "c": np.ones((2, DIM)), "d": np.ones((1, DIM))}, "sequence")
    _corrupt_value(path, row=4, column=DIM - 1, bits=bits)  # rows: a 0-2, c 3-4, d 5
    with pytest.raises(ContextStoreError, match=rf"{path}: the context of utterance 'c' \(index 2, embedding row 4\) holds non-finite"):
        ContextStore(str(path))
    assert ContextStore(str(path), check_values=False).get("a").shape == (3, DIM)  # opt-out for inspection


def test_the_largest_finite_float16_is_accepted(tmp_path):
    path = tmp_path / "cls.ctx"
    _write_store(path, {"a": np.full(DIM, 65504.0), "b": np.full(DIM, -65504.0)}, "cls")
    assert ContextStore(str(path)).get("b")[0, 0] == -65504.0


def test_workers_map_the_store_without_parsing_the_header_again(tmp_path, monkeypatch):
    path = tmp_path / "seq.ctx"
    _write_store(path, {"a": np.full((2, DIM), 0.5), "b": np.ones((1, DIM))}, "sequence", meta={"encoder": "x"})
    payload = pickle.dumps(ContextStore(str(path)))
    opened = []
    monkeypatch.setattr(ContextStore, "_read_header", lambda self: opened.append(self.path) or pytest.fail("header parsed"))
    monkeypatch.setattr(ContextStore, "check_values", lambda self: pytest.fail("values checked again"))
    worker_copy = pickle.loads(payload)
    np.testing.assert_array_equal(worker_copy.get_by_index(0), np.full((2, DIM), 0.5, np.float16))
    assert len(worker_copy) == 2 and worker_copy.lengths.tolist() == [2, 1] and worker_copy.pooling == "sequence"
    monkeypatch.undo()
    assert worker_copy.ids == ["a", "b"] and worker_copy.meta == {"encoder": "x"} and worker_copy.index("b") == 1


def test_a_store_rewritten_since_it_was_pickled_is_opened_afresh(tmp_path):
    path = tmp_path / "cls.ctx"
    _write_store(path, {"a": np.ones(DIM)}, "cls")
    payload = pickle.dumps(ContextStore(str(path)))
    _write_store(path, {"x": np.ones(DIM), "y": np.ones(DIM), "z": np.ones(DIM)}, "cls")
    os.utime(path, ns=(1, 1))  # a different modification time, whatever the clock's resolution
    assert pickle.loads(payload).ids == ["x", "y", "z"]
    older_pickle = ContextStore.__new__(ContextStore)
    older_pickle.__setstate__({"path": str(path)})  # the state of stores pickled by earlier versions
    assert older_pickle.ids == ["x", "y", "z"]


def test_duplicate_ids_in_a_foreign_header_are_refused_at_the_first_lookup(tmp_path):
    path = tmp_path / "cls.ctx"
    _write_store(path, {"a": np.ones(DIM), "b": np.ones(DIM)}, "cls")
    raw = path.read_bytes()
    header_offset = int.from_bytes(raw[8:16], "little")
    path.write_bytes(raw[:header_offset] + raw[header_offset:].replace(b'"ids": ["a", "b"]', b'"ids": ["a", "a"]'))
    store = ContextStore(str(path))
    with pytest.raises(ContextStoreError, match="duplicate ids"):
        "a" in store
