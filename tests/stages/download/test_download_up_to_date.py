"""download: an up-to-date rerun reports the counts the item and quarantine tables hold, even when the
provenance record's summary says otherwise (the report can never disagree with what a reader gets)."""

import json

from typer.testing import CliRunner

from adqa_data.cli import app
from adqa_data.core.schema import QUARANTINE
from adqa_data.core.workspace import Workspace
from adqa_data.stages import download as dl
from adqa_data.testing.data import EXPECTED_DEFECT_REASONS


def _tamper_summary(ws: Workspace, dataset: str) -> None:
    """Make the provenance record's counts disagree with the tables (a hand edit, an older writer)."""
    path = ws.provenance_path("download", dataset)
    record = json.loads(path.read_text())
    record["summary"].update(items=1, quarantined=999, input_rows=1000, reasons={"invented": 999})
    path.write_text(json.dumps(record))


def test_up_to_date_counts_come_from_the_tables(demo_roots, tmp_path):
    ws = Workspace(tmp_path / "w")
    first = dl.download(ws, from_dir=demo_roots["audiomcq"], workers=1)
    assert first.quarantined == sum(EXPECTED_DEFECT_REASONS.values()) > 0
    _tamper_summary(ws, first.dataset)
    again = dl.download(ws, from_dir=demo_roots["audiomcq"], workers=1)
    assert again.up_to_date
    table = ws.read(QUARANTINE, first.dataset, "download", columns=["reason"]).column("reason").to_pylist()
    assert again.quarantined == len(table) == first.quarantined
    assert again.reasons == EXPECTED_DEFECT_REASONS == first.reasons
    assert again.items == ws.items(first.dataset).num_rows == first.items
    assert again.input_rows == first.input_rows == again.items + again.quarantined


def test_up_to_date_json_report_matches_the_tables(demo_roots, tmp_path):
    ws = Workspace(tmp_path / "w")
    args = ["download", "--from-dir", str(demo_roots["audiomcq"]), "-w", str(ws.root), "--workers", "1"]
    first = json.loads(CliRunner().invoke(app, [*args, "--json"]).stdout)
    _tamper_summary(ws, first["dataset"])
    res = CliRunner().invoke(app, [*args, "--json"])
    assert res.exit_code == 0, res.output
    again = json.loads(res.stdout)
    assert again["up_to_date"] is True
    assert again["quarantined"] == first["quarantined"] == sum(EXPECTED_DEFECT_REASONS.values())
    assert again["quarantine_reasons"] == EXPECTED_DEFECT_REASONS
