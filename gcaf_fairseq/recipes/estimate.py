"""The GPU-hours of a recipe's training runs (pure Python)."""


def gpu_hours(recipe, seconds_per_batch: float) -> float:
    """GPU-hours of the planned training runs: max_update x (effective batch / 3.2M samples)
    x ``seconds_per_batch`` (a 3.2M-sample forward and backward on one GPU)."""
    total = 0.0
    for run in recipe.trained_runs():
        published = recipe.published(run.config_name)
        total += recipe.max_update(run.config_name) * published.effective_batch / 3.2e6 * seconds_per_batch
    return total / 3600
