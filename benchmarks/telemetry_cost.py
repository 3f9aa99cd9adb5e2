"""What the ``otel`` extra costs per request: client CPU with telemetry off and on.

    python -m benchmarks.telemetry_cost                      # off / no provider / on
    git worktree add --detach /tmp/zbefore <commit-before-telemetry>
    python -m benchmarks.telemetry_cost --before-path /tmp/zbefore   # ... and the SDK before
    # exactly one change apart: both sides from checkouts (this tree may hold other work)
    git worktree add --detach /tmp/zafter <the-telemetry-commit>
    python -m benchmarks.telemetry_cost --before-path /tmp/zbefore --sdk-path /tmp/zafter

One sandbox server runs in its own process (``benchmarks.server``). Each variant runs in a
fresh process of its own, alternating (A B C A B C ...), and measures the CPU time
(user + system, every thread: a batch span processor's too) of its whole process over
two workloads after a warm-up: ``bulk_add_profiles`` of ``--items`` items at
concurrency 64, and ``--calls`` sequential ``fetch_contact`` calls. Variants:

- ``before``: the SDK from ``--before-path`` (a checkout without telemetry);
- ``off``: this SDK; nothing has imported OpenTelemetry (the extra not installed looks the
  same to the SDK: it never imports it);
- ``no-provider``: this SDK; ``opentelemetry.trace`` and ``.metrics`` imported, no
  provider set (the API's default proxies);
- ``on``: this SDK with opentelemetry-sdk providers: every span sampled, a batch span
  processor exporting to nowhere, and a metric reader collected once at the end.

Prints the median CPU microseconds per item / per call over the rounds, and each
variant's ratio to ``off`` (and to ``before`` when given). Needs opentelemetry-sdk for
the ``no-provider`` and ``on`` variants (``pip install -e '.[test]'``).

On a shared machine those whole-process figures move by 10-50 % from run to run, far
more than a few ``is None`` tests could. ``--micro`` resolves the difference: both SDK
trees (``--before-path`` and ``--sdk-path``, or this tree) are loaded side by side in one
process under two package names, and the same calls (``Operations.add`` and
``fetch_contact`` of a prepared request, each through ``Operations.send``) run against a
stub transport that answers at once -- no socket, no server, so nearly all that is left
is the SDK's own per-request work -- alternating batches of the two trees for
``--rounds`` rounds (the median of each). Run with ``--otel`` to import the
OpenTelemetry API first (no provider: the ``no-provider`` case), or ``--otel on`` for
the SDK's providers (the ``on`` case; that tree only).
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import importlib.util
import inspect
import json
import os
import statistics
import subprocess
import sys
import time
from typing import Any

from benchmarks._common import ROOT, available_cpus, cpu_seconds, payload, sandbox_server

VARIANTS = ("before", "off", "no-provider", "on")
SOURCE = "zyntro-bench"
CONTACTS = 2000


def _setup(variant: str) -> Any:
    """Prepare this process for ``variant``; return what must be kept alive."""
    sdk_path = os.environ.get("BENCH_BEFORE_PATH" if variant == "before" else "BENCH_SDK_PATH")
    if sdk_path:  # measure another checkout's zyntro_async
        sys.path.insert(0, os.path.abspath(sdk_path))
    if variant == "no-provider":
        import opentelemetry.metrics
        import opentelemetry.trace  # noqa: F401
    if variant != "on":
        return None
    from opentelemetry import metrics, trace
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import InMemoryMetricReader
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import (
        BatchSpanProcessor,
        SpanExporter,
        SpanExportResult,
    )

    class Nowhere(SpanExporter):
        def export(self, spans: Any) -> SpanExportResult:
            return SpanExportResult.SUCCESS

    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(BatchSpanProcessor(Nowhere()))
    trace.set_tracer_provider(tracer_provider)
    reader = InMemoryMetricReader()
    metrics.set_meter_provider(MeterProvider(metric_readers=[reader]))
    return tracer_provider, reader


async def _workload(items: int, calls: int, start: int) -> dict[str, float]:
    import zyntro_async
    from zyntro_async import ProfileRequest, ZyntroClient
    from zyntro_async.testing import seeded_contact_ids

    ids = seeded_contact_ids(int(os.environ.get("BENCH_SEED", "0")), CONTACTS)

    def requests(n: int, first: int) -> Any:
        for i in range(first, first + n):
            yield ProfileRequest(ids[i % CONTACTS], payload(i), SOURCE)

    out: dict[str, Any] = {"sdk": os.path.dirname(zyntro_async.__file__)}
    async with ZyntroClient() as client:  # the ZYNTRO_* variables the server printed
        # Warm-up: the pool's connections, the code paths.
        await client.bulk_add_profiles(requests(500, start + 10_000_000), concurrency=64)
        for i in range(50):
            await client.fetch_contact(ids[i % CONTACTS])

        cpu, wall = cpu_seconds(), time.perf_counter()
        report = await client.bulk_add_profiles(requests(items, start), concurrency=64)
        out["bulk_cpu_us"] = (cpu_seconds() - cpu) / items * 1e6
        out["bulk_wall_s"] = time.perf_counter() - wall
        assert report.succeeded == items, report

        cpu = cpu_seconds()
        for i in range(calls):
            await client.fetch_contact(ids[i % CONTACTS])
        out["call_cpu_us"] = (cpu_seconds() - cpu) / calls * 1e6
    return out


def _child(variant: str, items: int, calls: int, start: int) -> None:
    keep = _setup(variant)
    result = asyncio.run(_workload(items, calls, start))
    if variant == "on":
        tracer_provider, reader = keep
        tracer_provider.force_flush()
        result["metrics"] = sorted(
            m.name
            for rm in reader.get_metrics_data().resource_metrics
            for sm in rm.scope_metrics
            for m in sm.metrics
        )
    result["variant"] = variant
    print(json.dumps(result))


# -- --micro: the per-request path alone, both trees in one process ---------------------------


def _load_tree(name: str, path: str) -> Any:
    """``path``'s ``zyntro_async`` package, imported as ``name``."""
    package = os.path.join(os.path.abspath(path), "zyntro_async")
    spec = importlib.util.spec_from_file_location(
        name, os.path.join(package, "__init__.py"), submodule_search_locations=[package]
    )
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def _micro_ops(sdk: Any) -> tuple[Any, Any, Any]:
    """An ``Operations`` over a stub transport, and a prepared add and fetch call."""
    ops_module = importlib.import_module(sdk.__name__ + "._operations")
    protocol = importlib.import_module(sdk.__name__ + "._protocol")
    config = importlib.import_module(sdk.__name__ + "._config")
    docs = ROOT / "tests" / "fixtures" / "docs"
    bodies = {
        "addProfileToContact": (docs / "addProfileToContact_response_success.json").read_bytes(),
        "fetchContact": (docs / "fetchContact_response_success.json").read_bytes(),
    }

    class Stub:
        """Answers every request at once with the doc page's success body."""

        total_timeout = None
        base_url = _base_url = "https://zyntro.example/apis/v2/public/crm/"  # new and old trees

        async def post(self, endpoint: str, body: bytes, **_: Any) -> Any:
            return protocol.RawResponse(status=200, headers={}, body=bodies[endpoint])

    credentials = config.Credentials("k" * 32, "s" * 32, "org-1", "member-1")
    ops = ops_module.Operations(Stub(), credentials, sdk.RetryPolicy())
    payload = {"job_title": "VP of Marketing", "linkedin_url": "https://linkedin.com/in/janesmith"}
    add = ops.prepare_add("1", payload, "LinkedIn Scraper")
    return ops, add, payload


async def _micro_batch(ops: Any, add: Any, payload: Any, n: int) -> tuple[float, float]:
    """CPU microseconds per add and per fetch over ``n`` of each."""
    # A tree from before the add read its payload and source back from its request.
    old = "payload" in inspect.signature(ops.add).parameters
    cpu = time.process_time()
    for _ in range(n):
        await (ops.add(add, payload, "LinkedIn Scraper") if old else ops.add(add))
    adds = (time.process_time() - cpu) / n * 1e6
    cpu = time.process_time()
    for _ in range(n):
        await ops.fetch_contact("1")
    return adds, (time.process_time() - cpu) / n * 1e6


def micro(args: argparse.Namespace) -> None:
    if args.otel:
        _setup("on" if args.otel == "on" else "no-provider")
    trees = {"after": _load_tree("zyntro_after", args.sdk_path or str(ROOT))}
    if args.before_path and args.otel != "on":
        trees["before"] = _load_tree("zyntro_before", args.before_path)
    setups = {name: _micro_ops(sdk) for name, sdk in trees.items()}
    on = getattr(setups["after"][0], "_telemetry", None) is not None
    print(f"telemetry on: {on}  (OpenTelemetry: {args.otel or 'not imported'})")
    times: dict[str, list[tuple[float, float]]] = {name: [] for name in trees}

    async def run() -> None:
        for ops, add, body in setups.values():  # warm-up
            await _micro_batch(ops, add, body, 500)
        for r in range(args.rounds):
            names = list(setups) if r % 2 == 0 else list(reversed(setups))
            for name in names:
                ops, add, body = setups[name]
                times[name].append(await _micro_batch(ops, add, body, args.calls))

    asyncio.run(run())
    print(f"median of {args.rounds} rounds of {args.calls} calls each, CPU us per call")
    print("| tree | add | fetch_contact |")
    print("|---|---|---|")
    for name, rows in times.items():
        add_us = statistics.median(a for a, _ in rows)
        fetch_us = statistics.median(f for _, f in rows)
        print(f"| {name} | {add_us:.2f} | {fetch_us:.2f} |")
    if "before" in times:
        diffs = [
            (a1 - a0, f1 - f0)
            for (a0, f0), (a1, f1) in zip(times["before"], times["after"], strict=True)
        ]
        add_d = statistics.median(d for d, _ in diffs)
        fetch_d = statistics.median(d for _, d in diffs)
        print(
            f"after - before, median of the paired rounds: add {add_d * 1000:+.0f} ns, "
            f"fetch_contact {fetch_d * 1000:+.0f} ns"
        )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--items", type=int, default=4000, help="bulk items per run")
    parser.add_argument("--calls", type=int, default=1000, help="sequential calls per run")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--before-path", help="a checkout of the SDK without telemetry")
    parser.add_argument(
        "--sdk-path", help="a checkout to measure instead of this tree (off, no-provider, on)"
    )
    parser.add_argument("--micro", action="store_true", help="the per-request path alone")
    parser.add_argument(
        "--otel", nargs="?", const="api", choices=("api", "on"), help="with --micro"
    )
    parser.add_argument("--child", choices=VARIANTS, help=argparse.SUPPRESS)
    parser.add_argument("--start", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        _child(args.child, args.items, args.calls, args.start)
        return
    if args.micro:
        micro(args)
        return

    variants = [v for v in VARIANTS if v != "before" or args.before_path]
    cpus = available_cpus()
    server_cpu = cpus[-1] if len(cpus) > 1 else None
    runs: dict[str, list[dict[str, Any]]] = {v: [] for v in variants}
    with sandbox_server(contacts=CONTACTS, seed=0, cpu=server_cpu) as server:
        env = {**os.environ, **server.env, "BENCH_SEED": "0"}
        if args.before_path:
            env["BENCH_BEFORE_PATH"] = args.before_path
        if args.sdk_path:
            env["BENCH_SDK_PATH"] = args.sdk_path
        start = 0
        for r in range(args.rounds):
            order = variants[r % len(variants) :] + variants[: r % len(variants)]
            for variant in order:
                cmd = [sys.executable, "-m", "benchmarks.telemetry_cost", "--child", variant]
                cmd += ["--items", str(args.items), "--calls", str(args.calls)]
                cmd += ["--start", str(start)]
                start += args.items + 1000
                line = (
                    subprocess.run(
                        cmd, cwd=ROOT, env=env, capture_output=True, text=True, check=True
                    )
                    .stdout.strip()
                    .splitlines()[-1]
                )
                result = json.loads(line)
                runs[variant].append(result)
                print(
                    f"round {r + 1} {variant:>11}: bulk {result['bulk_cpu_us']:6.1f} us/item, "
                    f"calls {result['call_cpu_us']:6.1f} us/call  ({result['sdk']})",
                    flush=True,
                )

    print()
    print(f"median of {args.rounds} rounds, client CPU (user+sys, all threads)")
    ref = "before" if "before" in variants else "off"
    print(f"| variant | bulk add, us/item | vs {ref} | sequential fetch, us/call | vs {ref} |")
    print("|---|---|---|---|---|")
    med = {
        v: (
            statistics.median(r["bulk_cpu_us"] for r in runs[v]),
            statistics.median(r["call_cpu_us"] for r in runs[v]),
        )
        for v in variants
    }
    ref_bulk, ref_call = med[ref]
    for v in variants:
        bulk, call = med[v]
        print(f"| {v} | {bulk:.1f} | {bulk / ref_bulk:.3f} | {call:.1f} | {call / ref_call:.3f} |")
    if "on" in runs:
        print("\nmetrics exported (on):", ", ".join(runs["on"][-1].get("metrics", [])))


if __name__ == "__main__":
    main()
