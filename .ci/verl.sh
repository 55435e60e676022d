#!/usr/bin/env bash
# CI step: `export --format verl` and `adqa_data.integrations.verl` run through verl 0.9.1's own code
# (-m verl): RLHFDataset + collate_fn through our dataset class give input_features and the right number of
# audio tokens for every row, and compute_score scores through verl's own reward loop. Also the `trl`
# export's `--audio path` prompts through a processor's apply_chat_template, which needs an audio decoder
# for transformers (librosa, installed here; the main venv has none).
#
# Why a venv of its own (.venv-verl, inside the repo): verl 0.9.1 pins transformers>=5.5.3,<5.11 (the main
# venv has 5.19) and tensordict<=0.10; torch itself is not pinned by verl, so the CPU build 2.13.0 from this
# machine's disk serves (no CUDA download). verl's training extras (vllm, flash-attn, megatron) are not
# installed: this step runs verl's data and reward code, which is what our export feeds. Measured on the
# shared 2-core machine: a fresh venv + install 217 s, 2.3 GiB (torch, ray, numba/librosa, wandb, ...);
# a rerun ~70 s, nearly all of it the tests.
#
# Idempotent: a stamp holding the pins marks a finished install; a rerun goes straight to the editable
# install of this checkout and the tests. Change a pin below and the venv is brought up to date.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
REPO="$(pwd)"
VENV="$REPO/.venv-verl"
PY="$VENV/bin/python"
PINS="torch==2.13.0 verl==0.9.1 transformers==5.10.4 librosa==0.11.0"
STAMP="$VENV/.adqa-verl-installed"

section() { printf '\n===== verl step [%4ds]: %s =====\n' "$SECONDS" "$*"; }
fail() { printf '\nverl step FAILED: %s\n' "$*" >&2; exit 1; }
trap 'fail "command failed at line $LINENO (exit $?)"' ERR

section "virtual environment $VENV"
if [ ! -x "$PY" ]; then
  "${PYTHON:-python3}" -m venv "$VENV"
fi
printf '*\n' > "$VENV/.gitignore"  # keep the venv out of `git status`
"$PY" --version

if [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$PINS" ]; then
  section "verl already installed ($PINS): skipping the install"
else
  rm -f "$STAMP"
  section "torch (CPU build)"
  "$PY" -m pip install -q torch==2.13.0
  section "verl, transformers and librosa"
  "$PY" -m pip install -q $PINS
  printf '%s' "$PINS" > "$STAMP"
fi

section "adqa-data from this checkout (editable, without deps: verl's pins stay), and its own deps"
"$PY" -m pip install -q --no-deps -e "$REPO"
"$PY" -m pip install -q polars soundfile soxr typer rich filelock pytest "pydantic>=2.6"

section "import check"
"$PY" -c 'import torch, transformers, verl; print("torch", torch.__version__, "| transformers", transformers.__version__, "| verl", verl.__version__)' \
  || fail "verl does not import; delete $VENV and run this script again"

section "tests: pytest -m verl tests/integrations/test_integrations_verl_ci.py; the trl export's path audio"
export HF_HUB_OFFLINE=1 TOKENIZERS_PARALLELISM=false
"$PY" -m pytest -m verl tests/integrations/test_integrations_verl_ci.py -p no:cacheprovider -q -rs
"$PY" -m pytest tests/integrations/test_integrations_trl.py -k path -p no:cacheprovider -q -rs

section "passed"
