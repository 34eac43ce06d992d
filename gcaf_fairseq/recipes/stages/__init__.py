"""The recipes' numbered stages, one module each (as ESPnet's and icefall's recipes number
theirs); each builds the :class:`~gcaf_fairseq.recipes.runner.Step` list of its stage from
the :class:`~gcaf_fairseq.recipes.recipe.Recipe`:

1. :mod:`.s1_prepare`: manifests, labels, utterance tables (gcaf-prepare-librispeech / -slue)
2. :mod:`.s2_context_texts`: previous / current texts, LLM generations (sharded)
3. :mod:`.s3_embed`: the context stores (gcaf-embed-context)
4. :mod:`.s4_train`: fairseq-hydra-train, every row x split x seed
5. :mod:`.s5_decode`: fairseq-generate (greedy, KenLM), gcaf-predict-labels, timing.json
6. :mod:`.s6_score`: gcaf-score, gcaf-rouge
7. :mod:`.s7_tables`: gcaf-collect-results
"""

from types import ModuleType
from typing import Dict

from . import s1_prepare, s2_context_texts, s3_embed, s4_train, s5_decode, s6_score, s7_tables

#: stage number -> its module (``NAME``, ``steps(recipe)``)
STAGES: Dict[int, ModuleType] = {module.NUMBER: module for module in (
    s1_prepare, s2_context_texts, s3_embed, s4_train, s5_decode, s6_score, s7_tables)}
