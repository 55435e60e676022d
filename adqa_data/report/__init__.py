"""`adqa-data report`: one static HTML page per workspace or dataset, readable offline from disk.

build.py      the entry: which datasets, which sections, where it is written
sections.py   each section's charts, tables and notes, from `stages.stats`' report
groups.py     a rollout set as a filter index and pages of full groups
highlight.py  the span of a completion the answer parser read
clips.py      the clips copied next to the page, with their waveform envelopes
render.py     the folder's files: page, assets (plotly.js from its Python package), data scripts
assets/       the page's own JavaScript and CSS
"""

from .build import build_report, default_out
from .clips import AUDIO_MODES

__all__ = ["AUDIO_MODES", "build_report", "default_out"]
