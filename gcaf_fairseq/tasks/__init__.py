"""fairseq-facing plugin package: importing it registers the whole plugin (see
:func:`gcaf_fairseq.register`)."""

from .. import register

register()

from .audio_context_finetuning import AudioContextFinetuningConfig, AudioContextFinetuningTask  # noqa: F401
