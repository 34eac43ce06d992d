"""File fingerprints: the sha256 of a file's bytes, read in chunks (memory stays flat
whatever the size). The one home of file hashing for the package. Pure Python."""

import hashlib

CHUNK_BYTES = 1 << 22  # 4 MiB per read: large enough to run at the disk's speed


def update_with_file(digest, path) -> None:
    """Feed the bytes of the file ``path`` into ``digest`` (a ``hashlib`` object): for a
    fingerprint that covers a file and more."""
    with open(path, "rb") as stream:
        for chunk in iter(lambda: stream.read(CHUNK_BYTES), b""):
            digest.update(chunk)


def file_sha256(path) -> str:
    """The sha256 of the file's bytes, in hex (as ``sha256sum`` prints it)."""
    digest = hashlib.sha256()
    update_with_file(digest, path)
    return digest.hexdigest()
