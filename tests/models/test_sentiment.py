"""Sentiment (3-class utterance classification) end to end: fairseq-hydra-train of
wav2vec2_context_seq_cls on a synthesized corpus in SLUE's layout, then gcaf-predict-labels."""

import json

import pytest
import torch
from conftest import TEXT_DIM, make_task
from omegaconf import OmegaConf
from sklearn.metrics import f1_score

from gcaf_fairseq.cli.predict_labels import main as predict_main
from gcaf_demo.corpus import Utterance, synthesize_utterance
from gcaf_fairseq.recipes.processes import hydra_train
from gcaf_fairseq.tables.train_log import read_training_log

SENTENCES = {
    "Positive": ["I LOVE THIS WONDERFUL DAY", "WHAT A GREAT AND HAPPY MORNING", "THIS IS EXCELLENT NEWS", "I AM SO GLAD AND HAPPY"],
    "Negative": ["I HATE THIS TERRIBLE DAY", "WHAT AN AWFUL AND SAD MORNING", "THIS IS HORRIBLE NEWS", "I AM SO ANGRY AND UPSET"],
    "Neutral": ["THE MEETING IS ON TUESDAY", "THE BOX IS ON THE TABLE", "WE TOOK THE TRAIN TO TOWN", "THE DOOR IS MADE OF WOOD"],
}
LABELS = ["Negative", "Neutral", "Positive"]
VOICES = {"fine-tune": ["en-us", "en-gb-x-rp"], "dev": ["en-us+f3"]}


@pytest.fixture(scope="session")
def sentiment_corpus(tmp_path_factory):
    """SLUE-VoxCeleb's layout: {split}.tsv, {split}.sent, labels.sent.txt (dev: 12 utterances)."""
    out = tmp_path_factory.mktemp("sentiment")
    audio_root = out / "audio"
    (out / "labels.sent.txt").write_text("".join(label + "\n" for label in LABELS))
    for split, voices in VOICES.items():
        rows, labels = [], []
        for speaker, voice in enumerate(voices, start=201 if split == "dev" else 101):
            for chapter, (label, sentences) in enumerate(SENTENCES.items(), start=1):
                for position, text in enumerate(sentences):
                    utterance = Utterance(speaker, chapter, position, text, voice, 160)
                    rows.append(f"{utterance.relative_audio_path}\t{synthesize_utterance(utterance, audio_root)}")
                    labels.append(label)
        (out / f"{split}.tsv").write_text(f"{audio_root}\n" + "".join(row + "\n" for row in rows))
        (out / f"{split}.sent").write_text("".join(label + "\n" for label in labels))
    return out


def test_sentiment_fine_tuning_and_prediction_end_to_end(sentiment_corpus, w2v_checkpoint, tmp_path, capsys):
    save_dir = tmp_path / "sentiment"
    hydra_train("demo_tiny_sentiment", save_dir, [
        f"task.data={sentiment_corpus}", f"model.w2v_path={w2v_checkpoint}", "optimization.max_update=60",
        "dataset.train_subset=fine-tune", "dataset.valid_subset=dev", "dataset.validate_interval_updates=30",
    ])
    report = read_training_log(save_dir / "train.log")
    assert report.num_updates == 60
    assert report.train_losses[-1] < report.train_losses[0]
    assert "macro_f1" in report.valid[-1] and "accuracy" in report.valid[-1]
    assert (save_dir / "checkpoint_best.pt").exists()
    assert torch.load(save_dir / "checkpoint_best.pt", weights_only=True)["task_state"]["label_names"] == LABELS

    predictions = tmp_path / "dev.sent.pred"
    predict_main(["--checkpoint", str(save_dir / "checkpoint_best.pt"), "--data", str(sentiment_corpus),
                  "--split", "dev", "--out", str(predictions)])
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    lines = [line.split("\t") for line in predictions.read_text().splitlines()]
    ids = [utterance_id for utterance_id, _ in lines]
    assert len(lines) == 12 and ids == sorted(ids) and {label for _, label in lines} <= set(LABELS)
    truth_by_id = {}
    tsv = (sentiment_corpus / "dev.tsv").read_text().splitlines()[1:]
    for row, label in zip(tsv, (sentiment_corpus / "dev.sent").read_text().splitlines()):
        truth_by_id[row.split("\t")[0].rsplit("/", 1)[1].split(".")[0]] = label
    expected = 100 * f1_score([truth_by_id[i] for i in ids], [label for _, label in lines], average="macro")
    assert summary["macro_f1"] == pytest.approx(expected)
    assert summary["utterances"] == 12
    # The reference written beside the predictions scores with gcaf-score.
    from gcaf_fairseq.cli.score import main as score_main

    score_main(["sentiment", "--ref", f"{predictions}.ref", "--hyp", str(predictions), "--id-format", "tsv"])
    assert json.loads(capsys.readouterr().out)["macro_f1"] == pytest.approx(expected)


def test_aware_classifier_distils_and_logs_macro_f1(corpus, w2v_checkpoint, context_dir, sentiment_corpus):
    """The classifier takes the same context options; the criterion adds alpha * L2 and its
    validation counts give scikit-learn's macro F1."""
    from gcaf_fairseq.criterions import SeqClsContextCriterion, SeqClsContextCriterionConfig
    from gcaf_fairseq.criterions.seq_cls_context import macro_f1
    from gcaf_fairseq.models import Wav2Vec2ContextSeqClsConfig

    task = make_task(sentiment_corpus, labels="sent")
    assert task.label_names == LABELS and task.target_dictionary is None
    cfg = Wav2Vec2ContextSeqClsConfig(
        w2v_path=str(w2v_checkpoint), data=str(sentiment_corpus), normalize=False, ddp_backend="pytorch_ddp",
        mask_channel_length=8, mask_channel_prob=0.25, context_source="text", context_use="aware", context_embed_dim=TEXT_DIM,
    )
    cfg._name = "wav2vec2_context_seq_cls"
    torch.manual_seed(0)
    model = task.build_model(OmegaConf.structured(cfg))
    task.load_dataset("dev")
    dataset = task.datasets["dev"]
    batch = dataset.collater([dataset[i] for i in range(6)])
    assert batch["target"].view(-1).tolist() == [LABELS.index("Positive")] * 4 + [LABELS.index("Negative")] * 2
    # A teacher for each utterance (any 384-dim vectors will do for the arithmetic).
    batch["net_input"]["context"] = torch.randn(6, 1, TEXT_DIM)
    batch["net_input"]["context_padding_mask"] = torch.zeros(6, 1, dtype=torch.bool)
    batch["context_present"] = torch.tensor([True, True, True, False, True, True])
    criterion = SeqClsContextCriterion(OmegaConf.structured(SeqClsContextCriterionConfig(context_alpha=3.0)), task)
    model.eval()
    loss, sample_size, log = criterion(model, batch)
    assert sample_size == 6 and log["context_count"] == 5
    assert log["loss"] == pytest.approx(log["ce_loss"] + 3.0 * log["context_loss"], rel=1e-5)
    # macro F1 over the classes present in references or predictions, like scikit-learn
    truth, guess = [0, 0, 1, 2, 2], [0, 1, 1, 2, 0]
    counts = [[sum(g == k and t == k for t, g in zip(truth, guess)) for k in range(3)],
              [sum(g == k and t != k for t, g in zip(truth, guess)) for k in range(3)],
              [sum(g != k and t == k for t, g in zip(truth, guess)) for k in range(3)]]
    assert macro_f1(*counts) == pytest.approx(100 * f1_score(truth, guess, average="macro"))


def test_classification_labels_are_checked(sentiment_corpus, copy_of):
    data = copy_of(sentiment_corpus, "bad_labels")
    lines = (data / "dev.sent").read_text().splitlines()
    lines[4] = "Happy"
    (data / "dev.sent").write_text("\n".join(lines) + "\n")
    task = make_task(data, labels="sent")
    with pytest.raises(ValueError, match=r"dev\.sent:5: label 'Happy' is not one of"):
        task.load_dataset("dev")
    (data / "dev.sent").write_text("\n".join(lines[:3]) + "\n")
    with pytest.raises(ValueError, match=r"dev\.sent has 3 lines but .*dev\.tsv has 12 utterance rows"):
        make_task(data, labels="sent").load_dataset("dev")


# --- class names travel with the model -----------------------------------------------------------


def _classifier_checkpoint(sentiment_corpus, w2v_checkpoint, path, always: str):
    """A wav2vec2_context_seq_cls checkpoint trained (as far as its task state goes) on
    ``sentiment_corpus``, whose classifier predicts the class ``always`` for every utterance."""
    from gcaf_fairseq.models import Wav2Vec2ContextSeqClsConfig

    task = make_task(sentiment_corpus, labels="sent")
    cfg = Wav2Vec2ContextSeqClsConfig(
        w2v_path=str(w2v_checkpoint), data=str(sentiment_corpus), normalize=False, ddp_backend="pytorch_ddp",
        mask_channel_length=8, mask_channel_prob=0.25,
    )
    cfg._name = "wav2vec2_context_seq_cls"
    torch.manual_seed(0)
    model = task.build_model(OmegaConf.structured(cfg))
    last = model.classifier.layers[-1]
    with torch.no_grad():
        last.weight.zero_()
        last.bias.copy_(torch.tensor([10.0 if name == always else 0.0 for name in LABELS]))
    state = {
        "cfg": {"task": {**OmegaConf.to_container(task.cfg, resolve=True, enum_to_str=True), "_name": "audio_context_finetuning"},
                "model": OmegaConf.to_container(model.cfg, resolve=True, enum_to_str=True)},
        "model": model.state_dict(),
        "task_state": task.state_dict(),
        "optimizer_history": [{"criterion_name": "seq_cls_context", "optimizer_name": "adam", "lr_scheduler_state": {}, "num_updates": 0}],
        "extra_state": {"train_iterator": None},
    }
    torch.save(state, path)
    return state


def test_class_names_are_saved_and_remapped_by_name_at_prediction(sentiment_corpus, w2v_checkpoint, copy_of, tmp_path, caplog):
    checkpoint = tmp_path / "always_positive.pt"
    state = _classifier_checkpoint(sentiment_corpus, w2v_checkpoint, checkpoint, always="Positive")
    data = copy_of(sentiment_corpus, "reordered")
    (data / "labels.sent.txt").write_text("Positive\nNegative\nNeutral\n")  # same names, another order
    import gcaf_fairseq.plugin  # noqa: F401  (predict_labels needs the plugin registered)
    from gcaf_fairseq.decoding.label_prediction import predict_labels

    with caplog.at_level("WARNING"):
        summary = predict_labels(str(checkpoint), str(data), "dev", str(tmp_path / "dev.pred"), device="cpu")
    predicted = {line.split("\t")[1] for line in (tmp_path / "dev.pred").read_text().splitlines()}
    assert predicted == {"Positive"}  # not "Neutral", the data file's index 2
    reference = [line.split("\t")[1] for line in (tmp_path / "dev.pred.ref").read_text().splitlines()]
    assert sorted(set(reference)) == LABELS and summary["accuracy"] == pytest.approx(100 * reference.count("Positive") / 12)
    assert "remapped by name" in caplog.text
    assert state["task_state"]["label_names"] == LABELS  # in the checkpoint, fairseq-style
    assert torch.load(checkpoint, weights_only=True)["task_state"]["label_names"] == LABELS

    (data / "labels.sent.txt").write_text("Negative\nNeutral\nHappy\n")
    with pytest.raises(ValueError, match=r"the checkpoint's class names \['Negative', 'Neutral', 'Positive'\] differ from .*labels.sent.txt's \['Negative', 'Neutral', 'Happy'\]"):
        predict_labels(str(checkpoint), str(data), "dev", str(tmp_path / "dev2.pred"), device="cpu")


def test_checkpoints_without_class_names_keep_loading_with_a_warning(sentiment_corpus, caplog):
    task = make_task(sentiment_corpus, labels="sent")
    with caplog.at_level("WARNING"):
        task.load_state_dict({"target_dictionary": None})  # written before the names were saved
    assert task.label_names == LABELS
    assert "the checkpoint stores no class names" in caplog.text
    task = make_task(sentiment_corpus, labels="sent")
    with pytest.raises(ValueError, match="the checkpoint holds a CTC model"):
        task.load_state_dict({"target_dictionary": None, "label_names": None})
