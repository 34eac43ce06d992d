"""Which LLM each run needs, and whether the recipe was given one (pure Python).

The D rows and E's teacher need an LLM of a given size (D1-D4 and E: 13B; D5 7B, D6 30B,
D7 70B; :mod:`gcaf_fairseq.systems`). A row whose LLM was not given (``--llm``, or
``--llm-url`` with ``--llm-name``) is not trained: its runs get ``skipped.json`` with the
option to give, and the tables list its cells as missing with that reason.
"""

from typing import Dict, Optional

from .options import DEFAULT_LLM_SIZE, LlmSource
from .plan import PlannedRun, context_need


def missing_llm(run: PlannedRun, llms: Dict[str, LlmSource]) -> Optional[str]:
    """Why ``run`` cannot be made for want of an LLM (naming the option), or None."""
    need = context_need(run)
    if need.llm is None or need.llm in llms:
        return None
    return f"no {need.llm} LLM given ({llm_options(need.llm)})"


def llm_options(size: str) -> str:
    """The options that give the ``size`` LLM."""
    if size == DEFAULT_LLM_SIZE:
        return "--llm DIR or --llm-url URL --llm-name NAME"
    return f"--llm {size}=DIR or --llm-url {size}=URL --llm-name {size}=NAME"
