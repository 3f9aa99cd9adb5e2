"""The benchmark's Markdown: a table per scenario, the targets, verdict lines, a summary."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from typing import Any

from ._common import CONCURRENCY
from ._plan import H_SCRIPT, IDEAL_RPS, LONG_RETRY_AFTER, STEADY_PERCENTILES, Scenario
from ._stats import MIB, median, ratio


def _fmt(value: float | None, spec: str = ".0f", suffix: str = "") -> str:
    return "n/a" if value is None else f"{value:{spec}}{suffix}"


def _x(value: float | None) -> str:
    return _fmt(value, ".2f", "x")


def _pct(value: float | None) -> str:
    return _fmt(None if value is None else value * 100, ".0f", " %")


def _growth_ratio(s: dict[str, Any], raw: dict[str, Any]) -> str:
    """Ratio of peak RSS growths; meaningless (n/a) when both are below 1 MiB."""
    mine, base = s.get("rss_growth_peak_kib"), raw.get("rss_growth_peak_kib")
    if mine is None or base is None or max(mine, base) < MIB:
        return "n/a (< 1 MiB)"
    return _x(ratio(mine, max(base, 1.0)))


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return lines


def _reference_table(scenario: Scenario, summary: dict[str, dict[str, Any]]) -> list[str]:
    """c and f: rates, ratios to raw and to the SDK's own fault-free rate, failures, dups."""
    raw, ref = summary.get("raw", {}), summary.get(scenario.reference, {})
    header = [
        "variant",
        "req/s",
        "range",
        "CPU µs/req",
        "x raw",
        "steady ok/s",
        f"x `{scenario.reference}` steady",
        "ok/s (whole run)",
        f"x `{scenario.reference}` ok/s",
        "failed",
        "retries",
        "server req/item",
        "items stored",
        "duplicates",
        "client CPU",
        "server CPU",
    ]
    rows = []
    for variant, s in summary.items():
        if not s.get("rounds_ok"):
            rows.append([f"`{variant}`", "error", *["" for _ in header[2:]]])
            continue
        ratios = s.get("round_ratios_to_reference") or []
        steady = s.get("steady_ok_rps")
        steady_ratios = s.get("round_steady_ratios_to_reference") or []
        stored = s.get("items_stored")
        rows.append(
            [
                f"`{variant}`" + (" (fault-free)" if variant == scenario.reference else ""),
                _fmt(s["rps"]) + (" *" if s["deadline_hit"] else ""),
                f"{s['rps_min']:.0f}-{s['rps_max']:.0f}",
                _fmt(s["cpu_us_per_req"]),
                _x(ratio(s["cpu_us_per_req"], raw.get("cpu_us_per_req"))),
                _fmt(steady),
                _x(median(steady_ratios))
                if steady_ratios
                else _x(ratio(steady, ref.get("steady_ok_rps"))),
                _fmt(s["ok_rps"]),
                _x(median(ratios)) if ratios else _x(ratio(s["ok_rps"], ref.get("ok_rps"))),
                f"{s['failed']:,} ({_fmt(s['failed_share'] * 100, '.2f', ' %')})",
                f"{s['retries']:,}",
                _fmt(s["server_per_item"], ".2f"),
                "n/a" if stored is None else f"{stored:,} ({stored - s['ok']:+,} vs ok)",
                _fmt(s["duplicates"], ","),
                _pct(s["cpu_util"]),
                _pct(s["server_cpu_util"]),
            ]
        )
    return _table(header, rows)


def _quota_table(summary: dict[str, dict[str, Any]]) -> list[str]:
    """g: what share of the quota each variant got, and how often the server refused."""
    header = [
        "variant",
        "quota (req/s)",
        "max_per_second",
        "items",
        "ok/s",
        "range (req/s)",
        "x quota",
        "refused (of server requests)",
        "server req/item",
        "failed",
        "retries",
        "elapsed (s)",
        "client CPU",
    ]
    rows = []
    for variant, s in summary.items():
        if not s.get("rounds_ok"):
            rows.append([f"`{variant}`", "error", *["" for _ in header[2:]]])
            continue
        rows.append(
            [
                f"`{variant}`",
                _fmt(s["quota"], ",.0f"),
                _fmt(s["max_per_second"], ",.0f") if s["max_per_second"] else "-",
                f"{s['done'] // s['rounds_ok']:,}" + (" *" if s["deadline_hit"] else ""),
                _fmt(s["ok_rps"]),
                f"{s['rps_min']:.0f}-{s['rps_max']:.0f}",
                _x(s["ok_over_quota"]),
                f"{_fmt(s['server_refused'], ',')} "
                f"({_fmt(_pct_value(s['refused_share']), '.1f', ' %')})",
                _fmt(s["server_per_item"], ".2f"),
                f"{s['failed']:,}",
                f"{s['retries']:,}",
                _fmt(s["elapsed_s"], ".1f"),
                _pct(s["cpu_util"]),
            ]
        )
    return _table(header, rows)


def _deadline_table(scenario: Scenario, summary: dict[str, dict[str, Any]]) -> list[str]:
    """h: did the run end, when, with every item accounted for, and did it say why."""
    header = [
        "variant",
        "elapsed (s)",
        "items taken",
        "succeeded",
        "failed",
        "skipped",
        f"accounted (of {scenario.n})",
        "stopped",
        "hung",
        "retries",
    ]
    rows = []
    for variant, s in summary.items():
        if not s.get("rounds_ok"):
            rows.append([f"`{variant}`", "error", *["" for _ in header[2:]]])
            continue
        stopped = [x for x in s["stopped"] if x]
        rows.append(
            [
                f"`{variant}`",
                _fmt(s["elapsed_max_s"], ".2f"),
                ", ".join(map(str, s["taken"])),
                f"{s['ok']:,}",
                f"{s['failed']:,}",
                f"{s['skipped']:,}",
                ", ".join(map(str, s["accounted"])),
                "; ".join(x[:100].replace("|", "/") for x in stopped) or "no",
                "yes" if s["hung"] else "no",
                f"{s['retries']:,}",
            ]
        )
    return _table(header, rows)


def _pct_value(share: float | None) -> float | None:
    return None if share is None else share * 100


def _reference_body(scenario: Scenario, summary: dict[str, dict[str, Any]]) -> list[str]:
    """c and f: what the fault-free reference is, how the steady rate is taken, the table."""
    low, high = STEADY_PERCENTILES
    lines = [
        f"`{scenario.reference}` runs the SDK against the same server without faults "
        "(latency only), alternating with the others. Failures and duplicates are summed "
        "over rounds; duplicates are counted by the server (records of one contact with "
        "the same source and payload); items stored are the measured items the server "
        "holds (more than ok: stored but reported failed; fewer: a success not stored).",
        "",
        f"Steady ok/s: each worker records every ok item's completion time; the rate is "
        f"the ok items completed between the {low}th and {high}th percentile of those "
        f"times, over the time between them. The first {low} % is the intake filling the "
        f"{CONCURRENCY} slots; the last {100 - high} % is the drain, where fewer items than "
        "slots are left and the slowest items' retry backoff (and, for an add in doubt, "
        "the settle delay before its reconcile look) is most of the wall time: a tail a "
        "longer run does not grow, not a rate. The target compares the steady figures; "
        "ok/s over the whole run (the tail included) stands beside them.",
        "",
    ]
    return [*lines, *_reference_table(scenario, summary)]


def _quota_body(scenario: Scenario, summary: dict[str, dict[str, Any]]) -> list[str]:
    """g: how refusals are counted, then the table."""
    lines = [
        "Refusals are the server's 429s from the quota during the timed part, over every "
        "request it received then (adds and fetches, retries included). Each run warms up "
        f"within the burst and rests {scenario.settle:g} s (the bucket refills in 0.1 s) "
        "so the timed part starts with a full bucket.",
        "",
    ]
    return [*lines, *_quota_table(summary)]


def _deadline_body(scenario: Scenario, summary: dict[str, dict[str, Any]]) -> list[str]:
    """h: what is timed, then the table."""
    lines = [
        f"Wall time of the whole run (hard timeout {scenario.hard_timeout:g} s); the "
        f"{H_SCRIPT.split(':')[1]}th add is answered 429 with Retry-After: {LONG_RETRY_AFTER}.",
        "",
    ]
    return [*lines, *_deadline_table(scenario, summary)]


def _memory_body(scenario: Scenario, summary: dict[str, dict[str, Any]]) -> list[str]:
    """d: the clients' loop and the server, then RSS figures per variant."""
    raw = summary.get("raw", {})
    server = (
        "`benchmarks.server --lean` (the sandbox's rules and answer bytes from a minimal "
        "HTTP front end that stores nothing)"
        if scenario.lean
        else "the sandbox (it holds every profile)"
    )
    lines = [
        f"Clients on **{scenario.client_loop or 'asyncio'}**: a memory figure, not a "
        f"ratio (req/s and CPU here are not comparable with a and b). Server: {server}. "
        "Peak growth = the highest RSS during the timed part (sampled every "
        f"{scenario.sample_rss:g} s, and `ru_maxrss`) minus the RSS right before it.",
        "",
    ]
    header = [
        "variant",
        "items",
        "failed",
        "req/s",
        "RSS before (MiB)",
        "peak growth (MiB)",
        "x raw",
        "growth at end (MiB)",
        "ru_maxrss (MiB)",
        "CPU µs/req",
    ]
    rows = []
    for variant, s in summary.items():
        if not s.get("rounds_ok"):
            rows.append([f"`{variant}`", "error", *["" for _ in header[2:]]])
            continue
        rows.append(
            [
                f"`{variant}`",
                f"{s['done'] // s['rounds_ok']:,}" + (" *" if s["deadline_hit"] else ""),
                f"{s['failed']:,}",
                _fmt(s["rps"]),
                _fmt(s["rss_before_kib"] / MIB, ".1f"),
                _fmt(s["rss_growth_peak_kib"] / MIB, ".1f"),
                _growth_ratio(s, raw)
                if s["done"] // s["rounds_ok"] == raw.get("done", 0) // raw.get("rounds_ok", 1)
                else "n/a (other size)",
                _fmt(s["rss_growth_end_kib"] / MIB, ".1f"),
                _fmt(s["maxrss_after_kib"] / MIB, ".1f"),
                _fmt(s["cpu_us_per_req"]),
            ]
        )
    return [*lines, *_table(header, rows)]


def _rate_body(scenario: Scenario, summary: dict[str, dict[str, Any]]) -> list[str]:
    """a, b and e: rates and CPU per request against raw."""
    raw = summary.get("raw", {})
    header = ["variant", "req/s", "range", "x raw", "CPU µs/req", "x raw", "GC µs/req"]
    if scenario.key == "b":
        header.append(f"efficiency (÷ {IDEAL_RPS:,.0f})")
    header += ["client CPU", "server CPU"]
    rows = []
    for variant, s in summary.items():
        if not s.get("rounds_ok"):
            rows.append([f"`{variant}`", "error", *["" for _ in header[2:]]])
            continue
        row = [
            f"`{variant}`",
            _fmt(s["rps"]) + (" *" if s["deadline_hit"] else ""),
            f"{s['rps_min']:.0f}-{s['rps_max']:.0f}",
            _x(ratio(s["rps"], raw.get("rps"))),
            _fmt(s["cpu_us_per_req"]),
            _x(ratio(s["cpu_us_per_req"], raw.get("cpu_us_per_req"))),
            _fmt(s["gc_us_per_req"]),
        ]
        if scenario.key == "b":
            row.append(_fmt(s["rps"] / IDEAL_RPS, ".2f"))
        row += [_pct(s["cpu_util"]), _pct(s["server_cpu_util"])]
        rows.append(row)
    return _table(header, rows)


BODIES: dict[str, Callable[[Scenario, dict[str, dict[str, Any]]], list[str]]] = {
    "c": _reference_body,
    "f": _reference_body,
    "g": _quota_body,
    "h": _deadline_body,
    "d": _memory_body,
}


def scenario_table(
    scenario: Scenario,
    summary: dict[str, dict[str, Any]],
    comparator_rounds: int = 1,
    load: list[float | None] | None = None,
) -> list[str]:
    """A scenario's heading, what ran, and its table."""
    lines = [f"### {scenario.title}", ""]
    n_note = f"{scenario.n:,} requests per run"
    own_n = [
        f"{v.n:,} for `{v.label}`"
        for v in scenario.variants
        if v.n is not None and v.n != scenario.n
    ]
    if own_n:
        n_note += f" ({', '.join(own_n)})"
    elif scenario.n_sequential:  # a results file from before per-variant sizes
        n_note += f" ({scenario.n_sequential:,} for `sequential`)"
    rounds_note = f"{scenario.rounds} round(s), medians"
    comparators = [f"`{v.label}`" for v in scenario.variants if v.comparator]
    if comparators and comparator_rounds < scenario.rounds:
        rounds_note += (
            f" ({', '.join(comparators)}: context for no target, "
            f"{comparator_rounds} round{'s' if comparator_rounds != 1 else ''})"
        )
    lines.append(f"{n_note}; {rounds_note}; faults: `{scenario.faults or 'none'}`.")
    if load and None not in load:
        lines[-1] += (
            f" Machine load (1-min average, all processes) {load[0]:.1f} before, "
            f"{load[1]:.1f} after."
        )
    lines.append("")
    body = BODIES.get(scenario.key, _rate_body)
    return [*lines, *body(scenario, summary), ""]


def verdict_lines(targets: list[dict[str, Any]]) -> list[str]:
    """One line per target: ``PASS  (c) ...: measured``."""
    return [f"  {t['result']:<4}  {t['target']}: {t['measured']}" for t in targets]


def _digest_note(results: dict[str, dict[str, Any]]) -> list[str]:
    """Which zyntro_async sources each scenario measured (others edit it while we run)."""
    per_scenario = {
        key: sorted({r["sdk_digest"] for r in res["runs"] if "sdk_digest" in r})
        for key, res in results.items()
    }
    everything = sorted({d for ds in per_scenario.values() for d in ds})
    if len(everything) <= 1:
        if not everything:
            return []
        return [f"zyntro_async source digest: `{everything[0]}` (sha256 of its .py files).", ""]
    mixed = [key for key, ds in per_scenario.items() if len(ds) > 1]
    where = "; ".join(f"({key}) `{', '.join(ds)}`" for key, ds in per_scenario.items())
    if mixed:
        head = (
            f"**Warning: zyntro_async changed during scenario(s) {', '.join(mixed)}**: "
            "their rounds measured different versions; re-run them for a clean table."
        )
    else:
        head = (
            "Note: zyntro_async changed between scenarios (each scenario measured one "
            "version); compare across scenarios with care."
        )
    return [head, f"Source digests: {where}.", ""]


def _loop_exceptions(meta: dict[str, Any]) -> str:
    """`` (d on uvloop)`` when a scenario's clients ran on another loop than the rest."""
    other = {
        key: loop
        for key, loop in (meta.get("client_loops") or {}).items()
        if loop != meta["client_loop"]
    }
    if not other:
        return ""
    return " (" + ", ".join(f"{key} on {loop}" for key, loop in other.items()) + ")"


def render(
    meta: dict[str, Any], results: dict[str, dict[str, Any]], targets: list[dict[str, Any]]
) -> str:
    m = meta["machine"]
    lines = [
        f"## Benchmarks ({meta['started'][:10]})",
        "",
        f"Machine: {m['cpu_model']}, {m['cores']} cores, {m['memory_mib']:,} MiB, "
        f"{m['platform']}; {m['python']}; aiohttp {m['aiohttp']}, httpx {m['httpx']}, "
        f"aiometer {m['aiometer']}, zyntro_async {m['zyntro_async']}.",
        f"Server: the sandbox in its own process on {meta['server_loop']}"
        f"{', pinned to CPU ' + str(meta['server_cpu']) if meta['server_cpu'] is not None else ''}"
        f"; clients: one process per run on {meta['client_loop']}"
        f"{_loop_exceptions(meta)}"
        f"{', pinned to CPU(s) ' + meta['client_cpus'] if meta['client_cpus'] else ''}. "
        f"Concurrency {CONCURRENCY} (pool of {CONCURRENCY} connections) for every concurrent "
        f"variant; the same payloads and server for all. CPU = user + system of the client "
        f"process over the timed part (getrusage). `*` = the run hit its time limit (rates "
        f"are over the requests done).",
        "",
    ]
    sdk_path = meta.get("parameters", {}).get("sdk_path")
    if sdk_path:
        lines += [
            f"**Client SDK: `zyntro_async` imported from `{sdk_path}`** (`--sdk-path`), not "
            "from this tree; the server is this tree's sandbox.",
            "",
        ]
    lines += _digest_note(results)
    for result in results.values():
        lines += result["table"]
    lines += ["### Targets (measured, not asserted)", ""]
    lines += _table(
        ["target", "measured", "result"],
        [[t["target"], t["measured"], f"**{t['result']}**"] for t in targets],
    )
    lines.append("")
    return "\n".join(lines)


def summary_lines(
    meta: dict[str, Any], results: dict[str, dict[str, Any]], targets: list[dict[str, Any]]
) -> list[str]:
    """The end of the output: time per scenario, every verdict, the count."""
    counts = Counter(t["result"] for t in targets)
    took = ", ".join(f"({key}) {res['duration_s']:.0f} s" for key, res in results.items())
    tally = ", ".join(f"{counts[k]} {k}" for k in ("PASS", "MISS", "n/a") if counts[k])
    return [
        "",
        f"Summary: {tally or 'no targets'}; {meta['duration_s']:.0f} s in all "
        f"({meta.get('servers_started', '?')} server starts): {took}",
        *verdict_lines(targets),
    ]
