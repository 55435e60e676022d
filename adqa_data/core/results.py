"""What a stage returns, built by keyword from the summary it records: a rerun that is up to date returns
the same result as the run that did the work, read back from its provenance record."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any, TypeVar

R = TypeVar("R")


def result_from_summary(cls: type[R], summary: Mapping[str, Any], /, **given: Any) -> R:
    """`cls(**given, **the summary's keys that are fields of cls)`; fields absent from both keep their
    defaults (a record written by an older version may lack a newer field)."""
    names = {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    return cls(**{k: v for k, v in summary.items() if k in names and k not in given}, **given)
