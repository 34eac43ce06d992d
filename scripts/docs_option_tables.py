"""The option tables of ``docs/options.md``, generated from the plugin's dataclass configs.

    python scripts/docs_option_tables.py           # print the tables
    python scripts/docs_option_tables.py --write   # rewrite them in docs/options.md

Each table sits in docs/options.md between ``<!-- options:NAME -->`` and ``<!-- /options:NAME -->``;
``tests/test_docs_option_tables.py`` fails when docs/options.md and the dataclasses drift apart.
The complete set of options (fairseq's own included) is in ``--help`` and in the
``.hydra/config.yaml`` fairseq-hydra-train writes beside each run.
"""

import argparse
import dataclasses
import math
import re
import sys
from enum import Enum
from pathlib import Path

OPTIONS_PAGE = Path(__file__).resolve().parents[1] / "docs" / "options.md"


def _config_classes():
    """Table name -> (dataclass, the fields the plugin adds to fairseq's)."""
    from gcaf_fairseq.criterions.context_term import ContextLossConfig
    from gcaf_fairseq.decoding.config import DecodingConfig
    from gcaf_fairseq.models.context_config import ContextModelConfig
    from gcaf_fairseq.tasks.audio_context_finetuning import AudioContextFinetuningConfig
    from fairseq.tasks.audio_finetuning import AudioFinetuningConfig

    fairseq_task_fields = {f.name for f in dataclasses.fields(AudioFinetuningConfig)}
    task_fields = [f.name for f in dataclasses.fields(AudioContextFinetuningConfig)
                   if f.name not in fairseq_task_fields and f.name != "decoding"]
    return {
        "model": (ContextModelConfig, None),
        "criterion": (ContextLossConfig, None),
        "task": (AudioContextFinetuningConfig, task_fields),
        "decoding": (DecodingConfig, None),
    }


def _default(field) -> str:
    if field.default is not dataclasses.MISSING:
        value = field.default
    elif field.default_factory is not dataclasses.MISSING:
        value = field.default_factory()
    else:
        return ""
    if isinstance(value, Enum):
        value = value.value
    if value is None:
        return "unset"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, float) and math.isinf(value):
        return "-inf" if value < 0 else "inf"
    return f"`{value}`" if isinstance(value, str) else f"{value:g}" if isinstance(value, float) else str(value)


def render_table(config_class, names=None) -> str:
    fields = {f.name: f for f in dataclasses.fields(config_class)}
    rows = ["| option | default | meaning |", "|---|---|---|"]
    for name in names or [f.name for f in dataclasses.fields(config_class) if not f.name.startswith("_")]:
        field = fields[name]
        meaning = field.metadata.get("help", "").replace("|", "\\|").replace("\n", " ")
        rows.append(f"| `{name}` | {_default(field)} | {meaning} |")
    return "\n".join(rows)


def rendered_tables() -> dict:
    return {name: render_table(cls, names) for name, (cls, names) in _config_classes().items()}


def _block(name: str) -> re.Pattern:
    return re.compile(rf"(<!-- options:{name} -->\n)(.*?)(<!-- /options:{name} -->)", re.S)


def page_tables(text: str) -> dict:
    """The tables the page's ``text`` holds now, by name (absent ones are missing)."""
    found = {}
    for name in _config_classes():
        match = _block(name).search(text)
        if match:
            found[name] = match.group(2).rstrip("\n")
    return found


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--write", action="store_true", help="rewrite the tables in docs/options.md")
    args = parser.parse_args(argv)
    tables = rendered_tables()
    if not args.write:
        for name, table in tables.items():
            print(f"<!-- options:{name} -->\n{table}\n<!-- /options:{name} -->\n")
        return 0
    text = OPTIONS_PAGE.read_text()
    for name, table in tables.items():
        text, count = _block(name).subn(lambda m: m.group(1) + table + "\n" + m.group(3), text)
        if count != 1:
            print(f"{OPTIONS_PAGE} has {count} blocks <!-- options:{name} -->, expected 1", file=sys.stderr)
            return 1
    OPTIONS_PAGE.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
