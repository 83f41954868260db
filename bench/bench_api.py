"""Speed of the scoped institution list of the REST API under load, against a bare Django view.

    .venv/bin/python bench/bench_api.py [--institutions 20000] [--seconds 10] [--clients 8]
                                        [--workers 2] [--database-url URL]

A fresh database is made and migrated (a temporary SQLite file, or a PostgreSQL database created
beside the one the URL names and dropped afterwards); the demo city is loaded and
``--institutions`` synthetic institutions are generated in Xiaogan with the registry's generator.
Tokens are made for the city supervisor and for 文昌社区's coordinator.

gunicorn then serves Bihuan (``--workers`` processes, one thread each, database connections kept
between requests) with one extra route that exists only in this benchmark's URL configuration:
``/bench/bare/``, a plain Django view returning the same 20 rows as the API's first page with
``.values()`` and no scope, no serializer, no authentication. A second process puts load on each
target in turn over keep-alive connections on loopback (``--clients`` threads, ``--seconds`` after a
short warm-up, bounded in time) and reports requests per second and the 99th-percentile latency.

Printed as ratios to the bare view measured by the same server in the same run (goal ≥ 0.5):
throughput ratio = API rps ÷ bare rps; latency ratio = bare p99 ÷ API p99.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

from scratch import django_on, fresh_databases

ROOT = Path(__file__).resolve().parent.parent
PAGE = "/api/v1/institutions/?limit=20"
BARE = "/bench/bare/"


def _parse() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--institutions", type=int, default=20_000)
    parser.add_argument("--seconds", type=float, default=10.0, help="Measured seconds per target.")
    parser.add_argument("--clients", type=int, default=8, help="Concurrent keep-alive clients.")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn worker processes.")
    parser.add_argument(
        "--database-url", default="", help="A PostgreSQL URL (default: a temporary SQLite file)."
    )
    parser.add_argument(
        "--load", nargs=3, metavar=("PORT", "PATH", "TOKEN"), help=argparse.SUPPRESS
    )
    return parser.parse_args()


# --- the load, run in a second process ------------------------------------------------------


def _load(port: int, path: str, token: str, seconds: float, clients: int) -> dict[str, float]:
    """Hammer one URL from ``clients`` threads for ``seconds``; rps and latency percentiles."""
    headers = {"Connection": "keep-alive", "Accept": "application/json"}
    if token != "-":
        headers["Authorization"] = f"Token {token}"
    latencies: list[list[float]] = [[] for _ in range(clients)]
    errors = [0] * clients
    stop_at = time.perf_counter() + seconds

    def client(slot: int) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        while time.perf_counter() < stop_at:
            started = time.perf_counter()
            try:
                conn.request("GET", path, headers=headers)
                response = conn.getresponse()
                response.read()
                ok = response.status == 200
            except (OSError, http.client.HTTPException):
                ok = False
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            if ok:
                latencies[slot].append(time.perf_counter() - started)
            else:
                errors[slot] += 1
        conn.close()

    threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
    began = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - began
    every = sorted(x for slot in latencies for x in slot)
    if not every:
        return {"rps": 0.0, "p50_ms": 0.0, "p99_ms": 0.0, "requests": 0, "errors": sum(errors)}
    return {
        "rps": len(every) / elapsed,
        "p50_ms": statistics.median(every) * 1000,
        "p99_ms": every[min(len(every) - 1, int(len(every) * 0.99))] * 1000,
        "requests": len(every),
        "errors": sum(errors),
    }


def _measure(port: int, path: str, token: str, args: argparse.Namespace) -> dict[str, float]:
    """Warm up, then run the load from a second process (not a thread of this one)."""
    command = [sys.executable, __file__, "--load", str(port), path, token]
    flags = ["--clients", str(args.clients)]
    subprocess.run([*command, *flags, "--seconds", "2"], check=True, capture_output=True)
    done = subprocess.run(
        [*command, *flags, "--seconds", str(args.seconds)],
        check=True,
        capture_output=True,
        text=True,
    )
    return json.loads(done.stdout)


# --- the server and its data ----------------------------------------------------------------


def _setup(url: str, institutions: int) -> dict[str, str]:
    """Migrate, load the demo city, generate institutions; tokens for two personas."""
    django_on(url)
    from bihuan.accounts.models import User
    from bihuan.api.services import api_token_create
    from bihuan.demo.loader import load_demo
    from bihuan.registry.demo import load_demo_registry
    from bihuan.registry.generator import RegistryParams, institutions_generate
    from bihuan.territory.models import Region

    load_demo()
    load_demo_registry()
    institutions_generate(
        within=Region.objects.get(code="420900"), params=RegistryParams(count=institutions)
    )
    # Statistics as autovacuum would gather them on a live database: without them PostgreSQL
    # plans the freshly loaded tables blind (a hash join over every row instead of 21 index reads).
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    tokens = {}
    for username in ("supervisor", "wenchang"):
        _token, key = api_token_create(actor=User.objects.get(username=username), name="bench")
        tokens[username] = key
    from django.db import connections

    connections.close_all()
    return tokens


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _serve(url: str, workers: int) -> tuple[subprocess.Popen[bytes], int]:
    port = _free_port()
    env = dict(
        os.environ,
        DATABASE_URL=url,
        DJANGO_SETTINGS_MODULE="bench_api_settings",
        PYTHONPATH=os.pathsep.join([str(ROOT / "bench"), str(ROOT)]),
    )
    server = subprocess.Popen(
        [
            str(Path(sys.executable).with_name("gunicorn")),
            "config.wsgi",
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            str(workers),
            "--threads",
            "1",
            "--keep-alive",
            "30",
            "--log-level",
            "warning",
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    deadline = time.time() + 60
    while time.time() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return server, port
        except OSError:
            time.sleep(0.2)
    server.kill()
    raise SystemExit("gunicorn did not start")


def _same_rows(port: int, token: str) -> None:
    """The bare view and the API's first page must hold the same institutions."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    conn.request("GET", PAGE, headers={"Authorization": f"Token {token}"})
    api = json.loads(conn.getresponse().read())
    conn.request("GET", BARE)
    bare = json.loads(conn.getresponse().read())
    conn.close()
    api_ids = [row["id"] for row in api["results"]]
    bare_ids = [row["pk"] for row in bare]
    if api_ids != bare_ids:
        raise SystemExit(f"the two views differ: {api_ids} vs {bare_ids}")


def main() -> None:
    args = _parse()
    if args.load:
        port, path, token = args.load
        print(json.dumps(_load(int(port), path, token, args.seconds, args.clients)))
        return
    with fresh_databases(args.database_url, "api") as (url,):
        tokens = _setup(url, args.institutions)
        server, port = _serve(url, args.workers)
        try:
            _same_rows(port, tokens["supervisor"])
            bare = _measure(port, BARE, "-", args)
            results = {
                "supervisor (city)": _measure(port, PAGE, tokens["supervisor"], args),
                "coordinator (文昌社区)": _measure(port, PAGE, tokens["wenchang"], args),
            }
        finally:
            server.send_signal(signal.SIGTERM)
            server.wait(timeout=30)
    engine = "PostgreSQL" if args.database_url else "SQLite"
    print(
        f"{engine}; {args.institutions:,} generated institutions; {args.workers} gunicorn "
        f"workers; {args.clients} keep-alive clients; {args.seconds:g} s per target"
    )
    print(
        f"{'target':<24}{'rps':>10}{'p50 ms':>10}{'p99 ms':>10}{'rps ratio':>12}{'p99 ratio':>12}"
    )
    print(
        f"{'bare view (unscoped)':<24}{bare['rps']:>10.0f}{bare['p50_ms']:>10.1f}"
        f"{bare['p99_ms']:>10.1f}{1:>12.2f}{1:>12.2f}"
    )
    for name, row in results.items():
        print(
            f"{name:<24}{row['rps']:>10.0f}{row['p50_ms']:>10.1f}{row['p99_ms']:>10.1f}"
            f"{row['rps'] / bare['rps']:>12.2f}{bare['p99_ms'] / row['p99_ms']:>12.2f}"
        )
    failed = bare["errors"] + sum(row["errors"] for row in results.values())
    if failed:
        print(f"{failed} requests failed")


if __name__ == "__main__":
    main()
