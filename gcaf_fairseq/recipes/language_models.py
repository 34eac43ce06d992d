"""Which language model each +LM decoding of a recipe uses, and the steps that build SLUE's NER
4-gram (pure Python).

The roles, their settings and the ``lm.json`` record are :mod:`gcaf_fairseq.data.language_models`'s.
Here: the file each role's decodings use (given on the command line, or built by the recipe),
why a role has none (the option to give, or the command to run elsewhere), the stage-1 steps
that build SLUE's NER LM from the prepared fine-tune text as SLUE-toolkit's
``scripts/build_vp_ner_lm.sh`` does (KenLM's ``lmplz`` and ``build_binary`` when on PATH; the
lexicon in Python), and the dry-run lines that say which LM each +LM cell uses.
"""

import shlex
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Optional

from ..data.language_models import LM_OPTIONS, LM_ROLES, lm_role, ngram_commands
from ..tables.cells import cell_spec
from ..tables.published import TABLES
from .plan import PlannedRun
from .runner import Step

KENLM_TOOLS = ("lmplz", "build_binary")
#: where each role's LM comes from when the recipe cannot make it
LM_SOURCES = {"librispeech": "OpenSLR 11's 4-gram.arpa.gz with librispeech-lexicon.txt",
              "slue-asr": "SLUE-toolkit's scripts/build_t3_lm.sh on the TED-LIUM 3 LM text"}


@dataclass(frozen=True)
class LmChoice:
    """The LM of one role in this recipe: its files, whether the recipe builds them, or why
    there is none."""

    role: str
    lm: Optional[Path]
    lexicon: Optional[Path]
    build_lm: bool = False
    build_lexicon: bool = False
    missing: Optional[str] = None

    def describe(self) -> str:
        role = LM_ROLES[self.role]
        if self.missing:
            return f"{self.role} LM ({role.description}): none, {self.missing}"
        made = " (built here by stage 1)" if self.build_lm else ""
        lexicon = f"{self.lexicon}{' (built here by stage 1)' if self.build_lexicon else ''}"
        return (f"{self.role} LM ({role.description}): {self.lm}{made}, lexicon {lexicon}; "
                f"{role.describe_settings()} ({role.source})")


def ner_text(recipe) -> Path:
    """The text SLUE builds its NER 4-gram and lexicon from: the fine-tune set's end-to-end NER
    words with the raw tag characters."""
    return recipe.layout.data_dir("voxpopuli", "ner") / "fine-tune.raw.wrd"


def ner_dictionary(recipe) -> Path:
    return recipe.layout.data_dir("voxpopuli", "ner") / "dict.raw.ltr.txt"


def kenlm_on_path() -> bool:
    return all(shutil.which(tool) for tool in KENLM_TOOLS)


def lm_choice(recipe, role: str) -> LmChoice:
    """The ``role`` LM of this recipe (:class:`LmChoice`)."""
    lm, lexicon = recipe.options.language_model(role)
    if role != "slue-ner":
        if lm is not None:
            return LmChoice(role, lm, lexicon)
        return LmChoice(role, None, None, missing=f"no LM given ({LM_OPTIONS[role]}: the {LM_ROLES[role].description}, "
                                                  f"from {LM_SOURCES[role]})")
    folder = recipe.layout.lm_dir(role)
    built_lexicon = folder / "lexicon.lst"
    if lm is not None:
        return LmChoice(role, lm, lexicon or built_lexicon, build_lexicon=lexicon is None)
    binary = folder / f"{LM_ROLES[role].order}gram.bin"
    if kenlm_on_path():
        return LmChoice(role, binary, built_lexicon, build_lm=True, build_lexicon=True)
    commands = " && ".join(ngram_commands(ner_text(recipe), folder / f"{LM_ROLES[role].order}gram.arpa", binary,
                                          LM_ROLES[role].order, lowercase=False))
    return LmChoice(role, None, built_lexicon, build_lexicon=True, missing=(
        f"no LM given (--lm-ner FILE), and KenLM's {' and '.join(KENLM_TOOLS)} are not on PATH to build SLUE's "
        f"VoxPopuli NER 4-gram here. Build it elsewhere as SLUE-toolkit's scripts/build_vp_ner_lm.sh does: "
        f"{commands}; then run again with --lm-ner {binary}"))


def run_lm_role(run: PlannedRun) -> Optional[str]:
    """The role of the LM the run's +LM decodings need (None: a task without LM decoding)."""
    if run.task == "sentiment" or not any(decoding.lm for decoding in run.decodings):
        return None
    return lm_role(run.dataset, run.task)


def lm_missing(recipe, run: PlannedRun) -> Optional[str]:
    """Why the run's +LM decodings cannot be made (None when they can, or when it has none)."""
    role = run_lm_role(run)
    return None if role is None else lm_choice(recipe, role).missing


def roles_needed(recipe) -> List[str]:
    """The roles of the LMs the planned +LM decodings need, in a stable order."""
    roles = {run_lm_role(run) for run in recipe.trained_runs()} - {None}
    return [role for role in LM_ROLES if role in roles]


def lm_build_steps(recipe, number: int) -> List[Step]:
    """Stage ``number`` (prepare) steps that build SLUE's NER LM and lexicon from the prepared
    fine-tune text, when a planned NER +LM decoding needs them and none was given."""
    if "slue-ner" not in roles_needed(recipe):
        return []
    choice = lm_choice(recipe, "slue-ner")
    text, folder = ner_text(recipe), recipe.layout.lm_dir("slue-ner")
    steps = []
    if choice.build_lexicon:
        argv = [sys.executable, "-m", "gcaf_fairseq.cli.build_lexicon", "--words", str(text),
                "--dict", str(ner_dictionary(recipe)), "--out", str(choice.lexicon)]
        steps.append(Step(number, argv, [choice.lexicon], inputs=[text, ner_dictionary(recipe)],
                          stdout=folder / "lexicon.summary.json", name="NER LM lexicon"))
    if choice.build_lm:
        order = LM_ROLES["slue-ner"].order
        commands = ngram_commands(text, folder / f"{order}gram.arpa", choice.lm, order, lowercase=False)
        steps.append(Step(number, ["bash", "-c", f"mkdir -p {shlex.quote(str(folder))} && " + " && ".join(commands)],
                          [choice.lm], inputs=[text], log=folder / "build.log", name="NER 4-gram (lmplz)"))
    return steps


def lm_cells(recipe) -> Dict[str, Dict[str, int]]:
    """role -> table -> the number of planned +LM cells that need that role's LM."""
    planned = {where for run in recipe.plan.runs for where in run.cells}
    counts: Dict[str, Dict[str, int]] = {}
    for name in recipe.options.tables:
        table = TABLES[name]
        for row in table.rows:
            for column in table.columns:
                if f"{name}: {row.key} / {column.key}" not in planned:
                    continue
                spec = cell_spec(name, row.key, column.key)
                measures = [spec.measure] if spec.kind == "measure" else [part for _, part in spec.components]
                for role in {lm_role(measure.dataset, measure.task) for measure in measures if measure.lm}:
                    counts.setdefault(role, {}).setdefault(name, 0)
                    counts[role][name] += 1
    return counts


def lm_header_lines(recipe) -> List[str]:
    """The dry-run's lines: for each LM the plan's +LM cells need, the file, its settings and
    the cells that use it."""
    lines, cells_by_role = [], lm_cells(recipe)
    for role, tables in sorted(cells_by_role.items(), key=lambda item: list(LM_ROLES).index(item[0])):
        cells = ", ".join(f"{count} of {name}" for name, count in tables.items())
        lines.append(f"# +LM cells ({cells}): {lm_choice(recipe, role).describe()}")
    return lines


def language_model_arguments(recipe) -> List[str]:
    """gcaf-collect-results' ``--lm ROLE=FILE`` for each LM the planned +LM cells use."""
    arguments = []
    for role in roles_needed(recipe):
        choice = lm_choice(recipe, role)
        if choice.lm is not None:
            arguments += ["--lm", f"{role}={choice.lm}"]
    return arguments
