"""The generator ``fairseq-generate`` uses for CTC models.

fairseq's ``audio_finetuning`` task has none (fairseq-generate fails with
``Wav2VecCtc.forward() takes 1 positional argument``); this one runs the model once per
batch and decodes each utterance with a :mod:`ctc_decoders` decoder.
"""

import time
from typing import Optional

import torch
from fairseq.data.data_utils import post_process

from ..data.decoding_timing import GenerationTiming
from .decoding_output import DecodingRecorder


class GenerationTimer:
    """The seconds of the generation loop (CA Fig. 3's decoding time): each batch's forward
    pass and CTC search, between two ``torch.cuda.synchronize`` on a GPU. Before the first
    timed batch the model runs once on it untimed (the warm-up: CUDA kernels, allocator).
    Model loading (before the loop) and audio loading (fairseq's data loader, between
    batches) are outside the timed spans."""

    def __init__(self):
        self.seconds = 0.0
        self.batches = 0
        self.audio_samples = 0
        self.device: Optional[torch.device] = None
        self.warmed_up = False

    @staticmethod
    def synchronize(device: torch.device) -> None:
        if device.type == "cuda":
            torch.cuda.synchronize(device)

    def add(self, seconds: float, audio_samples: int, device: torch.device) -> None:
        self.seconds += seconds
        self.batches += 1
        self.audio_samples += audio_samples
        self.device = device

    def timing(self) -> GenerationTiming:
        device = "unknown" if self.device is None else str(self.device)
        if self.device is not None and self.device.type == "cuda":
            device += f" ({torch.cuda.get_device_name(self.device)})"
        return GenerationTiming(self.seconds, self.batches, self.audio_samples, device)


def audio_samples_of(net_input) -> int:
    """The audio samples of a batch, padding left out: ``source`` ``(batch, samples)`` and its
    ``padding_mask`` (True at padding), when the batch is padded."""
    source, padding_mask = net_input["source"], net_input.get("padding_mask")
    if padding_mask is None:
        return int(source.numel())
    return int((~padding_mask).sum())


class CtcGenerator:
    """Args:
        decoder: a :class:`ViterbiDecoder` or :class:`KenLMDecoder`.
        target_dictionary: the CTC label dictionary.
        recorder: collects words for the id-ordered result files (optional).
        post_process_symbol: how labels become words (fairseq's ``letter`` for ``.ltr``).
        timer: times the generation loop (:class:`GenerationTimer`; optional). The recorder,
            given the same timer, writes its seconds beside the words.
    """

    def __init__(self, decoder, target_dictionary, recorder: Optional[DecodingRecorder] = None, post_process_symbol="letter",
                 timer: Optional[GenerationTimer] = None):
        self.decoder = decoder
        self.target_dictionary = target_dictionary
        self.recorder = recorder
        self.post_process_symbol = post_process_symbol
        self.timer = timer
        self.symbols_to_strip_from_output = {target_dictionary.pad(), target_dictionary.eos()}

    def reference_words(self, target: torch.Tensor):
        tokens = target[(target != self.target_dictionary.pad()) & (target != self.target_dictionary.eos())]
        return post_process(self.target_dictionary.string(tokens), self.post_process_symbol).split()

    @torch.no_grad()
    def generate(self, models, sample, **unused):
        """fairseq-generate's hypotheses ``[[hypothesis]]`` per utterance of ``sample``; with a
        timer, the batch's forward pass and search are timed (after one untimed warm-up
        forward pass on the first batch); the recorder gets the words after the timing (its
        last ``add`` writes the result files)."""
        model = self.single_model(models)
        timer = self.timer
        if timer is None:
            hypotheses = self.decode_batch(model, sample)
        else:
            device = sample["net_input"]["source"].device
            if not timer.warmed_up:
                self.warm_up(model, sample)
                timer.warmed_up = True
            timer.synchronize(device)
            started = time.perf_counter()
            hypotheses = self.decode_batch(model, sample)
            timer.synchronize(device)
            timer.add(time.perf_counter() - started, audio_samples_of(sample["net_input"]), device)
        self.record(sample, hypotheses)
        return hypotheses

    @staticmethod
    def single_model(models):
        if len(models) != 1:
            raise ValueError(f"CTC decoding takes one model, got an ensemble of {len(models)}")
        return models[0]

    def warm_up(self, model, sample) -> None:
        """One untimed forward pass on the first batch (CUDA kernels, the allocator)."""
        model(**sample["net_input"])

    def decode_batch(self, model, sample):
        """The forward pass and each utterance's CTC search: ``[[hypothesis]]`` per utterance."""
        return self.search(model, model(**sample["net_input"]))

    def search(self, model, net_output):
        """Each utterance's CTC search on the model's output: ``[[hypothesis]]`` per utterance."""
        log_probs = model.get_normalized_probs(net_output, log_probs=True).transpose(0, 1)  # B x T x V
        frame_padding_mask = net_output["padding_mask"]
        hypotheses = []
        for b in range(log_probs.size(0)):
            utterance = log_probs[b]
            if frame_padding_mask is not None:
                utterance = utterance[~frame_padding_mask[b]]
            hypotheses.append([self.decoder.decode(utterance)])
        return hypotheses

    def record(self, sample, hypotheses) -> None:
        if self.recorder is not None and sample.get("target") is not None:
            for b, index in enumerate(sample["id"].tolist()):
                self.recorder.add(index, hypotheses[b][0]["words"], self.reference_words(sample["target"][b]))

    def decode_output(self, model, net_output, sample):
        """The hypotheses of the model's output on ``sample``, recorded (the overhead bench's
        decoding step, its forward pass timed apart)."""
        hypotheses = self.search(model, net_output)
        self.record(sample, hypotheses)
        return hypotheses
