"""etl_lib: spec-driven CSV -> processed JSON Lines -> analytics-ready Parquet, on Glue or a laptop."""

from __future__ import annotations

__version__ = "0.1.0"
