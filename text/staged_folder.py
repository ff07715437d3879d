"""Model folders that appear whole: built in a staging sibling, then renamed into place.

Loaders look for a marker file written last by the build; a folder without it is unfinished. A crash leaves
only a hidden staging sibling (`.{name}-staging-*`), removed by a later build once it is an hour old; two
processes building at once both finish, the first rename wins and the other's copy is dropped.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

__all__ = ["ABANDONED_AFTER_S", "build_folder", "staging_prefix"]

ABANDONED_AFTER_S = 3600
"""A staging folder untouched this long is not still being written (a killed build leaves hundreds of MB)."""


def staging_prefix(target: Path) -> str:
    """The name prefix of `target`'s staging siblings."""
    return f".{Path(target).name}-staging-"


def build_folder(target: Path, marker: str, build: Callable[[Path], None]) -> Path:
    """`target`, made by `build(staging)` in a sibling folder and renamed into place when it returns.

    `build` must write `marker` (a file name) last. A `target` without the marker (an interrupted build, an
    older layout) is replaced; one with it, made meanwhile by a concurrent build, is kept. Everything built is
    made world-readable (`mkdtemp` and some writers create owner-only entries).
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    _remove_abandoned(target)
    staging = Path(tempfile.mkdtemp(prefix=staging_prefix(target), dir=target.parent))
    try:
        build(staging)
        for path in [staging, *staging.rglob("*")]:
            path.chmod(0o755 if path.is_dir() else 0o644)
        if target.exists() and not (target / marker).is_file():
            shutil.rmtree(target)
        try:
            os.rename(staging, target)
        except OSError:
            if not (target / marker).is_file():  # not a concurrent winner: a real failure
                raise
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)
    return target


def _remove_abandoned(target: Path) -> None:
    for old in target.parent.glob(f"{staging_prefix(target)}*"):
        with contextlib.suppress(OSError):
            if time.time() - old.stat().st_mtime > ABANDONED_AFTER_S:
                shutil.rmtree(old, ignore_errors=True)
