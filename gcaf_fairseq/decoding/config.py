"""``DecodingConfig``: how ``fairseq-generate`` decodes a CTC model, one config group of the task.

fairseq's argparse path (``gen_parser_from_dataclass``) flattens a nested config group into
the root namespace under the fields' own names, so these fields keep the flat options
``--ctc-decoder``, ``--decoder-lm``, ... ``--decoding-output``; hydra reads them as
``task.decoding.<field>``. Defaults: the papers' LM decoding (beam 500, LM weight 2, word
score -1; SLUE NER uses word score +1).
"""

import math
from dataclasses import dataclass, field
from typing import Optional

from fairseq.dataclass import ChoiceEnum, FairseqDataclass

CTC_DECODER_CHOICES = ChoiceEnum(["viterbi", "kenlm"])


@dataclass
class DecodingConfig(FairseqDataclass):
    ctc_decoder: CTC_DECODER_CHOICES = field(
        default="viterbi",
        metadata={"help": "viterbi: greedy CTC; kenlm: beam search with --decoder-lm through flashlight-text"},
    )
    decoder_lm: Optional[str] = field(default=None, metadata={"help": "KenLM model (ARPA or binary) for --ctc-decoder kenlm"})
    decoder_lexicon: Optional[str] = field(
        default=None,
        metadata={"help": "lexicon 'WORD T O K E N S |' per line (gcaf-build-lexicon); without one, "
                  "lexicon-free decoding with a token-level LM"},
    )
    decoder_beam: int = field(default=500, metadata={"help": "beam size"})
    decoder_beam_size_token: Optional[int] = field(default=None, metadata={"help": "tokens considered per frame (default: all)"})
    decoder_beam_threshold: float = field(default=25.0, metadata={"help": "drop hypotheses this far below the best"})
    decoder_lm_weight: float = field(default=2.0, metadata={"help": "LM weight"})
    decoder_word_score: float = field(default=-1.0, metadata={"help": "score added per word (SLUE NER: 1)"})
    decoder_sil_weight: float = field(default=0.0, metadata={"help": "score added per word separator"})
    decoder_unk_score: float = field(default=-math.inf, metadata={"help": "score of an unknown word (lexicon decoding)"})
    decoding_output: Optional[str] = field(
        default=None,
        metadata={"help": "folder for {subset}.ids/.hyp.wrd/.ref.wrd/.wer.json in utterance-id order; "
                  "without it they are not written (fairseq-generate does not hand its --results-path "
                  "to the task: pass the same folder to both to get them next to generate-{subset}.txt)"},
    )
    sequential_context: bool = field(
        default=False,
        metadata={"help": "decode each stream in order, position by position (utterance t of many streams "
                  "per batch, all of t-1 before t; streams from --utterance-table), giving each utterance the "
                  "context a deployed decoder has: text injection models (C1/C2, D) the embedding of their own "
                  "hypothesis of the previous utterance (--context-text-encoder) instead of the store; audio "
                  "injection with a previous-only window ((b) with context_offset = 1 - context_window) the previous "
                  "utterances' frames kept from their own forward pass instead of re-encoding their audio. "
                  "A stream's first utterance gets no context"},
    )
    context_text_encoder: Optional[str] = field(
        default=None,
        metadata={"help": "with --sequential-context and a text model: the local folder of the text encoder that "
                  "embedded the model's training store (gcaf-embed-context --encoder; default: the folder that "
                  "store's metadata names, where it exists). Loaded once, on the decoding device; pooling, "
                  "max_length and dtype follow the store"},
    )
