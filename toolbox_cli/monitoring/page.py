"""The status page ``toolbox publish`` writes: one self-contained HTML file (no external
script, style sheet, font or image), a card per task with its last outcome, the age of its
tables against their freshness limit, its next run, the tables it writes with their rows,
and its last runs as an inline SVG chart (bar height: duration; colour: outcome). A grid
of cards at 1280 px, one column on a phone."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from html import escape

from toolbox_cli import ledger
from toolbox_cli.clock import to_local
from toolbox_cli.monitoring.freshness import human
from toolbox_cli.monitoring.overview import Overview
from toolbox_cli.settings import Settings
from toolbox_cli.words import count

COLOURS = {"success": "#2e7d32", "failed": "#c62828", "crashed": "#6a1b1b",
           "skipped": "#f9a825", "running": "#1565c0"}
_STYLE = """
:root{color-scheme:light;font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif}
body{margin:0;background:#f4f5f7;color:#1d2330}
header{padding:16px 20px;background:#1d2330;color:#fff}
header h1{margin:0;font-size:1.25rem}header p{margin:4px 0 0;color:#c5cad6;font-size:.85rem}
main{display:grid;grid-template-columns:repeat(auto-fill,minmax(360px,1fr));gap:16px;
padding:16px 20px;max-width:1400px;margin:0 auto}
.card{background:#fff;border-radius:8px;padding:14px 16px;box-shadow:0 1px 3px #0002;min-width:0}
.card h2{margin:0 0 2px;font-size:1.05rem;display:flex;justify-content:space-between;gap:8px}
.desc{margin:0 0 10px;color:#556;font-size:.85rem}
.badge{border-radius:10px;padding:1px 9px;color:#fff;font-size:.8rem;white-space:nowrap}
dl{display:grid;grid-template-columns:max-content 1fr;gap:3px 12px;margin:0 0 10px;font-size:.88rem}
dt{color:#667}dd{margin:0;overflow-wrap:anywhere}
.stale{color:#c62828;font-weight:600}.ok{color:#2e7d32}
table{border-collapse:collapse;width:100%;font-size:.85rem;margin-bottom:10px}
td{padding:2px 0;border-bottom:1px solid #eee;overflow-wrap:anywhere}
td.n{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap;padding-left:8px}
svg{width:100%;height:auto;display:block}.legend{font-size:.75rem;color:#667;margin-top:4px}
.legend span{display:inline-block;width:9px;height:9px;border-radius:2px;margin:0 3px 0 8px}
@media (max-width:600px){main{grid-template-columns:1fr;padding:10px}header{padding:12px}}
"""


def _when(moment: datetime | None, settings: Settings) -> str:
    local = to_local(moment, settings.zone)
    return f"{local:%Y-%m-%d %H:%M}" if local else "-"


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    return f"{seconds:.1f} s" if seconds < 60 else f"{int(seconds) // 60} min {int(seconds) % 60:02d} s"


def chart(runs: Sequence[ledger.Run], settings: Settings) -> str:
    """The runs (newest first) as bars, oldest on the left; an empty chart says so."""
    width, height, gap = 300, 64, 2
    if not runs:
        return (f'<svg viewBox="0 0 {width} {height}" role="img" aria-label="no runs yet">'
                f'<text x="{width / 2}" y="{height / 2}" text-anchor="middle" font-size="12" '
                'fill="#889">no runs yet</text></svg>')
    ordered = list(reversed(runs))
    longest = max((r.duration_s or 0.0) for r in ordered) or 1.0
    slot = width / max(len(ordered), 10)
    bars = []
    for i, run in enumerate(ordered):
        value = run.duration_s or 0.0
        bar = max(3.0, (height - 4) * value / longest)
        title = (f"run {run.id} {run.status} {_when(run.started_at, settings)} "
                 f"{_duration(run.duration_s)}")
        bars.append(f'<rect x="{i * slot + gap / 2:.1f}" y="{height - bar:.1f}" '
                    f'width="{slot - gap:.1f}" height="{bar:.1f}" rx="1.5" '
                    f'fill="{COLOURS.get(run.status, "#888")}" data-status="{run.status}">'
                    f'<title>{escape(title)}</title></rect>')
    label = f"the last {len(ordered)} runs: durations and outcomes"
    return (f'<svg viewBox="0 0 {width} {height}" role="img" aria-label="{label}">'
            + "".join(bars) + f'</svg><p class="legend">last {count(len(ordered), "run")}, '
            f"longest {_duration(longest)}</p>")


def _card(record: Mapping[str, object], runs: Sequence[ledger.Run],
          counts: Mapping[str, int | None], overview: Overview, settings: Settings) -> str:
    name = str(record["task"])
    run = overview.last.get(name)
    if run is None:
        badge = '<span class="badge" style="background:#889">never run</span>'
        last = "never"
    else:
        badge = (f'<span class="badge" style="background:{COLOURS.get(run.status, "#888")}">'
                 f"{escape(run.status)}</span>")
        last = f"{_when(run.started_at, settings)}, took {_duration(run.duration_s)} (run {run.id})"
        if run.status != ledger.SUCCESS and run.error_message:
            last += f"<br><small>{escape(run.error_message[:300])}</small>"
    fresh = overview.ages[name]
    if fresh.age is None:
        age = "never refreshed"
    else:
        limit = f" (limit {human(fresh.max_age)})" if fresh.max_age else ""
        cls = "stale" if fresh.stale else "ok"
        age = f'<span class="{cls}">{human(fresh.age)}{" — stale" if fresh.stale else ""}</span>{limit}'
    nxt = str(record["next_run"] or "")
    next_text = escape(nxt[:16].replace("T", " ")) if nxt else "not scheduled"
    slots = ", ".join(str(s) for s in record["schedule"])  # type: ignore[attr-defined]  # a list
    schedule = f"{slots} (Lima)" if slots else "not scheduled"
    rows = "".join(
        f"<tr><td>{escape(t)}</td><td class=n>"
        f"{'-' if counts.get(t) is None else format(counts[t], ',')}</td></tr>"
        for t in record["tables"])  # type: ignore[attr-defined]  # a list of names
    return (f'<section class="card" id="task-{escape(name)}"><h2>{escape(name)} {badge}</h2>'
            f'<p class="desc">{escape(str(record["description"]))}</p><dl>'
            f"<dt>last run</dt><dd>{last}</dd><dt>age</dt><dd>{age}</dd>"
            f"<dt>next run</dt><dd>{next_text}</dd><dt>schedule</dt><dd>{escape(schedule)}</dd>"
            f"</dl><table><tbody>{rows}</tbody></table>{chart(runs, settings)}</section>")


def render_page(overview: Overview, history: Mapping[str, Sequence[ledger.Run]],
                counts: Mapping[str, int | None], settings: Settings, now: datetime) -> str:
    stamp = f"{now.astimezone(settings.zone):%Y-%m-%d %H:%M}"
    cards = "".join(_card(r, history.get(str(r["task"]), []), counts, overview, settings)
                    for r in overview.records)
    legend = "".join(f'<span style="background:{c}"></span>{s}' for s, c in COLOURS.items())
    problems = len(overview.missed) + len(overview.late) + sum(
        1 for f in overview.ages.values() if f.stale)
    summary = "all tasks fresh" if not problems else f"{count(problems, 'problem')}: missed, late or stale"
    return ("<!doctype html><html lang=en><head><meta charset=utf-8>"
            '<meta name=viewport content="width=device-width,initial-scale=1">'
            f"<title>toolbox status</title><style>{_STYLE}</style></head><body>"
            f"<header><h1>toolbox status</h1><p>published {stamp} ({escape(settings.timezone)})"
            f" · {summary}</p></header><main>{cards}</main>"
            f'<p class="legend" style="padding:0 20px 16px">last runs, oldest left: {legend}</p>'
            "</body></html>\n")
