"""The layered answer parser against the peers' one-regex matching, side by side on one set of outputs.

Peers (R1-AQA, and NeMo-RL's audio recipe) take `<answer>(.*?)</answer>` and compare the inside with the
gold option's text exactly (NeMo-RL after lower-casing and keeping alphanumerics). That is one regex
per output, the naive cost floor; ours reads letters, texts, negations and hedges in five layers. This
prints one JSON line: microseconds per output for each, their ratio, and how many outputs each reads as
the writer meant (every generated output names one option, or none, by construction).

    python benchmarks/parser.py [--outputs 10000]
"""

from __future__ import annotations

import argparse
import json
import random
import re
import time

from adqa_data.mcq.answers import _parse

CHOICES = ["dog barking", "cat meowing", "car horn", "bird singing"]
LETTERS = "ABCD"
REASONS = [
    "The clip has a sharp, repeated bark at the start.",
    "I hear a soft, high-pitched meow twice.",
    "There is a loud honk, like a horn, around the middle.",
    "Chirps and trills run through the whole clip, typical of birds.",
]


def outputs(n: int, seed: int) -> list[tuple[str, int | None]]:
    """`n` outputs in the shapes models write, each with the option it names (None: names none)."""
    rnd = random.Random(seed)
    out: list[tuple[str, int | None]] = []
    for _ in range(n):
        i = rnd.randrange(4)
        L, text, why = LETTERS[i], CHOICES[i], " ".join(rnd.sample(REASONS, 2))
        other = LETTERS[(i + 1) % 4]
        shapes: list[tuple[str, int | None]] = [
            (f"<think>{why}</think><answer>{L}</answer>", i),
            (f"<think>{why}</think>\n<answer>{text}</answer>", i),
            (f"<think>{why}</think>\n<answer>{L}. {text}</answer>", i),
            (f"{why} So the answer is {L}.", i),
            (f"{L}", i),
            (f"<think>{why}</think><answer>{L} or {other}</answer>", None),
            (f"{why} It is not {L}.", None),
            (f"<think>{why}</think><answer></answer>", None),
        ]
        out.append(rnd.choice(shapes))
    return out


_BLOCK = re.compile(r"<answer>(.*?)</answer>", re.DOTALL)


def r1_aqa(text: str, choices: tuple[str, ...]) -> int | None:
    """R1-AQA's reading: the first answer block's inside, compared exactly with each option's text."""
    m = _BLOCK.search(text)
    inside = m.group(1).strip() if m else ""
    hits = [k for k, c in enumerate(choices) if inside == c]
    return hits[0] if hits else None


def _timed(fn, items: list[tuple[str, int | None]], choices: tuple[str, ...]) -> tuple[float, int]:
    start = time.perf_counter()
    got = [fn(text, choices) for text, _ in items]
    seconds = time.perf_counter() - start
    return seconds, sum(g == want for g, (_, want) in zip(got, items))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--outputs", type=int, default=10_000)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    items = outputs(args.outputs, args.seed)
    choices = tuple(CHOICES)
    ours_raw = _parse.__wrapped__  # type: ignore[attr-defined]  # uncached: every output read afresh

    def ours(text: str, ch: tuple[str, ...]) -> int | None:
        return ours_raw(text, ch).index

    ours_s, ours_right = _timed(ours, items, choices)
    peer_s, peer_right = _timed(r1_aqa, items, choices)
    n = len(items)
    print(
        json.dumps(
            {
                "ours_us_per_output": round(ours_s / n * 1e6, 1),
                "peer_us_per_output": round(peer_s / n * 1e6, 2),
                "time_ratio": round(ours_s / peer_s, 1),
                "ours_read_as_meant": round(ours_right / n, 4),
                "peer_read_as_meant": round(peer_right / n, 4),
                "outputs": n,
            }
        )
    )


if __name__ == "__main__":
    main()
