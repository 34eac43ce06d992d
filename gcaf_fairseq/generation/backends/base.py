"""What every generation backend returns, and the error it raises."""

from dataclasses import dataclass
from typing import Optional


@dataclass(frozen=True)
class Completion:
    """One greedy generation: its text (special tokens removed, surrounding whitespace
    stripped), why it ended (``stop``: end of sequence, ``length``: the new-token limit,
    or what the server said), and token counts (the prompt's as fed to the model, the
    generated ones including the end-of-sequence token; None where a server gives none)."""

    text: str
    finish_reason: str
    prompt_tokens: Optional[int]
    completion_tokens: Optional[int]


class BackendError(RuntimeError):
    """A request that failed for good (after retries where retrying makes sense).

    ``prompt_index``: the index (in the prompts given to ``iterate_completions``) of the
    prompt whose request failed, when one did; the runner turns it into the utterance id.
    """

    def __init__(self, message: str, prompt_index: Optional[int] = None):
        super().__init__(message)
        self.prompt_index = prompt_index
