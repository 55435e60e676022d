"""Download at AudioMCQ scale: the first run (probe every file once, in parallel) against the naive
approach (soundfile.info + a separate full read for the hash, one file at a time), and the up-to-date
rerun, which must answer in under 2 s for 20,000 rows.

    python benchmarks/download.py --rows 20000 --files 20000

Last line: one JSON object.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import soundfile as sf


def make_dataset(root: Path, rows: int, files: int, seconds: float) -> None:
    rng = np.random.default_rng(0)
    for i in range(files):
        d = root / f"Src{i % 7}"
        d.mkdir(parents=True, exist_ok=True)
        x = (0.1 * rng.standard_normal(int(16000 * seconds))).astype(np.float32)
        sf.write(str(d / f"clip_{i:06d}.wav"), x, 16000)
    words = "which sound is heard in the recording after the door closes and before the dog".split()
    with open(root / "data.jsonl", "w") as f:
        for r in range(rows):
            i = r % files
            q = " ".join(rng.choice(words, 30))
            f.write(
                json.dumps(
                    {
                        "source_dataset": f"Src{i % 7}",
                        "id": f"row_{r:06d}",
                        "question_type": ["sound", "music", "speech"][r % 3],
                        "audio_path": f"Src{i % 7}/clip_{i:06d}.wav",
                        "question": q,
                        "choices": ["a dog barking", "a door closing", "rain on a roof", "a car horn"],
                        "answer": "a door closing",
                        "gemini_cot": q,
                    }
                )
                + "\n"
            )


def naive_probe(root: Path) -> float:
    t = time.perf_counter()
    for line in open(root / "data.jsonl"):
        p = root / json.loads(line)["audio_path"]
        sf.info(str(p))
        hashlib.sha256(p.read_bytes()).hexdigest()
        sf.read(str(p))
    return time.perf_counter() - t


def cli(*args: str) -> float:
    t = time.perf_counter()
    subprocess.run([sys.executable, "-m", "adqa_data", *args], check=True, capture_output=True)
    return time.perf_counter() - t


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=20000)
    ap.add_argument("--files", type=int, default=20000)
    ap.add_argument("--seconds", type=float, default=0.5)
    a = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root, ws = Path(tmp) / "data", Path(tmp) / "ws"
        make_dataset(root, a.rows, a.files, a.seconds)
        first = cli("download", "--from-dir", str(root), "-w", str(ws))
        rerun = cli("download", "--from-dir", str(root), "-w", str(ws))
        naive = naive_probe(root)  # per row, as peers' loaders do (no dedup, no parallelism)
    print(
        json.dumps(
            {
                "rows": a.rows,
                "files": a.files,
                "first_run_s": round(first, 2),
                "naive_probe_s": round(naive, 2),
                "speedup_vs_naive": round(naive / first, 2),
                "up_to_date_rerun_s": round(rerun, 2),
            }
        )
    )


if __name__ == "__main__":
    main()
