"""Table shards on disk: how one is written (whole or not at all) and how a table folder is read back.

A shard is cast to its table's schema and stamped with the table's name and version (`conform`) before
it is written through the one atomic writer (`atomic_files`); a reader checks the stamp, and where the
folder carries the record of the run that wrote it (`shard_records`), that the shards are exactly the
recorded ones: names, sizes and row counts always, each file's sha256 when the whole file is read.
"""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from . import shard_records
from .atomic_files import write_atomic
from .errors import UserError
from .schema import META_TABLE, META_VERSION, TableSpec
from .shard_records import PART_GLOB


def part_name(index: int) -> str:
    return f"part-{index:05d}.parquet"


# -------------------------------------------------------------------------------------- table files
def write_table_atomic(path: Path, table: pa.Table, spec: TableSpec, inside: Path | None = None) -> Path:
    """Write one Parquet shard so that it appears whole or not at all (`atomic_files.write_atomic`).

    A shard of no rows has no row group (as `datasets` writes one): a zero-row row group breaks
    `datasets.load_dataset` ("BatchSize must be greater than 0"); docs/data.md#empty-tables."""
    table = conform(table, spec)

    def write(f) -> None:
        if table.num_rows:
            pq.write_table(table, f, compression="zstd")
        else:
            pq.ParquetWriter(f, table.schema, compression="zstd").close()

    return write_atomic(path, write, inside=inside)


def conform(table: pa.Table, spec: TableSpec) -> pa.Table:
    """Cast a table to the spec's schema (same columns, spec order), with the version metadata.

    Extra columns are kept after the spec's own (stages may add, e.g., one column per reward). A missing
    column, a value that cannot be cast without loss, or a null in a non-nullable column is a ValueError
    naming the table and the column.
    """
    target = spec.with_metadata()
    missing = [f.name for f in target if f.name not in table.column_names]
    if missing:
        raise ValueError(f"table {spec.name!r} is missing columns {missing}")
    cols = []
    for f in target:
        col, where = table.column(f.name), f"table {spec.name!r}, column {f.name!r}"
        try:
            col = col.cast(f.type)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as e:
            raise ValueError(f"{where}: cannot store {col.type} as {f.type}: {e}") from e
        if not f.nullable and col.null_count:
            raise ValueError(f"{where} holds {col.null_count} null(s) but is not nullable")
        cols.append(col)
    fields = list(target)
    for name in table.column_names:
        if name not in target.names:
            cols.append(table.column(name))
            fields.append(table.schema.field(name))
    return pa.Table.from_arrays(cols, schema=pa.schema(fields, metadata=target.metadata))


def shard_paths(directory: Path) -> list[Path]:
    return sorted(directory.glob(PART_GLOB)) if directory.is_dir() else []


def read_table(directory: Path, spec: TableSpec, columns: list[str] | None = None) -> pa.Table:
    """Read every finished shard of a table directory, checking the schema version."""
    parts = shard_paths(directory)
    recorded = shard_records.read_manifest(directory) if parts else None
    if recorded is not None:
        _refuse_mismatch(spec, shard_records.cheap_mismatch(directory, recorded))
    if not parts:
        return spec.empty() if columns is None else spec.empty().select(columns)
    tables = []
    for p in parts:
        try:
            meta = pq.read_schema(p).metadata or {}
        except (pa.ArrowException, OSError) as e:
            raise _corrupt_shard(p, spec, e) from None
        name, version = meta.get(META_TABLE, b"").decode(), meta.get(META_VERSION, b"0").decode()
        if name != spec.name or version != str(spec.version):
            raise UserError(
                f"{p} holds table {name or '?'} v{version}, this version of adqa-data reads "
                f"{spec.name} v{spec.version}",
                fix="rerun the stage that wrote it with --force",
            )
        try:
            if recorded is not None and columns is None:  # the whole file is read: check its bytes too
                data = p.read_bytes()
                _refuse_mismatch(spec, shard_records.bytes_mismatch(p, data, recorded))
                tables.append(pq.read_table(pa.BufferReader(data)))
            else:
                tables.append(pq.read_table(p, columns=columns))
        except (pa.ArrowException, OSError) as e:
            raise _corrupt_shard(p, spec, e) from None
    return pa.concat_tables(tables, promote_options="default")


def _refuse_mismatch(spec: TableSpec, found: tuple[Path, str] | None) -> None:
    """A reader's one-line refusal of a shard that is not what its run recorded (`shard_records`)."""
    if found is not None:
        path, why = found
        raise UserError(
            f"{path} does not match the record of the run that wrote it: {why}",
            fix=f"rerun the stage that writes '{spec.name}' (a plain rerun redoes it; --force always does)",
        )


def _corrupt_shard(path: Path, spec: TableSpec, e: Exception) -> UserError:
    detail = str(e).splitlines()[0] if str(e) else type(e).__name__
    return UserError(
        f"{path} is not a readable {spec.name} shard ({detail})",
        fix=f"rerun the stage that writes '{spec.name}' with --force, or delete {path.parent}",
    )
