"""Model folders built in a staging sibling and renamed into place (`text.staged_folder`)."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from text.staged_folder import ABANDONED_AFTER_S, build_folder, staging_prefix

MARKER = "done.json"


def _write(files: dict[str, str]):
    def build(out: Path) -> None:
        for name, text in files.items():
            (out / name).parent.mkdir(parents=True, exist_ok=True)
            (out / name).write_text(text)
    return build


def _hidden(parent: Path) -> list[str]:
    return [p.name for p in parent.iterdir() if p.name.startswith(".")]


def test_build_appears_whole_readable_and_leaves_no_staging(tmp_path: Path) -> None:
    target = tmp_path / "models" / "bundle"
    built = build_folder(target, MARKER, _write({"sub/weights.bin": "w", MARKER: "{}"}))
    assert built == target
    assert (target / "sub" / "weights.bin").read_text() == "w" and (target / MARKER).is_file()
    assert (target / "sub" / "weights.bin").stat().st_mode & 0o777 == 0o644
    assert target.stat().st_mode & 0o777 == 0o755
    assert _hidden(target.parent) == []


def test_failed_build_leaves_nothing_where_loaders_look(tmp_path: Path) -> None:
    target = tmp_path / "bundle"

    def broken(out: Path) -> None:
        (out / "weights.bin").write_text("half")
        raise RuntimeError("killed half way")

    with pytest.raises(RuntimeError, match="half way"):
        build_folder(target, MARKER, broken)
    assert not target.exists()
    assert _hidden(tmp_path) == []


def test_unfinished_target_is_replaced(tmp_path: Path) -> None:
    target = tmp_path / "bundle"
    target.mkdir()
    (target / "stale.bin").write_text("from an interrupted build")
    build_folder(target, MARKER, _write({"weights.bin": "new", MARKER: "{}"}))
    assert sorted(p.name for p in target.iterdir()) == [MARKER, "weights.bin"]


def test_a_concurrent_finished_build_is_kept(tmp_path: Path) -> None:
    target = tmp_path / "bundle"

    def racing(out: Path) -> None:
        _write({"weights.bin": "ours", MARKER: "{}"})(out)
        # Another process finishes first, while this build is still writing.
        target.mkdir()
        (target / "weights.bin").write_text("theirs")
        (target / MARKER).write_text("{}")

    assert build_folder(target, MARKER, racing) == target
    assert (target / "weights.bin").read_text() == "theirs"
    assert _hidden(tmp_path) == []


def test_only_abandoned_staging_folders_are_removed(tmp_path: Path) -> None:
    target = tmp_path / "bundle"
    old = tmp_path / f"{staging_prefix(target)}old"
    live = tmp_path / f"{staging_prefix(target)}live"
    other = tmp_path / f"{staging_prefix(tmp_path / 'other')}old"
    for folder in (old, live, other):
        folder.mkdir()
    long_ago = time.time() - ABANDONED_AFTER_S - 60
    os.utime(old, (long_ago, long_ago))
    os.utime(other, (long_ago, long_ago))
    build_folder(target, MARKER, _write({MARKER: "{}"}))
    assert sorted(_hidden(tmp_path)) == sorted([live.name, other.name])
