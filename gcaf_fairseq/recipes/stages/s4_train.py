"""Stage 4, train: fairseq-hydra-train for every row x split x seed of the plan.

Each run folder gets ``run.json`` first (the run-folder contract of
:mod:`gcaf_fairseq.tables.runs`), then the training, whose log is ``train.log``. A run is made
from its data (manifests, labels, the audio they list), its context (stores or utterance
tables), the pretrained wav2vec2, the configs and its command line (the system's overrides
from :mod:`gcaf_fairseq.systems`, the hardware's, the ``--`` overrides): when any of them
changes the folder is emptied and the run trained anew; a run that was killed resumes from
``checkpoint_last.pt``. A finished run lacking ``checkpoint_best.pt`` is not done.
"""

from pathlib import Path
from typing import List

from ...resources import PLUGIN_DIR, config_dir
from ...tables.runs import RunFileError, read_run, training_state
from ..context_check import check_coverage, recipe_coverages, run_context
from ..plan import PlannedRun, context_need, system_overlay, system_overrides
from ..processes import hydra_data, hydra_path, hydra_train_command
from ..options import STAGES
from ..runner import Step
from .common import empty_folder, skip_run, write_run_json

NUMBER = 4
NAME = STAGES[NUMBER]

#: the label file of each task (``task.labels``) and its dictionary
TASK_LABELS = {"asr": "ltr", "ner": "raw.ltr", "sentiment": "sent"}


def label_files(data: Path, subset: str, task: str) -> List[Path]:
    """The manifest, the labels and the label set a training or decoding of ``subset`` reads."""
    labels = TASK_LABELS[task]
    files = [data / f"{subset}.tsv", data / f"{subset}.{labels}"]
    files.append(data / ("labels.sent.txt" if task == "sentiment" else f"dict.{labels}.txt"))
    return files


def train_overrides(recipe, run: PlannedRun) -> List[str]:
    """The hydra overrides of one run (recorded in its run.json)."""
    layout, need = recipe.layout, context_need(run)
    overrides = hydra_data(layout.data_dir(run.dataset, run.task)) + [hydra_path("model.w2v_path", recipe.options.w2v)]
    overrides += system_overrides(run)[:1] + [f"common.seed={run.seed}"]
    if run.dataset == "librilight":
        overrides.append(f"dataset.train_subset={layout.train_subset(run)}")
    if need.source == "store":
        overrides += [hydra_path("task.context_store", layout.store_template(run.dataset, need.kind, need.pooling)),
                      f"model.context_embed_dim={recipe.embed_dim()}"]
    elif need.source == "neighbours":
        overrides.append(hydra_path("task.utterance_table", layout.utterance_template(run.dataset)))
    overrides += system_overrides(run)[1:]
    overrides += recipe.scale(run.config_name).overrides
    if recipe.options.smoke:
        overrides.append("+smoke=tiny")
    return overrides + list(recipe.options.overrides)


def slurm_launcher(recipe, folder: Path) -> List[str]:
    """The multirun settings that send one training to SLURM through hydra-submitit-launcher:
    one job of ``--gpus`` GPUs on one node (fairseq starts a process per GPU), the time limit,
    account and constraint, then any ``--slurm-setting KEY=VALUE``. The job's folder is the run
    folder (``hydra.sweep.dir``, ``subdir .``): its checkpoints, ``.hydra/`` and ``train.log``
    are where a local training puts them, and submitit's files go to ``RUN/.submitit/JOB_ID/``.
    ``--launcher submitit_local`` runs the same job as a local process (the tests)."""
    options = recipe.options
    settings = [f"hydra/launcher={options.launcher}"]
    if options.launcher == "submitit_slurm":
        settings.append(f"hydra.launcher.partition={options.slurm}")
        settings += [f"hydra.launcher.{key}={value}" for key, value in
                     (("account", options.slurm_account), ("constraint", options.slurm_constraint)) if value]
    settings += [f"hydra.launcher.gpus_per_node={recipe.gpus}", "hydra.launcher.tasks_per_node=1",
                 "hydra.launcher.cpus_per_task=8", hydra_path("hydra.sweep.dir", folder), "hydra.sweep.subdir=.",
                 f"hydra.launcher.timeout_min={options.slurm_time}",
                 # the job's own log is train.log (what tells a finished run); ours gets the launcher's output
                 hydra_path("hydra.job_logging.handlers.file.filename", folder / "train.log")]
    return settings + [f"hydra.launcher.{setting}" for setting in options.slurm_settings]


def train_command(recipe, run: PlannedRun) -> List[str]:
    folder = recipe.layout.run_folder(run)
    launcher = slurm_launcher(recipe, folder) if recipe.options.slurm else None
    return hydra_train_command(config_dir() / "finetuning", run.config_name, folder, PLUGIN_DIR,
                               train_overrides(recipe, run), launcher)


def training_inputs(recipe, run: PlannedRun) -> list:
    """What a run is made from (besides its command line)."""
    layout, need = recipe.layout, context_need(run)
    data = layout.data_dir(run.dataset, run.task)
    subsets = [layout.train_subset(run), layout.valid_subset(run)]
    inputs: list = [recipe.options.w2v]
    for subset in subsets:
        inputs += label_files(data, subset, run.task)
        inputs.append((data / f"{subset}.tsv", "manifest-audio"))
        if need.source == "store":
            inputs.append(layout.store_file(run.dataset, subset, need.kind, need.pooling))
        elif need.source == "neighbours":
            inputs.append(layout.utterances(run.dataset, subset))
    configs = config_dir() / "finetuning"
    inputs += [configs / f"{run.config_name}.yaml", configs / "system" / f"{system_overlay(run)}.yaml"]
    inputs += [configs / "hardware" / "cpu.yaml"] if recipe.gpus == 0 else []
    inputs += [configs / "smoke" / "tiny.yaml"] if recipe.options.smoke else []
    return inputs


def finished_training(folder: Path):
    """The training's own check: its log says it finished."""
    def check():
        try:
            state = training_state(read_run(folder))
        except RunFileError as error:
            return f"run.json unreadable: {error}"
        return None if state.finished else f"{folder}: {state.reason}"
    return check


def checked_context(recipe) -> dict:
    """The coverage of every store the runs read, checked before any training reads one
    (:mod:`..context_check`: an error above ``--max-empty-context``, else a warning); none
    with ``--dry-run``, which makes no store."""
    if recipe.options.dry_run:
        return {}
    coverages = recipe_coverages(recipe)
    for coverage in coverages.values():
        warning = check_coverage(coverage, recipe.options.max_empty_context)
        if warning:
            recipe.notice(NUMBER, warning)
    return coverages


def steps(recipe) -> List[Step]:
    result = []
    coverages = checked_context(recipe)
    for run in recipe.plan.runs:
        folder = recipe.layout.run_folder(run)
        coordinates = run.run_file(train_overrides(recipe, run), recipe.max_update(run.config_name))
        reason = recipe.missing_llm(run)
        if not reason and coverages:
            coordinates.update(run_context(recipe, run, coverages))
        if reason:
            result.append(Step(NUMBER, None, [folder / "skipped.json"], settings={"coordinates": coordinates},
                               text=f"not trained ({reason}): write {folder}/run.json and skipped.json",
                               action=skip_run(folder, coordinates, reason)))
            continue
        log = folder / ("submit.log" if recipe.options.slurm else "train.log")
        result.append(Step(
            NUMBER, train_command(recipe, run), [folder / "checkpoint_best.pt"], inputs=training_inputs(recipe, run),
            log=log, before=write_run_json(folder, coordinates), check=finished_training(folder),
            discard=empty_folder(folder), progress=("updates", recipe.max_update(run.config_name)),
            progress_log=folder / "train.log" if recipe.options.slurm else None,
            name=str(folder.relative_to(recipe.layout.runs)), key_paths=[folder]))
    return result
