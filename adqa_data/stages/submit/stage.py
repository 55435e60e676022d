"""`adqa-data submit` and `validate-submission`: the DCASE 2026 Task 5 submission CSV, right by construction
and checked before it is written.

The file: UTF-8 without a byte-order mark, header `question,answer`, one row per item of the evaluation
set, `question` = the item id, `answer` = the exact text of one of that item's options (the predicted
letter mapped back to its option, as the task asks), quoted by the csv module where the text needs it
(a comma, a quote, a line break). The answer text is taken from the item table, never from the model's
output, so it is verbatim by construction.

Which answer: the `audio`-condition majority vote of an eval run (`predictions` table; with one sample,
that sample's parsed answer). An item with no credited answer (the parser refused every sample, or the
run has no row for it) gets a fallback, counted per kind in the report and never silent:
1. `letter_scores` — the argmax of the option-letter probabilities the run recorded (`eval
   --letter-scores`), ties to the first option;
2. `first_option` — else the item's first option: fixed and model-free, so the same predictions
   always give the same file.

The validator (`validate_submission`, also `adqa-data validate-submission FILE -d DATASET`) reads a file
made anywhere and reports every problem with its line number: not UTF-8, a byte-order mark, a wrong
header, a row without exactly two fields (an unquoted comma), a blank line, an empty id or answer, an
id that is duplicated (both lines), unknown (extra) or missing, and an answer that is not verbatim one
of the item's options — saying when it differs only in whitespace or case, or is a bare letter.
"""

from __future__ import annotations

import csv
import io
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ...core.atomic_files import is_inside, write_bytes_atomic
from ...core.errors import UserError
from ...core.fingerprints import file_sha256, rows_fingerprint, table_fingerprint
from ...core.results import result_from_summary
from ...core.schema import PREDICTIONS
from ...core.workspace import StageRun, Workspace
from .config import SubmitConfig
from .validation import HEADER, check_target, dataset_options, validate_bytes, validate_submission

STAGE = "submit"


# ------------------------------------------------------------------------------------------- writing
@dataclass
class SubmitResult:
    dataset: str
    predictions: str
    path: str
    up_to_date: bool
    items: int = 0
    predicted: int = 0  # items answered by the run's vote
    fallbacks: dict[str, int] = field(default_factory=dict)  # kind -> items
    fallback_items: dict[str, list[str]] = field(default_factory=dict)  # kind -> first item ids (<= 20)
    no_prediction_row: int = 0  # items the run has no row for (counted within the fallbacks)
    accuracy: float | None = None  # when the dataset has gold answers (a dev-set dry run)
    sha256: str = ""


def choose_answers(
    items: Mapping[str, Sequence[str]], voted: Mapping[str, dict[str, Any]]
) -> tuple[dict[str, int], dict[str, str]]:
    """Per item, the option to submit and how it was chosen ("vote" or a fallback kind, module docstring)."""
    chosen, how = {}, {}
    for item_id, choices in items.items():
        row = voted.get(item_id)
        if row is not None and row["voted_index"] is not None:
            if row["voted_text"] != choices[row["voted_index"]] or row["num_choices"] != len(choices):
                raise UserError(
                    f"item {item_id}: the predictions were made on other options than the item table's",
                    fix="rerun 'adqa-data eval' on the current items",
                )
            chosen[item_id], how[item_id] = row["voted_index"], "vote"
        elif row is not None and row["letter_argmax"] is not None:
            chosen[item_id], how[item_id] = row["letter_argmax"], "letter_scores"
        else:
            chosen[item_id], how[item_id] = 0, "first_option"
    return chosen, how


def render_csv(items: Mapping[str, Sequence[str]], chosen: Mapping[str, int]) -> bytes:
    buf = io.StringIO(newline="")
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(HEADER)
    for item_id, choices in items.items():
        w.writerow([item_id, choices[chosen[item_id]]])
    return buf.getvalue().encode("utf-8")


def submit(
    ws: Workspace,
    dataset: str | None = None,
    predictions: str | None = None,
    out: str | Path | None = None,
    force: bool = False,
) -> SubmitResult:
    """`run` with the settings as arguments (`SubmitConfig`'s fields): the library's shorthand."""
    from ...core.config_files import validate_model

    settings = {"dataset": dataset, "predictions": predictions, "out": out}
    return run(ws, validate_model(SubmitConfig, settings, "submit settings"), force=force)


def run(ws: Workspace, config: SubmitConfig, *, force: bool = False) -> SubmitResult:
    """Write the submission CSV of one prediction set (module docstring); validated before and after writing."""
    ds, items = dataset_options(ws, config.dataset)
    name = ws.pick_set(
        "eval",
        PREDICTIONS.name,
        ds,
        config.predictions,
        "prediction set",
        "--predictions",
        "'adqa-data eval'",
    )
    out = config.out
    path = Path(out).expanduser().absolute() if out else ws.root / "submissions" / ds / f"{name}.csv"
    check_target(ws, path, force)
    pred_dir = ws.table_dir(PREDICTIONS.name, ds, name)
    settings = {"predictions": name, "rule": "vote > letter_scores > first_option"}
    inputs = {
        "predictions": table_fingerprint(pred_dir),
        "items": rows_fingerprint([k, v] for k, v in items.items()),
    }
    stage_run = StageRun(ws, STAGE, ds, settings, inputs, force=force, unit=name)
    with stage_run:
        done = (ws.provenance(STAGE, ds, name) or {}).get("summary", {})
        if (
            stage_run.up_to_date
            and done.get("path") == str(path)
            and path.is_file()
            and file_sha256(path) == done.get("sha256")
        ):
            return result_from_summary(SubmitResult, done, up_to_date=True)
        cols = [
            "item_id",
            "condition",
            "sample_index",
            "voted_index",
            "voted_text",
            "num_choices",
            "letter_argmax",
            "answer_index",
        ]
        rows = ws.read(PREDICTIONS, ds, name, columns=cols).to_pylist()
        voted = {r["item_id"]: r for r in rows if r["condition"] == "audio" and r["sample_index"] == 0}
        chosen, how = choose_answers(items, voted)
        data = render_csv(items, chosen)
        report = validate_bytes(data, items, str(path), ds)
        if not report.ok:  # cannot happen unless the item table itself is broken; never write such a file
            raise RuntimeError(f"the submission would be invalid: {report.findings[:3]}")
        write_bytes_atomic(path, data, inside=ws.root if is_inside(path, ws.root) else None)
        if not validate_submission(ws, path, ds).ok:
            raise RuntimeError(f"{path} changed while it was written")
        kinds = Counter(h for h in how.values() if h != "vote")
        gold = {
            r["item_id"]: r["answer_index"]
            for r in ws.items(ds, columns=["item_id", "answer_index"]).to_pylist()
            if r["answer_index"] is not None
        }
        result = SubmitResult(
            dataset=ds,
            predictions=name,
            path=str(path),
            up_to_date=False,
            items=len(items),
            predicted=sum(h == "vote" for h in how.values()),
            fallbacks=dict(sorted(kinds.items())),
            fallback_items={k: [i for i, h in how.items() if h == k][:20] for k in sorted(kinds)},
            no_prediction_row=sum(i not in voted for i in items),
            accuracy=sum(chosen[i] == g for i, g in gold.items()) / len(gold) if gold else None,
            sha256=file_sha256(path),
        )
        summary = asdict(result)
        summary.pop("up_to_date")
        stage_run.finish(summary)
    return result
