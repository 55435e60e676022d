"""Every format of the export registry (`adqa_data.export.FORMATS`), through `datasets`' own Parquet loader.

- Each format exports the planted workspace (`planted_workspace.py`), and every config it writes loads back
  with `datasets.load_dataset("parquet", data_files=...)` with the rows and columns the export reported and
  the values of the written file.
- Each format also meets an empty input (an empty table, prompt set, rollout set or weak split), and
  either writes what it has, an empty table included, which `datasets` reads (its columns, no rows: the
  streaming loader, since `datasets` builds no non-streaming split of 0 rows), or refuses with a one-line
  `UserError` and leaves no folder behind.
- A format added to `FORMATS` without a case here fails the test (the cases must cover the registry).
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import datasets
import pyarrow.parquet as pq
import pytest
from support.planted_workspace import DS, N_ITEMS, N_PROMPTS, build_workspace

from adqa_data.core.errors import UserError
from adqa_data.core.schema import ITEM_SCORES, PROMPTS, QUARANTINE, ROLLOUTS
from adqa_data.core.workspace import Workspace, write_table_atomic
from adqa_data.export import FORMATS, ExportOptions, export
from adqa_data.export.card import data_path

N_GROUPS, K = 5, 4  # the planted rollout set r1
N_WEAK = 6  # planted item scores: silence_correct >= 2 on the A and C items of the pattern


# ------------------------------------------------------------------------------------ empty inputs
def empty_filter_quarantine(ws: Workspace) -> None:
    """The filter stage quarantined nothing: a zero-row shard of the quarantine table."""
    write_table_atomic(
        ws.table_dir("quarantine", DS, "filter") / "part-00000.parquet", QUARANTINE.empty(), QUARANTINE
    )


def _finished_like(ws: Workspace, stage: str, old: str, new: str) -> None:
    record = json.loads(ws.provenance_path(stage, DS, old).read_text())
    ws.provenance_path(stage, DS, new).write_text(json.dumps({**record, "unit": new, "key": f"k-{new}"}))


def empty_rollout_set(ws: Workspace) -> None:
    """A finished rollout set `r0` of no groups."""
    write_table_atomic(
        ws.table_dir(ROLLOUTS.name, DS, "r0") / "part-00000.parquet", ROLLOUTS.empty(), ROLLOUTS
    )
    _finished_like(ws, "rollout", "r1", "r0")


def empty_prompt_set(ws: Workspace) -> None:
    """A finished prompt set `p0` of no items."""
    write_table_atomic(ws.table_dir(PROMPTS.name, DS, "p0") / "part-00000.parquet", PROMPTS.empty(), PROMPTS)
    _finished_like(ws, "sample", "p1", "p0")


def no_weak_items(ws: Workspace) -> None:
    """Every item scored strong: the weak split (SFT's default) is empty."""
    scores = ws.read(ITEM_SCORES, DS).to_pylist()
    write_table_atomic(
        ws.table_dir(ITEM_SCORES.name, DS) / "part-00000.parquet",
        ITEM_SCORES.from_pylist([{**r, "split": "strong"} for r in scores]),
        ITEM_SCORES,
    )


@dataclass
class Case:
    options: dict  # ExportOptions for the planted workspace
    rows: dict[str, int]  # config -> rows written from the planted workspace
    empty: Callable[[Workspace], None]  # makes the format's input empty
    empty_options: dict
    # config -> rows from the empty input; None: refused with a UserError matching `refused`
    empty_rows: dict[str, int] | None = None
    refused: str = ""
    path_columns: list[str] = field(default_factory=list)


CASES: dict[str, Case] = {
    "native": Case(
        {"table": "item_scores"},
        {"default": N_ITEMS},
        empty_filter_quarantine,
        {"table": "quarantine", "unit": "filter"},
        {"default": 0},
    ),
    "verl": Case(
        {"audio": "embed"},
        {"default": N_PROMPTS},
        empty_prompt_set,
        {"prompts": "p0", "audio": "embed"},
        refused="prompt set p0 .* has no item with a gold answer",
    ),
    "trl": Case(
        {"audio": "path"},
        {"prompts": N_PROMPTS, "completions": N_GROUPS * K},
        empty_rollout_set,
        {"audio": "path", "prompts": "p1", "rollouts": "r0"},
        refused="rollout set 'r0' of dataset 'demo' has no rows",
    ),
    "groups": Case(
        {},
        {"default": N_GROUPS},
        empty_rollout_set,
        {"rollouts": "r0"},
        refused="rollout set 'r0' of dataset 'demo' has no rows",
    ),
    "sft": Case(
        {"audio": "embed"},
        {"default": N_WEAK},
        no_weak_items,
        {"audio": "embed"},
        refused="weak split .* has no item with a gold answer",
    ),
    "swift": Case(
        {"audio": "path"},
        {"sft": N_WEAK, "grpo": N_PROMPTS},
        no_weak_items,
        {"audio": "path"},
        {"grpo": N_PROMPTS},  # no weak item: the sft config is left out, not written empty
    ),
}


def test_the_cases_cover_the_registry():
    assert set(CASES) == set(FORMATS)


@pytest.fixture(scope="module")
def planted(tmp_path_factory) -> Workspace:
    return build_workspace(tmp_path_factory.mktemp("formats"))


def copy_of(planted: Workspace, tmp_path: Path) -> Workspace:
    shutil.copytree(planted.root, tmp_path / "w")
    return Workspace(tmp_path / "w")


def load_config(out: Path, config: str, rows: int, cache: Path) -> datasets.Dataset | list:
    """One config of an export folder through `datasets`' Parquet builder; a config of no rows streamed."""
    files = [str(out / data_path(config, "train"))]
    if rows:
        return datasets.load_dataset("parquet", data_files=files, split="train", cache_dir=str(cache))
    stream = datasets.load_dataset("parquet", data_files=files, split="train", streaming=True)
    assert set(stream.features) == set(pq.read_schema(files[0]).names)
    return list(stream)


@pytest.mark.parametrize("fmt", sorted(FORMATS))
def test_every_config_loads_with_the_parquet_loader(fmt, planted, tmp_path):
    case = CASES[fmt]
    out = tmp_path / "out"
    res = export(planted, fmt, options=ExportOptions(**case.options), out=out)
    assert res.check["ok"] and res.rows == case.rows
    for config, rows in case.rows.items():
        ds = load_config(out, config, rows, tmp_path / "cache")
        written = pq.read_table(out / data_path(config, "train"))
        assert ds.num_rows == rows == written.num_rows > 0, config
        assert ds.column_names == written.column_names, config
        assert (
            ds[0] == written.slice(0, 1).to_pylist()[0] and ds[-1] == written.slice(rows - 1).to_pylist()[0]
        )


@pytest.mark.parametrize("fmt", sorted(FORMATS))
def test_an_empty_input_exports_cleanly_or_is_refused(fmt, planted, tmp_path):
    case = CASES[fmt]
    ws = copy_of(planted, tmp_path)
    case.empty(ws)
    out = tmp_path / "out"
    if case.empty_rows is None:
        with pytest.raises(UserError, match=case.refused) as err:
            export(ws, fmt, options=ExportOptions(**case.empty_options), out=out)
        assert "\n" not in err.value.what
        assert sorted(p.name for p in tmp_path.iterdir()) == ["w"]  # no folder, no staging left
        return
    res = export(ws, fmt, options=ExportOptions(**case.empty_options), out=out)
    assert res.check["ok"] and res.rows == case.empty_rows
    assert sorted(p.name for p in (out / "data").iterdir()) == sorted(case.empty_rows)
    card = (out / "README.md").read_text()
    for config, rows in case.empty_rows.items():
        loaded = load_config(out, config, rows, tmp_path / "cache")
        assert len(loaded) == rows, config
        assert f"| {config} | train | {rows} |" in card
    assert {p.name for p in tmp_path.iterdir()} - {"cache"} == {"out", "w"}  # no staging folder left
