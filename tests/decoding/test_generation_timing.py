"""CA Fig. 3's decoding time is the generation loop's: the CTC generator times each batch's forward
pass and search after an untimed warm-up, and nothing before (model loading) or between batches
(audio loading); the recorder writes the seconds, the real-time factor and the device beside the
words. Timed with a stand-in model whose first forward pass is slow (a warm-up) and whose loading
is slow, so that a timing of the whole decoding could not pass."""

import json
import time

import pytest
import torch
from fairseq.data import Dictionary

from gcaf_fairseq.data.decoding_timing import GENERATION_LOOP
from gcaf_fairseq.decoding.ctc_decoders import ViterbiDecoder
from gcaf_fairseq.decoding.ctc_generator import CtcGenerator, GenerationTimer
from gcaf_fairseq.decoding.decoding_output import DecodingRecorder

SAMPLES_PER_FRAME = 320
WARM_UP_SECONDS, BATCH_SECONDS, LOADING_SECONDS = 0.4, 0.01, 0.4


def letters() -> Dictionary:
    dictionary = Dictionary()  # <s> (index 0) is the CTC blank
    for symbol in "|AB":
        dictionary.add_symbol(symbol)
    return dictionary


class SlowFirstModel(torch.nn.Module):
    """Spells ``A B`` for every utterance; its first call takes WARM_UP_SECONDS, later ones BATCH_SECONDS."""

    def __init__(self, dictionary: Dictionary):
        super().__init__()
        time.sleep(LOADING_SECONDS)  # "model loading"
        self.dictionary = dictionary
        self.calls = 0

    def forward(self, source, padding_mask=None):
        self.calls += 1
        time.sleep(WARM_UP_SECONDS if self.calls == 1 else BATCH_SECONDS)
        batch, frames = source.size(0), source.size(1) // SAMPLES_PER_FRAME
        spelling = [self.dictionary.index(symbol) for symbol in "A|B|"]
        logits = torch.full((frames, batch, len(self.dictionary)), -10.0)
        for frame in range(frames):
            logits[frame, :, spelling[frame] if frame < len(spelling) else 0] = 0.0
        frame_padding = None if padding_mask is None else padding_mask[:, ::SAMPLES_PER_FRAME][:, :frames]
        return {"encoder_out": logits, "padding_mask": frame_padding}

    def get_normalized_probs(self, net_output, log_probs=True):
        return torch.log_softmax(net_output["encoder_out"], dim=-1)


def batches(dictionary: Dictionary):
    """Two batches of two utterances; the second utterance of each is padded by 1,600 samples."""
    target = torch.tensor([[dictionary.index(s) for s in "A|B|"]] * 2)
    for first in (0, 2):
        padding_mask = torch.zeros(2, 3200, dtype=torch.bool)
        padding_mask[1, 1600:] = True
        yield {"id": torch.tensor([first, first + 1]), "target": target,
               "net_input": {"source": torch.zeros(2, 3200), "padding_mask": padding_mask}}


def decode(tmp_path, timer):
    dictionary = letters()
    started = time.perf_counter()
    model = SlowFirstModel(dictionary)
    recorder = DecodingRecorder(tmp_path, "dev", ["u0", "u1", "u2", "u3"], timer)
    generator = CtcGenerator(ViterbiDecoder(dictionary), dictionary, recorder, timer=timer)
    words = [[hypotheses[0]["words"] for hypotheses in generator.generate([model], batch)]
             for batch in batches(dictionary)]
    return words, time.perf_counter() - started, model


def test_the_generation_loop_is_timed_after_a_warm_up_without_model_loading(tmp_path):
    timer = GenerationTimer()
    words, wall_seconds, model = decode(tmp_path, timer)
    assert words == [[["A", "B"], ["A", "B"]]] * 2
    assert model.calls == 3  # the warm-up, then one forward pass per batch
    assert wall_seconds > LOADING_SECONDS + WARM_UP_SECONDS
    assert 2 * BATCH_SECONDS <= timer.seconds < 2 * BATCH_SECONDS + 0.2  # neither loading nor the warm-up
    assert (timer.batches, timer.audio_samples) == (2, 2 * (3200 + 1600))  # padding is not audio
    timing = json.loads((tmp_path / "dev.timing.json").read_text())
    assert timing["decode_seconds"] == pytest.approx(timer.seconds, abs=1e-4)
    assert timing["audio_seconds"] == 9600 / 16000 and timing["device"] == "cpu"
    assert timing["real_time_factor"] == pytest.approx(timer.seconds / 0.6, rel=1e-3)
    assert timing["timed"] == GENERATION_LOOP and timing["batches"] == 2


def test_timing_changes_no_output(tmp_path):
    timed, _, _ = decode(tmp_path / "timed", GenerationTimer())
    untimed, _, model = decode(tmp_path / "untimed", None)
    assert timed == untimed and model.calls == 2  # no warm-up without a timer
    assert (tmp_path / "timed" / "dev.hyp.wrd").read_text() == (tmp_path / "untimed" / "dev.hyp.wrd").read_text()
    assert not (tmp_path / "untimed" / "dev.timing.json").exists()
