"""The resumable, shardable generation loop behind ``gcaf-generate-context``.

For every utterance of the split (``in_split`` rows of the utterance table) the input is
the text of its previous utterance (``prev_id``): the ground-truth text from the table,
or, with ``previous_text_from``, a decoded hypothesis from a JSON-lines file of
``{"id": utterance id, "text": hypothesis}`` objects (the hypothesis of utterance
``prev_id`` is the input of the utterance after it). An utterance without a previous
utterance (no ``prev_id``, a ``prev_id`` without a row, an empty previous text) gets a
record with a null generation and ``finish_reason: "no_previous"``, never an invented one.

With ``shard="K/N"`` only the utterances whose id hashes to shard K are processed
(:func:`~.generation_file.shard_of`). Utterances already in the output file are
skipped, so rerunning the same command resumes; each group of completions is appended
and fsynced before the next, so a killed job loses at most the group in flight. A record
whose input (``prev_id``, previous text) differs from the input of now is refused, or with
``redo_changed`` generated again (:meth:`~.generation_file.GenerationWriter.check_inputs`).

A request that fails for good raises :class:`~.backends.BackendError` naming the utterance
(and, for a served model, the server); the records written until then are kept.
"""

import os
import time
from dataclasses import dataclass
from typing import Dict, List, Optional

from tqdm import tqdm

from ..data.fingerprints import file_sha256
from ..data.json_lines import read_json_objects
from ..data.utterance_table import previous_texts, read_utterance_table
from .backends.base import BackendError
from .generation_file import GenerationWriter, input_fingerprint, make_header, make_record, parse_shard, shard_of
from .prompts import build_user_message, resolve_prompt


@dataclass(frozen=True)
class GenerationInput:
    """One utterance to generate for; ``previous_text`` is None when it has no previous utterance."""

    utterance_id: str
    prev_id: Optional[str]
    previous_text: Optional[str]


def read_previous_texts_file(path) -> Dict[str, str]:
    """``{id: text}`` from a JSON-lines file of ``{"id", "text"}`` objects (e.g. decoded
    hypotheses); errors name the file and the line."""
    text_of_id, line_of_id = {}, {}
    for where, line_number, record in read_json_objects(path):
        if "id" not in record or "text" not in record:
            raise ValueError(f"{where}: expected an object with the fields 'id' and 'text'")
        if not isinstance(record["text"], str):
            raise ValueError(f"{where}: 'text' of id {record['id']!r} must be a string")
        if record["id"] in line_of_id:
            raise ValueError(f"{where}: id {record['id']!r} repeats line {line_of_id[record['id']]}")
        line_of_id[record["id"]] = line_number
        text_of_id[record["id"]] = record["text"]
    return text_of_id


def generation_inputs(
    rows: List[dict], hypotheses: Optional[Dict[str, str]] = None, hypotheses_path=None
) -> List[GenerationInput]:
    """The inputs of the split's utterances, in table order: previous ground-truth texts,
    or the hypotheses of the previous utterances when ``hypotheses`` is given (then every
    previous utterance needs one)."""
    records, _ = previous_texts(rows)
    inputs, missing = [], []
    for record in records:
        text = record["text"]
        if hypotheses is not None and record["prev_id"] is not None:
            if record["prev_id"] not in hypotheses:
                missing.append(record["prev_id"])
                continue
            text = hypotheses[record["prev_id"]]
        inputs.append(GenerationInput(record["id"], record["prev_id"], text if text.strip() else None))
    if missing:
        shown = ", ".join(map(repr, missing[:5])) + (", ..." if len(missing) > 5 else "")
        raise ValueError(
            f"{hypotheses_path}: no text for {len(missing)} previous utterance(s) ({shown}): the file must "
            "hold a hypothesis for every utterance that precedes one of the split"
        )
    return inputs


def run_generation(
    utterances_path,
    out_path,
    prompt: str,
    template,
    backend,
    shard: Optional[str] = None,
    previous_text_from=None,
    progress: bool = True,
    redo_changed: bool = False,
) -> dict:
    """Generate context for the utterances of ``utterances_path`` into the generation file
    ``out_path``, resuming it when it exists.

    ``prompt``: ``P1``..``P4`` or a custom text (:func:`~.prompts.resolve_prompt`);
    ``template``: a :class:`~.templates.PromptTemplate`; ``backend``: an
    :class:`~.backends.HFBackend` or :class:`~.backends.OpenAIBackend`; ``shard``:
    ``"K/N"`` or None for all; ``previous_text_from``: a hypothesis file (see the module
    docstring) instead of the ground-truth previous texts; ``redo_changed``: generate again
    the records whose input changed (else they are an error).

    Returns ``{"out", "shard", "utterances", "already_done", "redone", "generated",
    "no_previous", "completion_tokens", "seconds"}`` (counts of this run, except
    ``utterances`` and ``already_done``; ``redone``: records dropped because their input
    changed, counted again in ``generated`` or ``no_previous``).
    """
    started = time.perf_counter()
    prompt_id, prompt_text = resolve_prompt(prompt)
    rows = read_utterance_table(utterances_path)
    if previous_text_from is None:
        hypotheses, previous_text_settings = None, {"source": "ground_truth"}
    else:
        hypotheses = read_previous_texts_file(previous_text_from)
        previous_text_settings = {"source": "hypotheses", "sha256": file_sha256(previous_text_from)}
    inputs = generation_inputs(rows, hypotheses, previous_text_from)
    if shard is not None:
        shard_index, shard_count = parse_shard(shard)
        inputs = [item for item in inputs if shard_of(item.utterance_id, shard_count) == shard_index]
        shard = None if shard_count == 1 else f"{shard_index}/{shard_count}"

    settings = {
        "prompt_id": prompt_id,
        "prompt": prompt_text,
        "template": template.settings(),
        "backend": backend.settings(),
        "previous_text": previous_text_settings,
    }
    header = make_header(settings, shard=shard, utterances=os.path.abspath(utterances_path), **backend.info())
    settings_id = header["settings_id"]
    generated = no_previous = completion_tokens = 0
    with GenerationWriter(out_path, header) as writer:
        redone = writer.check_inputs(
            {item.utterance_id: input_fingerprint(item.prev_id, item.previous_text) for item in inputs}, redo_changed
        )
        todo = [item for item in inputs if item.utterance_id not in writer.finished_ids]
        already_done = len(inputs) - len(todo)
        with tqdm(
            total=len(inputs), initial=already_done, unit="utt", desc=f"generate {prompt_id}",
            disable=not progress, dynamic_ncols=True,
        ) as progress_bar:
            without_previous = [item for item in todo if item.previous_text is None]
            writer.write(
                [make_record(item.utterance_id, item.prev_id, prompt_id, settings_id) for item in without_previous]
            )
            no_previous = len(without_previous)
            progress_bar.update(no_previous)

            with_previous = [item for item in todo if item.previous_text is not None]
            prompts = [template.render(build_user_message(prompt_text, item.previous_text)) for item in with_previous]
            generation_started = time.perf_counter()
            for group in _completions_naming_utterances(backend, prompts, with_previous):
                records = []
                for index, completion in group:
                    item = with_previous[index]
                    records.append(
                        make_record(
                            item.utterance_id, item.prev_id, prompt_id, settings_id,
                            previous_text=item.previous_text,
                            prompt_sent=prompts[index].text,
                            generation=completion.text,
                            finish_reason=completion.finish_reason,
                            prompt_tokens=completion.prompt_tokens,
                            completion_tokens=completion.completion_tokens,
                        )
                    )
                    completion_tokens += completion.completion_tokens or 0
                writer.write(records)
                generated += len(records)
                elapsed = max(time.perf_counter() - generation_started, 1e-9)
                progress_bar.set_postfix_str(f"{completion_tokens / elapsed:.1f} tok/s", refresh=False)
                progress_bar.update(len(records))
    return {
        "out": os.fspath(out_path),
        "shard": shard,
        "utterances": len(inputs),
        "already_done": already_done,
        "redone": len(redone),
        "generated": generated,
        "no_previous": no_previous,
        "completion_tokens": completion_tokens,
        "seconds": round(time.perf_counter() - started, 3),
    }


def _completions_naming_utterances(backend, prompts, items: List[GenerationInput]):
    """``backend.iterate_completions(prompts)``, its failure naming the utterance of the
    failed request (``items[k]`` goes with ``prompts[k]``)."""
    try:
        yield from backend.iterate_completions(prompts)
    except BackendError as error:
        if error.prompt_index is None:
            raise
        item = items[error.prompt_index]
        raise BackendError(
            f"utterance {item.utterance_id!r} (previous utterance {item.prev_id!r}): {error}", error.prompt_index
        ) from error
