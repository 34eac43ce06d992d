"""Greedy generation through any OpenAI-compatible server (vLLM, TGI, llama.cpp server).

Text templates go to ``/v1/completions`` (``prompt`` = the templated text); the ``server``
template goes to ``/v1/chat/completions`` (``messages``), where the server applies the
model's chat template. Greedy decoding is ``temperature=0``; ``max_tokens`` bounds the
new tokens.

At most ``concurrency`` requests are in flight: they run as asyncio tasks on an event
loop in a background thread, refilled as requests finish, so a continuously batching
server stays busy.

**Deadline.** ``timeout`` is a wall-clock deadline for each attempt, from sending the
request to having the complete response (``asyncio.wait_for`` around the whole exchange,
which closes the connection when it expires). A server or proxy that keeps sending bytes
slowly therefore cannot hold a request longer than ``timeout`` seconds, as a read timeout
would let it (each byte restarts a read timeout).

**What is retried.** A failed attempt is retried up to ``max_retries`` times after
``retry_backoff * 2**attempt`` seconds (capped at ``max_retry_delay``, with jitter so many
shards do not retry in step) when the failure may be transient:

- a connection error, or the deadline above;
- HTTP 408, 409, 429 or 5xx (an HTML error page of a proxy, such as a 502, included);
- a 2xx response that is not what the protocol promises, because proxies and overloaded
  servers produce those transiently: an HTML page instead of JSON (a proxy's error page
  sent with status 200), malformed or truncated JSON, JSON without ``choices[0]``, and a
  null or missing text (``choices[0].text``, or ``choices[0].message.content`` for chat).
  A null text is never taken as an empty generation: it is retried like the others and,
  when the retries are spent, the run fails. (An empty *string* with a finish reason is a
  real, if short, generation and is kept.)

Other HTTP errors (a wrong model name, a bad request) fail at once ("request refused").
A request that fails for good raises :class:`~.base.BackendError` naming the server, what
was wrong, and (through ``prompt_index``, which the runner turns into the utterance id)
the request; the other requests are cancelled. Many shards pointed at one served model is
how generation scales past one machine.
"""

import asyncio
import json
import logging
import os
import random
import re
import threading
from concurrent.futures import FIRST_COMPLETED, wait
from typing import Iterator, List, Optional, Sequence, Tuple

from .base import BackendError, Completion

logger = logging.getLogger(__name__)

RETRYABLE_STATUS_CODES = {408, 409, 429}
# Characters of a response body quoted in an error message.
EXCERPT_CHARS = 120


class BadResponse(Exception):
    """A 2xx response that is not what the OpenAI protocol promises (retried)."""


def _excerpt(body: bytes) -> str:
    text = body.decode("utf-8", errors="replace").strip()
    text = re.sub(r"\s+", " ", text)
    return repr(text[:EXCERPT_CHARS] + ("..." if len(text) > EXCERPT_CHARS else ""))


def _is_html(content_type: str, body: bytes) -> bool:
    start = body.lstrip()[:15].lower()
    return "html" in content_type.lower() or start.startswith(b"<!doctype html") or start.startswith(b"<html")


def describe_body(content_type: str, body: bytes) -> str:
    """A short description of a response body for an error message: an HTML page by its
    title, anything else by its first characters."""
    if _is_html(content_type, body):
        title = re.search(rb"<title[^>]*>(.*?)</title>", body, flags=re.IGNORECASE | re.DOTALL)
        named = f" titled {_excerpt(title.group(1))}" if title else f" starting {_excerpt(body)}"
        return f"an HTML page{named} instead of JSON (a proxy's or web server's error page?)"
    return f"{len(body)} bytes starting {_excerpt(body)}"


def parse_completion(body: bytes, content_type: str, chat: bool) -> Completion:
    """The :class:`Completion` of a 2xx response body, or :class:`BadResponse` saying how the
    body breaks the protocol."""
    try:
        payload = json.loads(body)
    except (ValueError, UnicodeDecodeError) as error:
        if _is_html(content_type, body):
            raise BadResponse(describe_body(content_type, body)) from None
        raise BadResponse(f"malformed JSON ({error}): {describe_body(content_type, body)}") from None
    choices = payload.get("choices") if isinstance(payload, dict) else None
    if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
        raise BadResponse(f"a JSON response without choices[0]: {describe_body(content_type, body)}")
    choice = choices[0]
    if chat:
        field, message = "choices[0].message.content", choice.get("message")
        holder = message if isinstance(message, dict) else {}
        text = holder.get("content")
        absent = "content" not in holder
    else:
        field, text, absent = "choices[0].text", choice.get("text"), "text" not in choice
    finish_reason = choice.get("finish_reason")
    if not isinstance(text, str):
        what = "missing" if absent else ("null" if text is None else f"a {type(text).__name__}, not a string")
        raise BadResponse(
            f"{field} is {what} (finish_reason {finish_reason!r}): the server sent no generation"
        )
    usage = payload.get("usage")
    usage = usage if isinstance(usage, dict) else {}

    def count(name):
        value = usage.get(name)
        return value if isinstance(value, int) and not isinstance(value, bool) else None

    return Completion(
        text=text.strip(),
        finish_reason=finish_reason if isinstance(finish_reason, str) and finish_reason else "unknown",
        prompt_tokens=count("prompt_tokens"),
        completion_tokens=count("completion_tokens"),
    )


class OpenAIBackend:
    """Requests to the OpenAI-compatible server at ``base_url`` (e.g. ``http://host:8000/v1``)
    for the served model ``model``; results are grouped ``batch_size`` at a time (the
    runner writes one group per flush). ``timeout``: the deadline of each attempt in
    seconds (see the module docstring)."""

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
        self.api_key = api_key or os.environ.get("OPENAI_API_KEY") or "EMPTY"
        self.max_new_tokens = max_new_tokens
        self.concurrency = concurrency
        self.batch_size = batch_size or 4 * concurrency
        self.timeout = timeout
        self.max_retries = max_retries
        self.retry_backoff = retry_backoff
        self.max_retry_delay = max_retry_delay
        self._openai = openai

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

    async def _open_client(self):
        # Made inside the event loop that uses it. The client's own retries are off: ours
        # below log, back off with jitter, and cover the deadline and malformed responses.
        return self._openai.AsyncOpenAI(
            base_url=self.base_url, api_key=self.api_key, max_retries=0, timeout=self.timeout
        )

    async def _send(self, client, prompt) -> Completion:
        arguments = {"model": self.model, "max_tokens": self.max_new_tokens, "temperature": 0}
        if prompt.messages is not None:
            raw = await client.chat.completions.with_raw_response.create(messages=list(prompt.messages), **arguments)
        else:
            raw = await client.completions.with_raw_response.create(prompt=prompt.text, **arguments)
        response = raw.http_response
        return parse_completion(response.content, response.headers.get("content-type", ""), prompt.messages is not None)

    def _problem(self, error: BaseException) -> Tuple[str, bool]:
        """``(what went wrong, whether to retry)`` for an attempt that raised ``error``."""
        if isinstance(error, asyncio.TimeoutError):
            return (
                f"no complete response within the {self.timeout:g} s deadline of a request (--timeout)",
                True,
            )
        if isinstance(error, BadResponse):
            return str(error), True
        if isinstance(error, self._openai.APIStatusError):
            response = error.response
            body = describe_body(response.headers.get("content-type", ""), response.content)
            retryable = error.status_code in RETRYABLE_STATUS_CODES or error.status_code >= 500
            return f"HTTP {error.status_code}: {body}", retryable
        if isinstance(error, self._openai.APIConnectionError):
            cause = f" ({error.__cause__})" if error.__cause__ else ""
            return f"{error}{cause}", True
        return f"{type(error).__name__}: {error}", False

    async def _request(self, client, prompt, prompt_index: int) -> Completion:
        """One completion, each attempt under the deadline, retried with exponential backoff
        where retrying makes sense."""
        for attempt in range(self.max_retries + 1):
            try:
                return await asyncio.wait_for(self._send(client, prompt), self.timeout)
            except (asyncio.TimeoutError, BadResponse, self._openai.OpenAIError) as error:
                problem, retryable = self._problem(error)
            if not retryable:
                raise BackendError(f"{self.base_url}: request refused: {problem}", prompt_index)
            if attempt == self.max_retries:
                raise BackendError(
                    f"{self.base_url}: request failed after {attempt + 1} attempt(s): {problem}", prompt_index
                )
            delay = min(self.max_retry_delay, self.retry_backoff * 2**attempt) * random.uniform(0.5, 1.0)
            logger.warning(
                "%s: request %d: attempt %d of %d failed (%s); retrying in %.1f s",
                self.base_url, prompt_index, attempt + 1, self.max_retries + 1, problem, delay,
            )
            await asyncio.sleep(delay)

    @staticmethod
    async def _close(client) -> None:
        current = asyncio.current_task()
        others = [task for task in asyncio.all_tasks() if task is not current]
        for task in others:
            task.cancel()
        await asyncio.gather(*others, return_exceptions=True)
        await client.close()

    def iterate_completions(self, prompts: Sequence) -> Iterator[List[Tuple[int, Completion]]]:
        """Yield groups of ``batch_size`` ``(index in prompts, completion)`` pairs (the last
        one smaller) as requests finish, at most ``concurrency`` in flight. When a request
        fails for good, the completions already received are yielded first, the others are
        cancelled, and the error is raised."""
        loop = asyncio.new_event_loop()
        thread = threading.Thread(target=loop.run_forever, name="openai-requests", daemon=True)
        thread.start()
        client = None
        index_of_future = {}
        try:
            client = asyncio.run_coroutine_threadsafe(self._open_client(), loop).result()
            next_index = 0
            finished_group = []
            while next_index < len(prompts) or index_of_future:
                while next_index < len(prompts) and len(index_of_future) < self.concurrency:
                    request = self._request(client, prompts[next_index], next_index)
                    index_of_future[asyncio.run_coroutine_threadsafe(request, loop)] = next_index
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
                    if finished_group:
                        yield finished_group
                    raise failure
                while len(finished_group) >= self.batch_size:
                    yield finished_group[: self.batch_size]
                    finished_group = finished_group[self.batch_size :]
            if finished_group:
                yield finished_group
        finally:
            for future in index_of_future:
                future.cancel()
            if client is not None:
                asyncio.run_coroutine_threadsafe(self._close(client), loop).result()
            loop.call_soon_threadsafe(loop.stop)
            thread.join()
            loop.close()
