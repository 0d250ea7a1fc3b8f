"""The event topology as a picture: an SVG generated from ``events/topology.yaml`` and the manifests.

Four columns, left to right: the API gateway; every window (with its routes); each event type on the
bus (who publishes it); each consuming window (one box per consumer, the subscription's queue on
the arrow). Plain SVG with a ``<title>``/``<desc>`` and text labels, so it reads without scripts and
is accessible; the console shows it beside the same facts as a table.
"""

from __future__ import annotations

from html import escape
from typing import Any

BOX_W = 215
BOX_H = 46
GAP_Y = 18
COL_X = (20, 290, 590, 900)
TOP = 56
# colours with at least 4.5:1 contrast against their fill (WCAG AA)
INK = "#1b1b1b"
MUTED = "#454545"
FILLS = {"gateway": "#e7f2f5", "window": "#eef5ea", "event": "#fdf1e5", "consumer": "#f0ecf8"}
STROKES = {"gateway": "#1a4480", "window": "#2e6b1f", "event": "#8a4b08", "consumer": "#54278f"}


def _box(x: int, y: int, kind: str, title: str, sub: str, node_id: str) -> str:
    return (
        f'<g class="node node-{kind}" id="{escape(node_id)}">'
        f'<rect x="{x}" y="{y}" width="{BOX_W}" height="{BOX_H}" rx="6" fill="{FILLS[kind]}" '
        f'stroke="{STROKES[kind]}" stroke-width="1.5"/>'
        f'<text x="{x + 10}" y="{y + 19}" font-size="14" font-weight="600" fill="{INK}">{escape(title)}</text>'
        f'<text x="{x + 10}" y="{y + 36}" font-size="11.5" fill="{MUTED}">{escape(sub)}</text>'
        "</g>"
    )


def _arrow(x1: float, y1: float, x2: float, y2: float, label: str = "", css: str = "edge") -> str:
    mid = (x1 + x2) / 2
    path = f"M{x1:.0f},{y1:.0f} C{mid:.0f},{y1:.0f} {mid:.0f},{y2:.0f} {x2 - 6:.0f},{y2:.0f}"
    out = f'<path class="{css}" d="{path}" fill="none" stroke="{MUTED}" stroke-width="1.3" marker-end="url(#arrow)"/>'
    if label:
        lx, ly = mid, (y1 + y2) / 2 - 4
        out += f'<text x="{lx:.0f}" y="{ly:.0f}" font-size="10.5" text-anchor="middle" fill="{MUTED}">{escape(label)}</text>'
    return out


def topology_svg(platform: Any) -> str:
    """The SVG document (a string) of the platform's HTTP and event topology."""
    windows = list(platform.windows)
    topology = platform.topology
    types = sorted(topology.publishers)
    subs = list(topology.subscriptions)
    consumers = sorted({s.consumer for s in subs})
    rows = max(len(windows), len(types), len(consumers), 1)
    height = TOP + rows * (BOX_H + GAP_Y) + 20
    width = COL_X[3] + BOX_W + 20

    def y_of(i: int, n: int) -> int:
        block = n * (BOX_H + GAP_Y) - GAP_Y
        offset = (rows * (BOX_H + GAP_Y) - GAP_Y - block) // 2
        return TOP + offset + i * (BOX_H + GAP_Y)

    parts: list[str] = []
    desc = [f"{w.name}: {len(w.routes)} routes" for w in windows]
    desc += [f"{s.publisher} publishes {s.event_type}, consumed by {s.consumer}" for s in subs]
    parts.append(
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" width="{width}" '
        f'height="{height}" role="img" aria-labelledby="topo-title topo-desc" font-family="system-ui, sans-serif">'
    )
    parts.append('<title id="topo-title">HMS topology: the gateway, the windows and the event bus</title>')
    parts.append(f'<desc id="topo-desc">{escape("; ".join(desc))}</desc>')
    parts.append(
        '<defs><marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" '
        f'orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="{MUTED}"/></marker></defs>'
    )
    for x, heading in zip(COL_X, ("HTTP", "windows", "event bus: types", "consumers"), strict=True):
        parts.append(
            f'<text x="{x}" y="28" font-size="13" font-weight="700" fill="{INK}">{escape(heading)}</text>'
        )

    gy = y_of(0, 1)  # centred in the column
    total_routes = sum(len(w.routes) for w in windows)
    parts.append(_box(COL_X[0], gy, "gateway", "API gateway", f"{total_routes} routes, JWT", "node-gateway"))
    wy = {w.name: y_of(i, len(windows)) for i, w in enumerate(windows)}
    for w in windows:
        limit = f", {w.rate_limit.limit}/{w.rate_limit.window}s" if w.rate_limit else ""
        parts.append(
            _box(
                COL_X[1],
                wy[w.name],
                "window",
                w.name,
                f"{len(w.routes)} routes{limit}",
                f"node-window-{w.name}",
            )
        )
        parts.append(_arrow(COL_X[0] + BOX_W, gy + BOX_H / 2, COL_X[1], wy[w.name] + BOX_H / 2))
    ty = {t: y_of(i, len(types)) for i, t in enumerate(types)}
    for t in types:
        publisher = topology.publishers[t]
        parts.append(_box(COL_X[2], ty[t], "event", t, f"from {publisher}", f"node-event-{t}"))
        if publisher in wy:
            parts.append(
                _arrow(
                    COL_X[1] + BOX_W,
                    wy[publisher] + BOX_H / 2,
                    COL_X[2],
                    ty[t] + BOX_H / 2,
                    css="edge publish",
                )
            )
    cy = {c: y_of(i, len(consumers)) for i, c in enumerate(consumers)}
    for c in consumers:
        n = sum(1 for s in subs if s.consumer == c)
        parts.append(_box(COL_X[3], cy[c], "consumer", c, f"{n} subscription(s) + DLQ", f"node-consumer-{c}"))
    for s in subs:
        if s.event_type in ty:
            parts.append(
                _arrow(
                    COL_X[2] + BOX_W,
                    ty[s.event_type] + BOX_H / 2,
                    COL_X[3],
                    cy[s.consumer] + BOX_H / 2,
                    css="edge subscription",
                )
            )
    parts.append("</svg>")
    return "".join(parts)
