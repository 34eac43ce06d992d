"""fairseq's distributed training path with 2 processes on CPU (gloo), for rows E, B and an
injection row (C1) whose batches hold utterances without context.

fairseq's own launchers cannot start CPU workers: with ``distributed_world_size=2`` its
single-node inference asserts enough CUDA devices, and the torchrun route divides by
``torch.cuda.device_count()`` (0). Given an explicit ``distributed_init_method``, a rank and
``distributed_no_spawn=true``, each process joins the group itself (``distributed_main``); the
``legacy_ddp`` backend of the published configs all-reduces every parameter's gradient (zeros
for a parameter unused in a step), so a parameter that gets no gradient cannot hang it. (Its
``pytorch_ddp`` backend passes ``device_ids`` and cannot wrap a CPU model.)"""

import os
import socket
import subprocess

import pytest

from gcaf_demo.fairseq_runs import config_dir_of
from gcaf_fairseq.recipes.processes import fairseq_command
from gcaf_fairseq.tables.train_log import read_training_log
from gcaf_fairseq.data.utterance_table import read_utterance_table
from gcaf_fairseq.resources import PLUGIN_DIR

pytestmark = pytest.mark.slow
UPDATES = 6


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.mark.parametrize("system", ["E", "B", "C1"])
def test_two_cpu_processes_train_every_kind_of_row(system, tmp_path, corpus, w2v_checkpoint, context_dir):
    context = {
        "E": [f"task.context_store='{context_dir}/{{split}}.prev.cls'"],  # teacher only in the loss
        "B": [f"task.utterance_table='{corpus}/{{split}}.utterances.jsonl'"],
        "C1": [f"task.context_store='{context_dir}/{{split}}.prev.cls'"],
    }[system]
    if system == "C1":  # chapter starts have no previous sentence: no context for them
        assert any(row["prev_id"] is None for row in read_utterance_table(corpus / "train.utterances.jsonl"))
    save_dir, port = tmp_path / "run", free_port()
    processes = []
    for rank in range(2):
        command = [
            fairseq_command("fairseq-hydra-train"), "--config-dir", str(config_dir_of("finetuning")),
            "--config-name", "demo_tiny", f"common.user_dir={PLUGIN_DIR}", f"task.data={corpus}",
            f"model.w2v_path={w2v_checkpoint}", f"+system={system}", *context,
            f"checkpoint.save_dir={save_dir}", f"hydra.run.dir={tmp_path / f'rank{rank}'}",
            f"optimization.max_update={UPDATES}", "+hardware=cpu",
            "distributed_training.distributed_world_size=2", "distributed_training.distributed_backend=gloo",
            f"distributed_training.distributed_init_method=tcp://127.0.0.1:{port}",
            f"distributed_training.distributed_rank={rank}", "distributed_training.distributed_no_spawn=true",
            "distributed_training.ddp_backend=legacy_ddp", "common.log_format=json", "common.log_interval=1",
        ]
        log = open(tmp_path / f"rank{rank}.log", "w")
        processes.append((subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT,
                                           env={**os.environ, "OMP_NUM_THREADS": "1"}), log))
    codes = []
    for process, log in processes:
        try:
            codes.append(process.wait(timeout=240))  # a hang (a rank waiting on a gradient) fails here
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()
            log.close()
    logs = [(tmp_path / f"rank{rank}.log").read_text() for rank in range(2)]
    assert codes == [0, 0], "\n".join(log[-3000:] for log in logs)
    assert "training on 2 devices" in logs[0] and "distributed init (rank 1)" in logs[1]
    report = read_training_log(tmp_path / "rank0.log")
    assert report.num_updates == UPDATES
    assert (save_dir / "checkpoint_last.pt").is_file()
