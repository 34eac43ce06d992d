"""The neighbour index {split}.neighbours.npz (data/neighbour_index.py): round trip, windows
and stream edges, missing files under error and zero, stale index detection."""

import os

import numpy as np
import pytest

from gcaf_fairseq.data.neighbour_index import (
    NeighbourIndex,
    load_neighbour_index,
    neighbour_index_path,
    write_neighbour_index,
)
from gcaf_fairseq.data.utterance_table import write_utterance_table


def chapter_rows(stream, count, audio):
    return [
        {"id": f"{stream}-{k}", "stream": stream, "position": k, "audio": audio(stream, k), "text": "A B",
         "prev_id": f"{stream}-{k - 1}" if k else None, "next_id": f"{stream}-{k + 1}" if k < count - 1 else None,
         "in_split": True}
        for k in range(count)
    ]


@pytest.fixture
def table(tmp_path):
    """Two chapters of 4 in folders 7/1 and 8/2, relative audio paths; returns the table path."""
    rows = []
    for stream in ("7-1", "8-2"):
        folder = tmp_path / "audio" / stream.replace("-", "/")
        folder.mkdir(parents=True)
        for k in range(4):
            (folder / f"{stream}-{k}.flac").write_bytes(b"x")
        rows += chapter_rows(stream, 4, lambda s, k: f"audio/{s.replace('-', '/')}/{s}-{k}.flac")
    path = tmp_path / "train.utterances.jsonl"
    write_utterance_table(path, rows)
    return path


def neighbour_ids(lookup, index):
    return [[index.ids[r] for r in row if r >= 0] for row in lookup.rows]


def test_round_trip_keeps_every_field(table):
    lengths = {"7-1-0": 16000, "8-2-3": 123}
    path = write_neighbour_index(table, num_samples=lengths)
    assert path == table.with_name("train.neighbours.npz")
    built, read = load_neighbour_index(table), NeighbourIndex.read(path, table)
    assert read.ids == built.ids == [f"{s}-{k}" for s in ("7-1", "8-2") for k in range(4)]
    for name in ("prev", "next", "folder", "name_offsets", "in_split"):
        assert np.array_equal(getattr(read, name), getattr(built, name))
    assert read.num_samples[0] == 16000 and read.num_samples[7] == 123 and read.num_samples[1] == -1
    assert read.audio_path(5) == os.path.join(str(table.parent), "audio/8/2", "8-2-1.flac")
    assert read.prev[0] == -1 and read.next[3] == -1 and read.next[0] == 1  # stream edges
    assert read.is_fresh_for(table)


@pytest.mark.parametrize(
    "window, offset, expected, edges",
    [
        ((2, 0), [1], {"7-1-0": ["7-1-1"], "7-1-3": [], "8-2-3": []}, 2),
        ((2, -1), [-1], {"7-1-0": [], "7-1-3": ["7-1-2"], "8-2-0": []}, 2),
        ((3, -1), [-1, 1], {"7-1-0": ["7-1-1"], "7-1-1": ["7-1-0", "7-1-2"], "8-2-3": ["8-2-2"]}, 4),
    ],
)
def test_windows_stop_at_stream_edges(table, window, offset, expected, edges):
    from gcaf_fairseq.data.neighbour_index import window_neighbour_offsets

    assert window_neighbour_offsets(*window) == offset
    index = load_neighbour_index(table)
    ids = list(index.ids)
    lookup = index.neighbours(ids, offset)
    found = neighbour_ids(lookup, index)
    for utterance_id, neighbours in expected.items():
        assert found[ids.index(utterance_id)] == neighbours
    assert lookup.edge_slots == edges and not lookup.missing
    assert lookup.paths_of(ids.index("7-1-1"))[0].endswith("audio/7/1/7-1-" + ("2.flac" if offset == [1] else "0.flac"))


def test_missing_files_links_and_utterances_are_named_once_per_slot(table, tmp_path):
    (tmp_path / "audio/7/1/7-1-1.flac").unlink()
    os.symlink(tmp_path / "gone.flac", tmp_path / "audio/7/1/7-1-2.flac.tmp")
    os.replace(tmp_path / "audio/7/1/7-1-2.flac.tmp", tmp_path / "audio/7/1/7-1-2.flac")  # a broken link
    index = load_neighbour_index(table)
    lookup = index.neighbours(["7-1-0", "7-1-1", "7-1-3", "9-9-9"], [-1, 1])
    assert lookup.missing == [
        f"7-1-0: the audio of its neighbour 7-1-1 ({index.audio_path(1)}) does not exist",
        f"7-1-1: the audio of its neighbour 7-1-2 ({index.audio_path(2)}) does not exist",
        f"7-1-3: the audio of its neighbour 7-1-2 ({index.audio_path(2)}) does not exist",
        f"9-9-9: not in {table}",
    ]
    assert lookup.paths == [[], [index.audio_path(0)], [], []]
    assert lookup.counts() == {"utterances": 4, "with_neighbours": 1, "without_neighbours": 3, "edge_slots": 2, "missing": 4}


def test_a_dangling_link_survives_the_file_and_a_missing_folder_is_missing(table, tmp_path):
    from gcaf_fairseq.data.utterance_table import read_utterance_table

    rows = read_utterance_table(table)
    rows[2]["next_id"], rows[3]["prev_id"] = "7-1-9", None  # a link to an id without a row
    write_utterance_table(table, rows)
    write_neighbour_index(table)
    (tmp_path / "audio/8/2").rename(tmp_path / "elsewhere")
    index = NeighbourIndex.read(neighbour_index_path(table), table)
    lookup = index.neighbours(["7-1-2", "8-2-1"], [1])
    assert lookup.missing == [
        f"7-1-2: its neighbour 7-1-9 has no row in {table}",
        f"8-2-1: the audio of its neighbour 8-2-2 ({index.audio_path(6)}) does not exist",
    ]


def test_audio_context_follows_context_missing(corpus, w2v_checkpoint, copy_of):
    """Under error the set-up names the missing file; under zero it counts it and batches go on."""
    from conftest import make_task, model_config

    data = copy_of(corpus, "gone")
    table = data / "test.utterances.jsonl"
    rows = [line for line in table.read_text().splitlines()]
    import json

    first = json.loads(rows[1])
    gone = data / "gone.flac"
    first["audio"] = str(gone)  # the second utterance's audio, as a neighbour, is missing
    rows[1] = json.dumps(first)
    table.write_text("\n".join(rows) + "\n")
    options = dict(context_source="audio", context_fusion="concat", context_window=3, context_offset=-1)
    task = make_task(data, utterance_table=str(data / "{split}.utterances.jsonl"))
    task.build_model(model_config(w2v_checkpoint, data, **options))
    with pytest.raises(ValueError, match=f"2 neighbours .* missing .*{first['id']} \\({gone}\\) does not exist"):
        task.load_dataset("test")
    task = make_task(data, utterance_table=str(data / "{split}.utterances.jsonl"), context_missing="zero")
    task.build_model(model_config(w2v_checkpoint, data, **options))
    task.load_dataset("test")
    assert task.context_missing_counts["test"] == 2
    dataset = task.datasets["test"]
    batch = dataset.collater([dataset[i] for i in range(4)])
    assert batch["net_input"]["neighbour_owner"].tolist() == [1, 1, 2, 3]  # 0 lost its only neighbour, 2 one of two


def test_a_stale_index_is_rebuilt_never_used(table, tmp_path):
    from gcaf_fairseq.data.utterance_table import read_utterance_table

    write_neighbour_index(table)
    rows = read_utterance_table(table)
    rows[1]["next_id"], rows[2]["prev_id"] = None, None  # the chapter split in two
    write_utterance_table(table, rows)
    old = NeighbourIndex.read(neighbour_index_path(table), table)
    assert not old.is_fresh_for(table)
    same_size = table.read_text().replace('"A B"', '"A C"', 1)  # one letter: same size, other bytes
    table.write_text(same_size)
    assert not old.is_fresh_for(table)
    index = load_neighbour_index(table)
    assert index.next[1] == -1 and index.prev[2] == -1
    assert NeighbourIndex.read(neighbour_index_path(table), table).is_fresh_for(table)  # rewritten


def test_a_copied_table_keeps_its_index_and_a_broken_index_is_named(table, tmp_path):
    write_neighbour_index(table)
    os.utime(table, ns=(1, 1))  # a copy: new time, same bytes
    assert NeighbourIndex.read(neighbour_index_path(table), table).is_fresh_for(table)
    first = neighbour_index_path(table).read_bytes()
    write_neighbour_index(table)
    assert neighbour_index_path(table).read_bytes() == first  # deterministic
    neighbour_index_path(table).write_bytes(b"not an index")
    with pytest.raises(ValueError, match="train.neighbours.npz: not a readable neighbour index"):
        NeighbourIndex.read(neighbour_index_path(table), table)
    assert load_neighbour_index(table).ids[0] == "7-1-0"  # rebuilt from the table


def test_index_module_is_pure():
    import subprocess
    import sys

    code = "import sys, gcaf_fairseq.data.neighbour_index; print('torch' in sys.modules, 'fairseq' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["False", "False"]


def test_a_batch_reads_each_neighbour_once_and_gives_the_same_batch(corpus, w2v_checkpoint, monkeypatch):
    """Window (3, -1) over one chapter of 4: 6 neighbour slots, 4 distinct files, read once each;
    the batch holds exactly each neighbour's audio, in window order."""
    import soundfile
    import torch
    from conftest import make_task, model_config

    from gcaf_fairseq.data.neighbour_audio import NeighbourAudioDataset

    task = make_task(corpus, utterance_table=str(corpus / "{split}.utterances.jsonl"))
    task.build_model(model_config(w2v_checkpoint, corpus, context_source="audio", context_fusion="concat",
                                  context_window=3, context_offset=-1))
    task.load_dataset("test")
    dataset = task.datasets["test"]
    reads, load = [], NeighbourAudioDataset.load
    monkeypatch.setattr(NeighbourAudioDataset, "load", lambda self, path, expected=-1: reads.append(path) or load(self, path, expected))
    batch = dataset.collater([dataset[i] for i in range(4)])
    assert len(reads) == len(set(reads)) == 4
    source, owners = batch["net_input"]["neighbour_source"], batch["net_input"]["neighbour_owner"].tolist()
    index = load_neighbour_index(corpus / "test.utterances.jsonl")
    ids = [i for i in index.ids]
    expected = [ids[k - 1:k] + ids[k + 1:k + 2] for k in range(4)]
    slot = 0
    for row, neighbours in enumerate(expected):
        for neighbour in neighbours:
            wave, _ = soundfile.read(index.audio_path(ids.index(neighbour)), dtype="float32")
            assert owners[slot] == row and torch.equal(source[slot, : len(wave)], torch.from_numpy(wave))
            slot += 1
    assert slot == len(owners) == 6


def test_manifest_ids_are_computed_once_per_split(corpus):
    from conftest import make_task

    from gcaf_fairseq.data.manifest import file_audio_dataset, manifest_utterance_ids

    task = make_task(corpus)
    task.load_dataset("test")
    audio = file_audio_dataset(task.datasets["test"])
    calls = []
    decompress = audio.text_compressor.decompress
    audio.text_compressor.decompress = lambda name: calls.append(name) or decompress(name)
    first = manifest_utterance_ids(task.datasets["test"])
    assert len(calls) == 4
    first.append("changed by a caller")
    second = manifest_utterance_ids(task.datasets["test"])
    assert len(calls) == 4 and second == first[:4]  # cached; each caller gets its own copy
