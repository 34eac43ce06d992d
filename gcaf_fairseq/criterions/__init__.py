from .ctc_context import CtcContextCriterion, CtcContextCriterionConfig  # noqa: F401
