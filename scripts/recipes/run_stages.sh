#!/usr/bin/env bash
# The stage loop shared by scripts/reproduce_librilight.sh and scripts/reproduce_slue.sh:
#   bash scripts/recipes/run_stages.sh BENCHMARK CALLER_SCRIPT [OPTIONS] [-- HYDRA_OVERRIDES]
# Each stage is one call of the planner (python -m gcaf_fairseq.recipes.run); --stage N|NAME|all
# picks stages. The interpreter: $PYTHON, else the checkout's .venv, else python3.
set -euo pipefail
benchmark=${1:?benchmark}; caller=${2:?caller script}; shift 2
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
if [ -n "${PYTHON:-}" ]; then python=$PYTHON
elif [ -x "$root/.venv/bin/python" ]; then python="$root/.venv/bin/python"
else python=python3; fi
# Without options: the caller's header comment (its usage).
if [ $# -eq 0 ]; then sed -n '2,/^[^#]/{/^#/s/^# \{0,1\}//p}' "$caller"; exit 2; fi
stages=all
args=()
while [ $# -gt 0 ]; do
  case "$1" in
    --stage) stages=${2:?--stage needs a value}; shift 2 ;;
    --stage=*) stages=${1#*=}; shift ;;
    -h|--help) exec "$python" -m gcaf_fairseq.recipes.run "$benchmark" --help ;;
    --) args+=("$@"); break ;;
    *) args+=("$1"); shift ;;
  esac
done
first=1
for stage in $("$python" -m gcaf_fairseq.recipes.run stages "$stages"); do
  if [ $first -eq 1 ]; then plan=(); first=0; else plan=(--quiet-plan); fi
  "$python" -m gcaf_fairseq.recipes.run "$benchmark" --stage "$stage" "${plan[@]}" "${args[@]}"
done
