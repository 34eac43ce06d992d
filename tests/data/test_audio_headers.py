"""Audio headers, the one reader shared by data preparation and the dataset checks
(gcaf_fairseq.data.audio_headers)."""

import numpy as np
import pytest
import soundfile

from gcaf_fairseq.data.audio_headers import AudioHeader, audio_header, audio_header_or_problem


@pytest.mark.parametrize("name, channels, rate", [("a.flac", 1, 16000), ("b.flac", 2, 8000), ("c.wav", 1, 16000), ("d.ogg", 1, 22050)])
def test_audio_headers_match_soundfile(tmp_path, name, channels, rate):
    path = tmp_path / name
    soundfile.write(path, np.zeros((1234, channels), np.float32), rate)
    info = soundfile.info(str(path))
    assert audio_header(path) == AudioHeader(frames=info.frames, sample_rate=info.samplerate, channels=info.channels)
    assert audio_header_or_problem(path, verify=True) == audio_header(path)


def test_unusable_files_are_named_with_what_is_wrong(tmp_path):
    empty_wav = tmp_path / "empty.wav"
    soundfile.write(empty_wav, np.zeros(0, np.int16), 16000)
    garbage = tmp_path / "garbage.flac"
    garbage.write_bytes(b"not audio at all")
    truncated = tmp_path / "truncated.flac"
    soundfile.write(truncated, (np.random.default_rng(0).standard_normal(64000) * 3000).astype(np.int16), 16000)
    truncated.write_bytes(truncated.read_bytes()[: truncated.stat().st_size // 2])

    assert audio_header_or_problem(empty_wav).startswith(f"{empty_wav}: the audio header gives a length of 0 samples")
    assert audio_header_or_problem(garbage).startswith(f"{garbage}: cannot read the audio header")
    assert audio_header_or_problem(tmp_path / "missing.flac").startswith(f"{tmp_path / 'missing.flac'}: cannot read")
    assert audio_header_or_problem(truncated).frames == 64000  # the header alone cannot tell
    assert "does not decode to its end" in audio_header_or_problem(truncated, verify=True)
    with pytest.raises(FileNotFoundError):
        audio_header(tmp_path / "missing.flac")
