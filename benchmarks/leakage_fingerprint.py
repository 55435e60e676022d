"""Recall of check-leakage's audio fingerprint on transformed copies, and its false matches between
distinct clips.

Clips: synthetic soundscapes (harmonic events with vibrato, shaped noise bursts, chirps, click trains
over a noise floor; `adqa_data.testing.data.soundscape`), 10 s at 44.1 kHz by default. Each clip is
transformed — resampled (8, 16, 22.05, 48 kHz), re-encoded (MP3 at soundfile's highest and middle
compression, Ogg Vorbis, FLAC at 16 kHz), turned down by 6 dB, made stereo, mixed with white noise 20 dB
below it, cropped to its middle half — and every copy is looked
up in the index of the originals. Recall: the share of copies whose original is among their matches.
False matches: matches of a copy to any other clip, and of every original to any other original.

    python benchmarks/leakage_fingerprint.py --clips 200 --seconds 10

Last line: one JSON object.
"""

from __future__ import annotations

import argparse
import io
import json
import time

import numpy as np
import soundfile as sf

from adqa_data.audio.clips import decode
from adqa_data.stages.leakage.audio_fingerprint import RATE, FingerprintIndex, fingerprint_samples
from adqa_data.testing.data import soundscape


def encoded(x: np.ndarray, rate: int, fmt: str, subtype: str, **kw) -> np.ndarray:
    buf = io.BytesIO()
    sf.write(buf, x, rate, format=fmt, subtype=subtype, **kw)
    return decode(buf.getvalue(), RATE)[0]


def transforms(x: np.ndarray, rate: int, seed: int = 0) -> dict[str, np.ndarray]:
    from adqa_data.audio.clips import resample

    out = {
        f"resample_{r}": encoded(resample(x, rate, r), r, "WAV", "PCM_16")
        for r in (8000, 16000, 22050, 48000)
    }
    out["mp3_cbr_high_compression"] = encoded(
        x, rate, "MP3", "MPEG_LAYER_III", bitrate_mode="CONSTANT", compression_level=0.9
    )
    out["mp3_mid_compression"] = encoded(x, rate, "MP3", "MPEG_LAYER_III", compression_level=0.5)
    out["mp3_16k"] = encoded(resample(x, rate, 16000), 16000, "MP3", "MPEG_LAYER_III", compression_level=0.8)
    out["ogg_vorbis"] = encoded(x, rate, "OGG", "VORBIS", compression_level=0.8)
    out["flac_16k"] = encoded(resample(x, rate, 16000), 16000, "FLAC", "PCM_16")
    out["gain_minus_6db"] = encoded(0.5 * x, rate, "WAV", "PCM_16")
    out["stereo"] = encoded(np.stack([x, 0.7 * x], axis=1), rate, "WAV", "PCM_16")
    # a generator no soundscape uses (they seed with a plain int), so the noise is new to every clip
    noise = np.random.default_rng([seed, 7919]).standard_normal(len(x)).astype(np.float32)
    noise *= np.sqrt(np.mean(x**2) / np.mean(noise**2)) / 10  # 20 dB below the clip's power
    out["noise_20db_snr"] = encoded(x + noise, rate, "WAV", "PCM_16")
    out["crop_middle_half"] = encoded(x[len(x) // 4 : 3 * len(x) // 4], rate, "WAV", "PCM_16")
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clips", type=int, default=200)
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--rate", type=int, default=44100)
    args = ap.parse_args()
    t0 = time.time()
    originals = [soundscape(i, args.seconds, args.rate) for i in range(args.clips)]
    fps = [fingerprint_samples(decode(_wav(x, args.rate), RATE)[0]) for x in originals]
    t_fp = time.time() - t0
    index = FingerprintIndex(fps)
    found: dict[str, int] = {}
    total: dict[str, int] = {}
    wrong = 0
    wrong_ber: list[float] = []
    bers: list[float] = []
    worst: dict[str, float] = {}
    for i, x in enumerate(originals):
        for name, y in transforms(x, args.rate, i).items():
            hits = index.match(fingerprint_samples(y), i)
            total[name] = total.get(name, 0) + 1
            found[name] = found.get(name, 0) + any(h.reference == i for h in hits)
            wrong += sum(h.reference != i for h in hits)
            bers += [h.ber for h in hits if h.reference == i]
            worst[name] = max([worst.get(name, 0.0)] + [h.ber for h in hits if h.reference == i])
            wrong_ber += [h.ber for h in hits if h.reference != i]
    self_false = sum(len([h for h in index.match(fp, i) if h.reference != i]) for i, fp in enumerate(fps))
    copies = sum(total.values())
    print(
        json.dumps(
            {
                "clips": args.clips,
                "seconds": args.seconds,
                "rate": args.rate,
                "copies": copies,
                "recall": round(sum(found.values()) / copies, 4),
                "recall_by_transform": {k: round(found[k] / total[k], 4) for k in sorted(total)},
                "false_matches_of_copies": wrong,
                "false_matches_between_originals": self_false,
                "median_ber_of_true_matches": round(float(np.median(bers)), 4) if bers else None,
                "worst_ber_of_true_matches": {k: round(v, 4) for k, v in sorted(worst.items())},
                "lowest_ber_of_false_matches": round(min(wrong_ber), 4) if wrong_ber else None,
                "fingerprint_seconds_per_clip": round(t_fp / args.clips, 4),
            }
        )
    )


def _wav(x: np.ndarray, rate: int) -> bytes:
    buf = io.BytesIO()
    sf.write(buf, x, rate, format="WAV", subtype="PCM_16")
    return buf.getvalue()


if __name__ == "__main__":
    main()
