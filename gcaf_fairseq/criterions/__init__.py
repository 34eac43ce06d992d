"""fairseq criteria: the task loss plus alpha times the context loss (each registers itself
when imported; :mod:`gcaf_fairseq.tasks` imports this package)."""

from .context_term import ContextLossConfig  # noqa: F401
from .ctc_context import CtcContextCriterion, CtcContextCriterionConfig  # noqa: F401
from .seq_cls_context import SeqClsContextCriterion, SeqClsContextCriterionConfig  # noqa: F401
