"""Audio file headers: frames, sample rate and channels, read without decoding; the one home
for data preparation (:mod:`gcaf_fairseq.prep`) and the task's dataset checks
(:mod:`gcaf_fairseq.data.dataset_checks`). Pure Python, numpy and soundfile (imported when a
header is read).

- :func:`audio_header`: the header, FLAC's STREAMINFO block read directly (about 20
  microseconds a file), any other format through soundfile (100-150); raises what opening the
  file raises.
- :func:`audio_header_or_problem`: the header, or a sentence saying why the file cannot be
  used: unreadable, a length of zero or none (garbage), or (``verify``) audio that does not
  decode to the header's length.
"""

from dataclasses import dataclass
from typing import Union

import numpy as np

from .manifest import SAMPLE_RATE

# libsndfile reports SF_COUNT_MAX frames when the header does not tell the length (a FLAC
# whose STREAMINFO total is 0, a streamed file): no real utterance or recording is a day long.
MAX_PLAUSIBLE_FRAMES = SAMPLE_RATE * 24 * 3600
DECODE_BLOCK_FRAMES = 1 << 16
REENCODE_HINT = "re-encode it (e.g. sox IN -r 16000 -c 1 -b 16 OUT.flac), or fetch the file again"
REFETCH_HINT = "fetch or extract the file again (a re-encoded copy would keep only what decodes)"


@dataclass(frozen=True)
class AudioHeader:
    """What an audio file's header says."""

    frames: int  # samples per channel
    sample_rate: int  # Hz
    channels: int


def audio_header(path) -> AudioHeader:
    """The header of the audio file ``path``, never decoded: FLAC's STREAMINFO block directly
    (unless it leaves the length unknown), any other format through soundfile. Raises
    ``FileNotFoundError``, ``OSError`` or soundfile's ``LibsndfileError`` (a ``RuntimeError``)."""
    path = str(path)
    with open(path, "rb") as audio:
        head = audio.read(42)
    # "fLaC", then the first metadata block header: type 0 (STREAMINFO), 34 bytes.
    if len(head) == 42 and head[:4] == b"fLaC" and head[4] & 0x7F == 0 and head[5:8] == b"\x00\x00\x22":
        bits = int.from_bytes(head[18:26], "big")  # 20 bits rate, 3 channels-1, 5 bps-1, 36 total samples
        total_samples = bits & ((1 << 36) - 1)
        if total_samples:  # 0: unknown, ask soundfile
            return AudioHeader(frames=total_samples, sample_rate=bits >> 44, channels=((bits >> 41) & 7) + 1)
    import soundfile

    with soundfile.SoundFile(path) as audio_file:
        return AudioHeader(frames=audio_file.frames, sample_rate=audio_file.samplerate, channels=audio_file.channels)


def decoded_frames(path) -> int:
    """Decode all of ``path`` in blocks and return the number of frames it holds; raises
    what libsndfile raises on a stream that cannot be decoded (e.g. a truncated FLAC)."""
    import soundfile

    frames = 0
    with soundfile.SoundFile(str(path)) as audio:
        buffer = np.empty((DECODE_BLOCK_FRAMES, audio.channels), dtype=np.int16)
        while True:
            read = len(audio.read(DECODE_BLOCK_FRAMES, dtype="int16", always_2d=True, out=buffer))
            frames += read
            if read < DECODE_BLOCK_FRAMES:
                return frames


def audio_header_or_problem(path, verify: bool = False) -> Union[AudioHeader, str]:
    """The header of ``path``, or why it cannot be used (a sentence naming the file): it cannot
    be read, its length is zero or not known (garbage), or, when ``verify``, the audio does not
    decode to the length the header gives."""
    try:
        header = audio_header(path)
    except (RuntimeError, OSError) as error:  # soundfile raises LibsndfileError(RuntimeError)
        return f"{path}: cannot read the audio header: {error}"
    if header.frames <= 0:
        return f"{path}: the audio header gives a length of {header.frames} samples (empty or broken file); {REENCODE_HINT}"
    if header.frames > MAX_PLAUSIBLE_FRAMES:
        return (
            f"{path}: the audio header does not tell the length ({header.frames} samples, more than a day); "
            f"fairseq cannot load such a file: {REENCODE_HINT}"
        )
    if verify:
        try:
            frames = decoded_frames(path)
        except (RuntimeError, OSError) as error:
            return f"{path}: the audio does not decode to its end (truncated or corrupt?): {error}; {REFETCH_HINT}"
        if frames != header.frames:
            return (
                f"{path}: the header gives {header.frames} samples but {frames} decode (truncated or corrupt?); "
                f"{REFETCH_HINT}"
            )
    return header
