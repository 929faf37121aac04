"""Benchmark the service side by side with its HTTP floor and the database's own ceiling.

For each table size, ``wrk`` drives the logging endpoint, ``/_livez`` (the same server answering without the
database: the floor) and ``/_healthz``; ``pgbench`` runs the endpoint's own SQL, one transaction per request,
as the database's ceiling for a service that commits each request alone. Then an exact check: a fixed number
of concurrent requests, every ``200`` matched by a committed row, no answer slower than the pool's bound.

Only 127.0.0.1 is ever loaded, and every run is bounded in time. Usage::

    python -m bench [--database-url URL] [--sizes 0,1000000,10000000] [--connections 16,64] [--duration 15]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import psycopg
from psycopg.conninfo import make_conninfo

from orca import sql
from orca.config import DEFAULT_POOL_TIMEOUT

HERE = Path(__file__).parent
DEFAULT_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
BENCH_DB = "orca_bench"
ORIGINAL_BEST = 340.0  # requests/s, the replaced app's best on this kind of machine (empty table)


@dataclass
class Run:
    """One wrk run's figures."""

    endpoint: str
    connections: int
    rows: int
    rps: float
    p50_ms: float
    p99_ms: float
    max_ms: float
    non2xx: int
    socket_errors: int
    requests: int


def main() -> int:
    args = _parse()
    admin_url = args.database_url
    sizes = [int(s) for s in args.sizes.split(",")]
    connections = [int(c) for c in args.connections.split(",")]
    for tool in ("wrk", "pgbench"):
        if subprocess.run(["which", tool], capture_output=True).returncode != 0:
            print(f"bench: {tool} is not installed (apt-get install {tool})", file=sys.stderr)
            return 2
    with _database(admin_url) as url:
        _migrate(url)
        with _server(url, args.workers) as (base, pids, start_seconds):
            print(f"start: process start to first 200 from /_livez: {start_seconds * 1000:.0f} ms")
            runs: list[Run] = []
            pg: dict[int, float] = {}
            for size in sizes:
                _fill(url, size)
                for c in connections:
                    for endpoint in ("/_livez", "/bench/log", "/_healthz"):
                        run = _wrk(base, endpoint, c, args.duration, url, size)
                        runs.append(run)
                        print(_row(run), flush=True)
                pg[size] = _pgbench(url, args.duration)
                print(f"pgbench, endpoint SQL, 1 transaction per request, -c16, {size:,} rows: {pg[size]:,.0f} tps")
            rss = _rss_mb(pids)
            exact = asyncio.run(_exact_check(base, url, requests=args.exact_requests, concurrency=64))
    # Figures are for reading; the correctness checks also decide the exit code.
    return 0 if _summary(runs, pg, rss, exact, start_seconds) else 1


def _parse() -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", default=os.environ.get("ORCA_BENCH_DATABASE_URL", DEFAULT_URL))
    parser.add_argument("--sizes", default="0,1000000,10000000", help="table sizes to measure at")
    parser.add_argument("--connections", default="16,64", help="wrk connection counts")
    parser.add_argument("--duration", type=int, default=15, help="seconds per wrk run")
    parser.add_argument("--workers", type=int, default=1, help="uvicorn worker processes")
    parser.add_argument("--exact-requests", type=int, default=5000, help="requests in the exact check")
    return parser.parse_args()


@contextmanager
def _database(admin_url: str) -> Iterator[str]:
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {BENCH_DB} WITH (FORCE)")
        conn.execute(f"CREATE DATABASE {BENCH_DB}")
    try:
        yield make_conninfo(admin_url, dbname=BENCH_DB)
    finally:
        with psycopg.connect(admin_url, autocommit=True) as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {BENCH_DB} WITH (FORCE)")


def _migrate(url: str) -> None:
    subprocess.run(
        [sys.executable, "-m", "orca", "migrate"],
        env={**os.environ, "DATABASE_URL": url},
        check=True,
        capture_output=True,
    )


@contextmanager
def _server(url: str, workers: int) -> Iterator[tuple[str, list[int], float]]:
    port = 18_000 + os.getpid() % 1000
    env = {**os.environ, "DATABASE_URL": url, "ORCA_LOG_LEVEL": os.environ.get("ORCA_LOG_LEVEL", "INFO")}
    log = open(Path(tempfile.gettempdir()) / "orca-bench-server.log", "wb")  # noqa: SIM115 - closed below
    started = time.perf_counter()
    process = subprocess.Popen(
        [sys.executable, "-m", "orca", "serve", "--port", str(port), "--workers", str(workers)],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        while True:
            try:
                if httpx.get(f"{base}/_livez", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                if process.poll() is not None or time.perf_counter() - started > 30:
                    raise RuntimeError("the server did not start; see " + log.name) from None
                time.sleep(0.01)
        start_seconds = time.perf_counter() - started
        time.sleep(0.5 if workers > 1 else 0)  # let every worker finish starting
        # With several workers, uvicorn's supervisor only forwards signals: the workers are what to measure.
        pids = _children(process.pid) if workers > 1 else [process.pid]
        yield base, pids, start_seconds
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(30)
        log.close()


def _children(pid: int) -> list[int]:
    out = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True).stdout
    return [int(p) for p in out.split()]


def _fill(url: str, size: int) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        [(current,)] = conn.execute(sql.COUNT_ENTRIES).fetchall()
        if current > 2 * size:
            conn.execute("TRUNCATE access_log")
            current = 0
        if size > current:
            started = time.perf_counter()
            conn.execute("SET synchronous_commit = off")
            conn.execute(
                "INSERT INTO access_log (ip, xff, user_agent, method, path) "
                "SELECT '10.0.0.1', NULL, 'prefill', 'GET', '/prefill/' || g FROM generate_series(1, %s) AS g",
                (size - current,),
            )
            conn.execute("VACUUM ANALYZE access_log")
            # Write the fill's dirty pages now, so that its checkpoint does not land in a measured run.
            conn.execute("CHECKPOINT")
            print(f"filled to {size:,} rows in {time.perf_counter() - started:.1f} s", flush=True)


def _count(url: str) -> int:
    with psycopg.connect(url, autocommit=True) as conn:
        [(n,)] = conn.execute(sql.COUNT_ENTRIES).fetchall()
        return int(n)


def _wrk(base: str, endpoint: str, connections: int, duration: int, url: str, size: int) -> Run:
    before = _count(url)
    out = subprocess.run(
        [
            "wrk",
            "-t2",
            f"-c{connections}",
            f"-d{duration}s",
            "--timeout",
            "10s",
            "-s",
            str(HERE / "report.lua"),
            base + endpoint,
        ],
        capture_output=True,
        text=True,
        timeout=duration + 60,
        check=True,
    ).stdout
    match = re.search(r"^ORCA-BENCH (.*)$", out, re.MULTILINE)
    if match is None:
        raise RuntimeError(f"wrk printed no report:\n{out}")
    r = json.loads(match[1])
    if endpoint == "/bench/log":
        time.sleep(0.5)  # requests cut off by wrk's deadline still finish and commit
        added, ok = _count(url) - before, r["requests"] - r["non2xx"]
        # wrk abandons the requests in flight at its deadline: each may still be committed.
        if not ok <= added <= ok + connections:
            print(f"  !! {ok} answers 200 but {added} new rows", flush=True)
        if size == 0:
            _fill(url, 0)  # "empty" means empty; larger tables may keep the few rows a run adds
    return Run(
        endpoint,
        connections,
        size,
        r["requests"] / (r["duration_us"] / 1e6),
        r["p50_us"] / 1000,
        r["p99_us"] / 1000,
        r["max_us"] / 1000,
        r["non2xx"],
        r["socket_errors"],
        r["requests"],
    )


def _pgbench(url: str, duration: int) -> float:
    statement = sql.LOG_AND_LATEST % ("""'[["127.0.0.1", null, "pgbench", "GET", "/pgbench"]]'""",)
    with tempfile.NamedTemporaryFile("w", suffix=".sql", delete=False) as script:
        script.write(" ".join(statement.split()) + ";\n")
    try:
        out = subprocess.run(
            ["pgbench", "-n", "-c16", "-j2", f"-T{duration}", "-M", "prepared", "-f", script.name, url],
            capture_output=True,
            text=True,
            timeout=duration + 60,
            check=True,
        ).stdout
    finally:
        os.unlink(script.name)
    match = re.search(r"tps = ([\d.]+)", out)
    return float(match[1]) if match else float("nan")


def _rss_mb(pids: list[int]) -> list[float]:
    sizes = []
    for pid in pids:
        status = Path(f"/proc/{pid}/status").read_text()
        match = re.search(r"VmRSS:\s+(\d+) kB", status)
        if match:
            sizes.append(int(match[1]) / 1024)
    return sizes


async def _exact_check(base: str, url: str, *, requests: int, concurrency: int) -> dict[str, int]:
    before = _count(url)
    statuses: list[int] = []
    queue = iter(range(requests))

    async def client(http: httpx.AsyncClient) -> None:
        for i in queue:
            statuses.append((await http.get(f"/bench/exact/{i}")).status_code)

    limits = httpx.Limits(max_connections=concurrency)
    async with httpx.AsyncClient(base_url=base, limits=limits, timeout=30) as http:
        await asyncio.gather(*(client(http) for _ in range(concurrency)))
    return {"requests": requests, "ok": statuses.count(200), "rows": _count(url) - before}


def _row(run: Run) -> str:
    return (
        f"{run.endpoint:<11} c={run.connections:<3} rows={run.rows:>10,}  {run.rps:>9,.0f} req/s  "
        f"p50 {run.p50_ms:6.2f} ms  p99 {run.p99_ms:6.2f} ms  max {run.max_ms:7.1f} ms  "
        f"non-2xx {run.non2xx}  socket errors {run.socket_errors}"
    )


def _summary(runs: list[Run], pg: dict[int, float], rss: list[float], exact: dict[str, int], start: float) -> bool:
    def find(endpoint: str, c: int, rows: int) -> Run:
        return next(r for r in runs if (r.endpoint, r.connections, r.rows) == (endpoint, c, rows))

    sizes = sorted({r.rows for r in runs})
    conns = sorted({r.connections for r in runs})
    print(
        "\n| rows | conns | /_livez req/s | logging req/s | logging / floor | logging p50 | logging p99 "
        "| /_healthz req/s | /_healthz p99 | pgbench tps |"
    )
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for size in sizes:
        for c in conns:
            live, log, health = find("/_livez", c, size), find("/bench/log", c, size), find("/_healthz", c, size)
            print(
                f"| {size:,} | {c} | {live.rps:,.0f} | {log.rps:,.0f} | {log.rps / live.rps:.2f} "
                f"| {log.p50_ms:.2f} ms | {log.p99_ms:.2f} ms | {health.rps:,.0f} | {health.p99_ms:.2f} ms "
                f"| {pg.get(size, float('nan')):,.0f} |"
            )
    first, last = sizes[0], sizes[-1]
    for c in conns:
        empty, full = find("/bench/log", c, first), find("/bench/log", c, last)
        print(
            f"c={c}: logging at {last:,} rows / at {first:,} rows = {full.rps / empty.rps:.2f}; "
            f"logging at {first:,} rows / original's best ({ORIGINAL_BEST:.0f}) = {empty.rps / ORIGINAL_BEST:.1f}x"
        )
    print(f"process start to first /_livez 200: {start * 1000:.0f} ms")
    print("resident memory per worker after the runs: " + ", ".join(f"{m:.0f} MB" for m in rss))
    exact_ok = exact["ok"] == exact["rows"] == exact["requests"]
    print(
        f"exact check, 64 concurrent clients: {exact['requests']:,} requests, {exact['ok']:,} answered 200, "
        f"{exact['rows']:,} new rows: " + ("OK" if exact_ok else "FAILED")
    )
    bound = DEFAULT_POOL_TIMEOUT * 1000
    all_ok = exact_ok
    for run in runs:
        if run.endpoint == "/bench/log" and run.connections == max(conns):
            ok = run.max_ms < bound and run.non2xx == 0
            all_ok = all_ok and ok
            print(
                f"slowest logging answer at c={run.connections}, {run.rows:,} rows: {run.max_ms:.0f} ms "
                f"(pool bound {bound:.0f} ms), non-2xx {run.non2xx}: {'OK' if ok else 'FAILED'}"
            )
    return all_ok


if __name__ == "__main__":
    sys.exit(main())
