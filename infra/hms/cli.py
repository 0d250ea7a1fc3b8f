"""``hms``: the platform's command line. Like ``sam``, it acts on the project in the current
directory (or ``--root``).

    hms template [--check]     regenerate template.yaml and events/schemas/ (or show the drift, exit 1)
    hms new window NAME [--framework powertools|chalice] [--table] [--bucket]
    hms up [...]               run the whole platform locally (see ``hms up --help``)
    hms token --sub alice --scope payments.read [--ttl 3600]
    hms dlq list [SUBSCRIPTION] | hms dlq redrive SUBSCRIPTION [--max N]
"""

from __future__ import annotations

import argparse
import difflib
import sys
from collections.abc import Sequence
from pathlib import Path

from hms.manifest import ManifestErrors
from hms.project import find_root


def generated_files(root: Path) -> dict[Path, str]:
    """Every generated file and its expected content, from the manifests, the event contracts and
    the code: ``template.yaml``, ``events/schemas/*.json`` and ``docs/openapi.json``."""
    from hms.eventschemas import render_schemas
    from hms.model import load_platform
    from hms.openapi import render_openapi
    from hms.template import render

    platform = load_platform(root)
    return {root / "template.yaml": render(platform), **render_schemas(root), **render_openapi(platform)}


def cmd_template(args: argparse.Namespace) -> int:
    root = find_root(Path(args.root).resolve())
    try:
        files = generated_files(root)
    except ManifestErrors as exc:
        print(f"hms template: nothing generated.\n{exc}", file=sys.stderr)
        return 2
    from hms.eventschemas import stray_schemas

    stale = 0
    for stray in stray_schemas(root):
        rel = stray.relative_to(root)
        if args.check:
            stale += 1
            print(f"{rel}: no event contract produces this schema (removed or renamed contract?)")
        else:
            print(f"{rel}: no event contract produces this schema; left in place, delete it if intended")
    for path, content in files.items():
        current = path.read_text(encoding="utf-8") if path.exists() else ""
        if current == content:
            continue
        rel = path.relative_to(root)
        if args.check:
            stale += 1
            diff = difflib.unified_diff(
                current.splitlines(keepends=True),
                content.splitlines(keepends=True),
                fromfile=f"{rel} (committed)",
                tofile=f"{rel} (generated)",
            )
            sys.stdout.writelines(diff)
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(content, encoding="utf-8")
            print(f"wrote {rel}")
    if args.check:
        if stale:
            print(
                f"\nhms template --check: {stale} generated file(s) are stale; run `make template`.",
                file=sys.stderr,
            )
            return 1
        print("generated files are up to date")
    return 0


def cmd_new(args: argparse.Namespace) -> int:
    from hms.scaffold import ScaffoldError, WindowSpec, create_window

    root = find_root(Path(args.root).resolve())
    spec = WindowSpec(args.name, framework=args.framework, table=args.table, bucket=args.bucket)
    try:
        written = create_window(root, spec)
    except ScaffoldError as exc:
        print(f"hms new window: {exc}", file=sys.stderr)
        return 2
    for path in written:
        print(f"wrote {path.relative_to(root)}")
    print(
        f"\nthe {spec.name} window: {spec.prefix}/** (a running `hms up` serves it now)\n"
        "next: make template (template.yaml, docs/openapi.json), then make test"
    )
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="hms", description="HMS service windows tooling")
    parser.add_argument("--root", default=".", help="project directory (default: the current one)")
    subs = parser.add_subparsers(dest="command", required=True)

    t = subs.add_parser(
        "template", help="generate template.yaml and events/schemas/ from routes/, events/ and the contracts"
    )
    t.add_argument("--check", action="store_true", help="exit 1 and print the diff when stale")
    t.set_defaults(func=cmd_template)

    n = subs.add_parser("new", help="create a new window in the project's shape")
    kinds = n.add_subparsers(dest="kind", required=True)
    w = kinds.add_parser("window", help="hms new window NAME: manifest, code, api_contract, tests")
    w.add_argument("name", help="the window's name: its package, upstream and /api/v1/NAME prefix")
    w.add_argument("--framework", choices=("powertools", "chalice"), default="powertools")
    w.add_argument("--table", action="store_true", help="the example route stores in the window's table")
    w.add_argument("--bucket", action="store_true", help="the window owns an S3 bucket")
    w.set_defaults(func=cmd_new)

    try:
        from hms.local.cli import register  # the local runtime's commands (up, token)
    except ImportError:
        pass
    else:
        register(subs)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.func(args) or 0)


if __name__ == "__main__":
    raise SystemExit(main())
