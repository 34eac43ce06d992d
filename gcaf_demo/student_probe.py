"""What the GCAF student learned: its ``e_hat`` of each test utterance, computed from the
current audio alone, against the teacher ``e`` (the [CLS] of the previous sentence's LLM
title) and against the chapter topics.

For every test utterance with a teacher vector (a chapter's first sentence has none):

- ``cosine``: cosine similarity of ``e_hat`` and ``e``;
- ``topic accuracy``: ``e_hat`` assigned to the nearest topic centroid (cosine), the
  centroids being the mean teacher vectors of each topic's *training* utterances; the
  teacher's own vectors, classified the same way, give the ceiling (``teacher accuracy``),
  and 1 / topics is chance.

Reported per sentence kind (topic-neutral, topic-bearing) of the homophone corpus: a
topic-bearing sentence names its topic in its own audio, so a student can in principle
predict the context there, a neutral one cannot.
"""

import json
from pathlib import Path
from typing import Dict, List, Mapping, Optional

import numpy as np

from gcaf_fairseq.data.context_store import ContextStore


def student_embeddings(checkpoint, data_dir, split: str = "test", max_tokens: int = 1_400_000) -> Dict[str, np.ndarray]:
    """``{utterance id: e_hat}`` of an aware (E) checkpoint on ``data_dir``'s ``split``,
    from the current audio alone (no store is read), in eval mode on CPU."""
    import copy

    import torch
    from fairseq import checkpoint_utils, tasks
    from omegaconf import open_dict

    import gcaf_fairseq.plugin  # noqa: F401  (the checkpoint names this plugin's task and model)
    from gcaf_fairseq.data.manifest import manifest_utterance_ids

    state = checkpoint_utils.load_checkpoint_to_cpu(str(checkpoint), {"data": str(data_dir)})
    saved = state["cfg"].task
    command = copy.deepcopy(saved)
    with open_dict(command):
        command.context_store, command.utterance_table = None, None  # aware: the current audio alone
    task = tasks.setup_task(command, from_checkpoint=True)
    models, _cfg = checkpoint_utils.load_model_ensemble([str(checkpoint)], task=task, state=state)
    model = models[0].eval()
    task.load_dataset(split, task_cfg=command)
    dataset = task.dataset(split)
    ids = manifest_utterance_ids(dataset)
    batches = task.get_batch_iterator(dataset, max_tokens=max_tokens, required_batch_size_multiple=1)
    embeddings = {}
    with torch.no_grad():
        for batch in batches.next_epoch_itr(shuffle=False):
            student = model(**batch["net_input"])["student_embedding"]
            if student is None:
                raise ValueError(f"{checkpoint} has no student (context_use=aware): nothing to probe")
            for index, vector in zip(batch["id"].tolist(), student.float().numpy()):
                embeddings[ids[index]] = vector
    if len(embeddings) != len(dataset):
        raise RuntimeError(f"{checkpoint}: {len(embeddings)} student embeddings for {len(dataset)} utterances of {split}")
    return embeddings


def _unit(vectors: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(vectors, axis=-1, keepdims=True)
    return vectors / np.where(norms > 0, norms, 1.0)


def topic_probe(
    student: Mapping[str, np.ndarray],
    teacher: Mapping[str, Optional[np.ndarray]],
    topic_of: Mapping[str, str],
    kind_of: Mapping[str, str],
    centroids: Mapping[str, np.ndarray],
) -> Dict[str, dict]:
    """Per kind (and ``all``): ``utterances`` (those with a teacher vector), mean
    ``cosine`` of student and teacher, ``student_topic_accuracy`` and
    ``teacher_topic_accuracy`` (percent, nearest centroid by cosine), and ``chance``."""
    topics = sorted(centroids)
    matrix = _unit(np.stack([np.asarray(centroids[topic], np.float32) for topic in topics]))

    def nearest(vector) -> str:
        return topics[int(np.argmax(matrix @ _unit(np.asarray(vector, np.float32))))]

    rows: Dict[str, List[tuple]] = {}
    for utterance_id, e_hat in student.items():
        e = teacher.get(utterance_id)
        if e is None:
            continue
        cosine = float(_unit(np.asarray(e_hat, np.float32)) @ _unit(np.asarray(e, np.float32)))
        row = (cosine, nearest(e_hat) == topic_of[utterance_id], nearest(e) == topic_of[utterance_id])
        for kind in (kind_of[utterance_id], "all"):
            rows.setdefault(kind, []).append(row)
    return {
        kind: {
            "utterances": len(values),
            "cosine": float(np.mean([v[0] for v in values])),
            "student_topic_accuracy": 100.0 * float(np.mean([v[1] for v in values])),
            "teacher_topic_accuracy": 100.0 * float(np.mean([v[2] for v in values])),
            "chance": 100.0 / len(topics),
        }
        for kind, values in rows.items()
    }


def _teacher_vectors(store_path: Path) -> Dict[str, Optional[np.ndarray]]:
    store = ContextStore(store_path)
    vectors = {}
    for index, utterance_id in enumerate(store.ids):
        rows = store.get_by_index(index)
        vectors[utterance_id] = np.asarray(rows[0], np.float32) if rows.shape[0] else None
    return vectors


def probe_homophone_student(checkpoint, corpus_dir, store_template: str, split: str = "test") -> Dict[str, dict]:
    """:func:`topic_probe` of an E checkpoint on the homophone corpus ``corpus_dir``;
    ``store_template``: the teacher store, ``.../{split}.P4.cls``."""
    corpus_dir = Path(corpus_dir)
    description = json.loads((corpus_dir / "homophones.json").read_text())
    topic_of_stream = {chapter["stream"]: chapter["topic"] for chapter in description["chapters"]}

    def topic_of(utterance_id: str) -> str:
        return topic_of_stream[utterance_id.rsplit("-", 1)[0]]

    train = _teacher_vectors(Path(store_template.format(split="train")))
    by_topic: Dict[str, List[np.ndarray]] = {}
    for utterance_id, vector in train.items():
        if vector is not None:
            by_topic.setdefault(topic_of(utterance_id), []).append(vector)
    centroids = {topic: np.mean(vectors, axis=0) for topic, vectors in by_topic.items()}
    kind_of = {
        row["id"]: row["kind"]
        for row in map(json.loads, (corpus_dir / f"{split}.homophones.jsonl").read_text().splitlines())
    }
    student = student_embeddings(checkpoint, corpus_dir, split)
    teacher = _teacher_vectors(Path(store_template.format(split=split)))
    return topic_probe(student, teacher, {i: topic_of(i) for i in student}, kind_of, centroids)
