#!/usr/bin/env python3
"""Keeps only the checked metrics in package-benchmark's p90 threshold files.

`swift package benchmark thresholds update` writes every metric a benchmark measures; the project
checks the wall clock and the malloc count only (Benchmarks/README.md), so `make
benchmark-thresholds` runs this on Benchmarks/Thresholds afterwards.

    python3 scripts/trim_thresholds.py DIRECTORY
"""
import json
import pathlib
import sys

CHECKED = ("wallClock", "mallocCountTotal")


def main(directory):
    files = sorted(pathlib.Path(directory).glob("*.p90.json"))
    if not files:
        sys.exit(f"no *.p90.json in {directory}: run the benchmarks with 'thresholds update' first")
    for path in files:
        figures = json.loads(path.read_text())
        kept = {name: figures[name] for name in CHECKED if name in figures}
        path.write_text(json.dumps(kept, indent=2, sort_keys=True) + "\n")
        print(f"{path.name}: {', '.join(f'{k} {v}' for k, v in kept.items())}")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "Benchmarks/Thresholds")
