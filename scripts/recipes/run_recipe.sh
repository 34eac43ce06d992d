#!/usr/bin/env bash
# What scripts/reproduce_librilight.sh and scripts/reproduce_slue.sh run:
#   bash scripts/recipes/run_recipe.sh BENCHMARK CALLER_SCRIPT [OPTIONS] [-- HYDRA_OVERRIDES]
# The interpreter: $PYTHON, else the checkout's .venv, else python3. Python owns the stage loop
# (python -m gcaf_fairseq.recipes.run); without options, the caller's header comment (its usage).
set -euo pipefail
benchmark=${1:?benchmark}; caller=${2:?caller script}; shift 2
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
if [ -n "${PYTHON:-}" ]; then python=$PYTHON
elif [ -x "$root/.venv/bin/python" ]; then python="$root/.venv/bin/python"
else python=python3; fi
if [ $# -eq 0 ]; then sed -n '2,/^[^#]/{/^#/s/^# \{0,1\}//p}' "$caller"; exit 2; fi
exec "$python" -m gcaf_fairseq.recipes.run "$benchmark" "$@"
