"""`python -m bench NAME [ARGS]`: run one benchmark module (`bench/NAME.py`) as if it were `python -m bench.NAME`."""

from __future__ import annotations

import runpy
import sys
from pathlib import Path

# A benchmark is a module that runs as a script; helpers such as peer_cases have no `__main__` block.
BENCHES = sorted(p.stem for p in Path(__file__).parent.glob("*.py")
                 if not p.stem.startswith("_") and '__name__ == "__main__"' in p.read_text(encoding="utf-8"))


def main() -> int:
    if len(sys.argv) < 2 or sys.argv[1] not in BENCHES:
        print(f"usage: python -m bench NAME [ARGS]; NAME is one of {', '.join(BENCHES)}", file=sys.stderr)
        return 2
    name = sys.argv.pop(1)
    sys.argv[0] = f"bench.{name}"
    runpy.run_module(f"bench.{name}", run_name="__main__", alter_sys=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
