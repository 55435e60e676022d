#!/usr/bin/env bash
# GPU smoke test of the trainer's GPU paths, on tiny random models and the demo data (a few minutes; the
# budget is 8). Run it from anywhere on a machine with a CUDA GPU, torch with CUDA, vllm and deepspeed:
#
#   benchmarks/gpu_smoke.sh              # the GPU run; one JSON line on stdout, exit 0 when every check holds
#   benchmarks/gpu_smoke.sh --dry-run    # on a CPU: the same chain and checks with CPU stand-ins (no
#                                        # accelerate/ZeRO-3, transformers instead of vLLM, fp32)
#
# Checks:
#   1. vllm_online: `adqa-data train --online 2 --rollout-backend vllm`: one vLLM engine samples round 1
#      with the starting weights and, after training, reloads the exported weights for round 2
#      (VLLMBackend.reload_weights). With the stored sampler log-probs as the ratio's denominator, the
#      first step of each round has ratio ~1 exactly when the engine sampled with the trainer's current
#      weights; a missed reload shows as a ratio far from 1 on round 2 (the lr is large enough to move it).
#      vLLM runs in float32 here so that the comparison is not blurred by bf16 rounding.
#   2. zero3_step: one bf16 GRPO step on round 1's shards under DeepSpeed ZeRO-3,
#      `accelerate launch --config_file pipelines/accelerate/zero3.yaml --num_processes 1 -m adqa_data train`;
#      the step's loss and gradient norm are finite and the exported policy loads.
#   3. anchoring: the anchoring pass (attention of the deep layers, hooks) on the GPU in bf16 and float32
#      on the same completions; scores are finite and agree within 0.05.
#   4. verl_step (only with VERL_PYTHON=<a python with verl 0.9.1 and vllm>; verl pins transformers<5.11, so
#      it lives in its own venv): one GRPO step of verl's own trainer (verl.trainer.main_ppo) with the
#      recipe pipelines/verl/audiomcq_grpo.yaml on `export --format verl` of the smoke prompt set and the
#      tiny Qwen2-Audio. verl 0.9.1's rollout needs two changes for an audio processor (the recipe names
#      them); until verl has them this check is expected to fail, and the log's last lines say where.
#   5. swift_step (only with SWIFT_PYTHON=<a python with ms-swift 4.6, vllm and adqa-data>; ms-swift pins
#      trl<1.0, so it lives in its own venv): one GRPO step of `swift rlhf` on the `grpo` config of
#      `export --format swift` (the card's command: ROOT_IMAGE_DIR, the Parquet file, the reward plugin
#      file from the export, adqa_correctness + adqa_format weighted 1.0 / 0.25) with the tiny Qwen2-Audio,
#      sampling with vLLM colocated. Not with ms-swift's transformers engine: transformers 5.19's generate
#      calls Qwen2-Audio's single-<|AUDIO|> path without the attention mask and fails (seen on the CPU);
#      the check is the exit code.
# Without a CUDA GPU (and without --dry-run) it stops at once with {"ok": false, "error": ...} and exit 2.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$HERE"
PY="${PYTHON:-python}"
DRY=0
case "${1:-}" in
  --dry-run) DRY=1 ;;
  "") ;;
  *) echo "usage: $0 [--dry-run]" >&2; exit 64 ;;
esac
export HF_HUB_OFFLINE=1 TOKENIZERS_PARALLELISM=false PYTHONPATH="$HERE${PYTHONPATH:+:$PYTHONPATH}"
START=$(date +%s)

fail() {  # one JSON line, exit 2
  "$PY" -c 'import json,sys; print(json.dumps({"ok": False, "error": sys.argv[1]}))' "$1"
  exit 2
}

if [[ $DRY == 0 ]]; then
  "$PY" -c 'import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)' 2>/dev/null \
    || fail "no CUDA GPU visible to torch (torch.cuda.is_available() is False; CUDA_VISIBLE_DEVICES=${CUDA_VISIBLE_DEVICES-unset}); use --dry-run on a CPU"
  for mod in vllm deepspeed accelerate; do
    "$PY" -c "import $mod" 2>/dev/null || fail "the Python package '$mod' is missing (pip install 'adqa-data[train,vllm]')"
  done
  DEVICE=cuda BACKEND=vllm
else
  DEVICE=cpu BACKEND=transformers
fi

WORK="$(mktemp -d "${TMPDIR:-/tmp}/adqa_gpu_smoke.XXXXXX")"
WS="$WORK/ws"
LOG="$WORK/log.txt"
echo "gpu_smoke: work folder $WORK (log: $LOG)" >&2

run() {  # a step's output goes to the log; its last line (the --json result) to stdout
  "$@" >"$WORK/out.txt" 2>>"$LOG" || { tail -n 30 "$LOG" >&2; fail "step failed: $*"; }
  cat "$WORK/out.txt" >>"$LOG"
}

# --------------------------------------------------------------------------------------------- setup
"$PY" - "$WORK" >>"$LOG" 2>&1 <<'EOF' || fail "setup failed (see the log)"
import sys
from pathlib import Path

from adqa_data.testing.data import write_demo
from adqa_data.testing.models import build_tiny_qwen2_audio
from adqa_data.stages.download import download
from adqa_data.stages.sample import sample
from adqa_data.core.workspace import Workspace

work = Path(sys.argv[1])
roots = write_demo(work / "demo-data")
build_tiny_qwen2_audio(work / "qwen2-audio")
ws = Workspace(work / "ws")
download(ws, from_dir=roots["audiomcq"])
sample(ws, n=8, split="all", seed=0, name="smoke")
EOF
MODEL="$WORK/qwen2-audio"
# a reward that varies inside a group of a random model's completions, so the steps have a gradient
cat >"$WORK/smoke_rewards.py" <<'EOF'
def parity(completions, *, completion_ids, **_columns):
    return [float(ids[0] % 2) if len(ids) else 0.0 for ids in completion_ids]
EOF
export PYTHONPATH="$WORK:$PYTHONPATH"

# vLLM: float32 (see above), a small share of the GPU (the trainer shares it), no CUDA graphs (startup)
cat >"$WORK/rollout.yaml" <<EOF
backend: $BACKEND
dtype: float32
backend_options:
  engine_kwargs: {gpu_memory_utilization: 0.25, enforce_eager: true}
EOF
if [[ $DRY == 1 ]]; then printf 'backend: transformers\ndtype: float32\n' >"$WORK/rollout.yaml"; fi

# ------------------------------------------------------------------------------ 1. online rounds (vLLM)
T0=$(date +%s)
run "$PY" -m adqa_data train -w "$WS" -d audiomcq --online 2 --prompts smoke --round-prompts 4 \
  --rollout-config "$WORK/rollout.yaml" --k 4 --max-new-tokens 16 --model "$MODEL" \
  --reward correctness=1 --reward smoke_rewards:parity=1 --lr 1e-3 --beta 0 --device "$DEVICE" \
  --save-steps 1000 --name online --json
cp "$WORK/out.txt" "$WORK/online.json"
T1=$(date +%s)

# ------------------------------------------------------------------------------------ 2. ZeRO-3 step
if [[ $DRY == 0 ]]; then
  run accelerate launch --config_file pipelines/accelerate/zero3.yaml --num_processes 1 -m adqa_data \
    train -w "$WS" -d audiomcq --rollouts online-round1 --max-steps 1 --precision bf16 --device cuda \
    --reward smoke_rewards:parity=1 --lr 1e-5 --name zero3 --json
else
  run "$PY" -m adqa_data train -w "$WS" -d audiomcq --rollouts online-round1 --max-steps 1 \
    --precision fp32 --device cpu --reward smoke_rewards:parity=1 --lr 1e-5 --name zero3 --json
fi
cp "$WORK/out.txt" "$WORK/zero3.json"
T2=$(date +%s)

# ------------------------------------------------------------------ 2b. one verl step (VERL_PYTHON)
VERL_RC=skipped
if [[ -n "${VERL_PYTHON:-}" && $DRY == 0 ]]; then
  run "$PY" -m adqa_data export -w "$WS" -d audiomcq --format verl --prompts smoke --out "$WORK/verl-export" --json
  VERL_DATA="$WORK/verl-export/data/default/train-00000-of-00001.parquet"
  set +e
  "$VERL_PYTHON" -m verl.trainer.main_ppo --config-path "$HERE/pipelines/verl" --config-name audiomcq_grpo \
    data.train_files="$VERL_DATA" data.val_files="$VERL_DATA" data.train_batch_size=4 \
    data.max_response_length=32 actor_rollout_ref.model.path="$MODEL" \
    actor_rollout_ref.actor.ppo_mini_batch_size=4 actor_rollout_ref.actor.ppo_micro_batch_size_per_gpu=4 \
    actor_rollout_ref.rollout.name=vllm actor_rollout_ref.rollout.gpu_memory_utilization=0.25 \
    actor_rollout_ref.rollout.log_prob_micro_batch_size_per_gpu=4 trainer.n_gpus_per_node=1 trainer.nnodes=1 \
    trainer.total_training_steps=1 trainer.logger=[console] trainer.save_freq=-1 trainer.test_freq=-1 \
    trainer.val_before_train=false >>"$LOG" 2>&1
  VERL_RC=$?
  set -e
fi

# ----------------------------------------------------------------- 2c. one ms-swift step (SWIFT_PYTHON)
SWIFT_RC=skipped
if [[ -n "${SWIFT_PYTHON:-}" && $DRY == 0 ]]; then
  SWIFT_DIR="$WORK/swift-export"
  run "$PY" -m adqa_data export -w "$WS" -d audiomcq --format swift --prompts smoke --split all --out "$SWIFT_DIR" --json
  set +e
  ROOT_IMAGE_DIR="$SWIFT_DIR" "$SWIFT_PYTHON" -m swift.cli.rlhf --rlhf_type grpo --model "$MODEL" \
    --model_type qwen2_audio --dataset "$SWIFT_DIR/data/grpo/train-00000-of-00001.parquet" \
    --external_plugins "$SWIFT_DIR/adqa_swift_plugin.py" --reward_funcs adqa_correctness adqa_format \
    --reward_weights 1.0 0.25 --num_generations 4 --per_device_train_batch_size 4 --max_completion_length 16 \
    --max_steps 1 --tuner_type full --torch_dtype float32 --beta 0 --use_vllm true --vllm_mode colocate \
    --vllm_gpu_memory_utilization 0.25 --save_strategy no \
    --report_to none --logging_steps 1 --output_dir "$WORK/swift-out" >>"$LOG" 2>&1
  SWIFT_RC=$?
  set -e
fi

# ------------------------------------------------------------------- 3. anchoring, then every check
set +e
"$PY" - "$WORK" "$DEVICE" "$DRY" "$START" "$T0" "$T1" "$T2" "$VERL_RC" "$SWIFT_RC" 2>>"$LOG" <<'EOF'
import json
import math
import sys
import time
from pathlib import Path

from adqa_data.audio.clips import load_audio
from adqa_data.inference.transformers_backend import TransformersBackend
from adqa_data.inference.types import Query, Sampling
from adqa_data.train.policy import load_model
from adqa_data.core.workspace import Workspace

work, device, dry = Path(sys.argv[1]), sys.argv[2], sys.argv[3] == "1"
start, t0, t1, t2 = (int(x) for x in sys.argv[4:8])
checks, out = {}, {"dry_run": dry, "device": device}

# 1. online rounds: ratio of the first step of each round ~ 1 (the sampler had the trainer's weights)
online = json.loads((work / "online.json").read_text())
run_dir = Path(online["run_dir"])
steps = [json.loads(x) for x in (run_dir / "metrics.jsonl").read_text().splitlines()]
rounds = json.loads((run_dir / "rounds.json").read_text())["rounds"]
first = {k: next(s for s in steps if s["step"] == r["start_step"] + 1) for k, r in rounds.items()}
ratios = {k: s["ratio_mean"] for k, s in first.items()}
out["vllm_online"] = {
    "rounds": len(rounds),
    "steps": online["steps"],
    "first_step_ratio_by_round": ratios,
    "round2_sampler": rounds["2"]["sampler"],
    "seconds": t1 - t0,
}
checks["online_two_rounds"] = len(rounds) == 2 and online["steps"] >= 2
checks["round2_sampled_the_export"] = rounds["2"]["sampler"].endswith("rounds/round-2/policy")
checks["sampler_had_current_weights"] = all(abs(r - 1.0) < 0.02 for r in ratios.values())

# 2. the ZeRO-3 (or CPU) step
z = json.loads((work / "zero3.json").read_text())
last = z["summary"].get("last", {})
out["zero3_step"] = {"steps": z["steps"], "loss": last.get("loss"), "grad_norm": last.get("grad_norm"),
                     "seconds": t2 - t1}
checks["zero3_one_finite_step"] = z["steps"] == 1 and all(
    isinstance(last.get(k), float) and math.isfinite(last[k]) for k in ("loss", "grad_norm"))
checks["zero3_has_a_gradient"] = bool(last.get("grad_norm"))
load_model(z["policy_dir"], device=device)  # the exported policy loads
checks["zero3_policy_loads"] = True

# 3. the anchoring pass, bf16 against float32 on the same completions
ws = Workspace(work / "ws")
item = ws.items("audiomcq", columns=["item_id", "question", "choices", "audio_path", "audio_sha256"]).to_pylist()[0]
clip = load_audio(str(ws.dataset("audiomcq").resolve(item["audio_path"])), 16000)
query = Query(item["item_id"], item["question"], list(item["choices"]), clip, item["audio_sha256"], "think")
scores = {}
t = time.time()
for dtype in (["float32"] if dry else ["bfloat16", "float32"]):
    backend = TransformersBackend(str(work / "qwen2-audio"), device=device, dtype=dtype)
    if dtype == ("float32" if dry else "bfloat16"):
        gen = backend.generate([query], Sampling(n=3, temperature=1.0, max_new_tokens=24, seed=0))[0]
    scorer = backend.anchoring_scorer()
    scores[dtype] = scorer.scores(query, gen.prompt_token_ids, [c.token_ids for c in gen.completions])
    backend.close()
diff = max(abs(a - b) for a, b in zip(scores.get("bfloat16", scores["float32"]), scores["float32"]))
out["anchoring"] = {"scores": scores, "max_abs_diff_bf16_fp32": diff, "seconds": round(time.time() - t, 1)}
checks["anchoring_finite"] = all(math.isfinite(x) for v in scores.values() for x in v)
checks["anchoring_bf16_close"] = diff < 0.05

verl_rc = sys.argv[8]
out["verl_step"] = verl_rc if verl_rc == "skipped" else {"exit_code": int(verl_rc)}
if verl_rc != "skipped":
    checks["verl_step"] = int(verl_rc) == 0
swift_rc = sys.argv[9]
out["swift_step"] = swift_rc if swift_rc == "skipped" else {"exit_code": int(swift_rc)}
if swift_rc != "skipped":
    checks["swift_step"] = int(swift_rc) == 0

out["checks"] = checks
out["ok"] = all(checks.values())
out["seconds"] = round(time.time() - start, 1)
print(json.dumps(out))
sys.exit(0 if out["ok"] else 1)
EOF
rc=$?
set -e
[[ $rc == 0 || $rc == 1 ]] && exit "$rc"  # 1: a check failed (the JSON line says which)
fail "the checks could not run (see the log)"
