from .audio_context_finetuning import AudioContextFinetuningConfig, AudioContextFinetuningTask  # noqa: F401
