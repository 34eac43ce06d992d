"""The demo's defaults have one source (gcaf_demo.pipeline.DemoSettings): run_demo's keyword
defaults and gcaf-demo's options both read it."""

import dataclasses
import inspect

import pytest

from gcaf_demo.cli import demo as demo_cli
from gcaf_demo.pipeline import CORPORA, DEMO_DEFAULTS, DemoSettings, run_demo


def test_run_demo_defaults_are_the_settings():
    parameters = inspect.signature(run_demo).parameters
    for setting in dataclasses.fields(DemoSettings):
        assert parameters[setting.name].default == getattr(DEMO_DEFAULTS, setting.name)
    corpus = next(setting for setting in dataclasses.fields(DemoSettings) if setting.name == "corpus")
    assert DEMO_DEFAULTS.corpus in CORPORA and set(corpus.metadata["choices"]) == set(CORPORA)


def test_the_command_line_passes_the_settings_defaults(monkeypatch):
    calls = []
    monkeypatch.setattr(demo_cli, "run_demo", lambda **kwargs: calls.append(kwargs))
    demo_cli.main([])
    expected = dataclasses.asdict(DEMO_DEFAULTS)
    assert calls == [{"out_dir": None, "systems": None, "finetune_updates": None, "lr": None, "finetune_seeds": None, **expected}]


def test_the_command_line_options_override_and_help_shows_the_defaults(monkeypatch, capsys):
    calls = []
    monkeypatch.setattr(demo_cli, "run_demo", lambda **kwargs: calls.append(kwargs))
    demo_cli.main(["--corpus", "topics", "--chapters", "5", "--alpha", "0.5", "--systems", "A,E", "--updates", "3"])
    assert (calls[0]["corpus"], calls[0]["chapters"], calls[0]["alpha"]) == ("topics", 5, 0.5)
    assert (calls[0]["systems"], calls[0]["finetune_updates"]) == (["A", "E"], 3)
    with pytest.raises(SystemExit):
        demo_cli.main(["--help"])
    help_text = " ".join(capsys.readouterr().out.split())
    for setting in dataclasses.fields(DemoSettings):
        option = "--" + setting.name.replace("_", "-")
        assert option in help_text
        assert f"(default: {getattr(DEMO_DEFAULTS, setting.name)})" in help_text
