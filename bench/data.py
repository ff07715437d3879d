"""Where the shared real data sets live (NYC, FixMyStreet, Kursk appeals): tests and benchmarks read them."""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["SHARED_DATA"]


def _shared_data() -> Path:
    """`NEEDCAST_SHARED_DATA`, else `../shared/data` beside the checkout, else `/work/shared/data`."""
    if env := os.environ.get("NEEDCAST_SHARED_DATA"):
        return Path(env)
    candidates = [Path(__file__).resolve().parents[1].parent / "shared" / "data", Path("/work/shared/data")]
    return next((p for p in candidates if p.is_dir()), candidates[0])


SHARED_DATA = _shared_data()
