"""Tiny espeak-ng speech for the data-preparation tests, synthesized once per test session.

``speech_clips`` (a session fixture, imported by the test modules that need it) gives
``{phrase: int16 samples at 16 kHz mono}``; the tests write them as FLAC or OGG files in
look-alike dataset trees.
"""

import subprocess

import numpy as np
import pytest
import soundfile

PHRASES = ("the cat sat", "a bird sang", "we walked home", "rain fell today", "good morning")

# A label, not a skip: scripts/setup_env.sh installs espeak-ng and sox, and a test that
# cannot synthesize speech must fail, not pass unnoticed.
needs_speech_tools = pytest.mark.needs_speech_tools


@pytest.fixture(scope="session")
def speech_clips(tmp_path_factory) -> dict:
    folder = tmp_path_factory.mktemp("speech")
    clips = {}
    for index, phrase in enumerate(PHRASES):
        raw_wav, converted = folder / f"{index}.wav", folder / f"{index}.flac"
        subprocess.run(["espeak-ng", "-w", str(raw_wav), phrase], check=True, capture_output=True)
        # -D: no dither, so the clips are the same on every run.
        subprocess.run(
            ["sox", "-D", "-q", str(raw_wav), "-r", "16000", "-c", "1", "-b", "16", str(converted)],
            check=True, capture_output=True,
        )
        samples, sample_rate = soundfile.read(str(converted), dtype="int16")
        assert sample_rate == 16000 and samples.ndim == 1
        clips[phrase] = samples
    return clips


def clip(speech_clips: dict, index: int) -> np.ndarray:
    """The ``index``-th phrase's samples (cycling through :data:`PHRASES`)."""
    return speech_clips[PHRASES[index % len(PHRASES)]]
