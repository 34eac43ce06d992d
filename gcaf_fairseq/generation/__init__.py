"""Generative context (GCAF 2.2.1): prompts, templates, backends, the resumable runner,
the generation file and ROUGE (GCAF Table 3)."""

from .backends import BackendError, Completion, HFBackend, OpenAIBackend, load_hf_backend
from .generation_file import (
    GenerationFileError,
    GenerationWriter,
    header_path,
    input_fingerprint,
    make_header,
    merge_generations,
    parse_shard,
    read_generations,
    shard_of,
)
from .prompts import PROMPTS, build_user_message, resolve_prompt
from .rouge import format_table, rouge1_f, rouge_table
from .runner import read_previous_texts_file, run_generation
from .templates import TEMPLATE_NAMES, RenderedPrompt, TemplateError, build_template

__all__ = [
    "BackendError",
    "Completion",
    "GenerationFileError",
    "GenerationWriter",
    "HFBackend",
    "OpenAIBackend",
    "PROMPTS",
    "RenderedPrompt",
    "TEMPLATE_NAMES",
    "TemplateError",
    "build_template",
    "build_user_message",
    "format_table",
    "header_path",
    "input_fingerprint",
    "load_hf_backend",
    "make_header",
    "merge_generations",
    "parse_shard",
    "read_generations",
    "read_previous_texts_file",
    "resolve_prompt",
    "rouge1_f",
    "rouge_table",
    "run_generation",
    "shard_of",
]
