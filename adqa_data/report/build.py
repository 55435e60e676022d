"""`adqa-data report`: every dataset of a workspace (or one) as one static page that opens from disk.

Per dataset, the sections of the chain (`sections.SECTIONS`): the numbers are `stages.stats`'s, the
rollout groups are read from the rollout sets themselves (`groups`), the clips are copied next to the
page (`clips`). A section the workspace has no data for says why (stats' reason), never disappears.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..core.atomic_files import check_output_place
from ..core.errors import UserError
from ..core.names import safe_name
from ..core.schema import PREDICTIONS
from ..core.workspace import Workspace, write_text_atomic
from ..stages.eval import metrics
from ..stages.eval.stage import outcomes
from ..stages.rollout.contract import open_set
from ..stages.stats import stats
from . import sections as S
from .clips import AudioMode, Clips
from .groups import build_set, read_groups
from .render import plotly_js, write_assets, write_data, write_index

MARKER = ".adqa-report"  # a folder holding it is a report this command may rewrite


@dataclass
class ReportResult:
    page: Path
    datasets: list[str]
    rollout_sets: dict[str, int] = field(default_factory=dict)  # "<dataset>/<set>" -> groups
    clips: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "page": str(self.page),
            "out": str(self.page.parent),
            "datasets": self.datasets,
            "rollout_sets": self.rollout_sets,
            "clips": self.clips,
        }


def default_out(ws: Workspace, dataset: str | None) -> Path:
    """<workspace>/report/ for the whole workspace, <workspace>/report/<dataset>/ for one dataset."""
    base = ws.root / "report"
    return base / safe_name(dataset, "dataset name") if dataset else base


def _prepare(out: Path) -> None:
    """Refuse to write into a folder that holds other things; clear a previous report's data."""
    if out.exists() and not out.is_dir():
        raise UserError(f"--out {out} is a file", fix="pass a folder (it is created when missing)")
    if out.is_dir() and any(out.iterdir()) and not (out / MARKER).exists():
        raise UserError(
            f"--out {out} is a folder that holds something other than a report",
            fix="pass an empty or new folder, or a previous report's",
        )
    if (out / MARKER).exists():
        for sub in ("data",):
            if (out / sub).is_dir():
                shutil.rmtree(out / sub)  # the previous report's data: pages of sets no longer there
    write_text_atomic(out / MARKER, "written by adqa-data report\n")


def _confusions(ws: Workspace, dataset: str, names: list[str]) -> dict[str, dict[str, Any]]:
    """Per prediction set and condition, gold against predicted letters (eval's voted answers)."""
    cols = ["item_id", "condition", "sample_index", "voted_index", "answer_index", "num_choices"]
    cols += ["question_type", "source_dataset", "part"]
    out: dict[str, dict[str, Any]] = {}
    for name in names:
        rows = ws.read(PREDICTIONS, dataset, name, columns=cols).to_pylist()
        conds = sorted({r["condition"] for r in rows}, key=lambda c: (c != "audio", c))
        out[name] = {c: metrics.confusion(outcomes(rows, c)) for c in conds}
    return out


def _dataset(ws: Workspace, ds: str, out: Path, clips: Clips, result: ReportResult) -> dict[str, Any]:
    report = stats(ws, ds)
    sec, skipped = report["sections"], report["skipped"]
    root = ws.dataset(ds).root
    built: list[dict[str, Any]] = []
    for sid, title, deps in S.SECTIONS:
        blocks: list[dict[str, Any]] = []
        if sid == "items" and "items" in sec:
            blocks = S.items_blocks(sec["items"])
        elif sid == "panel":
            blocks = S.panel_blocks(sec)
        elif sid == "prompts" and "prompts" in sec:
            blocks = S.prompts_blocks(sec["prompts"])
        elif sid == "rollouts" and "rollouts" in sec:
            items = ws.items(ds, columns=["item_id", "question"]).to_pydict()
            questions = dict(zip(items["item_id"], items["question"]))
            summaries = sec["rollouts"]
            keys = {}
            for name in summaries:
                key = keys[name] = f"{safe_name(ds, 'dataset name')}/{safe_name(name, 'name')}"
                index, pages = build_set(read_groups(ws, ds, name), questions, root, clips)
                # what the stored attention profiles average over: the reasoning, or every reply token
                index["profile_rows"] = open_set(ws, ds, name).config.anchoring_rows
                for p, groups in enumerate(pages):
                    write_data(out, f"{key}/page-{p:04d}", groups)
                write_data(out, f"{key}/index", index)
                result.rollout_sets[key] = index["groups"]
            for first, rounds in S.rollout_families(list(summaries)):
                if not rounds:  # a set of its own
                    blocks += S.rollout_summary_blocks(first, summaries[first])
                    group_block = {
                        "kind": "groups",
                        "title": f"Rollout set {first}: groups",
                        "set": keys[first],
                    }
                    blocks.append(group_block)
                    continue
                # an online run: its rounds in one chart, the last round's figures, one browser with a
                # round picker (opened on the last round)
                blocks += S.rounds_blocks(first, [(k, summaries[n]) for k, n in rounds])
                last = rounds[-1][1]
                blocks += S.rollout_summary_blocks(last, summaries[last])
                blocks.append(
                    {
                        "kind": "groups",
                        "title": f"Rollout sets of {first}, round by round: groups",
                        "set": keys[last],
                        "sets": [[f"round {k} ({n})", keys[n]] for k, n in rounds],
                    }
                )
        elif sid == "training" and "training" in sec:
            blocks = S.training_blocks(sec["training"])
        elif sid == "eval" and "predictions" in sec:
            preds = sec["predictions"]
            blocks = S.eval_blocks(preds, _confusions(ws, ds, list(preds)))
        if not blocks:
            why = "; ".join(dict.fromkeys(skipped[d] for d in deps if d in skipped)) or "no data"
            blocks = [S.note(why, skipped=True)]
        built.append({"id": sid, "title": title, "blocks": blocks})
    return {"name": ds, "sections": built}


def build_report(
    ws: Workspace, dataset: str | None = None, out: Path | None = None, audio: AudioMode = "copy"
) -> ReportResult:
    """Write the report of `dataset` (default: every dataset of the workspace) into `out`."""
    ws.require_exists()
    names = [ws.dataset(dataset).name] if dataset else sorted(ws.datasets())
    if not names:
        raise UserError(f"workspace {ws.root} has no dataset", fix="run 'adqa-data download' first")
    out = (out or default_out(ws, dataset)).expanduser().absolute()
    check_output_place(
        out,
        ws.root,
        ws.root / "report",
        "the report",
        "leave out --out (default <workspace>/report/), or write it outside the workspace (a link at "
        "report/ that leads out of the workspace: remove it)",
    )
    plotly = plotly_js()  # before anything is written: without plotly, nothing is left behind
    _prepare(out)
    clips = Clips(out, audio)
    result = ReportResult(out / "index.html", names)
    datasets = [_dataset(ws, ds, out, clips, result) for ds in names]
    result.clips = sum(1 for c in clips.placed.values() if c.get("src"))
    title = f"adqa-data report: {names[0] if dataset else ws.root.name}"
    write_data(out, "summary", {"title": title, "workspace": str(ws.root), "datasets": datasets})
    write_assets(out, plotly)
    write_index(out, title)
    return result
