#!/usr/bin/env bash
# CI step: `export --format swift` and the reward plugin run through ms-swift 4.6's own code (-m swift):
# its load_dataset and its Qwen2-Audio and Qwen2.5-Omni templates encode every row of both configs with audio
# features (relative clip paths through ROOT_IMAGE_DIR, and base64 clips), SFT labels cover the reasoning and
# the answer and a batch goes through the tiny model's forward with a loss (Qwen2.5-Omni: ms-swift's own
# `qwen2_5_omni` loader without weights, its template, the tiny thinker's forward; torchvision, which its
# video side needs, has only CUDA-linked wheels here, so tests/support/swift_omni.py stands in for the video
# parts an audio row never reaches), and the plugin file, imported and resolved the way `swift rlhf
# --external_plugins ... --reward_funcs ...` does it, gives the rollout's rewards.
#
# Why a venv of its own (.venv-swift, inside the repo): ms-swift 4.6.0 pins transformers<5.20, trl<1.0,
# datasets<4.8.5 and peft<0.21 (the main venv has trl 1.16 and datasets 5). torch is installed first as the
# CPU build 2.13.0 from this machine's disk, so nothing pulls a CUDA torch. adqa-data goes in editable
# without its dev extras (they pin trl 1.16); msgspec is what ms-swift's GRPO code imports without declaring
# it; librosa is its audio decoder. Measured here (2 shared cores): a fresh venv took 2 min 45 s with pip's
# cache warm (~4.5 min for torch + ms-swift with a cold one; 4 min 32 s in a fresh worktree), 2.4 GiB; a rerun
# ~30 s (tests ~16 s).
#
# Idempotent: a stamp holding the pins marks a finished install; a rerun goes straight to the editable
# install of this checkout and the tests. Change a pin below and the venv is brought up to date.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
REPO="$(pwd)"
VENV="$REPO/.venv-swift"
PY="$VENV/bin/python"
PINS="torch==2.13.0 ms-swift==4.6.0 transformers==5.19.0 trl==0.29.1 datasets==4.8.4 librosa==0.11.0 msgspec"
STAMP="$VENV/.adqa-swift-installed"

section() { printf '\n===== ms-swift step [%4ds]: %s =====\n' "$SECONDS" "$*"; }
fail() { printf '\nms-swift step FAILED: %s\n' "$*" >&2; exit 1; }
trap 'fail "command failed at line $LINENO (exit $?)"' ERR

section "virtual environment $VENV"
if [ ! -x "$PY" ]; then
  "${PYTHON:-python3}" -m venv "$VENV"
fi
printf '*\n' > "$VENV/.gitignore"  # keep the venv out of `git status`
"$PY" --version

if [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$PINS" ]; then
  section "ms-swift already installed ($PINS): skipping the install"
else
  rm -f "$STAMP"
  section "torch (CPU build)"
  "$PY" -m pip install -q torch==2.13.0
  section "ms-swift and its pins, librosa, msgspec"
  # shellcheck disable=SC2086
  "$PY" -m pip install -q $PINS
  printf '%s' "$PINS" > "$STAMP"
fi

section "adqa-data from this checkout (editable, no dev extras: they pin trl 1.16), pytest, soundfile"
"$PY" -m pip install -q -e "$REPO" pytest soundfile "trl==0.29.1"

section "import check"
"$PY" -c 'import torch, transformers, trl, swift.rewards; from swift.version import __version__ as v; print("torch", torch.__version__, "| transformers", transformers.__version__, "| trl", trl.__version__, "| ms-swift", v)' \
  || fail "ms-swift does not import; delete $VENV and run this script again"

section "tests: pytest -m swift tests/integrations/test_integrations_swift_ci.py"
export HF_HUB_OFFLINE=1 TOKENIZERS_PARALLELISM=false
"$PY" -m pytest -m swift tests/integrations/test_integrations_swift_ci.py -p no:cacheprovider -q -rs

section "passed"
