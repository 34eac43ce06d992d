"""File sha256, the one home of file hashing (gcaf_fairseq.data.fingerprints)."""

import hashlib

from gcaf_fairseq.data import fingerprints
from gcaf_fairseq.data.fingerprints import file_sha256, update_with_file


def test_file_sha256_is_the_hash_of_the_bytes_across_chunk_boundaries(tmp_path, monkeypatch):
    monkeypatch.setattr(fingerprints, "CHUNK_BYTES", 7)  # many chunks, the last one short
    for size in (0, 1, 7, 50):
        path = tmp_path / f"{size}.bin"
        data = bytes(range(size))
        path.write_bytes(data)
        assert file_sha256(path) == hashlib.sha256(data).hexdigest()
        assert file_sha256(str(path)) == file_sha256(path)


def test_update_with_file_feeds_a_longer_fingerprint(tmp_path):
    path = tmp_path / "table.jsonl"
    path.write_bytes(b'{"id": "a"}\n')
    digest = hashlib.sha256(b"prefix")
    update_with_file(digest, path)
    digest.update(b"suffix")
    assert digest.hexdigest() == hashlib.sha256(b'prefix{"id": "a"}\nsuffix').hexdigest()
