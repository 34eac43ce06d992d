"""The generator ``fairseq-generate`` uses for CTC models.

fairseq's ``audio_finetuning`` task has none (fairseq-generate fails with
``Wav2VecCtc.forward() takes 1 positional argument``); this one runs the model once per
batch and decodes each utterance with a :mod:`ctc_decoders` decoder.
"""

from typing import Optional

import torch
from fairseq.data.data_utils import post_process

from .decoding_output import DecodingRecorder


class CtcGenerator:
    """Args:
        decoder: a :class:`ViterbiDecoder` or :class:`KenLMDecoder`.
        target_dictionary: the CTC label dictionary.
        recorder: collects words for the id-ordered result files (optional).
        post_process_symbol: how labels become words (fairseq's ``letter`` for ``.ltr``).
    """

    def __init__(self, decoder, target_dictionary, recorder: Optional[DecodingRecorder] = None, post_process_symbol="letter"):
        self.decoder = decoder
        self.target_dictionary = target_dictionary
        self.recorder = recorder
        self.post_process_symbol = post_process_symbol
        self.symbols_to_strip_from_output = {target_dictionary.pad(), target_dictionary.eos()}

    def reference_words(self, target: torch.Tensor):
        tokens = target[(target != self.target_dictionary.pad()) & (target != self.target_dictionary.eos())]
        return post_process(self.target_dictionary.string(tokens), self.post_process_symbol).split()

    @torch.no_grad()
    def generate(self, models, sample, **unused):
        model = self.single_model(models)
        return self.decode_output(model, model(**sample["net_input"]), sample)

    @staticmethod
    def single_model(models):
        if len(models) != 1:
            raise ValueError(f"CTC decoding takes one model, got an ensemble of {len(models)}")
        return models[0]

    def decode_output(self, model, net_output, sample):
        """fairseq-generate's hypotheses ``[[hypothesis]]`` per utterance of ``sample`` from
        the model's output on it; the recorder gets their words."""
        log_probs = model.get_normalized_probs(net_output, log_probs=True).transpose(0, 1)  # B x T x V
        frame_padding_mask = net_output["padding_mask"]
        hypotheses = []
        for b, index in enumerate(sample["id"].tolist()):
            utterance = log_probs[b]
            if frame_padding_mask is not None:
                utterance = utterance[~frame_padding_mask[b]]
            hypothesis = self.decoder.decode(utterance)
            hypotheses.append([hypothesis])
            if self.recorder is not None and sample.get("target") is not None:
                self.recorder.add(index, hypothesis["words"], self.reference_words(sample["target"][b]))
        return hypotheses
