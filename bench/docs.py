"""docs/benchmarks.md: each benchmark owns one `## ` section and rewrites only that one."""

from __future__ import annotations

from pathlib import Path

__all__ = ["DOCS", "replace_section"]

DOCS = Path(__file__).resolve().parents[1] / "docs" / "benchmarks.md"


def replace_section(heading: str, body: str, path: Path = DOCS) -> None:
    """Replace the `heading` section of `path` (re-read now: others write other sections) or append it."""
    text = path.read_text(encoding="utf-8") if path.exists() else "# Benchmarks\n"
    section = f"{heading}\n\n{body.strip()}\n"
    start = text.find(f"\n{heading}\n")
    if start < 0:
        text = f"{text.rstrip()}\n\n{section}"
    else:
        rest = text[start + 1:]
        end = rest.find("\n## ")
        after = "" if end < 0 else rest[end + 1:]
        text = f"{text[:start].rstrip()}\n\n{section}" + (f"\n{after}" if after else "")
    path.write_text(text, encoding="utf-8")
