#!/usr/bin/env python
"""Load and fault suite: inspectors and officers at work while the worker and PostgreSQL fail.

    .venv/bin/python reliability/run.py --size small|full [--max-seconds N] [--keep]

A throw-away PostgreSQL cluster of its own (``initdb`` into a temporary folder, run as the
``postgres`` OS user, on a free loopback port, ``fsync=off``), so that restarting it disturbs
nothing else on the machine. It is migrated, the demo city is loaded, and the load's data is made
with the project's own generators: a synthetic province (``bihuan.demo.generator``) with its
inspectors and officers, institutions (``bihuan.registry.generator``), a screening round opened and
issued through ``round_open``/``round_issue``, and dispatched leads with their work orders
(``bihuan.leads.generator``).

gunicorn serves ``config.wsgi`` with ``reliability.settings`` (DEBUG off, persistent connections
with health checks) and ``manage.py db_worker`` runs the task queue. A second process
(``reliability/load.py``) then plays every inspector on the phone pages (open the checklist, start,
upload 1–2 JPEG photos, submit) and every officer on /api/v1/ (read, sign, read, reply, with
If-Match and Idempotency-Key), retrying connection errors and 5xx with the same ids. In the middle
of the load the worker is killed with SIGKILL while it runs a job and restarted, and PostgreSQL is
restarted (``pg_ctl restart -m fast``).

Printed: requests, throughput, p50/p99 latency per kind, errors by kind, retries; then the recount
(every inspection a client believes submitted exists once by client_id with one version and its
photos, none extra; every acknowledged work-order action is in the audit log exactly once), the
task queue after recovery, ``check_loop`` and ``check_figures``. Exits 1 when anything was lost or
duplicated, a client got a wrong answer, or a check is dirty. Everything started is stopped on
exit, on failure and on Ctrl-C; the whole run is bounded by ``--max-seconds``.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
PASSWORD = "Reliab1lity#2026"  # noqa: S105 - the synthetic accounts' password, not a secret
SETTINGS = "reliability.settings"


@dataclass(frozen=True)
class Size:
    inspectors: int
    officers: int
    items: int  # inspections per inspector
    orders: int  # work orders per officer (each signed, then replied to)
    districts: int
    communities: int
    gunicorn_workers: int
    gunicorn_threads: int


SIZES = {
    "small": Size(20, 5, 2, 2, 2, 6, 2, 4),
    "full": Size(200, 50, 2, 2, 10, 40, 3, 4),
}


def _parse(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument(
        "--size",
        choices=sorted(SIZES),
        default="small",
        help="small (CI): 20 inspectors and 5 officers; full: 200 and 50 (default small).",
    )
    parser.add_argument(
        "--max-seconds",
        type=float,
        default=0,
        help="Stop everything after this many seconds (default: 240 small, 900 full).",
    )
    parser.add_argument(
        "--keep", action="store_true", help="Keep the temporary folder (logs, data) for a look."
    )
    parser.add_argument(
        "--load", nargs=3, metavar=("PLAN", "OUT", "PROGRESS"), help=argparse.SUPPRESS
    )
    args = parser.parse_args(argv)
    if not args.max_seconds:
        args.max_seconds = 240.0 if args.size == "small" else 900.0
    return args


def say(text: str) -> None:
    print(f"[{time.strftime('%H:%M:%S', time.gmtime())} UTC] {text}", flush=True)


class Failed(Exception):
    """The suite cannot go on (set-up, a process that would not start, the time bound)."""


# --------------------------------------------------------------------------- processes


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _wait_port(port: int, seconds: float, process: subprocess.Popen[bytes] | None = None) -> None:
    deadline = time.time() + seconds
    while time.time() < deadline:
        if process is not None and process.poll() is not None:
            raise Failed(f"process exited with status {process.returncode} before listening")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            time.sleep(0.1)
    raise Failed(f"nothing listens on 127.0.0.1:{port} after {seconds:.0f} s")


class Cluster:
    """A PostgreSQL cluster of the suite's own, owned by the ``postgres`` OS user."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.data = folder / "pgdata"
        self.log = folder / "postgresql.log"
        self.port = _free_port()
        self.bin = self._binaries()
        self.running = False

    @staticmethod
    def _binaries() -> Path:
        found = sorted(
            Path("/usr/lib/postgresql").glob("*/bin/pg_ctl"),
            key=lambda p: int(p.parent.parent.name) if p.parent.parent.name.isdigit() else 0,
        )
        if not found:
            raise Failed(
                "PostgreSQL's server binaries are missing (no /usr/lib/postgresql/<major>/bin/"
                "pg_ctl): install the postgresql package to run this suite."
            )
        if os.geteuid() == 0 and shutil.which("runuser") is None:
            raise Failed("runuser is missing: it runs initdb and pg_ctl as the postgres user.")
        return found[-1].parent

    def _as_postgres(self, *command: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        # PostgreSQL refuses to run as root: as root, run it as the postgres user.
        prefix = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        return subprocess.run(  # noqa: S603 - fixed binaries, our own arguments
            [*prefix, *command],
            check=check,
            capture_output=True,
            text=True,
            timeout=120,
        )

    def start(self) -> None:
        if os.geteuid() == 0:
            shutil.chown(self.folder, user="postgres")
        self._as_postgres(
            str(self.bin / "initdb"),
            "-D",
            str(self.data),
            "-U",
            "postgres",
            "--auth=trust",
            "-E",
            "UTF8",
            "--no-locale",
        )
        options = (
            f"-p {self.port} -c listen_addresses=127.0.0.1 -c unix_socket_directories={self.folder}"
            # Speed over durability: a scratch cluster that is thrown away (a crash of the
            # machine, not a restart of PostgreSQL, would lose data with these).
            " -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
            " -c max_connections=100 -c shared_buffers=128MB"
        )
        self._as_postgres(
            str(self.bin / "pg_ctl"),
            "-D",
            str(self.data),
            "-o",
            options,
            "-l",
            str(self.log),
            "-w",
            "-t",
            "60",
            "start",
        )
        self.running = True

    def restart(self) -> float:
        began = time.perf_counter()
        self._as_postgres(
            str(self.bin / "pg_ctl"),
            "-D",
            str(self.data),
            "-l",
            str(self.log),
            "-m",
            "fast",
            "-w",
            "-t",
            "60",
            "restart",
        )
        return time.perf_counter() - began

    def stop(self) -> None:
        if self.running:
            self._as_postgres(
                str(self.bin / "pg_ctl"),
                "-D",
                str(self.data),
                "-m",
                "immediate",
                "-w",
                "stop",
                check=False,
            )
            self.running = False

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/bihuan"


class Processes:
    """Every child the suite starts, stopped on the way out whatever happens."""

    def __init__(self, env: dict[str, str], folder: Path) -> None:
        self.env = env
        self.folder = folder
        self.children: dict[str, subprocess.Popen[bytes]] = {}
        self.logs: list[Any] = []

    def start(self, name: str, command: list[str]) -> subprocess.Popen[bytes]:
        log = (self.folder / f"{name}.log").open("ab")
        self.logs.append(log)
        child = subprocess.Popen(  # noqa: S603 - our own interpreter and arguments
            command, cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT
        )
        self.children[name] = child
        return child

    def stop(self, name: str, sig: int = signal.SIGTERM) -> None:
        child = self.children.pop(name, None)
        if child is None or child.poll() is not None:
            return
        child.send_signal(sig)
        try:
            child.wait(timeout=15)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait(timeout=15)

    def stop_all(self) -> None:
        for name in list(self.children):
            self.stop(name)
        for log in self.logs:
            log.close()


# --------------------------------------------------------------------------- data


def _django(url: str, folder: Path) -> None:
    os.environ.update(
        DATABASE_URL=url,
        DJANGO_SETTINGS_MODULE=SETTINGS,
        MEDIA_ROOT=str(folder / "media"),
        STATIC_ROOT=str(folder / "static"),
    )
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()


def _setup(size: Size, port: int, plan_path: Path) -> dict[str, Any]:
    """Migrate, load the demo city, generate the province, round and work orders; write the plan."""
    from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
    from django.contrib.sessions.backends.db import SessionStore
    from django.core.management import call_command
    from django.db import connections
    from django.utils import timezone

    call_command("migrate", verbosity=0)
    say("  migrated")
    call_command("load_demo", no_history=True, quiet_logins=True, verbosity=0)
    say("  migrated, demo city loaded")

    from bihuan.accounts.models import Role, User
    from bihuan.api.services import api_token_create
    from bihuan.audit.services import event_record
    from bihuan.demo.generator import GeneratorParams, territory_generate
    from bihuan.leads.generator import generate_leads
    from bihuan.leads.selectors import work_orders_handled_by
    from bihuan.leads.workflow import LeadStatus, OrderStatus
    from bihuan.registry.generator import RegistryParams, institutions_generate
    from bihuan.screening import round_services
    from bihuan.screening.models import TaskItem
    from bihuan.screening.selectors import published_checklists
    from reliability.answers import checklist_answers

    # The generator grants one officer per 100 users; some departments get no order: twice as many.
    generated = territory_generate(
        GeneratorParams(
            districts=size.districts,
            streets=size.districts,
            communities=size.communities,
            schools=0,
            users=max(2000, size.officers * 200),
            inspectors=size.inspectors,
            seed=11,
        ),
        password=PASSWORD,
    )
    province = generated.province
    say("  province generated")
    staff = size.inspectors + size.communities  # coordinators take tables too
    institutions_generate(
        within=province, params=RegistryParams(count=int(staff * size.items * 1.3) + 10, seed=11)
    )
    supervisor = User.objects.get(assignments__role=Role.SUPERVISOR, assignments__region=province)
    today = timezone.localdate()
    checklist = published_checklists().order_by("pk").first()
    if checklist is None:
        raise Failed("no published checklist: the migrations should have published the default")
    round_ = round_services.round_open(
        actor=supervisor,
        region=province,
        name="可靠性测试轮次",
        starts_on=today,
        ends_on=today + datetime.timedelta(days=30),
        checklist=checklist,
    )
    round_services.round_issue(actor=supervisor, round_=round_)
    say("  round issued")
    generate_leads(
        count=max(300, size.officers * 30), status=LeadStatus.DISPATCHED, within=province, seed=11
    )

    inspectors = list(
        User.objects.filter(
            assignments__role=Role.INSPECTOR, assignments__region__path__startswith=province.path
        )
        .order_by("username")
        .distinct()
    )
    officers = list(
        User.objects.filter(
            assignments__role=Role.OFFICER, assignments__region__path__startswith=province.path
        )
        .order_by("username")
        .distinct()
    )
    # The generated accounts start with an initial password to change; the load skips that step.
    users = [*inspectors, *officers]
    User.objects.filter(pk__in=[u.pk for u in users]).update(must_change_password=False)
    event_record(
        actor=None,
        verb="reliability.accounts_prepared",
        obj=province,
        after={"users": len(users), "must_change_password": False},
        actor_label="reliability suite",
    )

    plan_inspectors = []
    for user in inspectors:
        items = list(
            TaskItem.objects.filter(task__round=round_, task__inspector=user)
            .order_by("position", "pk")
            .values_list("pk", flat=True)[: size.items]
        )
        if not items:
            continue
        session = SessionStore()
        session[SESSION_KEY] = str(user.pk)
        session[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
        session[HASH_SESSION_KEY] = user.get_session_auth_hash()
        session.create()
        plan_inspectors.append(
            {"user": user.username, "session": session.session_key, "items": items}
        )
        if len(plan_inspectors) == size.inspectors:
            break
    if len(plan_inspectors) < size.inspectors:
        raise Failed(f"only {len(plan_inspectors)} inspectors got task items")

    taken: set[int] = set()
    plan_officers = []
    for user in officers:
        mine = [
            pk
            for pk in work_orders_handled_by(user)
            .filter(status=OrderStatus.AWAITING)
            .order_by("pk")
            .values_list("pk", flat=True)
            if pk not in taken
        ][: size.orders]
        if len(mine) < size.orders:
            continue
        taken.update(mine)
        _token, key = api_token_create(actor=user, name="reliability")
        plan_officers.append({"user": user.username, "token": key, "orders": mine})
        if len(plan_officers) == size.officers:
            break
    if len(plan_officers) < size.officers:
        raise Failed(f"only {len(plan_officers)} officers have {size.orders} awaiting orders")
    answers, photo_questions = checklist_answers(round_.checklist.definition or {})
    plan = {
        "port": port,
        "round": round_.pk,
        "answers": answers,
        "photo_questions": photo_questions,
        "inspectors": plan_inspectors,
        "officers": plan_officers,
    }
    plan_path.write_text(json.dumps(plan))
    connections.close_all()
    return plan


# --------------------------------------------------------------------------- faults


def _queue_counts() -> Counter[str]:
    from django_tasks_db.models import DBTaskResult

    return Counter(DBTaskResult.objects.values_list("status", flat=True))


def _drained(live: set[str]) -> bool:
    """Nothing waits in the queue and no live worker is still running a job."""
    from django_tasks_db.models import DBTaskResult

    if DBTaskResult.objects.filter(status="READY").exists():
        return False
    running = DBTaskResult.objects.filter(status="RUNNING").values_list("worker_ids", flat=True)
    return not any(set(workers) & live for workers in running)


def _kill_worker_mid_job(procs: Processes, worker_cmd: list[str], ids: list[str]) -> dict[str, Any]:
    """Enqueue a long job, SIGKILL the worker once the job is RUNNING, start a new worker."""
    from django.db import connections
    from django_tasks_db.models import DBTaskResult

    from bihuan.reports.tasks import refresh_figures

    job = refresh_figures.enqueue("reliability")
    deadline = time.time() + 20
    running = None
    while time.time() < deadline:
        running = (
            DBTaskResult.objects.filter(status="RUNNING").values_list("pk", "task_path").first()
        )
        if running is not None:
            break
        time.sleep(0.02)
    worker = procs.children["worker"]
    worker.send_signal(signal.SIGKILL)
    worker.wait(timeout=15)
    procs.children.pop("worker")
    killed_id = ids[-1]
    connections.close_all()
    time.sleep(1)
    ids.append(f"worker{len(ids) + 1}")
    procs.start("worker", [*worker_cmd, "--worker-id", ids[-1]])
    return {
        "job": str(job.id),
        "running_at_kill": None if running is None else f"{running[1]} ({running[0]})",
        "killed_worker": killed_id,
    }


# --------------------------------------------------------------------------- recount


def _recount(
    plan: dict[str, Any], results: dict[str, Any], dead_workers: set[str]
) -> dict[str, Any]:
    """Compare what the clients believe with the database; list every difference."""
    from django.db.models import Count

    from bihuan.audit.models import Event
    from bihuan.leads.models import WorkOrder
    from bihuan.screening.models import Inspection, InspectionPhoto, InspectionVersion

    problems: list[str] = []
    believed = [v for v in results["inspections"] if v["state"] == "submitted"]
    unsure = [v for v in results["inspections"] if v["state"] != "submitted"]
    by_client = {
        str(row["client_id"]): row
        for row in Inspection.objects.filter(task__round_id=plan["round"]).values(
            "pk", "client_id", "status"
        )
    }
    versions = {
        str(client_id): n
        for client_id, n in InspectionVersion.objects.filter(
            inspection__task__round_id=plan["round"]
        )
        .values("inspection__client_id")
        .annotate(n=Count("pk"))
        .values_list("inspection__client_id", "n")
    }
    for visit in believed:
        cid = visit["client_id"]
        if cid not in by_client:
            problems.append(f"lost: inspection {cid} (item {visit['item']}) is not in the database")
            continue
        if versions.get(cid, 0) != 1:
            problems.append(f"duplicated: inspection {cid} has {versions.get(cid, 0)} versions")
        if InspectionVersion.objects.filter(submission_id=visit["submission_id"]).count() != 1:
            problems.append(f"lost: submission {visit['submission_id']} has no version")
        photos = InspectionPhoto.objects.filter(
            inspection_id=by_client[cid]["pk"], removed_at__isnull=True
        )
        if sorted(str(p) for p in photos.values_list("client_id", flat=True)) != sorted(
            visit["photos"]
        ):
            problems.append(f"photos differ: inspection {cid}")
    known = {v["client_id"] for v in results["inspections"]}
    extra = [cid for cid in versions if cid not in known]
    problems += [f"extra: inspection {cid} submitted by nobody in the load" for cid in extra]
    unsure_done = sum(1 for v in unsure if versions.get(v["client_id"], 0) >= 1)
    problems += [
        f"duplicated: unacknowledged inspection {v['client_id']} has "
        f"{versions[v['client_id']]} versions"
        for v in unsure
        if versions.get(v["client_id"], 0) > 1
    ]

    acked = {"signed": 0, "replied": 0}
    order_ids = [o["order"] for o in results["orders"]]
    counts: dict[tuple[str, str], int] = defaultdict(int)
    for object_id, verb in Event.objects.filter(
        object_type="leads.workorder",
        object_id__in=[str(pk) for pk in order_ids],
        verb__in=["work_order.signed", "work_order.replied"],
    ).values_list("object_id", "verb"):
        counts[(object_id, verb)] += 1
    status = dict(WorkOrder.objects.filter(pk__in=order_ids).values_list("pk", "status"))
    for order in results["orders"]:
        pk = str(order["order"])
        for step in ("signed", "replied"):
            n = counts[(pk, f"work_order.{step}")]
            if n > 1:
                problems.append(f"duplicated: work order {pk} was {step} {n} times")
            if order[step]:
                acked[step] += 1
                if n != 1:
                    problems.append(f"lost: work order {pk} acknowledged {step} but logged {n}")
        if order["replied"] and status[order["order"]] != "replied":
            problems.append(f"lost: work order {pk} is {status[order['order']]}, not replied")

    from django_tasks_db.models import DBTaskResult

    stuck = list(
        DBTaskResult.objects.filter(status__in=["RUNNING", "READY"]).values_list(
            "pk", "task_path", "status", "worker_ids"
        )
    )
    stranded = [
        row for row in stuck if row[2] == "RUNNING" and set(row[3]) <= dead_workers and row[3]
    ]
    for row in stuck:
        if row not in stranded:
            problems.append(f"job not run: {row[1]} {row[0]} is {row[2]} (workers {row[3]})")
    return {
        "problems": problems,
        "believed": len(believed),
        "unsure": len(unsure),
        "unsure_done": unsure_done,
        "unsure_states": Counter(_state_kind(v["state"]) for v in unsure),
        "acked": acked,
        "orders_unfinished": Counter(
            _state_kind(o["state"]) for o in results["orders"] if o["state"] != "replied"
        ),
        "rereads": sum(o.get("reread", 0) for o in results["orders"]),
        "queue": _queue_counts(),
        "stranded": stranded,
    }


def _state_kind(state: str) -> str:
    """'gave up: officer: sign /api/…: timeout' → 'gave up (officer: sign, timeout)'."""
    if not state.startswith("gave up: "):
        return state
    detail = state.removeprefix("gave up: ")
    kind = detail.split(" /", 1)[0]
    return f"gave up ({kind}, {detail.rsplit(': ', 1)[-1]})"


def _check(command: str, *args: str) -> tuple[int, str]:
    """Run one of the project's check commands here (no second Django start-up): status, output."""
    import io

    from django.core.management import call_command

    out = io.StringIO()
    try:
        call_command(command, *args, stdout=out, stderr=out)
    except SystemExit as exc:  # the checks exit 1 when they find problems
        return int(exc.code or 0), out.getvalue().strip()
    return 0, out.getvalue().strip()


# --------------------------------------------------------------------------- report


def _percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * share))]


def _print_load(results: dict[str, Any]) -> None:
    attempts = results["attempts"]
    by_kind: dict[str, list[tuple[float, str]]] = defaultdict(list)
    for kind, seconds, outcome in attempts:
        by_kind[kind].append((seconds, outcome))
    served = [
        a
        for a in attempts
        if a[2] not in {"connection refused", "connection reset", "timeout", "connection error"}
    ]
    print()
    print(
        f"Requests: {len(attempts)} sent, {len(served)} answered, in {results['elapsed']:.1f} s "
        f"({len(served) / results['elapsed']:.1f} answered/s); retries {results['retries']}"
    )
    print(f"{'kind':<28}{'requests':>9}{'p50 ms':>9}{'p99 ms':>9}  outcomes")
    for kind in sorted(by_kind):
        rows = by_kind[kind]
        answered = [s for s, o in rows if o == "ok"] or [s for s, _o in rows]
        outcomes = Counter(o for _s, o in rows)
        print(
            f"{kind:<28}{len(rows):>9}{statistics.median(answered) * 1000:>9.0f}"
            f"{_percentile(answered, 0.99) * 1000:>9.0f}  "
            + ", ".join(f"{k} {v}" for k, v in sorted(outcomes.items()))
        )
    for kind, samples in sorted(results["samples"].items()):
        for sample in samples:
            print(f"  e.g. {kind}: " + " ".join(sample.split())[:200])
    errors = Counter(o for _k, _s, o in attempts if o != "ok")
    print("Errors by kind: " + (", ".join(f"{k} {v}" for k, v in sorted(errors.items())) or "none"))


# --------------------------------------------------------------------------- main


@contextlib.contextmanager
def _terminated_as_exit() -> Iterator[None]:
    """SIGTERM unwinds like Ctrl-C, so the finally blocks stop every child."""

    def stop(signum: int, frame: Any) -> None:
        raise SystemExit(128 + signum)

    previous = signal.signal(signal.SIGTERM, stop)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def main(argv: list[str] | None = None) -> int:
    args = _parse(argv)
    if args.load:
        sys.path.insert(0, str(Path(__file__).resolve().parent))
        from load import run as run_load

        plan_file, out, progress = (Path(p) for p in args.load)
        run_load(plan_file, out, progress, args.max_seconds)
        return 0
    size = SIZES[args.size]
    began = time.time()
    deadline = began + args.max_seconds
    folder = Path(tempfile.mkdtemp(prefix="bihuan-reliability-"))
    cluster = None
    procs = None
    with _terminated_as_exit():
        try:
            cluster = Cluster(folder)
            say(
                f"PostgreSQL {cluster.bin.parent.name}: own cluster in {folder}, "
                f"port {cluster.port} (fsync=off)"
            )
            cluster.start()
            import psycopg

            with psycopg.connect(cluster.url.rsplit("/", 1)[0] + "/postgres", autocommit=True) as c:
                c.execute("CREATE DATABASE bihuan")
            _django(cluster.url, folder)
            port = _free_port()
            say("Set-up: migrate, demo city, synthetic province, round, work orders")
            plan_path = folder / "plan.json"
            plan = _setup(size, port, plan_path)
            # Requests a clean run makes: page, start, 1–2 photos, submit; read, sign, read, reply.
            n_requests = 4.5 * sum(len(p["items"]) for p in plan["inspectors"]) + 4 * sum(
                len(p["orders"]) for p in plan["officers"]
            )
            say(
                f"Load: {len(plan['inspectors'])} inspectors × {size.items} inspections, "
                f"{len(plan['officers'])} officers × {size.orders} work orders "
                f"({time.time() - began:.0f} s so far)"
            )
            env = dict(os.environ, PYTHONPATH=str(ROOT), PYTHONUNBUFFERED="1")
            procs = Processes(env, folder)
            gunicorn = str(Path(sys.executable).with_name("gunicorn"))
            server = procs.start(
                "gunicorn",
                [
                    gunicorn,
                    "config.wsgi",
                    "--bind",
                    f"127.0.0.1:{port}",
                    "--workers",
                    str(size.gunicorn_workers),
                    "--threads",
                    str(size.gunicorn_threads),
                    "--timeout",
                    "60",
                    "--graceful-timeout",
                    "5",
                    "--backlog",
                    "512",
                    "--log-level",
                    "warning",
                ],
            )
            worker_cmd = [
                sys.executable,
                "manage.py",
                "db_worker",
                "--no-reload",
                "--interval",
                "0.5",
                "--no-startup-delay",
                "-v",
                "0",
            ]
            worker_ids = ["worker1"]
            procs.start("worker", [*worker_cmd, "--worker-id", worker_ids[0]])
            _wait_port(port, 60, server)

            out_path, progress_path = folder / "results.json", folder / "progress"
            progress_path.write_text("0")
            load_seconds = max(30.0, deadline - time.time() - 45)
            load = procs.start(
                "load",
                [
                    sys.executable,
                    __file__,
                    "--max-seconds",
                    str(load_seconds),
                    "--load",
                    str(plan_path),
                    str(out_path),
                    str(progress_path),
                ],
            )
            faults: dict[str, Any] = {}
            worker_exits = 0
            load_began = time.time()
            while load.poll() is None:
                if time.time() > deadline:
                    raise Failed("the time bound passed during the load")
                try:
                    done = int(progress_path.read_text() or 0)
                except ValueError:
                    done = 0
                share = done / n_requests
                elapsed = time.time() - load_began
                if "worker" not in faults and (share >= 0.25 or elapsed > load_seconds * 0.25):
                    say(f"Fault 1: kill -9 the task worker mid-job ({share:.0%} of the load done)")
                    faults["worker"] = _kill_worker_mid_job(procs, worker_cmd, worker_ids)
                    say(
                        f"  running at the kill: {faults['worker']['running_at_kill']}; "
                        "worker restarted"
                    )
                elif (
                    "postgres" not in faults
                    and "worker" in faults
                    and (share >= 0.5 or elapsed > load_seconds * 0.5)
                ):
                    say(
                        f"Fault 2: pg_ctl restart -m fast under load ({share:.0%} of the load done)"
                    )
                    from django.db import connections

                    connections.close_all()
                    faults["postgres"] = cluster.restart()
                    say(f"  PostgreSQL back after {faults['postgres']:.1f} s")
                worker = procs.children.get("worker")
                if worker is not None and worker.poll() is not None:
                    # What systemd's Restart=always would do; counted in the report.
                    worker_exits += 1
                    procs.children.pop("worker")
                    say(f"  the task worker exited (status {worker.returncode}); restarting it")
                    worker_ids.append(f"worker{len(worker_ids) + 1}")
                    procs.start("worker", [*worker_cmd, "--worker-id", worker_ids[-1]])
                time.sleep(0.1)
            if load.returncode != 0:
                raise Failed(
                    f"the load process failed (status {load.returncode}); its log is load.log "
                    "in the folder that --keep keeps"
                )
            procs.children.pop("load")
            results = json.loads(out_path.read_text())

            say("Load done; letting the worker drain the queue")
            from django.db import connections

            connections.close_all()
            from bihuan.reports.tasks import refresh_figures

            refresh_figures.enqueue("reliability-final")
            live = {worker_ids[-1]}
            dead = set(worker_ids) - live
            drain_until = min(deadline - 20, time.time() + 60)
            while time.time() < drain_until and not _drained(live):
                time.sleep(0.5)
            say("Recount")
            recount = _recount(plan, results, dead)
            loop_status, loop_out = _check("check_loop", "--limit", "20")
            figures_status, figures_out = _check("check_figures")
        finally:
            if procs is not None:
                procs.stop_all()
            if cluster is not None:
                cluster.stop()
            if not args.keep:
                shutil.rmtree(folder, ignore_errors=True)
            else:
                print(f"Kept {folder}")

    _print_load(results)
    print()
    print(
        "Faults: worker killed mid-job "
        f"({faults.get('worker', {}).get('running_at_kill') or 'no job was running'}), "
        f"PostgreSQL restarted ({faults.get('postgres', 0):.1f} s); "
        f"worker exits besides the kill: {worker_exits}"
    )
    print(
        f"Inspections acknowledged: {recount['believed']}; not acknowledged: {recount['unsure']} "
        f"({dict(recount['unsure_states']) or 'none'}; "
        f"{recount['unsure_done']} of them in the database once)"
    )
    print(
        f"Work-order actions acknowledged: signed {recount['acked']['signed']}, replied "
        f"{recount['acked']['replied']} (confirmed by re-reading after 412: {recount['rereads']}); "
        f"unfinished orders: {dict(recount['orders_unfinished']) or 'none'}"
    )
    print(f"Task queue after recovery: {dict(recount['queue'])}")
    for pk, path, _state, workers in recount["stranded"]:
        print(
            f"  stranded RUNNING by a dead worker ({', '.join(workers)}): {path} {pk} — "
            "no lease in django-tasks-db; bihuan.jobs.reaper enqueues it again after "
            "TASKS_STALE_MINUTES"
        )
    print(f"check_loop: {'clean' if loop_status == 0 else 'DIRTY'}")
    if loop_status:
        print(loop_out)
    print(f"check_figures: {'clean' if figures_status == 0 else 'DIRTY'}")
    if figures_status:
        print(figures_out)
    problems = list(recount["problems"])
    if recount["believed"] == 0:
        problems.append("no inspection was acknowledged: the load did nothing")
    print()
    if problems or loop_status or figures_status:
        for problem in problems[:50]:
            print(f"PROBLEM: {problem}")
        print(f"FAILED ({len(problems)} problems) in {time.time() - began:.0f} s")
        return 1
    print(f"PASSED: nothing lost, nothing duplicated; {time.time() - began:.0f} s")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except Failed as exc:
        print(f"reliability: {exc}", file=sys.stderr)
        sys.exit(2)
