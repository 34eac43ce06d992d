"""The homophone benchmark end to end: systems A and C (C1: the previous sentence's [CLS]
injected at the encoder output, the papers' setting) fine-tuned with the real
fairseq-hydra-train on the demo's homophone corpus and decoded with fairseq-generate. Only the previous sentence tells how
to spell the homophone of a topic-neutral sentence, so C must swap far fewer of them than A.

About 9.5 minutes on 2 cores (568 s in CI's run of 2026-12-05): 1632 synthesized utterances, a small wav2vec2 (4 x 128), 1500
updates per system at the configs' learning rate (0.002), the two runs side by side with one
torch thread each (as the demo runs them; 11 minutes one after the other with two threads). Fewer updates
or chapters leave a model that cannot spell the targets at all, and then swap rates compare
noise. The demo's faster default (A vs C1L, 900 updates at 0.004) met these margins in its
three runs on this test split, but it learns to spell with seed 1 only: with seeds 2 and 3
every system stayed on, or fell back to, CTC's blank plateau (see docs/demo.md, "Seeds: the fast
setting rests on seed 1"). This test keeps the slower, steadier setting rather than rest on one fast seed.
"""

import os

import pytest

from gcaf_demo.pipeline import CORPORA, run_demo

pytestmark = [pytest.mark.slow, pytest.mark.needs_speech_tools]

SEED = 1
UPDATES = 1500
LR = 0.002
# Swap rates are percent of the neutral sentences' targets (144 in the test split of 288
# utterances; 48 of 96 before the demo's test split grew). In our runs A swapped 25-31% of them, C1 2-6%.
MIN_SWAP_GAP = 10.0


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("OMP_NUM_THREADS", str(min(2, os.cpu_count() or 1)))  # shared by the two runs
        out_dir = tmp_path_factory.mktemp("homophone_benchmark")
        return {
            result.system: result
            for result in run_demo(
                out_dir=out_dir, systems=["A", "C1"], finetune_updates=UPDATES, lr=LR, seed=SEED, parallel=2
            )
        }


def neutral(result) -> dict:
    return result.homophones["per_kind"]["neutral"]


def test_every_test_utterance_and_target_is_scored(results):
    options = CORPORA["homophones"].options
    test_chapters = options["test_chapters_per_topic"] * 2 * len(options["pairs"])  # 2 topics per pair
    for result in results.values():
        assert result.updates == UPDATES
        assert result.decoded == test_chapters * 8  # 8 sentences per chapter
        assert neutral(result)["targets"] == test_chapters * 4  # every other sentence is neutral


def test_context_cuts_swaps_of_topic_neutral_homophones(results):
    a, c = neutral(results["A"]), neutral(results["C1"])
    summary = f"A: {a['swap_rate']:.1f}% swaps, {a['homophone_error_rate']:.1f}% errors; " \
              f"C: {c['swap_rate']:.1f}% swaps, {c['homophone_error_rate']:.1f}% errors"
    assert c["swap_rate"] <= a["swap_rate"] - MIN_SWAP_GAP, summary
    assert c["swap_rate"] <= a["swap_rate"] / 2, summary
    assert c["homophone_error_rate"] < a["homophone_error_rate"], summary
