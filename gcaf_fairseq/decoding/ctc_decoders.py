"""Per-utterance CTC decoders: greedy (Viterbi) and KenLM beam search through flashlight-text.

Each decoder turns one utterance's ``(frame, vocab)`` log-probabilities into the hypothesis
dict fairseq-generate reads (``tokens``, ``score``, ``positional_scores``, ``alignment``)
plus ``words``. :func:`build_ctc_decoder` picks and builds one from a :class:`DecodingConfig`.
"""

import math
import os
from typing import Dict, List, Optional

import torch
from fairseq.data.data_utils import post_process

from ..data.lexicon import read_lexicon
from .config import DecodingConfig


def collapse_frame_labels(frame_labels: torch.Tensor, log_probs: torch.Tensor, dropped: set) -> Dict:
    """Merge repeated frame labels, remove ``dropped`` ones (blank, pad, eos).

    Returns ``tokens`` and ``positional_scores``: the log-probability of each kept label at
    the first frame of its run."""
    run_start = torch.ones_like(frame_labels, dtype=torch.bool)
    run_start[1:] = frame_labels[1:] != frame_labels[:-1]
    keep = run_start.clone()
    for symbol in dropped:
        keep &= frame_labels != symbol
    frames = torch.nonzero(keep).squeeze(-1)
    return {
        "tokens": frame_labels[keep].cpu(),
        "positional_scores": log_probs[frames, frame_labels[frames]].float().cpu(),
    }


class ViterbiDecoder:
    """Best label per frame, repeats merged, blanks removed; ``score`` is the path's sum of
    frame log-probabilities."""

    def __init__(self, target_dictionary, blank_index: int = 0, post_process_symbol: str = "letter"):
        self.target_dictionary = target_dictionary
        self.dropped = {blank_index, target_dictionary.pad(), target_dictionary.eos()}
        self.post_process_symbol = post_process_symbol

    def words(self, tokens: torch.Tensor) -> List[str]:
        return post_process(self.target_dictionary.string(tokens), self.post_process_symbol).split()

    def decode(self, log_probs: torch.Tensor) -> Dict:
        best_scores, best_labels = log_probs.max(dim=-1)
        hypothesis = collapse_frame_labels(best_labels, log_probs, self.dropped)
        hypothesis.update(score=float(best_scores.sum()), alignment=None, words=self.words(hypothesis["tokens"]))
        return hypothesis


class KenLMDecoder(ViterbiDecoder):
    """Beam search with a KenLM model (ARPA or binary) through flashlight-text.

    With a lexicon, words are constrained to its spellings and the LM is a word LM
    (``LexiconDecoder``); without one, the LM scores tokens directly (``LexiconFreeDecoder``,
    a token-level LM such as a letter n-gram whose words are the dictionary's symbols).
    """

    def __init__(
        self,
        target_dictionary,
        lm_path: str,
        lexicon_path: Optional[str] = None,
        beam: int = 500,
        beam_size_token: Optional[int] = None,
        beam_threshold: float = 25.0,
        lm_weight: float = 2.0,
        word_score: float = -1.0,
        sil_weight: float = 0.0,
        unk_score: float = -math.inf,
        blank_index: int = 0,
        silence_symbol: str = "|",
        post_process_symbol: str = "letter",
    ):
        from flashlight.lib.text.decoder import (
            CriterionType,
            KenLM,
            LexiconDecoder,
            LexiconDecoderOptions,
            LexiconFreeDecoder,
            LexiconFreeDecoderOptions,
            SmearingMode,
            Trie,
        )
        from flashlight.lib.text.dictionary import Dictionary as FlashlightDictionary

        super().__init__(target_dictionary, blank_index, post_process_symbol)
        self.blank_index = blank_index
        if silence_symbol not in target_dictionary.indices:
            raise ValueError(f"the word separator {silence_symbol!r} is not in the target dictionary")
        silence = target_dictionary.index(silence_symbol)
        vocab_size = len(target_dictionary)
        beam_size_token = beam_size_token or vocab_size
        if lexicon_path:
            lexicon = read_lexicon(lexicon_path)
            self.word_dictionary = FlashlightDictionary(list(lexicon) + ([] if "<unk>" in lexicon else ["<unk>"]))
            unknown_word = self.word_dictionary.get_index("<unk>")
            self.word_dictionary.set_default_index(unknown_word)
            self.lm = KenLM(lm_path, self.word_dictionary)
            trie = Trie(vocab_size, silence)
            start_state = self.lm.start(False)
            for word, spellings in lexicon.items():
                word_index = self.word_dictionary.get_index(word)
                _, score = self.lm.score(start_state, word_index)
                for spelling in spellings:
                    token_indices = [target_dictionary.index(token) for token in spelling]
                    if target_dictionary.unk() in token_indices:
                        unknown = [t for t in spelling if target_dictionary.index(t) == target_dictionary.unk()]
                        raise ValueError(f"{lexicon_path}: the spelling of {word!r} uses {unknown}, not in the target dictionary")
                    trie.insert(token_indices, word_index, score)
            trie.smear(SmearingMode.MAX)
            options = LexiconDecoderOptions(
                beam, beam_size_token, beam_threshold, lm_weight, word_score, unk_score, sil_weight, False, CriterionType.CTC
            )
            self.decoder = LexiconDecoder(options, trie, self.lm, silence, blank_index, unknown_word, [], False)
        else:
            self.word_dictionary = None
            token_dictionary = FlashlightDictionary([target_dictionary[i] for i in range(vocab_size)])
            self.lm = KenLM(lm_path, token_dictionary)
            options = LexiconFreeDecoderOptions(beam, beam_size_token, beam_threshold, lm_weight, sil_weight, False, CriterionType.CTC)
            self.decoder = LexiconFreeDecoder(options, self.lm, silence, blank_index, [])

    def decode(self, log_probs: torch.Tensor) -> Dict:
        emissions = log_probs.float().contiguous().cpu()
        frames, vocab = emissions.shape
        results = self.decoder.decode(emissions.data_ptr(), frames, vocab)
        if not results:
            return {"tokens": torch.zeros(0, dtype=torch.long), "positional_scores": torch.zeros(0),
                    "score": -math.inf, "alignment": None, "words": []}
        best = results[0]
        path = torch.tensor([max(t, self.blank_index) for t in best.tokens], dtype=torch.long)
        if len(path) == frames + 2:  # flashlight pads the path with a start and an end step
            path = path[1:-1]
        hypothesis = collapse_frame_labels(path[:frames], emissions, self.dropped)
        if self.word_dictionary is not None:
            words = [self.word_dictionary.get_entry(w) for w in best.words if w >= 0]
        else:
            words = self.words(hypothesis["tokens"])
        hypothesis.update(score=float(best.score), alignment=None, words=words)
        return hypothesis


def build_ctc_decoder(cfg: DecodingConfig, target_dictionary, blank_index: int, post_process_symbol: str = "letter") -> ViterbiDecoder:
    """The decoder ``cfg.ctc_decoder`` names, with the LM and lexicon checked to exist."""
    if cfg.ctc_decoder == "viterbi":
        return ViterbiDecoder(target_dictionary, blank_index, post_process_symbol)
    if not cfg.decoder_lm:
        raise ValueError("--ctc-decoder kenlm needs --decoder-lm (a KenLM ARPA or binary model)")
    for path in (cfg.decoder_lm, cfg.decoder_lexicon):
        if path and not os.path.exists(path):
            raise FileNotFoundError(f"{path} does not exist")
    return KenLMDecoder(
        target_dictionary,
        lm_path=cfg.decoder_lm,
        lexicon_path=cfg.decoder_lexicon,
        beam=cfg.decoder_beam,
        beam_size_token=cfg.decoder_beam_size_token,
        beam_threshold=cfg.decoder_beam_threshold,
        lm_weight=cfg.decoder_lm_weight,
        word_score=cfg.decoder_word_score,
        sil_weight=cfg.decoder_sil_weight,
        unk_score=cfg.decoder_unk_score,
        blank_index=blank_index,
        post_process_symbol=post_process_symbol,
    )
