"""Schema validation, tested directly for every registered table: conforming tables are written and
read back with their exact types, nullability and schema version; wrong types, missing columns and
nulls in non-nullable columns are refused with an error naming the table and the column; files of
another table or version are refused on read."""

from __future__ import annotations

import dataclasses
import re

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from adqa_data.core import schema
from adqa_data.core.errors import UserError
from adqa_data.core.schema import META_TABLE, META_VERSION, TABLES, TableSpec
from adqa_data.core.workspace import conform, part_name, read_table, write_table_atomic

SPECS = sorted(TABLES.values(), key=lambda s: s.name)
ids = [s.name for s in SPECS]


def _value(t: pa.DataType, k: int):
    """A valid Python value of Arrow type `t` (row k), as a stage would build it before casting."""
    if pa.types.is_string(t):
        return f"v{k}"
    if pa.types.is_boolean(t):
        return k % 2 == 0
    if pa.types.is_integer(t):
        return k + 1
    if pa.types.is_floating(t):
        return k + 0.5
    if pa.types.is_list(t):
        return [_value(t.value_type, k), _value(t.value_type, k + 1)]
    pytest.fail(f"no test value for Arrow type {t}: teach _value about it")


def _wrong(t: pa.DataType):
    """A value that cannot be stored as `t` (every column type refuses it)."""
    if pa.types.is_string(t):
        return [1]
    if pa.types.is_boolean(t):
        return "maybe"
    if pa.types.is_integer(t):
        return 1.5  # truncating a float is refused, not rounded
    if pa.types.is_floating(t):
        return "not a number"
    if pa.types.is_list(t):
        return 5
    pytest.fail(f"no wrong value for Arrow type {t}")


def _rows(spec: TableSpec, n: int = 3) -> list[dict]:
    return [{f.name: _value(f.type, k) for f in spec.schema} for k in range(n)]


def _loose(rows: list[dict]) -> pa.Table:
    """A table with the types pyarrow infers (int64, double, list<int64>, ...), not the spec's."""
    return pa.Table.from_pylist(rows)


def _field(spec: TableSpec, nullable: bool) -> list[str]:
    return [f.name for f in spec.schema if f.nullable == nullable]


# ------------------------------------------------------------------------------------------ conforming
@pytest.mark.parametrize("spec", SPECS, ids=ids)
def test_a_conforming_table_round_trips_with_the_specs_types_and_version(spec, tmp_path):
    rows = _rows(spec)
    d = tmp_path / spec.name
    write_table_atomic(d / part_name(0), _loose(rows), spec)

    file_schema = pq.read_schema(d / part_name(0))
    assert file_schema.metadata[META_TABLE] == spec.name.encode()
    assert file_schema.metadata[META_VERSION] == str(spec.version).encode()
    back = read_table(d, spec)
    assert back.schema.equals(spec.schema, check_metadata=False)  # types, order and nullability
    assert [f.nullable for f in back.schema] == [f.nullable for f in spec.schema]
    expected = spec.from_pylist(rows).to_pylist()
    assert back.to_pylist() == expected
    assert read_table(d, spec, columns=[spec.schema[0].name]).column_names == [spec.schema[0].name]


@pytest.mark.parametrize("spec", SPECS, ids=ids)
def test_columns_come_back_in_spec_order_with_extra_columns_kept_after(spec):
    rows = [
        {**{f.name: r[f.name] for f in reversed(spec.schema)}, "reward_custom": 0.25} for r in _rows(spec)
    ]
    out = conform(_loose(rows), spec)
    assert out.column_names == [*spec.schema.names, "reward_custom"]
    assert out.schema.field("reward_custom").type == pa.float64()  # an extra column keeps its own type
    assert out.schema.metadata[META_TABLE] == spec.name.encode()


@pytest.mark.parametrize("spec", SPECS, ids=ids)
def test_the_empty_table_and_an_absent_directory_read_as_the_spec(spec, tmp_path):
    empty = read_table(tmp_path / "nothing-here", spec)
    assert len(empty) == 0 and empty.schema == spec.with_metadata()
    assert spec.empty().schema.metadata[META_VERSION] == str(spec.version).encode()


# ------------------------------------------------------------------------------------------ refusals
@pytest.mark.parametrize("spec", SPECS, ids=ids)
def test_every_missing_column_is_refused_by_name(spec):
    for f in spec.schema:
        rows = [{k: v for k, v in r.items() if k != f.name} for r in _rows(spec)]
        with pytest.raises(ValueError, match=rf"table '{spec.name}' is missing columns \['{f.name}'\]"):
            conform(_loose(rows), spec)


@pytest.mark.parametrize("spec", SPECS, ids=ids)
def test_a_value_of_the_wrong_type_is_refused_naming_table_and_column(spec, tmp_path):
    for f in spec.schema:
        rows = [{**r, f.name: _wrong(f.type)} for r in _rows(spec)]
        with pytest.raises(ValueError, match=rf"table '{spec.name}', column '{re.escape(f.name)}'"):
            write_table_atomic(tmp_path / "t" / part_name(0), _loose(rows), spec)
    assert not (tmp_path / "t" / part_name(0)).exists()


def test_narrowing_that_would_lose_information_is_refused():
    rows = _rows(schema.ITEMS)
    rows[0]["answer_index"] = 300  # int8
    with pytest.raises(ValueError, match="column 'answer_index'"):
        conform(_loose(rows), schema.ITEMS)
    rows[0]["answer_index"] = 3
    assert conform(_loose(rows), schema.ITEMS).column("answer_index").type == pa.int8()


@pytest.mark.parametrize("spec", SPECS, ids=ids)
def test_nulls_are_refused_in_non_nullable_columns_and_kept_in_nullable_ones(spec, tmp_path):
    for name in _field(spec, nullable=False):
        rows = _rows(spec)
        rows[2][name] = None
        with pytest.raises(ValueError, match=rf"table '{spec.name}', column '{name}'.*null"):
            write_table_atomic(tmp_path / "refused" / part_name(0), _loose(rows), spec)
    assert not (tmp_path / "refused" / part_name(0)).exists()

    nullable = _field(spec, nullable=True)
    rows = _rows(spec)
    for name in nullable:
        rows[2][name] = None
    d = tmp_path / "kept"
    write_table_atomic(d / part_name(0), _loose(rows), spec)
    back = read_table(d, spec).to_pylist()
    assert all(back[2][name] is None for name in nullable)
    assert all(back[1][name] is not None for name in spec.schema.names)


def test_from_pylist_fills_absent_keys_with_nulls_which_only_nullable_columns_accept(tmp_path):
    ok = schema.PROMPTS.from_pylist([{"dataset": "d", "item_id": "a", "draw": 0}])
    assert ok.to_pylist()[0]["question_type"] is None
    write_table_atomic(tmp_path / part_name(0), ok, schema.PROMPTS)
    bad = schema.PROMPTS.from_pylist([{"dataset": "d", "item_id": "a"}])  # `draw` is required
    with pytest.raises(ValueError, match="column 'draw'"):
        write_table_atomic(tmp_path / part_name(1), bad, schema.PROMPTS)


# ------------------------------------------------------------------------------------------ versions
@pytest.mark.parametrize("spec", SPECS, ids=ids)
def test_a_file_of_another_schema_version_or_table_is_refused_on_read(spec, tmp_path):
    newer = dataclasses.replace(spec, version=spec.version + 1)
    write_table_atomic(tmp_path / "newer" / part_name(0), _loose(_rows(spec)), newer)
    with pytest.raises(
        UserError,
        match=rf"holds table {spec.name} v{spec.version + 1}.*reads {spec.name} "
        rf"v{spec.version}",
    ) as err:
        read_table(tmp_path / "newer", spec)
    assert "--force" in err.value.fix

    other = dataclasses.replace(spec, name="not_" + spec.name)
    write_table_atomic(tmp_path / "other" / part_name(0), _loose(_rows(spec)), other)
    with pytest.raises(UserError, match=f"holds table not_{spec.name} "):
        read_table(tmp_path / "other", spec)


def test_files_without_our_metadata_or_not_parquet_at_all_are_refused(tmp_path):
    spec = schema.PROMPTS
    (tmp_path / "foreign").mkdir()
    pq.write_table(_loose(_rows(spec)), tmp_path / "foreign" / part_name(0))
    with pytest.raises(UserError, match=r"holds table \? v0"):
        read_table(tmp_path / "foreign", spec)
    (tmp_path / "garbage").mkdir()
    (tmp_path / "garbage" / part_name(0)).write_bytes(b"PAR1 not really")
    with pytest.raises(UserError, match="is not a readable prompts shard"):
        read_table(tmp_path / "garbage", spec)


# ------------------------------------------------------------------------------------------ registry
def test_every_table_is_registered_documented_and_found_by_name():
    listed = re.findall(r"^    (\w+)\s", schema.__doc__, re.M)
    assert sorted(listed) == sorted(TABLES)  # the module docstring lists exactly the registered tables
    for name, spec in TABLES.items():
        assert schema.spec(name) is spec and spec.name == name and spec.version >= 1 and spec.doc
    with pytest.raises(KeyError, match="unknown table 'nope'; known: .*'items'"):
        schema.spec("nope")


def test_the_builtin_reward_columns_are_rollout_columns():
    assert set(schema.BUILTIN_REWARD_COLUMNS) <= set(schema.ROLLOUTS.schema.names)
