"""The console tools' stderr (gcaf_fairseq.cli.console.setup_logging): their own INFO and
WARNING lines in one format, none of fairseq's DEBUG flood, its tensorboardX notice or hydra's
deprecation warnings, whether fairseq is imported before or after; stdout untouched."""

import json
import os
import re
import subprocess
import sys

import pytest

from gcaf_fairseq.recipes.processes import fairseq_command, hydra_train

OUR_LINE = re.compile(r"^(INFO|WARNING|ERROR) gcaf_(fairseq|demo)\.\S+: ")


def _run(command, **kwargs):
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONWARNINGS": ""}
    return subprocess.run(command, capture_output=True, text=True, env=env, timeout=600, **kwargs)


def test_help_of_a_tool_that_uses_fairseq_is_only_the_help():
    result = _run([fairseq_command("gcaf-predict-labels"), "--help"])
    assert result.returncode == 0
    assert result.stderr == ""  # no "Please install tensorboardX", no DEBUG line
    assert result.stdout.startswith("usage: gcaf-predict-labels") and result.stdout.endswith("\n")


SCRIPT = """
import logging, sys, warnings
def import_fairseq():
    import fairseq.models.wav2vec.wav2vec2_classification  # logging.basicConfig(level=DEBUG)
    import fairseq.tasks.text_to_speech  # basicConfig(level=INFO), 'Please install tensorboardX'
def setup():
    from gcaf_fairseq.cli.console import setup_logging
    setup_logging()
ORDER
print("MARK", file=sys.stderr, flush=True)
logging.getLogger("fairseq.data.audio.raw_audio_dataset").debug("a fairseq debug line")
logging.getLogger("fairseq.tasks.fairseq_task").info("a fairseq info line")
logging.getLogger("urllib3.connectionpool").debug("a library debug line")
logging.debug("a root debug line")
warnings.warn("The version_base parameter is not specified. See https://hydra.cc/docs/1.2/upgrades", UserWarning)
logging.getLogger("gcaf_fairseq.scoring").info("our info line")
logging.getLogger("gcaf_demo.pipeline").warning("our warning line")
logging.getLogger("fairseq.trainer").warning("a fairseq warning line")
print('{"summary": 1}')
"""


@pytest.mark.parametrize("order", ["setup(); import_fairseq()", "import_fairseq(); setup()"])
def test_our_lines_stand_alone_whatever_fairseq_configured(order):
    result = _run([sys.executable, "-c", SCRIPT.replace("ORDER", order)])
    assert result.returncode == 0, result.stderr
    before, after = result.stderr.split("MARK\n")
    if order.startswith("setup"):
        assert before == ""  # fairseq's import-time notice is dropped too
    assert after.splitlines() == [
        "INFO gcaf_fairseq.scoring: our info line",
        "WARNING gcaf_demo.pipeline: our warning line",
        "WARNING fairseq.trainer: a fairseq warning line",
    ]
    assert result.stdout == '{"summary": 1}\n'


@pytest.mark.slow
def test_a_real_prediction_run_shows_our_warning_and_nothing_of_fairseq(corpus, w2v_checkpoint, context_dir, tmp_path):
    """gcaf-predict-labels with an aware classifier and a store that is not there: our warning
    says so; fairseq's DEBUG lines and tensorboardX notice and torch's deprecations do not show."""
    labels = ["Negative", "Neutral", "Positive"]
    data = tmp_path / "data"
    data.mkdir()
    for name in os.listdir(corpus):
        os.symlink(corpus / name, data / name)
    (data / "labels.sent.txt").write_text("".join(label + "\n" for label in labels))
    for split in ("train", "valid", "test"):
        count = len((corpus / f"{split}.tsv").read_text().splitlines()) - 1
        (data / f"{split}.sent").write_text("".join(labels[k % 3] + "\n" for k in range(count)))
    save_dir = tmp_path / "classifier"
    hydra_train("demo_tiny_sentiment", save_dir, [
        f"task.data={data}", f"model.w2v_path={w2v_checkpoint}", "optimization.max_update=2",
        "model.context_source=text", "model.context_use=aware", f"task.context_store='{context_dir}/{{split}}.prev.cls'",
    ])
    missing = tmp_path / "missing"
    result = _run([
        fairseq_command("gcaf-predict-labels"), "--checkpoint", str(save_dir / "checkpoint_last.pt"), "--data", str(data),
        "--split", "test", "--out", str(tmp_path / "test.pred"), "--context-store", f"{missing}/{{split}}.cls",
    ])
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["utterances"] == 4  # stdout: the JSON summary alone
    lines = result.stderr.splitlines()
    assert f"WARNING gcaf_fairseq.data.context_join: test: no context store at {missing}/test.cls; the aware model " \
           "decodes without it, but no context loss is computed on this split" in lines
    assert [line for line in lines if not OUR_LINE.match(line)] == []  # no DEBUG, tensorboardX, warnings module lines
