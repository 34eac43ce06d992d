from .ctc_context import CtcContextCriterion, CtcContextCriterionConfig  # noqa: F401
from .seq_cls_context import SeqClsContextCriterion, SeqClsContextCriterionConfig  # noqa: F401
