"""Item checks the model stages (filter, rollout) run before any model loads: one bad item is quarantined
with a reason and the run goes on, instead of one item stopping the whole dataset.

- options: more than the ten letters A-J cannot be asked (`too_many_choices`; download refuses them
  already with its default `--max-options`);
- prompt length: the question and options as the prompt style renders them, over `--max-prompt-tokens`
  of the model's tokenizer (`prompt_too_long`). When the tokenizer cannot be loaded (no local copy, or
  it needs remote code that is not allowed), UTF-8 bytes are counted instead: an upper bound on the
  tokens of byte-level tokenizers, so the cap still holds;
- audio: each distinct clip is still the file download recorded (`audio.verify_item_audio`: inside the
  dataset root, through links too; a regular file; the same sha256), else its reason (`audio_changed`,
  `link_escapes_root`, `audio_missing`, ...).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..audio.clips import AudioError, verify_item_audio
from ..core.quarantine import quarantine_row
from ..core.schema import QuarantineReason as R
from ..core.workspace import Workspace
from ..mcq.answers import LETTERS

DEFAULT_MAX_PROMPT_TOKENS = 2048  # AudioMCQ and DCASE prompts are a few hundred tokens
# the item columns a model stage asks an item with and checks it by (`check_items` reads these keys)
ASKED_COLUMNS = ("item_id", "question", "choices", "answer_index", "audio_path", "audio_sha256")


@dataclass(frozen=True)
class PromptCheck:
    """One way an item will be prompted: a prompt style and the tokenizer of the model that reads it."""

    style: str
    count: Callable[[str], int]
    unit: str  # "tokens" or "UTF-8 bytes", for the message
    model: str  # for the message


def byte_count(text: str) -> int:
    return len(text.encode("utf-8"))


def token_counter(
    model: str | None, revision: str | None = None, trust_remote_code: bool = False
) -> tuple[Callable[[str], int], str]:
    """`count(text)` with the model's tokenizer, and its unit; UTF-8 bytes when it cannot be loaded.
    Where no tokenizer can be there (no such folder; a hub id the offline cache lacks), transformers is
    not even imported."""
    if model and _tokenizer_may_exist(model, revision):
        try:
            from transformers import AutoTokenizer

            tok = AutoTokenizer.from_pretrained(model, revision=revision, trust_remote_code=trust_remote_code)
        except Exception:  # noqa: BLE001 - no local copy, remote code not allowed, not a tokenizer: count bytes
            tok = None
        if tok is not None:
            return (lambda text: len(tok(text, add_special_tokens=False).input_ids)), "tokens"
    return byte_count, "UTF-8 bytes"


def _tokenizer_may_exist(model: str, revision: str | None) -> bool:
    from ..inference.trust import hub_offline, looks_local

    if looks_local(model):
        folder = Path(model).expanduser()
        return any((folder / f).is_file() for f in ("tokenizer_config.json", "tokenizer.json", "vocab.json"))
    if hub_offline():
        from huggingface_hub import try_to_load_from_cache

        return isinstance(try_to_load_from_cache(model, "tokenizer_config.json", revision=revision), str)
    return True


def text_problem(
    question: str, choices: Sequence[str], checks: Sequence[PromptCheck], max_tokens: int
) -> tuple[str, str] | None:
    """(reason, detail) when the item cannot be prompted within the limits, else None."""
    if len(choices) > len(LETTERS):
        return R.TOO_MANY_CHOICES, f"{len(choices)} choices; at most {len(LETTERS)} can be lettered (A-J)"
    from ..mcq.prompt_styles import get_style

    for c in checks:
        n = c.count(get_style(c.style).render(question, list(choices)))
        if n > max_tokens:
            return R.PROMPT_TOO_LONG, (
                f"the prompt is {n} {c.unit} for {c.model}; at most {max_tokens} (--max-prompt-tokens)"
            )
    return None


def audio_problems(
    root: str | Path, clips: Iterable[tuple[str, str]], workers: int = 4
) -> dict[tuple[str, str], tuple[str, str]]:
    """For each distinct (audio_path, sha256) that fails `verify_item_audio`: (reason, detail)."""
    distinct = sorted(set(clips))

    def one(clip: tuple[str, str]) -> tuple[str, str] | None:
        try:
            verify_item_audio(root, clip[0], clip[1])
        except AudioError as e:
            return e.reason, e.detail
        except OSError as e:  # a read error mid-file
            return R.AUDIO_UNREADABLE, f"{clip[0]}: {e.strerror or e}"
        return None

    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        return {c: p for c, p in zip(distinct, pool.map(one, distinct)) if p is not None}


def check_items(
    root: str | Path,
    items: Sequence[Mapping[str, Any]],
    checks: Sequence[PromptCheck],
    max_tokens: int,
    audio: bool = True,
) -> dict[str, tuple[str, str]]:
    """item_id -> (reason, detail) for every item a model stage must not ask. `items` carry item_id,
    question, choices, audio_path and audio_sha256. `audio=False` skips the file checks (a policy that
    reads cached codes never opens audio)."""
    refused: dict[str, tuple[str, str]] = {}
    for it in items:
        problem = text_problem(it["question"], it["choices"], checks, max_tokens)
        if problem:
            refused[it["item_id"]] = problem
    if audio:
        rest = [it for it in items if it["item_id"] not in refused]
        bad = audio_problems(root, ((it["audio_path"], it["audio_sha256"]) for it in rest))
        for it in rest:
            problem = bad.get((it["audio_path"], it["audio_sha256"]))
            if problem:
                refused[it["item_id"]] = problem
    return refused


def quarantine_rows(
    ws: Workspace, dataset: str, refused: Mapping[str, tuple[str, str]]
) -> list[dict[str, Any]]:
    """Quarantine rows (less dataset and stage) for the items `check_items` refused: item id -> (reason,
    detail), each at its row of the item table."""
    cols = ws.items(dataset, columns=["item_id", "row_index"]).to_pydict()
    row_index = dict(zip(cols["item_id"], cols["row_index"]))
    return [quarantine_row(row_index.get(i), i, r, d) for i, (r, d) in sorted(refused.items())]
