"""Greedy (Viterbi) CTC decoding for ``fairseq-generate``.

fairseq's ``audio_finetuning`` task has no generator for CTC models (fairseq-generate fails
with ``Wav2VecCtc.forward() takes 1 positional argument``); this one gives it one.
"""

import torch


class CtcViterbiGenerator:
    """Best label per frame, repeats merged, blanks removed.

    Args:
        target_dictionary: the fairseq :class:`Dictionary` of the CTC labels.
        blank_index: index of the CTC blank (fairseq's wav2vec2 CTC uses ``<s>``, index 0).

    :meth:`generate` returns, per utterance, a one-element list with the hypothesis dict
    fairseq-generate reads: ``tokens`` (label indices, without blank, pad and eos),
    ``score`` (sum of the best frame log-probabilities), ``positional_scores`` (the
    log-probability of each emitted label at its first frame) and ``alignment`` (None).
    """

    def __init__(self, target_dictionary, blank_index: int = 0):
        self.target_dictionary = target_dictionary
        self.blank_index = blank_index
        self.symbols_to_strip_from_output = {target_dictionary.pad(), target_dictionary.eos()}

    @torch.no_grad()
    def generate(self, models, sample, **unused):
        if len(models) != 1:
            raise ValueError(f"CTC Viterbi decoding takes one model, got an ensemble of {len(models)}")
        model = models[0]
        net_output = model(**sample["net_input"])
        log_probs = model.get_normalized_probs(net_output, log_probs=True).transpose(0, 1)  # B x T x V
        frame_padding_mask = net_output["padding_mask"]
        hypotheses = []
        for b in range(log_probs.size(0)):
            utterance = log_probs[b]
            if frame_padding_mask is not None:
                utterance = utterance[~frame_padding_mask[b]]
            hypotheses.append([self.decode_frames(utterance)])
        return hypotheses

    def decode_frames(self, log_probs: torch.Tensor) -> dict:
        """Decode one utterance's ``(frame, vocab)`` log-probabilities."""
        best_scores, best_labels = log_probs.max(dim=-1)
        run_start = torch.ones_like(best_labels, dtype=torch.bool)
        run_start[1:] = best_labels[1:] != best_labels[:-1]
        keep = run_start & (best_labels != self.blank_index)
        for symbol in self.symbols_to_strip_from_output:
            keep &= best_labels != symbol
        return {
            "tokens": best_labels[keep].cpu(),
            "score": float(best_scores.sum()),
            "positional_scores": best_scores[keep].float().cpu(),
            "alignment": None,
        }
