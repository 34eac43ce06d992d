"""What a recipe prints first (and ``--dry-run`` shows before the steps): the tables, the
run matrix, the hardware, the text encoder's size, the LLMs, the LM of the +LM cells, each
config's published hyper-parameters and how they are kept here, and the GPU-hour estimate per
table with its source (pure Python)."""

from typing import List

from .estimate import estimate_lines
from .language_models import lm_header_lines
from .plan import context_need


def header(recipe) -> List[str]:
    options, plan = recipe.options, recipe.plan
    lines = [f"# {options.benchmark} recipe: tables {', '.join(options.tables)}; {options.seeds} seed(s)",
             f"# {len(plan.runs)} training runs ({len(plan.runs) // options.seeds} per seed), "
             f"{sum(len(run.decodings) for run in plan.runs)} decodings, {plan.cells} cells"
             + (f" ({plan.filtered_cells} cells left out by --systems/--splits)" if plan.filtered_cells else ""),
             f"# hardware: {'CPU' if recipe.gpus == 0 else f'{recipe.gpus} GPU(s), {options.precision}'}"
             + (f"; SLURM partition {options.slurm} (hydra-submitit-launcher)" if options.slurm else "")]
    if options.text_encoder is not None and any(context_need(run).source == "store" for run in plan.runs):
        lines.append(f"# model.context_embed_dim = {recipe.embed_dim()} (hidden_size of "
                     f"{options.text_encoder / 'config.json'})")
    for size, source in sorted(options.llms.items()):
        lines.append(f"# LLM {size}: {source.describe()}")
    lines += lm_header_lines(recipe)
    for config in dict.fromkeys(run.config_name for run in plan.runs):
        lines.append(f"# published {recipe.published(config).describe()}")
        lines.append(f"#   here: {recipe.scale(config).note}; max_update {recipe.max_update(config)}")
    return lines + estimate_lines(recipe)
