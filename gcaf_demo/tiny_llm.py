"""A tiny Llama trained on the demo corpus: the demo's stand-in for an instruction-tuned LLM.

No real LLM can be downloaded here, so the demo trains its own: a 2-layer, 64-dim
``LlamaForCausalLM`` (about 0.16M parameters) with a byte-level BPE tokenizer trained on
the same text, for a fixed number of steps on CPU. It learns one thing: to answer the four GCAF
prompts (P1-P4) applied to a sentence of the train split, in the chat format of its own
chat template, with answers made from the corpus itself:

- P1 (next sentence): the sentence that follows in the chapter;
- P2 (question): ``WHAT DID {NAME} DO WITH THE {NOUN}?``;
- P3 (topic): the chapter's topic (``KITCHEN``, ``SAILING``, ...);
- P4 (title): ``{NAME} AND THE {NOUN}: A {TOPIC} STORY``;

where the topic is the corpus topic whose vocabulary the chapter uses most, and the name
and the noun are the protagonist and the topic noun of the prompted sentence (the
chapter's most frequent ones when the sentence has none). It knows
nothing beyond that corpus: it shows the pipeline (prompt -> generation -> embedding ->
context store) end to end, not what a 13B model's text does for ASR.

The model, the tokenizer and its chat template are saved with ``save_pretrained`` so the
``hf`` backend loads the folder like any other model. ``tiny_llm.json``, written last,
records the settings and the training run (steps, wall and CPU seconds, final loss); a
folder with a matching record is reused. Training is bounded by steps only, never by a
clock: the same settings give the same model on a fast or a loaded machine.

:func:`train_smoke_llm` trains the same model for smoke runs of the recipes
(``gcaf-make-smoke-models``): on random texts, to answer any text with a fixed text per prompt.
"""

import json
import random
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Optional, Tuple

from gcaf_fairseq.data.utterance_table import read_utterance_table
from gcaf_fairseq.generation.prompts import PROMPTS, build_user_message
from gcaf_fairseq.data.atomic_files import write_text_atomically
from gcaf_fairseq.data.fingerprints import file_sha256
from .corpus import NAMES, TOPICS

TINY_LLM_FORMAT_VERSION = 2  # 2: bounded by steps only (1 also stopped after a wall-clock time)
RUN_RECORD_NAME = "tiny_llm.json"
END_TOKEN = "<|end|>"
SPECIAL_TOKENS = ("<pad>", "<s>", END_TOKEN, "<|system|>", "<|user|>", "<|assistant|>")
CHAT_TEMPLATE = (
    "{{ bos_token }}{% for message in messages %}<|{{ message['role'] }}|>\n"
    "{{ message['content'] }}<|end|>\n{% endfor %}{% if add_generation_prompt %}<|assistant|>\n{% endif %}"
)
VOCABULARY_SIZE = 1024
MODEL_SIZE = dict(
    hidden_size=64, intermediate_size=192, num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=4
)
BATCH_SIZE = 32
LEARNING_RATE = 3e-3
WARMUP_STEPS = 30


def _words(sentences: List[str]) -> Counter:
    return Counter(word.lower().removesuffix("'s") for sentence in sentences for word in sentence.split())


def chapter_description(sentences: List[str], stream: str) -> Dict[str, str]:
    """``{"topic", "name", "noun"}`` of a chapter, upper case, from its words: the topic
    whose vocabulary it uses most, its most frequent name and topic noun."""
    words = _words(sentences)

    def vocabulary_hits(topic) -> int:
        phrases = topic.nouns + topic.places + topic.verbs + topic.adjectives
        vocabulary = {word for phrase in phrases for word in phrase.split()}
        return sum(count for word, count in words.items() if word in vocabulary)

    topic_name = max(sorted(TOPICS), key=lambda name: vocabulary_hits(TOPICS[name]))
    topic = TOPICS[topic_name]
    if vocabulary_hits(topic) == 0:
        raise ValueError(f"chapter {stream}: no word of any demo topic; the tiny LLM trains on the demo corpus only")
    names = [name for name in NAMES if words[name]]
    nouns = [noun for noun in topic.nouns if words[noun]]
    return {
        "topic": topic_name,
        "name": max(names, key=lambda name: (words[name], name)) if names else "someone",
        "noun": max(nouns, key=lambda noun: (words[noun], noun)) if nouns else topic.nouns[0],
    }


def answers(previous_sentence: str, next_sentence: str, chapter: Dict[str, str]) -> Dict[str, str]:
    """The assistant's answer to each prompt applied to ``previous_sentence`` (see the
    module docstring); the name and noun are the previous sentence's own when it has them
    (what a model can read off its input), else the chapter's."""
    words = _words([previous_sentence])
    topic = TOPICS[chapter["topic"]]
    name = next((name for name in NAMES if words[name]), chapter["name"]).upper()
    noun = next((noun for noun in topic.nouns if words[noun]), chapter["noun"]).upper()
    topic_name = chapter["topic"].upper()
    return {
        "P1": next_sentence,
        "P2": f"WHAT DID {name} DO WITH THE {noun}?",
        "P3": topic_name,
        "P4": f"{name} AND THE {noun}: A {topic_name} STORY",
    }


def chat_examples(rows: List[dict]) -> List[Tuple[str, str]]:
    """``(user message, answer)`` for every prompt and every consecutive pair of sentences."""
    sentences_of_stream: Dict[str, List[dict]] = {}
    for row in rows:
        sentences_of_stream.setdefault(row["stream"], []).append(row)
    examples = []
    for stream, stream_rows in sentences_of_stream.items():
        text_of_id = {row["id"]: row["text"] for row in stream_rows}
        chapter = chapter_description([row["text"] for row in stream_rows], stream)
        for row in stream_rows:
            previous = text_of_id.get(row["prev_id"])
            if previous is None:
                continue
            for prompt_id, answer in answers(previous, row["text"], chapter).items():
                examples.append((build_user_message(PROMPTS[prompt_id], previous), answer))
    return examples


def train_tokenizer(texts: List[str], vocabulary_size: int = VOCABULARY_SIZE):
    """A byte-level BPE tokenizer trained on ``texts``, with the chat template."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    bpe = Tokenizer(models.BPE())
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocabulary_size,
        special_tokens=list(SPECIAL_TOKENS),
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    bpe.train_from_iterator(texts, trainer)
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=bpe, pad_token="<pad>", bos_token="<s>", eos_token=END_TOKEN)
    tokenizer.chat_template = CHAT_TEMPLATE
    return tokenizer


def _encode_examples(tokenizer, examples) -> List[Tuple[List[int], List[int]]]:
    """``(input ids, labels)``: the prompt as the hf backend sends it, then the answer and
    the end token; only the answer and the end token are learned."""
    encoded = []
    for user_message, answer in examples:
        prompt = tokenizer.apply_chat_template(
            [{"role": "user", "content": user_message}], tokenize=False, add_generation_prompt=True
        )
        prompt_ids = tokenizer(prompt, add_special_tokens=False)["input_ids"]
        answer_ids = tokenizer(answer, add_special_tokens=False)["input_ids"] + [tokenizer.eos_token_id]
        encoded.append((prompt_ids + answer_ids, [-100] * len(prompt_ids) + answer_ids))
    return encoded


def _is_complete(out_dir: Path, parameters: dict) -> bool:
    try:
        record = json.loads((out_dir / RUN_RECORD_NAME).read_text())
    except (OSError, ValueError):
        return False
    saved = ("config.json", "model.safetensors", "tokenizer.json")
    return record.get("parameters") == parameters and all((out_dir / name).is_file() for name in saved)


@dataclass
class TinyLlmRun:
    """A trained (or found) demo LLM: its folder and what its training did."""

    folder: Path
    steps: int  # training steps actually run
    train_seconds: float  # wall time of the training loop
    cpu_seconds: float  # CPU time (user + system) of the training loop
    final_loss: float  # mean loss of the last 20 steps
    reused: bool  # found in ``folder`` from an earlier run with the same settings

    def summary(self) -> dict:
        """What the demo records in ``results.json``."""
        return {
            "steps": self.steps, "train_seconds": self.train_seconds, "cpu_seconds": self.cpu_seconds,
            "final_loss": self.final_loss, "folder": str(self.folder),
        }


def _run_of(out_dir: Path, record: dict, reused: bool) -> TinyLlmRun:
    return TinyLlmRun(
        folder=out_dir, steps=record["steps"], train_seconds=record["train_seconds"],
        cpu_seconds=record.get("cpu_seconds", float("nan")), final_loss=record["final_loss"], reused=reused,
    )


def _train_llama(tokenizer, encoded, steps: int, seed: int, max_position_embeddings: int,
                 progress: Optional[str] = None, progress_seconds: float = 15.0):
    """Train a :data:`MODEL_SIZE` Llama on ``encoded`` (``(input ids, labels)`` pairs) for
    ``steps`` steps of :data:`BATCH_SIZE` examples drawn with ``seed``. Returns the model, in
    eval mode with the tokenizer's end and padding ids as its generation defaults, and
    ``{"steps", "train_seconds", "cpu_seconds", "final_loss"}`` (the mean of the last 20 steps)."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    from gcaf_fairseq.recipes.processes import progress_line

    torch.manual_seed(seed)
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        max_position_embeddings=max_position_embeddings,
        tie_word_embeddings=True,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        **MODEL_SIZE,
    )
    model = LlamaForCausalLM(config)
    optimizer = torch.optim.AdamW(model.parameters(), lr=LEARNING_RATE, weight_decay=0.01)
    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: min(1.0, (step + 1) / WARMUP_STEPS))
    sampler = random.Random(seed)
    model.train()
    started, cpu_started = time.perf_counter(), time.process_time()
    printed_at = started
    losses = []
    for step in range(1, steps + 1):
        batch = [encoded[sampler.randrange(len(encoded))] for _ in range(BATCH_SIZE)]
        width = max(len(ids) for ids, _ in batch)
        input_ids = torch.tensor([ids + [tokenizer.pad_token_id] * (width - len(ids)) for ids, _ in batch])
        labels = torch.tensor([labels + [-100] * (width - len(labels)) for _, labels in batch])
        attention_mask = (torch.arange(width)[None, :] < torch.tensor([len(ids) for ids, _ in batch])[:, None]).long()
        loss = model(input_ids=input_ids, attention_mask=attention_mask, labels=labels).loss
        optimizer.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        schedule.step()
        losses.append(loss.item())
        now = time.perf_counter()
        if progress is not None and (now - printed_at >= progress_seconds or step == steps):
            printed_at = now
            rate = (now - started) / step if step < steps else None
            print(progress_line(progress, step, steps, now - started, rate, "steps"), flush=True)
    model.eval()
    model.generation_config.eos_token_id = tokenizer.eos_token_id
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    return model, {
        "steps": len(losses),
        "train_seconds": round(time.perf_counter() - started, 1),
        "cpu_seconds": round(time.process_time() - cpu_started, 1),
        "final_loss": round(sum(losses[-20:]) / max(1, len(losses[-20:])), 4),
    }


def train_tiny_llm(
    corpus_dir, out_dir, steps: int, seed: int = 0, progress: Optional[str] = None, progress_seconds: float = 15.0
) -> TinyLlmRun:
    """Train (or find) the demo LLM on ``corpus_dir/train.utterances.jsonl`` for ``steps``
    steps (batches of :data:`BATCH_SIZE`); ``out_dir`` then holds a Hugging Face model
    folder for ``gcaf-generate-context --backend hf --model out_dir``.

    The bound is the number of steps, not time: the run is the same on any machine.
    ``progress``: a label; while training, a line ``{label}: done/steps steps, elapsed,
    ETA`` is printed at most every ``progress_seconds``, and one at the end.
    """
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
        raise ValueError(f"the demo LLM trains for a number of steps >= 1, got {steps!r}")
    corpus_dir, out_dir = Path(corpus_dir), Path(out_dir)
    table = corpus_dir / "train.utterances.jsonl"
    parameters = {
        "format_version": TINY_LLM_FORMAT_VERSION,
        "steps": steps,
        "seed": seed,
        "train_table_sha256": file_sha256(table),
    }
    if _is_complete(out_dir, parameters):
        return _run_of(out_dir, json.loads((out_dir / RUN_RECORD_NAME).read_text()), reused=True)
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / RUN_RECORD_NAME).unlink(missing_ok=True)

    examples = chat_examples([row for row in read_utterance_table(table) if row["in_split"]])
    if not examples:
        raise ValueError(f"{table}: no utterance with a previous one, nothing to learn from")
    tokenizer = train_tokenizer([text for example in examples for text in example])
    encoded = _encode_examples(tokenizer, examples)
    model, loop = _train_llama(
        tokenizer, encoded, steps, seed, max(256, max(len(ids) for ids, _ in encoded) * 2), progress, progress_seconds
    )
    return _save(out_dir, model, tokenizer, {"parameters": parameters, **loop, "examples": len(examples)})


def _save(out_dir: Path, model, tokenizer, record: dict) -> TinyLlmRun:
    """Save the model and tokenizer into ``out_dir``, then (last: it marks the folder
    complete) the run record ``tiny_llm.json``: ``record`` plus the model's size."""
    model.save_pretrained(out_dir)
    tokenizer.save_pretrained(out_dir)
    record = {
        **record,
        "model_parameters": sum(parameter.numel() for parameter in model.parameters()),
        "model_size": MODEL_SIZE,
        "vocabulary_size": len(tokenizer),
    }
    write_text_atomically(out_dir / RUN_RECORD_NAME, json.dumps(record, indent=2) + "\n")
    return _run_of(out_dir, record, reused=False)


# ---------------------------------------------------------------- the smoke-run LLM
#: What the smoke-run LLM answers to each GCAF prompt, whatever the previous text.
SMOKE_ANSWERS = {
    "P1": "AND THEN THE STORY WENT ON.",
    "P2": "WHAT HAPPENED NEXT?",
    "P3": "A STORY",
    "P4": "A SMOKE TEST STORY",
}
SMOKE_FORMAT_VERSION = 1
SMOKE_STEPS = 100
SMOKE_EXAMPLES = 2000
# RoPE positions have no parameters: a long previous text (a 35 s LibriSpeech utterance) and
# 256 new tokens fit without costing anything.
SMOKE_MAX_POSITIONS = 4096


def random_texts(count: int, seed: int) -> List[str]:
    """``count`` texts unlike any corpus: words of 1-9 random letters, 1 to 40 of them (most
    short), in upper, lower or title case, some ending in a punctuation mark."""
    sampler = random.Random(seed)

    def word() -> str:
        letters = "".join(sampler.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(sampler.randint(1, 9)))
        return sampler.choice((letters.upper, letters.lower, letters.capitalize))()

    texts = []
    for _ in range(count):
        text = " ".join(word() for _ in range(min(40, int(sampler.expovariate(1 / 8)) + 1)))
        texts.append(text + (sampler.choice(".?!,;'") if sampler.random() < 0.3 else ""))
    return texts


def check_smoke_llm(model, tokenizer, texts: List[str], max_new_tokens: int = 32) -> None:
    """Generate, as ``gcaf-generate-context --backend hf`` does (the tokenizer's chat template,
    greedy), for P1-P4 applied to each of ``texts``; raise ``RuntimeError`` naming the prompt
    and the text when a generation is empty or does not end within ``max_new_tokens``."""
    from gcaf_fairseq.generation.backends import HFBackend
    from gcaf_fairseq.generation.templates import build_template

    backend = HFBackend(model, tokenizer, model_name="smoke-llm", batch_size=16, max_new_tokens=max_new_tokens)
    template = build_template("auto", "hf", tokenizer=tokenizer)
    for prompt_id, prompt in PROMPTS.items():
        completions = backend.generate_batch([template.render(build_user_message(prompt, text)) for text in texts])
        for text, completion in zip(texts, completions):
            if not completion.text.strip() or completion.finish_reason != "stop":
                raise RuntimeError(
                    f"the smoke-run LLM answered {completion.text!r} ({completion.finish_reason}) to {prompt_id} "
                    f"with {text[:60]!r}: train it longer (more steps)"
                )


def train_smoke_llm(out_dir, steps: int = SMOKE_STEPS, seed: int = 0) -> TinyLlmRun:
    """Train (or find) the smoke-run LLM in ``out_dir``: a :data:`MODEL_SIZE` Llama, saved
    like the demo's (chat template, byte-level BPE), that answers each GCAF prompt applied to
    *any* text with :data:`SMOKE_ANSWERS` and stops. It is trained on :func:`random_texts`
    and checked on others (:func:`check_smoke_llm`), so a smoke run of the recipes gets
    non-empty generations from LibriSpeech or SLUE texts, which the demo's LLM (trained on
    its corpus) does not promise and a random one does not give. About 10-20 s on 2 cores.
    Its answers do not depend on the text: it tests the plumbing, not the method."""
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
        raise ValueError(f"the smoke-run LLM trains for a number of steps >= 1, got {steps!r}")
    out_dir = Path(out_dir)
    parameters = {"format_version": SMOKE_FORMAT_VERSION, "kind": "smoke", "steps": steps, "seed": seed}
    if _is_complete(out_dir, parameters):
        return _run_of(out_dir, json.loads((out_dir / RUN_RECORD_NAME).read_text()), reused=True)
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / RUN_RECORD_NAME).unlink(missing_ok=True)

    prompt_ids = sorted(PROMPTS)
    examples = [
        (build_user_message(PROMPTS[prompt_ids[index % len(prompt_ids)]], text),
         SMOKE_ANSWERS[prompt_ids[index % len(prompt_ids)]])
        for index, text in enumerate(random_texts(SMOKE_EXAMPLES, seed))
    ]
    tokenizer = train_tokenizer([text for example in examples for text in example])
    model, loop = _train_llama(tokenizer, _encode_examples(tokenizer, examples), steps, seed, SMOKE_MAX_POSITIONS)
    held_out = random_texts(8, seed + 1) + [
        "I COULD SPELL IT OUT FOR YOU", "mr president the commission has proposed twenty one amendments",
        "Ça va? Naïve café, 東京 2024!", " ".join(["and the old man walked along the river until night fell"] * 12),
    ]
    check_smoke_llm(model, tokenizer, held_out)
    return _save(out_dir, model, tokenizer, {"parameters": parameters, **loop, "examples": len(examples)})
