"""One recipe invocation: its options, its plan, where things go, and the hardware and LLMs it
has (pure Python). The stages (:mod:`.stages`) build their steps from it; the dry-run header
(:mod:`.header`) and the GPU-hour estimate (:mod:`.estimate`) describe it.
"""

from typing import Dict, List, Optional, Tuple

from .fingerprints import HashCache
from .layout import Layout
from .llms import missing_llm
from .options import RecipeOptions
from .plan import Plan, PlannedRun, context_need, plan_runs
from .scale import Hyperparameters, Scale, published_hyperparameters, scale_for, smoke_max_update, smoke_setting

PROMPTS = ("P1", "P2", "P3", "P4")


class Recipe:
    """The plan of one invocation and what its stages share."""

    def __init__(self, options: RecipeOptions):
        self.options = options
        self.layout = Layout(options.out)
        self.plan: Plan = plan_runs(options.tables, options.seeds, options.systems, options.splits)
        self.gpus = 0 if options.cpu else (options.gpus if options.gpus is not None else
                                           1 if options.slurm else _detect_gpus())  # SLURM: not the login node's
        self._published: Dict[str, Hyperparameters] = {}
        self._embed_dim: Optional[int] = None
        self.hash_cache = HashCache(None)  # the runner's, once there is one (run.run_recipe)
        self.notices: List[str] = []  # warnings the stages found, printed by the stage loop
        self._said: set = set()
        self._check_inputs()

    def notice(self, stage: int, warning: str) -> None:
        """A warning for the recipe's output, said once per recipe run (by the first stage that finds it)."""
        if warning not in self._said:
            self._said.add(warning)
            self.notices.append(f"[stage {stage}] warning: {warning}")

    def take_notices(self) -> List[str]:
        """The warnings not printed yet (printed by the caller)."""
        taken, self.notices = self.notices, []
        return taken

    def _check_inputs(self) -> None:
        needs_text = any(context_need(run).source == "store" for run in self.plan.runs)
        if needs_text and self.options.text_encoder is None:
            rows = sorted({run.system for run in self.plan.runs if context_need(run).source == "store"})
            raise ValueError(f"rows {', '.join(rows)} embed context texts: give --text-encoder DIR (BERT-base "
                             "for the papers) or leave them out with --systems")

    # -- sizes and settings read from the inputs and the configs
    def embed_dim(self) -> int:
        if self._embed_dim is None:
            from .scale import text_encoder_dim

            self._embed_dim = text_encoder_dim(self.options.text_encoder)
        return self._embed_dim

    def published(self, config: str) -> Hyperparameters:
        if config not in self._published:
            self._published[config] = published_hyperparameters(config)
        return self._published[config]

    def scale(self, config: str) -> Scale:
        """World size, update_freq and precision of ``config``'s runs on this hardware (:mod:`.scale`)."""
        return scale_for(self.published(config), self.gpus, self.options.cpu, self.options.smoke,
                         self.options.precision)

    def max_update(self, config: str) -> int:
        value = smoke_max_update() if self.options.smoke else self.published(config).max_update
        return self._overridden("optimization.max_update", value)

    def freeze_updates(self, config: str) -> int:
        """``model.freeze_finetune_updates`` of ``config``'s runs here (the encoder's frozen updates)."""
        value = (smoke_setting("model", "freeze_finetune_updates") if self.options.smoke
                 else self.published(config).freeze_finetune_updates)
        return self._overridden("model.freeze_finetune_updates", value)

    def _overridden(self, key: str, value: int) -> int:
        """``value``, or the last ``--`` override of the integer setting ``key``."""
        for override in self.options.overrides:
            name, _, text = override.lstrip("+").partition("=")
            if name == key and text.strip().isdigit():
                value = int(text)
        return value

    # -- which runs, stores and generations the plan needs
    def missing_llm(self, run: PlannedRun) -> Optional[str]:
        return missing_llm(run, self.options.llms)

    def trained_runs(self) -> List[PlannedRun]:
        return [run for run in self.plan.runs if not self.missing_llm(run)]

    def subsets_needing_context(self, run: PlannedRun) -> List[str]:
        need = context_need(run)
        subsets = [self.layout.train_subset(run), self.layout.valid_subset(run)]
        if need.at_decoding:
            subsets += [decoding.subset for decoding in run.sorted_decodings()]
        return list(dict.fromkeys(subsets))

    def context_stores(self) -> List[Tuple[str, str, str, str]]:
        """(dataset, subset, kind, pooling) of every store the runs read, in a stable order."""
        stores = []
        for run in self.plan.runs:
            need = context_need(run)
            if need.source != "store" or self.missing_llm(run):
                continue
            for subset in self.subsets_needing_context(run):
                stores.append((run.dataset, subset, need.kind, need.pooling))
        return list(dict.fromkeys(stores))

    def generations(self) -> List[Tuple[str, str, str, str]]:
        """(dataset, subset, prompt, llm) of every LLM generation needed (stores and ROUGE)."""
        wanted = [(dataset, subset, kind.split("-")[0], kind.split("-")[1])
                  for dataset, subset, kind, _ in self.context_stores() if kind not in ("prev", "cur")]
        for rouge in self.plan.rouge:
            if rouge.llm in self.options.llms:
                wanted += [(rouge.dataset, rouge.subset, prompt, rouge.llm) for prompt in PROMPTS]
        return list(dict.fromkeys(wanted))


def _detect_gpus() -> int:
    from .scale import detect_gpus

    return detect_gpus()
