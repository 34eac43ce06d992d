"""Any path a file system allows reaches fairseq as typed (gcaf_fairseq/recipes/processes.py,
hydra_alias.py, decode.py; data/context_join.py): quoted for Hydra's override grammar and
escaped for OmegaConf's resolutions, Hydra's own run folder through an alias when its path
holds '${', fairseq-generate's options escaped, '{split}' the only thing a template fills in.
(The recipes' real trainings and decodings into such an --out: test_recipe_probes.py.)"""

import os
import random
import sys
from argparse import Namespace
from pathlib import Path

import pytest

from gcaf_fairseq.data.context_join import split_path
from gcaf_fairseq.recipes.decode import checkpoint_folder, literal_generate_args
from gcaf_fairseq.recipes.hydra_alias import alias_command, hydra_run_dir, link, main as alias_main
from gcaf_fairseq.recipes.processes import hydra_data, hydra_path, hydra_train_command

ODD_PATHS = [
    "/data/it's here", "/data/with space/x", "/data/$HOME/x", "/data/${oc.env:HOME}/x", "/données/éàü/日本",
    "/data/${nope}/x", "/data/a\\${x}", "/data/a\\\\${x}/b", "/data/q'\\${x}", "/data/ends\\", "/data/a\\'b",
    "/x/${a}${b}\\${c}", "/x/{split}.cls", "/x/{oc.env:HOME}/{split}.cls", "/x/a=b,c[d]{e}", "/x/$${y}", "/x/'",
]


def random_paths(count: int = 200) -> list:
    alphabet = ["a", "/", " ", "'", '"', "\\", "$", "{", "}", "${", ":", "=", ",", "[", "]", "é", "日", "%", "@", "~"]
    generator = random.Random(22)
    return ["/" + "".join(generator.choice(alphabet) for _ in range(generator.randint(1, 12))) for _ in range(count)]


def as_fairseq_reads(key: str, value: str, resolutions: int) -> str:
    """What a config key holds after Hydra parsed the override ``key=value`` into the config
    and OmegaConf resolved it ``resolutions`` times (fairseq-hydra-train: twice; Hydra's own
    ``hydra.*`` keys: once)."""
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from omegaconf import OmegaConf

    override = OverridesParser.create().parse_override(f"{key}={value}")
    config = OmegaConf.create({})
    OmegaConf.update(config, key, override.value(), merge=True)
    for _ in range(resolutions - 1):
        config = OmegaConf.create(OmegaConf.to_container(config, resolve=True))
    return OmegaConf.select(config, key)


@pytest.mark.parametrize("key, resolutions", [("task.data", 2), ("hydra.run.dir", 1)])
def test_a_path_reaches_the_config_as_typed(key, resolutions):
    for path in ODD_PATHS + random_paths():
        override = hydra_path(key, path)
        assert override.startswith(f"{key}=")
        assert as_fairseq_reads(key, override[len(key) + 1:], resolutions) == path, (path, override)


def test_plain_paths_stay_unquoted():
    plain = "/data/LibriSpeech/train-clean_100.v2"
    assert hydra_path("task.data", plain) == f"task.data={plain}"
    assert hydra_path("task.data", "/d/{split}.cls").startswith("task.data='")  # Hydra reads '{' as a dict


def test_fairseq_generate_options_reach_its_config_as_typed():
    """fairseq-generate turns each option into a quoted Hydra override (its own quoting) and
    resolves the config twice: the decoding's escaped options arrive as typed."""
    from fairseq.dataclass.configs import CommonEvalConfig
    from fairseq.dataclass.utils import _override_attr

    for path in ODD_PATHS + random_paths():
        [argument] = literal_generate_args([path])
        overrides = [item for item in _override_attr("common_eval", CommonEvalConfig, Namespace(path=argument))
                     if item.startswith("common_eval.path=")]
        assert as_fairseq_reads("common_eval.path", overrides[0].split("=", 1)[1], 2) == path, path


def test_decoding_gives_a_checkpoint_whose_path_holds_a_colon_by_its_name(tmp_path):
    """fairseq-generate splits --path at ':' into an ensemble."""
    folder = tmp_path / "${oc.env:HOME}"
    folder.mkdir()
    checkpoint = folder / "checkpoint_best.pt"
    checkpoint.write_bytes(b"")
    argv = [str(tmp_path), "--user-dir", "/p/${x}", "--path", str(checkpoint), "--results-path", "/r/${y}"]
    assert literal_generate_args(argv) == [str(tmp_path), "--user-dir", "/p/${x}", "--path", "checkpoint_best.pt",
                                           "--results-path", "/r/\\\\\\${y}"]
    assert checkpoint_folder(argv) == folder
    assert checkpoint_folder([str(tmp_path), "--path", "/plain/checkpoint.pt"]) is None


def test_a_training_folder_holding_an_interpolation_gets_hydra_an_alias(tmp_path):
    """Hydra records its run folder as a string that OmegaConf resolves (an --out holding
    '${oc.env:HOME}' would send its files under $HOME): the run folder given to Hydra is a link
    without '${', stable per path, made just before the training starts."""
    plain, odd = tmp_path / "runs" / "A", tmp_path / "${oc.env:HOME}" / "A"
    assert hydra_run_dir(plain) == plain
    alias = hydra_run_dir(odd)
    assert "${" not in str(alias) and alias == hydra_run_dir(odd) and alias != hydra_run_dir(tmp_path / "${x}")
    command = hydra_train_command(Path("/configs"), "librilight_1h", odd, Path("/plugin"), ["common.seed=1"])
    assert command[:5] == [sys.executable, "-m", "gcaf_fairseq.recipes.hydra_alias", str(alias), str(odd)]
    assert command[5] == "--" and command[6].endswith("fairseq-hydra-train")
    assert hydra_path("hydra.run.dir", alias) in command and hydra_path("checkpoint.save_dir", odd) in command
    assert hydra_train_command(Path("/c"), "x", plain, Path("/p"), [])[0].endswith("fairseq-hydra-train")
    with pytest.raises(ValueError, match="cannot be a Hydra launcher's sweep folder"):
        hydra_train_command(Path("/c"), "x", odd, Path("/p"), [], launcher=["-m"])
    link(alias, odd)
    link(alias, odd)  # again: the same link
    assert odd.is_dir() and os.readlink(alias) == str(odd)
    (alias / "through-the-link").write_text("x")
    assert (odd / "through-the-link").read_text() == "x"
    alias.unlink()


def test_the_alias_module_links_then_becomes_the_command(tmp_path):
    alias, folder = tmp_path / "alias", tmp_path / "${x}" / "run"
    pid = os.fork()
    if pid == 0:  # the child becomes `true`
        try:
            alias_main([str(alias), str(folder), "--", "true"])
        finally:
            os._exit(3)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0 and os.readlink(alias) == str(folder)


def test_a_data_folder_holding_a_colon_turns_off_fairseqs_split_of_task_data():
    assert hydra_data("/data/librispeech") == ["task.data=/data/librispeech"]
    assert hydra_data("/data/12:30/x")[1:] == ["dataset.ignore_unused_valid_subsets=true"]


def test_templates_fill_in_split_and_nothing_else():
    assert split_path("/x/${oc.env:HOME}/{a,b}/{split}.cls", "dev") == "/x/${oc.env:HOME}/{a,b}/dev.cls"
    assert split_path("/x/test.cls", "dev") == "/x/test.cls"  # one file for every subset
