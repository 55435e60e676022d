"""`report` without plotly (the `report` extra) is a one-line error that leaves nothing behind: it checks
for the chart library before it writes a file."""

from __future__ import annotations

import sys

import pytest
from support.planted_workspace import build_workspace

from adqa_data.core.errors import UserError
from adqa_data.report.build import build_report


def test_without_plotly_nothing_is_written(tmp_path, monkeypatch):
    ws = build_workspace(tmp_path / "ws")
    for name in [m for m in sys.modules if m == "plotly" or m.startswith("plotly.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "plotly", None)  # `import plotly...` raises ImportError
    out = tmp_path / "page"
    with pytest.raises(UserError) as e:
        build_report(ws, out=out)
    assert "plotly" in e.value.what
    assert not out.exists()
