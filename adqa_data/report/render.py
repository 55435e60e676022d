"""Writing the report folder: the page, its assets, and its data as script files.

Layout of `--out`:
    index.html                 the page (static markup; everything else is drawn from data/)
    assets/plotly.min.js       plotly's own bundle, from its Python package (no network at view time)
    assets/report.js, .css     the page's code and style (adqa_data/report/assets/)
    data/summary.js            every section's blocks
    data/<n>/index.js          rollout set n's filter index; data/<n>/page-NNNN.js its groups, by page
    audio/<sha256>.<ext>       the clips the groups play

Data files are scripts that hand their JSON to `ADQA.loaded(key, value)`: a page opened from disk may
load scripts but not `fetch` its own files. JSON is written with `<`, `>`, `&` and the line separators
escaped, so no text in the data can end a script or be read as markup. Every file is written atomically
(temporary file, then rename), index.html last: a report folder is never left half-written under its
page.
"""

from __future__ import annotations

import html
import json
from pathlib import Path
from typing import Any

from ..core.errors import UserError
from ..core.workspace import write_text_atomic

ASSETS = Path(__file__).parent / "assets"
_ESCAPES = {"<": "\\u003c", ">": "\\u003e", "&": "\\u0026", "\u2028": "\\u2028", "\u2029": "\\u2029"}


def js_json(value: Any) -> str:
    """JSON safe to place in a script: no `</script>`, no markup, no raw line separators."""
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    return "".join(_ESCAPES.get(ch, ch) for ch in text)


def write_data(out: Path, key: str, value: Any) -> str:
    """data/<key>.js, handing `value` to the page; returns its path relative to the report."""
    rel = f"data/{key}.js"
    write_text_atomic(out / rel, f"ADQA.loaded({js_json(key)}, {js_json(value)});\n")
    return rel


def plotly_js() -> str:
    """plotly.js as shipped inside the plotly Python package (the `report` extra)."""
    try:
        from plotly.offline import get_plotlyjs
    except ImportError:
        raise UserError(
            "the report draws its charts with plotly, which is not installed",
            fix="pip install 'adqa-data[report]'",
        ) from None
    return get_plotlyjs()


def write_assets(out: Path, plotly: str | None = None) -> None:
    """The page's scripts and styles; `plotly`: plotly.js when the caller already read it."""
    write_text_atomic(out / "assets" / "plotly.min.js", plotly if plotly is not None else plotly_js())
    for name in ("report.js", "report.css"):
        write_text_atomic(out / "assets" / name, (ASSETS / name).read_text())


def write_index(out: Path, title: str) -> Path:
    page = out / "index.html"
    write_text_atomic(page, INDEX.replace("{title}", html.escape(title)))
    return page


INDEX = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title>
<link rel="stylesheet" href="assets/report.css">
</head>
<body>
<header><h1>{title}</h1><nav id="nav"></nav></header>
<main id="report"><p class="note" id="loading">Loading the report ...</p></main>
<noscript><p class="note">This report draws its sections with JavaScript: enable it for this file.</p></noscript>
<script src="assets/plotly.min.js"></script>
<script src="assets/report.js"></script>
<script src="data/summary.js"></script>
</body>
</html>
"""
