"""Greedy generation through any OpenAI-compatible server (vLLM, TGI, llama.cpp server).

Text templates go to ``/v1/completions`` (``prompt`` = the templated text); the ``server``
template goes to ``/v1/chat/completions`` (``messages``), where the server applies the
model's chat template. Greedy decoding is ``temperature=0``; ``max_tokens`` bounds the
new tokens.

At most ``concurrency`` requests are in flight (a thread pool, refilled as requests
finish, so a continuously batching server stays busy). Each request has a timeout; a
connection error, a timeout, or HTTP 408/409/429/5xx is retried up to ``max_retries``
times after ``retry_backoff * 2**attempt`` seconds (capped at ``max_retry_delay``, with
jitter so many shards do not retry in step); other HTTP errors (a wrong model name, a
bad request) fail at once. Many shards pointed at one served model is how generation
scales past one machine.
"""

import logging
import os
import random
import threading
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from typing import Iterator, List, Optional, Sequence, Tuple

from .base import BackendError, Completion

logger = logging.getLogger(__name__)

RETRYABLE_STATUS_CODES = {408, 409, 429}


class OpenAIBackend:
    """Requests to the OpenAI-compatible server at ``base_url`` (e.g. ``http://host:8000/v1``)
    for the served model ``model``; results are grouped ``batch_size`` at a time (the
    runner writes one group per flush)."""

    name = "openai"

    def __init__(
        self,
        base_url: str,
        model: str,
        api_key: Optional[str] = None,
        max_new_tokens: int = 256,
        concurrency: int = 8,
        batch_size: Optional[int] = None,
        timeout: float = 300.0,
        max_retries: int = 5,
        retry_backoff: float = 1.0,
        max_retry_delay: float = 60.0,
    ):
        import openai

        if concurrency < 1 or max_new_tokens < 1 or max_retries < 0 or timeout <= 0:
            raise ValueError(
                "concurrency and max_new_tokens must be positive, max_retries >= 0 and timeout > 0, got "
                f"{concurrency}, {max_new_tokens}, {max_retries}, {timeout}"
            )
        self.base_url = base_url
        self.model = model
        self.max_new_tokens = max_new_tokens
        self.concurrency = concurrency
        self.batch_size = batch_size or 4 * concurrency
        self.max_retries = max_retries
        self.retry_backoff = retry_backoff
        self.max_retry_delay = max_retry_delay
        self._openai = openai
        # The client's own retries are off: ours below log, back off with jitter and stop early.
        self.client = openai.OpenAI(
            base_url=base_url,
            api_key=api_key or os.environ.get("OPENAI_API_KEY") or "EMPTY",
            max_retries=0,
            timeout=timeout,
        )
        self._stop = threading.Event()

    def settings(self) -> dict:
        return {
            "backend": self.name,
            "model": self.model,
            "decoding": "greedy",
            "temperature": 0,
            "max_new_tokens": self.max_new_tokens,
        }

    def info(self) -> dict:
        return {"model_location": self.base_url, "concurrency": self.concurrency}

    def _send(self, prompt) -> Completion:
        if prompt.messages is not None:
            response = self.client.chat.completions.create(
                model=self.model, messages=list(prompt.messages), max_tokens=self.max_new_tokens, temperature=0
            )
            if not response.choices:
                raise BackendError(f"{self.base_url}: a chat completion without choices")
            choice = response.choices[0]
            text = choice.message.content or ""
        else:
            response = self.client.completions.create(
                model=self.model, prompt=prompt.text, max_tokens=self.max_new_tokens, temperature=0
            )
            if not response.choices:
                raise BackendError(f"{self.base_url}: a completion without choices")
            choice = response.choices[0]
            text = choice.text or ""
        usage = response.usage
        return Completion(
            text=text.strip(),
            finish_reason=choice.finish_reason or "unknown",
            prompt_tokens=getattr(usage, "prompt_tokens", None),
            completion_tokens=getattr(usage, "completion_tokens", None),
        )

    def _is_retryable(self, error: Exception) -> bool:
        if isinstance(error, self._openai.APIConnectionError):  # timeouts included
            return True
        if isinstance(error, self._openai.APIStatusError):
            return error.status_code in RETRYABLE_STATUS_CODES or error.status_code >= 500
        return False

    def request(self, prompt) -> Completion:
        """One completion, retried with exponential backoff where retrying makes sense."""
        for attempt in range(self.max_retries + 1):
            try:
                return self._send(prompt)
            except self._openai.OpenAIError as error:
                if not self._is_retryable(error):
                    raise BackendError(f"{self.base_url}: request refused: {error}") from error
                if attempt == self.max_retries or self._stop.is_set():
                    raise BackendError(
                        f"{self.base_url}: request failed after {attempt + 1} attempt(s): {error}"
                    ) from error
                delay = min(self.max_retry_delay, self.retry_backoff * 2**attempt) * random.uniform(0.5, 1.0)
                logger.warning(
                    "%s: attempt %d of %d failed (%s); retrying in %.1f s",
                    self.base_url, attempt + 1, self.max_retries + 1, error, delay,
                )
                if self._stop.wait(delay):
                    raise BackendError(f"{self.base_url}: stopped after another request failed: {error}") from error

    def iterate_completions(self, prompts: Sequence) -> Iterator[List[Tuple[int, Completion]]]:
        """Yield groups of ``batch_size`` ``(index in prompts, completion)`` pairs (the last
        one smaller) as requests finish, at most ``concurrency`` in flight. When a request
        fails for good, the completions already received are yielded first, the others are
        abandoned, and the error is raised."""
        self._stop.clear()
        pool = ThreadPoolExecutor(max_workers=self.concurrency, thread_name_prefix="openai-request")
        index_of_future = {}
        next_index = 0
        finished_group = []
        try:
            while next_index < len(prompts) or index_of_future:
                while next_index < len(prompts) and len(index_of_future) < self.concurrency:
                    index_of_future[pool.submit(self.request, prompts[next_index])] = next_index
                    next_index += 1
                done, _ = wait(list(index_of_future), return_when=FIRST_COMPLETED)
                failure = None
                for future in done:
                    index = index_of_future.pop(future)
                    try:
                        finished_group.append((index, future.result()))
                    except BackendError as error:
                        failure = failure or error
                if failure is not None:
                    self._stop.set()
                    if finished_group:
                        yield finished_group
                    raise failure
                while len(finished_group) >= self.batch_size:
                    yield finished_group[: self.batch_size]
                    finished_group = finished_group[self.batch_size :]
            if finished_group:
                yield finished_group
        finally:
            self._stop.set()
            pool.shutdown(wait=False, cancel_futures=True)
