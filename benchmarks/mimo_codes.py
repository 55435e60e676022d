"""Benchmark what the code cache buys a MiMo-Audio rollout: cached codes vs re-tokenizing the audio.

    python benchmarks/mimo_codes.py                    # one run; last line is one JSON object
    python benchmarks/mimo_codes.py --codec mimo:/models/MiMo-Audio-Tokenizer --model /models/MiMo-Audio-7B-Instruct --device cuda

Data (not timed): `--clips` generated clips (mixed lengths, formats and sample rates, the encode
benchmark's generator) in the AudioMCQ layout, downloaded into a workspace, encoded once with the MiMo
tokenizer (`encode --codec`), one prompt per clip. Policy: the tiny random MiMo-Audio by default
(`--model` for a real one), loaded and warmed up once (not timed). Codec: the MiMo-Audio tokenizer
stand-in of tests/fixtures/mimo_standin by default: upstream's real front end (decode, resample to
24 kHz, log-mel, 60 s segments) with a trivial encoder in place of the network, so on a CPU the naive
path's cost here is a *lower bound* (the real tokenizer's encoder needs a CUDA GPU and flash-attn).

Timed, over the same items, in one process:
  prep_cached_s  the rollout's clip preparation from the cache: the code index's reader (`ItemCodes`)
                 returning every prompt's `[8, frames]` codes;
  prep_naive_s   what a rollout without the cache does for every prompt: read the file (hash check, as
                 the stages do), decode, resample to 24 kHz, run the tokenizer;
  rollout_cached_s / rollout_naive_s
                 the same preparation plus `generate` (K completions, `--max-new-tokens`) through the
                 MiMo backend; both paths must give identical completions (checked).
Reported: prep_speedup = prep_naive_s / prep_cached_s, rollout_ratio = rollout_naive_s /
rollout_cached_s, and what the cache saves per 1,000 prompts (the K completions of a prompt share its
prefix, so K does not multiply it; a naive loop re-tokenizing per completion would pay it K times), and
per epoch of training, whose data path needs each group's codes again.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

REPO = Path(__file__).resolve().parents[1]
STANDIN = REPO / "tests" / "fixtures" / "mimo_standin"


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--clips", type=int, default=48)
    p.add_argument("--min-seconds", type=float, default=5.0)
    p.add_argument("--max-seconds", type=float, default=30.0)
    p.add_argument("--codec", default=None, help="default: the MiMo tokenizer stand-in (see the docstring)")
    p.add_argument(
        "--model", default=None, help="a MiMo-Audio checkpoint folder (default: the tiny random one)"
    )
    p.add_argument("--k", type=int, default=4)
    p.add_argument("--max-new-tokens", type=int, default=32)
    p.add_argument("--device", default="cpu")
    p.add_argument("--threads", type=int, default=1, help="torch threads (CPU)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--work", default=None, help="working directory (default: a temporary one)")
    args = p.parse_args(argv)

    import numpy as np
    import torch

    sys.path.insert(0, str(Path(__file__).parent))
    from encode import write_dataset

    from adqa_data.audio.clips import read_item_audio
    from adqa_data.codecs import load_codec, resolve_codec
    from adqa_data.codecs.consumers import ItemCodes
    from adqa_data.core.workspace import Workspace
    from adqa_data.inference import Query, Sampling, load_backend
    from adqa_data.stages.download import download
    from adqa_data.stages.encode import encode

    torch.set_num_threads(args.threads)
    codec_name = args.codec
    if codec_name is None:
        os.environ.setdefault("ADQA_MIMO_AUDIO_SRC", str(STANDIN))
        codec_name = f"mimo:{STANDIN / 'MiMo-Audio-Tokenizer'}"
    work = Path(args.work or tempfile.mkdtemp(prefix="adqa-bench-mimo-"))
    data = work / "data"
    audio_total = write_dataset(data, args.clips, args.seed, args.min_seconds, args.max_seconds)
    ws = Workspace(work / "ws")
    download(ws, from_dir=data, force=True)
    enc = encode(ws, codec=codec_name, device=args.device)
    model = args.model
    if model is None:
        from adqa_data.testing.mimo import build_tiny_mimo_audio

        model = str(build_tiny_mimo_audio(work / "tiny-mimo"))
    backend = load_backend("transformers", model, device=args.device)
    ds = ws.dataset(None)
    items = ws.items(ds.name).to_pylist()
    ids = [it["item_id"] for it in items]
    codec = load_codec(resolve_codec(codec_name, device=args.device), 8, args.device)
    rate = codec.sample_rate
    sampling = Sampling(n=args.k, temperature=1.0, max_new_tokens=args.max_new_tokens, seed=args.seed)

    def queries(codes: list[np.ndarray]) -> list[Query]:
        return [
            Query(
                key=it["item_id"],
                question=it["question"],
                choices=list(it["choices"]),
                audio=None,
                audio_id=it["audio_sha256"],
                prompt_style="think",
                codes=c,
            )
            for it, c in zip(items, codes)
        ]

    def cached() -> list[np.ndarray]:
        return ItemCodes(ws, ds.name, enc.codec_key).load(ids)  # a fresh reader: nothing memoised across runs

    def naive() -> list[np.ndarray]:
        waves = [
            read_item_audio(ds.root, it["audio_path"], it["audio_sha256"], rate, resampler=codec.resampler)
            for it in items
        ]
        return [codec.encode([w])[0] for w in waves]  # one call per clip, as upstream encodes one file

    # warm-up (not timed): the codec's and the policy's first calls, the reader's imports
    codec.encode([np.zeros(rate, np.float32)])
    backend.generate(queries(cached()[:1]), Sampling(n=1, max_new_tokens=2))

    t0 = time.perf_counter()
    c_codes = cached()
    prep_cached = time.perf_counter() - t0
    t0 = time.perf_counter()
    n_codes = naive()
    prep_naive = time.perf_counter() - t0
    same_codes = all(
        np.array_equal(a.astype(np.int64), b[:8].astype(np.int64)) for a, b in zip(c_codes, n_codes)
    )

    t0 = time.perf_counter()
    gen_c = backend.generate(queries(cached()), sampling)
    roll_cached = time.perf_counter() - t0
    t0 = time.perf_counter()
    gen_n = backend.generate(queries([c[:8] for c in naive()]), sampling)
    roll_naive = time.perf_counter() - t0
    identical = all(
        [c.token_ids for c in a.completions] == [c.token_ids for c in b.completions]
        for a, b in zip(gen_c, gen_n)
    )
    backend.close()

    n = len(items)
    saved_per_prompt = (prep_naive - prep_cached) / n
    out = {
        "clips": n,
        "audio_seconds": round(audio_total, 1),
        "codec": codec_name,
        "model": model,
        "device": args.device,
        "k": args.k,
        "max_new_tokens": args.max_new_tokens,
        "prep_cached_s": round(prep_cached, 4),
        "prep_naive_s": round(prep_naive, 3),
        "prep_speedup": round(prep_naive / prep_cached, 1),
        "rollout_cached_s": round(roll_cached, 3),
        "rollout_naive_s": round(roll_naive, 3),
        "rollout_ratio": round(roll_naive / roll_cached, 3),
        "saved_s_per_1000_prompts": round(1000 * saved_per_prompt, 2),
        "saved_s_per_1000_prompts_if_per_completion": round(1000 * args.k * saved_per_prompt, 2),
        "same_codes": same_codes,
        "identical_completions": identical,
    }
    print(f"{n} clips, {audio_total:.0f} s of audio; codec {codec_name}; policy {model}", file=sys.stderr)
    print(
        f"clip preparation: cached {prep_cached * 1000:.1f} ms, naive {prep_naive:.2f} s "
        f"({out['prep_speedup']}x); rollout (K={args.k}, {args.max_new_tokens} new tokens): "
        f"cached {roll_cached:.2f} s, naive {roll_naive:.2f} s ({out['rollout_ratio']}x)",
        file=sys.stderr,
    )
    print(
        f"per epoch: the cache saves {out['saved_s_per_1000_prompts']:.1f} s per 1,000 prompts of rollout "
        f"(any K: a prompt's prefix is shared by its K completions), {out['saved_s_per_1000_prompts_if_per_completion']:.1f} s "
        f"if every completion re-tokenized its clip, and as much again in the trainer's data path, which needs "
        f"each group's codes every epoch",
        file=sys.stderr,
    )
    print(json.dumps(out))
    return out


if __name__ == "__main__":
    main()
