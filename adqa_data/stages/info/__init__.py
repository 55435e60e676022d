"""`adqa-data info`: what a workspace holds (config.py: the settings; stage.py: `run(ws, config)`)."""

from .config import InfoConfig
from .stage import InfoResult, info, run

__all__ = ["InfoConfig", "InfoResult", "info", "run"]
