"""fairseq-facing plugin package: importing it registers the whole plugin (see
:func:`gcaf_fairseq.register`)."""

from .. import register

register()

from .context_term import ContextLossConfig  # noqa: F401
from .ctc_context import CtcContextCriterion, CtcContextCriterionConfig  # noqa: F401
from .seq_cls_context import SeqClsContextCriterion, SeqClsContextCriterionConfig  # noqa: F401
