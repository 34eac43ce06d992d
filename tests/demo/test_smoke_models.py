"""gcaf-make-smoke-models: its wav2vec2 checkpoint loads as a wav2vec2 ``w2v_path`` and
gives CTC scores; its LLM, loaded from the folder by the hf backend, writes a non-empty
generation that ends by itself for P1-P4 applied to texts outside any corpus; a rerun reuses
both and prints the recipe options. (The documented smoke runs of the recipes, which use these
models, are tests/recipes/test_reproduce_*.py.)"""

import json
import shlex

import pytest
import torch

from conftest import build, make_task

pytestmark = pytest.mark.slow

# Nothing here is in the demo corpora, the look-alike trees or the smoke LLM's training texts.
TEXTS = {
    "parliament-0": "Madam President, the committee adopted twenty-one amendments to article nine.",
    "parliament-1": "we will vote on this at noon tomorrow",
    "parliament-2": "THE COUNCIL'S POSITION, HOWEVER, HAS NOT CHANGED SINCE 2013",
    "podcast-0": "Honestly? I think the sequel was better than the first film 😀",
    "podcast-1": " ".join(["and so the river kept rising through the night while the village slept"] * 6),
    "podcast-2": "x",
}


def test_wav2vec2_checkpoint_loads_as_w2v_path(smoke_models, tmp_path):
    from gcaf_fairseq.data.symbol_dictionary import FAIRSEQ_LETTER_DICTIONARY, write_dictionary

    write_dictionary(tmp_path / "dict.ltr.txt", FAIRSEQ_LETTER_DICTIONARY)
    task = make_task(tmp_path)
    model = build(task, smoke_models["w2v"], tmp_path, context_source="none").eval()
    pretrained = torch.load(smoke_models["w2v"], map_location="cpu", weights_only=True)["model"]
    key = "encoder.layers.0.fc1.weight"
    assert torch.equal(model.w2v_encoder.w2v_model.state_dict()[key], pretrained[key])
    with torch.no_grad():
        output = model(source=torch.randn(2, 16000), padding_mask=torch.zeros(2, 16000, dtype=torch.bool))
    scores = output["encoder_out"]  # T x B x vocabulary
    assert scores.shape[1:] == (2, len(task.target_dictionary)) and scores.shape[0] > 10
    assert torch.isfinite(scores).all()


def test_llm_writes_text_for_texts_outside_any_corpus(smoke_models, tmp_path):
    from gcaf_fairseq.data.utterance_table import link_stream_neighbours, write_utterance_table
    from gcaf_fairseq.generation import PROMPTS, build_template, load_hf_backend, read_generations, run_generation

    rows = [{"id": key, "stream": key.split("-")[0], "position": int(key.split("-")[1]), "audio": f"{key}.flac",
             "text": text, "in_split": True} for key, text in TEXTS.items()]
    table = tmp_path / "dev.utterances.jsonl"
    write_utterance_table(table, link_stream_neighbours(rows))
    backend = load_hf_backend(smoke_models["llm"], max_new_tokens=32, device="cpu")  # trust_remote_code: False
    template = build_template("auto", "hf", tokenizer=backend.tokenizer)
    for prompt_id in PROMPTS:
        out = tmp_path / f"dev.{prompt_id}.jsonl"
        run_generation(table, out, prompt_id, template, backend, progress=False)
        records = {record["id"]: record for record in read_generations(out).records}
        assert records["parliament-0"]["finish_reason"] == "no_previous"  # a stream's first utterance
        generated = [record for record in records.values() if record["prev_id"] is not None]
        assert len(generated) == 4
        for record in generated:
            assert record["generation"].strip() and record["finish_reason"] == "stop", (prompt_id, record)


def test_rerun_reuses_the_models_and_prints_the_recipe_options(smoke_models, capsys):
    from pathlib import Path

    from gcaf_demo.cli.make_smoke_models import main

    out = Path(smoke_models["llm"]).parent
    llm_files = {path: path.stat().st_mtime_ns for path in Path(smoke_models["llm"]).iterdir()}
    w2v_time = Path(smoke_models["w2v"]).stat().st_mtime_ns
    main(["--out", str(out)])
    printed = json.loads(capsys.readouterr().out)
    assert printed["llm_reused"] and {path: path.stat().st_mtime_ns for path in Path(smoke_models["llm"]).iterdir()} == llm_files
    assert Path(smoke_models["w2v"]).stat().st_mtime_ns == w2v_time
    options = shlex.split(printed["recipe_options"])
    assert options == ["--w2v", smoke_models["w2v"], "--llm", smoke_models["llm"], "--text-encoder", smoke_models["text_encoder"]]
    assert (Path(smoke_models["text_encoder"]) / "config.json").is_file()
