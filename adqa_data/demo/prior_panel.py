"""The story demo's models: a panel with text priors, and the policy GRPO will teach to listen.

A real panel (Audio Flamingo 2, R1-AQA, Kimi-Audio) answers some questions without the clip because it
knows the world: the question gives the answer away. A random tiny model knows nothing, so its silent
answers are noise and the weak/strong split it votes is noise too. Here each panel member is a tiny
Qwen2-Audio fine-tuned from random weights with the toolkit's own trainer (SFT on single-completion
groups): 300 steps of 16 replies at lr 5e-3, warmed up over the first 5% and decayed linearly to 0. The
decay is what makes a member reliable: the same 4,800 replies at a constant 5e-3 left a member right on
59% of fresh text-prior items, decayed 86-90%; fewer replies (300 steps of 8) 44%; lr 1e-2 diverges. The
corpus is `design.prior_corpus`: text-prior questions answered `<answer>{option}</answer>`, and
audio-only questions answered with a refusal. Every training clip is drawn independently of its reply,
so a member learns to read the text and to ignore the audio: it has priors and no ears. Members differ
in seed (weights and corpus draw). They vote in generate mode with the `audiomcq` prompt style: the
answer parser credits the option named in the answer block, and credits nothing in a refusal.

The policy is a random tiny Qwen2-Audio with a 2 s audio window (the clips are 1 s; a 30 s window would
make every forward 15 times dearer for nothing), as `benchmarks/toy_grpo.py` trains it.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from ..testing.models import build_tiny_qwen2_audio, train_bpe_tokenizer
from .design import prior_corpus

AUDIO_WINDOW_S = 2
PANEL_STYLE = "audiomcq"
PANEL_MEMBERS = 3
# how each prior member is trained (the module docstring says why these): declared once, recorded with
# the models (`recipe`), so a folder built by another recipe is never taken for this one
MEMBER_STEPS, MEMBER_BATCH, MEMBER_LR, MEMBER_WARMUP = 300, 16, 5e-3, 0.05


def recipe() -> dict:
    """What `build_story_models` builds, as recorded next to the models: a change here is a new build."""
    return {
        "models": "story",
        "members": PANEL_MEMBERS,
        "steps": MEMBER_STEPS,
        "batch": MEMBER_BATCH,
        "lr": MEMBER_LR,
        "schedule": f"linear, warm-up {MEMBER_WARMUP}",
        "tag_tokens": True,
        "audio_window_s": AUDIO_WINDOW_S,
        "corpus": "prior_corpus v2 (buzz of equal odd harmonics, 200-400 Hz)",
    }


def train_prior_member(
    base: str | Path,
    out: str | Path,
    seed: int,
    items: int = 480,
    steps: int = MEMBER_STEPS,
    batch: int = MEMBER_BATCH,
    lr: float = MEMBER_LR,
) -> Path:
    """Fine-tune the checkpoint `base` on `prior_corpus(items, seed)` for `steps` steps and write the
    policy to `out`. Returns `out`."""
    from ..train.config import load_config
    from ..train.groups import Completion, Group, SamplingInfo
    from ..train.loop import Trainer
    from ..train.loop import train as run_loop

    corpus = prior_corpus(items, seed)
    groups = [
        Group(
            group_id=f"prior:{seed}:{i}",
            item_id=f"prior_{seed}_{i:05d}",
            question=it.question,
            choices=list(it.choices),
            prompt_style=PANEL_STYLE,
            completions=[Completion(text=reply, advantage=1.0, reward=1.0)],
            audio=it.clip,
        )
        for i, (it, reply) in enumerate(corpus)
    ]
    cfg = load_config(
        None,
        method="sft",
        model=str(base),
        learning_rate=lr,
        lr_scheduler="linear",
        warmup_ratio=MEMBER_WARMUP,
        max_steps=steps,
        micro_batch_groups=batch,
        save_steps=10**9,
        completions_steps=10**9,
        logging_steps=10**9,
        seed=seed,
        device="cpu",
    )
    with tempfile.TemporaryDirectory(prefix="adqa-prior-") as tmp:
        trainer = Trainer(cfg, tmp, model=str(base), sampling=SamplingInfo(), total_steps=steps)
        run_loop(trainer, groups)
        trainer.export_policy(out)
        trainer.close()
    return Path(out)


def build_story_models(out_dir: str | Path, members: int = PANEL_MEMBERS) -> dict[str, Path]:
    """Write `policy-init` (random) and `prior-s<k>` panel members under `out_dir`, sharing one trained
    tokenizer. Returns name -> path."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    tok = train_bpe_tokenizer(tag_tokens=True)
    paths = {
        "policy-init": build_tiny_qwen2_audio(
            out / "policy-init", seed=0, tokenizer=tok, audio_window_s=AUDIO_WINDOW_S
        )
    }
    for k in range(members):
        base = build_tiny_qwen2_audio(
            out / f".base-s{k}", seed=100 + k, tokenizer=tok, audio_window_s=AUDIO_WINDOW_S
        )
        paths[f"prior-s{k}"] = train_prior_member(base, out / f"prior-s{k}", seed=k)
        shutil.rmtree(base)
    return paths


def story_panel(paths: dict[str, Path]) -> dict:
    """The panel YAML (as a dict) naming the prior members, relative to the folder they are in."""
    return {
        "name": "priors",
        "description": "tiny Qwen2-Audio models fine-tuned on question text only ('adqa-data demo-models "
        "--priors'): they answer what the question gives away and refuse the rest",
        "min_correct": 2,
        "members": [
            {
                "name": name,
                "model": f"./{name}",
                "family": "qwen2_audio",
                "backend": "transformers",
                "dtype": "float32",
                "prompt_style": PANEL_STYLE,
                "mode": "generate",
            }
            for name in paths
            if name.startswith("prior-")
        ],
    }
