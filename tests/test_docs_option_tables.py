"""The option tables of docs/options.md are generated from the dataclasses: they must not drift."""

import importlib.util
from pathlib import Path

REPOSITORY = Path(__file__).resolve().parents[1]


def _generator():
    spec = importlib.util.spec_from_file_location("docs_option_tables", REPOSITORY / "scripts" / "docs_option_tables.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_option_tables_match_the_dataclasses():
    generator = _generator()
    expected = generator.rendered_tables()
    found = generator.page_tables((REPOSITORY / "docs" / "options.md").read_text())
    assert set(found) == set(expected), "docs/options.md lacks an <!-- options:NAME --> block"
    for name in expected:
        assert found[name] == expected[name], (
            f"docs/options.md's '{name}' option table is out of date: run python scripts/docs_option_tables.py --write"
        )


def test_every_option_of_the_plugin_is_in_a_table():
    generator = _generator()
    tables = "\n".join(generator.rendered_tables().values())
    for option in ("context_layer", "context_alpha", "context_store", "decoder_lm", "decoding_output", "ctc_decoder"):
        assert f"| `{option}` |" in tables
