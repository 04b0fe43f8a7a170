#!/usr/bin/env python3
"""Keeps only the checked metrics in package-benchmark's p90 threshold files.

`swift package benchmark thresholds update` writes every metric a benchmark measures; the project
checks the wall clock and the malloc count only (Benchmarks/README.md), so `make
benchmark-thresholds` runs this on Benchmarks/Thresholds afterwards.

It also names each file as `thresholds check` looks for it: package-benchmark writes
`TARGET.NAME.p90.json` with the spaces (and slashes) of NAME made underscores, but reads it back
under NAME as it is, so a name with a space would never find its thresholds. The names come from
the `Benchmark("...")` declarations under Benchmarks/Benchmarks/TARGET/.

    python3 scripts/trim_thresholds.py DIRECTORY
"""
import json
import pathlib
import re
import sys

CHECKED = ("wallClock", "mallocCountTotal")


def declared_names(directory):
    """Written file name -> the name `thresholds check` reads, for every declared benchmark."""
    sources = pathlib.Path(directory).resolve().parent / "Benchmarks"
    names = {}
    for target in sorted(p for p in sources.iterdir() if p.is_dir()):
        for swift in target.glob("*.swift"):
            for name in re.findall(r'Benchmark\(\s*"([^"]+)"', swift.read_text()):
                written = f"{target.name}.{name.replace('/', '_').replace(' ', '_')}.p90.json"
                names[written] = f"{target.name}.{name}.p90.json"
    return names


def main(directory):
    files = sorted(pathlib.Path(directory).glob("*.p90.json"))
    if not files:
        sys.exit(f"no *.p90.json in {directory}: run the benchmarks with 'thresholds update' first")
    names = declared_names(directory)
    # A file already under its read name is replaced by a new run's file, when there is one.
    replaced = {names[path.name] for path in files if names.get(path.name, path.name) != path.name}
    for path in files:
        if path.name in replaced:
            continue
        figures = json.loads(path.read_text())
        kept = {name: figures[name] for name in CHECKED if name in figures}
        target = path.with_name(names.get(path.name, path.name))
        if target != path:
            path.unlink()
        target.write_text(json.dumps(kept, indent=2, sort_keys=True) + "\n")
        print(f"{target.name}: {', '.join(f'{k} {v}' for k, v in kept.items())}")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "Benchmarks/Thresholds")
