"""``make bench``: run every bench module in sequence and print a table per bench.

A bench module is any ``bench/*.py`` (other than this file and ``_private`` ones) that defines
``run(args, console) -> list[rich.table.Table]``; it may define ``add_arguments(parser)`` and
``TITLE``. ``cold_start`` runs first, the others in name order: ``events`` (event delivery, a renewal
end to end and the outbox relay, against an ``hms up`` of its own), then ``gateway`` (wrk). A plain run
includes every bench; ``--only`` (repeatable) picks some.

    .venv/bin/python bench/run.py [--runs N] [--only cold_start|events|gateway]
    .venv/bin/python bench/run.py --only events [--events-count 500 --events-rate 50 ...]
"""

from __future__ import annotations

import argparse
import importlib
import shlex
import sys
import time
from pathlib import Path
from types import ModuleType

from rich.console import Console

HERE = Path(__file__).resolve().parent
FIRST = ("cold_start",)


def bench_names(directory: Path = HERE) -> list[str]:
    names = [p.stem for p in directory.glob("*.py") if p.stem != "run" and not p.stem.startswith("_")]
    return [n for n in FIRST if n in names] + sorted(n for n in names if n not in FIRST)


def load(names: list[str]) -> list[ModuleType]:
    if str(HERE) not in sys.path:
        sys.path.insert(0, str(HERE))
    modules = [importlib.import_module(n) for n in names]
    return [m for m in modules if callable(getattr(m, "run", None))]


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    parser = argparse.ArgumentParser(description="HMS benchmarks")
    parser.add_argument("--only", action="append", metavar="BENCH", help="run only this bench (repeatable)")
    names = bench_names()
    modules = load(names)
    for m in modules:
        add = getattr(m, "add_arguments", None)
        if add is not None:
            add(parser)
    args = parser.parse_args(argv)
    if args.only:
        unknown = set(args.only) - {m.__name__ for m in modules}
        if unknown:
            parser.error(
                f"unknown bench {', '.join(sorted(unknown))}; known: {', '.join(m.__name__ for m in modules)}"
            )
        modules = [m for m in modules if m.__name__ in args.only]
    console = Console(width=None if sys.stdout.isatty() else 132)
    console.print(f"[dim]python {sys.version.split()[0]} ({sys.executable})[/]")
    started = time.perf_counter()
    for m in modules:
        title = getattr(m, "TITLE", m.__name__)
        console.rule(f"bench: {m.__name__}: {title}")
        t0 = time.perf_counter()
        for table in m.run(args, console):
            console.print(table)
        console.print(f"[dim]{m.__name__} took {time.perf_counter() - t0:.1f} s[/]")
    console.print(f"[dim]all benches took {time.perf_counter() - started:.1f} s[/]")
    rel = Path(sys.executable)
    try:
        rel = rel.relative_to(Path.cwd())
    except ValueError:
        pass
    shown = " ".join(shlex.quote(a) for a in argv)
    make = f"make bench ARGS={shlex.quote(shown)}" if shown else "make bench"
    console.print(f"reproduce: {f'{rel} bench/run.py {shown}'.rstrip()}   (or: {make})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
