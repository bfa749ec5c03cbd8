"""`python -m benchmarks [match|admin|webhook|communes] [options]`; without a name, all four with their defaults."""
from __future__ import annotations

import importlib
import sys

NAMES = ("match", "admin", "webhook", "communes")


def main(argv: list[str]) -> int:
    """Run one benchmark (its options follow its name), or every one in turn; the worst exit code."""
    if argv and argv[0] in NAMES:
        return importlib.import_module(f"benchmarks.{argv[0]}").main(argv[1:])
    if argv:
        print(f"usage: python -m benchmarks [{'|'.join(NAMES)}] [options]", file=sys.stderr)
        return 2
    codes = []
    for name in NAMES:
        print(f"== {name}", flush=True)
        codes.append(importlib.import_module(f"benchmarks.{name}").main([]))
    return max(codes)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
