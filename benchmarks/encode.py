"""Benchmark the encode stage against its limit: the codec alone on the same clips, already in memory.

    python benchmarks/encode.py                      # one run; last line is one JSON object
    python benchmarks/encode.py --sweep 0.01,30,120  # codec-only throughput per --batch-seconds

Clips: mixed lengths (1-30 s), formats (wav, flac, ogg, mp3), sample rates (8-48 kHz), mono and stereo,
written in the AudioMCQ layout and downloaded into a workspace (not timed). Codec: a tiny random codec
built offline (default: Mimi), loaded and warmed up once (not timed; the stage reuses the process's
loaded model, as an engine worker does between shards).

Timed:
  codec_only_s  `codec.encode` over the same batches the stage plans (same batch settings), on clips
                decoded and resampled beforehand — the limit this stage can reach;
  stage_s       `encode(...)` end to end: item table, cache lookup, read + hash + decode + resample in
                worker threads, the codec, cache shard and index writes, provenance.
Reported: vs_limit = stage_s / codec_only_s (target <= 1.25), padding_waste = padded / real samples
over the stage's model calls (target <= 1.1), audio_s_per_s = seconds of audio per second of stage.
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

import numpy as np

FORMATS = [
    ("WAV", "PCM_16", "wav"),
    ("FLAC", "PCM_16", "flac"),
    ("OGG", "VORBIS", "ogg"),
    ("MP3", "MPEG_LAYER_III", "mp3"),
]
RATES = [16000, 44100, 22050, 48000, 8000, 24000]
MP3_RATES = {8000, 16000, 22050, 24000, 32000, 44100, 48000}


def write_dataset(root: Path, n: int, seed: int, min_s: float, max_s: float) -> float:
    """AudioMCQ-layout dataset of `n` generated clips; returns total seconds of audio."""
    import soundfile as sf

    rng = np.random.default_rng(seed)
    rows, total = [], 0.0
    for i in range(n):
        fmt, subtype, ext = FORMATS[i % len(FORMATS)]
        rate = RATES[i % len(RATES)]
        if fmt == "MP3" and rate not in MP3_RATES:
            rate = 16000
        seconds = float(rng.uniform(min_s, max_s))
        t = np.arange(int(seconds * rate)) / rate
        x = 0.3 * np.sin(2 * np.pi * rng.uniform(100, 2000) * t) + 0.05 * rng.standard_normal(len(t))
        x = x.astype(np.float32)
        if i % 3 == 2:
            x = np.stack([x, 0.5 * x], axis=1)
        rel = f"Bench/clip_{i:04d}.{ext}"
        (root / "Bench").mkdir(parents=True, exist_ok=True)
        sf.write(str(root / rel), x, rate, format=fmt, subtype=subtype)
        total += len(t) / rate
        rows.append(
            {
                "source_dataset": "Bench",
                "id": f"bench_{i:04d}",
                "question_type": "sound",
                "audio_path": rel,
                "question": "What is heard?",
                "choices": ["a", "b", "c", "d"],
                "answer": "a",
                "gemini_cot": "",
            }
        )
    (root / "data.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    return total


def codec_only(
    codec, waves: list[np.ndarray], batch_seconds: float, max_batch_size: int
) -> tuple[float, float]:
    """Seconds for the codec alone over the stage's batch plan, and that plan's padding waste."""
    from adqa_data.stages.encode import padded_samples, plan_batches

    order = sorted(range(len(waves)), key=lambda i: -len(waves[i]))
    lengths = [len(waves[i]) for i in order]
    batches = plan_batches(
        lengths, [codec.batch_key(n) for n in lengths], int(batch_seconds * codec.sample_rate), max_batch_size
    )
    t0 = time.perf_counter()
    padded = 0
    for b in batches:
        clips = [waves[order[i]] for i in b]
        codec.encode(clips)
        padded += padded_samples(codec, [len(c) for c in clips])
    return time.perf_counter() - t0, padded / sum(lengths)


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--clips", type=int, default=40)
    p.add_argument("--min-seconds", type=float, default=1.0)
    p.add_argument("--max-seconds", type=float, default=30.0)
    p.add_argument("--codec", default="mimi", choices=["mimi", "encodec", "dac"], help="tiny codec family")
    p.add_argument("--batch-seconds", type=float, default=None, help="default: the stage's CPU default")
    p.add_argument("--max-batch-size", type=int, default=64)
    p.add_argument("--decode-workers", type=int, default=2)
    p.add_argument(
        "--threads", type=int, default=None, help="torch threads (default: the stage's CPU default)"
    )
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--sweep", default=None, help="comma-separated --batch-seconds values: codec-only sweep")
    p.add_argument("--work", default=None, help="working directory (default: a temporary one)")
    args = p.parse_args(argv)

    import torch

    from adqa_data.audio.clips import load_audio
    from adqa_data.codecs import load_codec, resolve_codec
    from adqa_data.core.workspace import Workspace
    from adqa_data.stages import encode as enc
    from adqa_data.stages.download import download
    from adqa_data.testing.codecs import build_tiny_codec

    # the codec-only run uses the thread count the stage will use
    threads = args.threads or enc.default_threads("cpu", "local", args.decode_workers)
    torch.set_num_threads(threads)
    batch_seconds = args.batch_seconds or enc.CPU_BATCH_SECONDS
    work = Path(args.work or tempfile.mkdtemp(prefix="adqa-bench-encode-"))
    data = work / "data"
    audio_total = write_dataset(data, args.clips, args.seed, args.min_seconds, args.max_seconds)
    ws = Workspace(work / "ws")
    download(ws, from_dir=data, force=True)
    codec_dir = build_tiny_codec(args.codec, work / f"tiny-{args.codec}")

    t0 = time.perf_counter()
    codec = load_codec(resolve_codec(str(codec_dir)))
    load_s = time.perf_counter() - t0
    codec.encode([np.zeros(codec.sample_rate, np.float32)])  # warm-up (first-call kernel setup)

    root = ws.dataset(None)
    items = ws.items(root.name).to_pylist()
    waves = [
        load_audio(root.resolve(it["audio_path"]), codec.sample_rate, resampler=codec.resampler)
        for it in items
    ]
    print(
        f"{len(waves)} clips, {audio_total:.0f} s of audio, codec {args.codec} (tiny), torch threads "
        f"{torch.get_num_threads()}, load {load_s:.2f} s",
        file=sys.stderr,
    )

    if args.sweep:
        for bs in [float(v) for v in args.sweep.split(",")]:
            s, waste = codec_only(codec, waves, bs, args.max_batch_size)
            print(
                json.dumps(
                    {
                        "batch_seconds": bs,
                        "codec_only_s": round(s, 3),
                        "audio_s_per_s": round(audio_total / s, 2),
                        "padding_waste": round(waste, 4),
                    }
                )
            )
        return {}

    limit_s, limit_waste = codec_only(codec, waves, batch_seconds, args.max_batch_size)
    del waves
    t0 = time.perf_counter()
    res = enc.encode(
        ws,
        codec=str(codec_dir),
        cache_dir=tempfile.mkdtemp(dir=work, prefix="cache-"),
        batch_seconds=batch_seconds,
        max_batch_size=args.max_batch_size,
        decode_workers=args.decode_workers,
        threads=threads,
        force=True,
    )
    stage_s = time.perf_counter() - t0
    assert res.encoded == res.distinct_audio == args.clips, (res.encoded, res.distinct_audio)
    out = {
        "vs_limit": round(stage_s / limit_s, 4),
        "padding_waste": round(res.padding_waste, 4),
        "audio_s_per_s": round(res.audio_seconds / stage_s, 2),
        "stage_s": round(stage_s, 3),
        "codec_only_s": round(limit_s, 3),
        "codec_only_padding_waste": round(limit_waste, 4),
        "clips": args.clips,
        "audio_s": round(audio_total, 1),
        "codec": f"tiny-{args.codec}",
        "batch_seconds": batch_seconds,
        "max_batch_size": args.max_batch_size,
        "decode_workers": args.decode_workers,
        "torch_threads": torch.get_num_threads(),
        "cpus": os.cpu_count(),
    }
    print(json.dumps(out))
    return out


if __name__ == "__main__":
    main()
