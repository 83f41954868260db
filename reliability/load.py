"""The load of the reliability suite: inspectors on the phone pages, officers on the REST API.

Run by ``run.py`` as a second process (``run.py --load PLAN``); it talks HTTP to 127.0.0.1 only
and needs nothing from Django. Every client behaves like the real one: a connection error or a 5xx
is retried with the same ids after a short pause (the phone keeps its ``client_id`` and
``submission_id``; the API client keeps its ``Idempotency-Key``), a 4xx is an answer and is not.
Each request is recorded (kind, latency, outcome); what each client believes it got done is written
out for the recount.
"""

from __future__ import annotations

import http.client
import io
import json
import random
import re
import threading
import time
import uuid
from dataclasses import dataclass, field
from http.cookies import SimpleCookie
from pathlib import Path
from typing import Any

from PIL import Image

RETRY_PAUSE = 0.25
MAX_PAUSE = 2.0
# One try waits this long for its answer (under full load requests queue for tens of seconds);
# a request still failing after RETRY_WINDOW is given up, so that a server that keeps failing
# does not hold the run until its time bound (a PostgreSQL restart takes a second or two).
ANSWER_TIMEOUT = 120.0
RETRY_WINDOW = 300.0
CSRF_INPUT = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')


@dataclass
class Stats:
    """Every attempt: its kind, seconds taken and outcome; shared by all client threads."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    attempts: list[tuple[str, float, str]] = field(default_factory=list)
    retries: int = 0
    done: int = 0
    samples: dict[str, list[str]] = field(default_factory=dict)

    def add(self, kind: str, seconds: float, outcome: str) -> None:
        with self.lock:
            self.attempts.append((kind, seconds, outcome))

    def sample(self, kind: str, status: int, body: bytes) -> None:
        """Keep the first few error answers of each kind, to say what went wrong."""
        with self.lock:
            kept = self.samples.setdefault(kind, [])
            if len(kept) < 3:
                kept.append(f"{status}: {body[:300].decode(errors='replace')}")

    def retried(self) -> None:
        with self.lock:
            self.retries += 1

    def finished_one(self) -> None:
        with self.lock:
            self.done += 1


class GaveUp(Exception):
    """The deadline passed while the request was still being retried."""


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes
    cookies: dict[str, str]

    def json(self) -> Any:
        return json.loads(self.body)


def _try_again(method: str, answer: Answer) -> bool:
    """Would the phone (or the person holding it) send this again with the same ids?

    A 5xx, yes. A page that failed is reloaded. A POST's 400 that is not the view's JSON answer
    is Django's own "session interrupted" page, which it sends when saving the session fails
    (any database error there becomes a 400): inspect.js keeps the visit's and photo's ids and
    sends them again on the next tap, so the load does the same.
    """
    if answer.status >= 500:
        return True
    if method == "GET":
        return answer.status >= 400
    return answer.status == 400 and "json" not in answer.headers.get("content-type", "")


def _outcome(status: int) -> str:
    if status >= 500:
        return "5xx"
    if status >= 400:
        return f"{status}"
    return "ok"


def _connection_error(exc: BaseException) -> str:
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused"
    if isinstance(exc, ConnectionResetError | BrokenPipeError | http.client.RemoteDisconnected):
        return "connection reset"
    if isinstance(exc, TimeoutError):
        return "timeout"
    return "connection error"


class Client:
    """One simulated device: its own connections, cookies, and the retry rule."""

    def __init__(self, port: int, stats: Stats, deadline: float) -> None:
        self.port = port
        self.stats = stats
        self.deadline = deadline
        self.cookies: dict[str, str] = {}

    def send(
        self,
        kind: str,
        method: str,
        path: str,
        *,
        body: bytes | None = None,
        headers: dict[str, str] | None = None,
    ) -> Answer:
        """Send until an answer below 500 comes, pausing between tries; same bytes every time."""
        pause = RETRY_PAUSE
        give_up_at = min(self.deadline, time.time() + RETRY_WINDOW)
        while True:
            sent = dict(headers or {})
            if self.cookies:
                sent["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
            started = time.perf_counter()
            # Never wait past the run's end for one answer.
            timeout = max(1.0, min(ANSWER_TIMEOUT, self.deadline - time.time()))
            conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
            try:
                conn.request(method, path, body=body, headers=sent)
                response = conn.getresponse()
                data = response.read()
                answer = Answer(
                    response.status,
                    {k.lower(): v for k, v in response.getheaders()},
                    data,
                    {},
                )
                for line in response.headers.get_all("Set-Cookie") or []:
                    parsed: SimpleCookie = SimpleCookie()
                    parsed.load(line)
                    for name, morsel in parsed.items():
                        self.cookies[name] = morsel.value
                outcome = _outcome(answer.status)
            except (OSError, http.client.HTTPException) as exc:
                answer = None
                outcome = _connection_error(exc)
            finally:
                conn.close()
            self.stats.add(kind, time.perf_counter() - started, outcome)
            if answer is not None and answer.status >= 400:
                self.stats.sample(kind, answer.status, answer.body)
            if answer is not None and not _try_again(method, answer):
                return answer
            if time.time() + pause > give_up_at:
                raise GaveUp(f"{kind} {path}: {outcome}")
            self.stats.retried()
            time.sleep(pause + random.random() * pause)  # noqa: S311 - jitter, not a secret
            pause = min(MAX_PAUSE, pause * 2)


def _multipart(
    fields: list[tuple[str, str]], files: list[tuple[str, str, bytes]]
) -> tuple[bytes, str]:
    boundary = uuid.uuid4().hex
    out = io.BytesIO()
    for name, value in fields:
        out.write(f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n'.encode())
        out.write(value.encode() + b"\r\n")
    for name, filename, data in files:
        out.write(
            f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"; '
            f'filename="{filename}"\r\nContent-Type: image/jpeg\r\n\r\n'.encode()
        )
        out.write(data + b"\r\n")
    out.write(f"--{boundary}--\r\n".encode())
    return out.getvalue(), f"multipart/form-data; boundary={boundary}"


def photos(count: int, seed: int) -> list[bytes]:
    """A few distinct phone-sized JPEGs (1600 × 1200, as inspect.js scales them)."""
    rng = random.Random(seed)  # noqa: S311 - synthetic images
    made = []
    for _i in range(count):
        small = Image.new("RGB", (40, 30))
        small.putdata(
            [(rng.randrange(256), rng.randrange(256), rng.randrange(256)) for _ in range(1200)]
        )
        out = io.BytesIO()
        small.resize((1600, 1200), Image.Resampling.BILINEAR).save(out, format="JPEG", quality=85)
        made.append(out.getvalue())
    return made


VISIT = [
    ("outcome", "visited"),
    ("note", ""),
    ("latitude", "30.918100"),
    ("longitude", "113.913100"),
    ("accuracy", "15"),
]


def inspector(
    plan: dict[str, Any], port: int, stats: Stats, deadline: float, jpegs: list[bytes]
) -> list[dict[str, Any]]:
    """Open each task item, start the visit, upload 1–2 photos, submit; as the phone does."""
    client = Client(port, stats, deadline)
    client.cookies["sessionid"] = plan["session"]
    rng = random.Random(plan["user"])  # noqa: S311
    results = []
    for item in plan["items"]:
        visit: dict[str, Any] = {
            "item": item,
            "client_id": str(uuid.uuid4()),
            "submission_id": str(uuid.uuid4()),
            "photos": [],
            "state": "unknown",
        }
        results.append(visit)
        try:
            page = client.send(
                "inspector: open checklist", "GET", f"/screening/items/{item}/inspect/"
            )
            found = CSRF_INPUT.search(page.body.decode())
            if page.status != 200 or found is None:
                visit["state"] = f"page {page.status}"
                continue
            headers = {"Accept": "application/json", "X-CSRFToken": found.group(1)}

            def post(
                kind: str,
                url: str,
                fields: list[tuple[str, str]],
                files: list[Any],
                headers: dict[str, str] = headers,
            ) -> Answer:
                body, content_type = _multipart(fields, files)
                return client.send(
                    kind, "POST", url, body=body, headers={**headers, "Content-Type": content_type}
                )

            start = post(
                "inspector: start",
                f"/screening/items/{item}/inspect/",
                [("action", "start"), ("client_id", visit["client_id"])],
                [],
            )
            if start.status != 200:
                visit["state"] = f"start {start.status}"
                continue
            urls = start.json()["urls"]
            visit["inspection"] = start.json()["id"]
            # The photos the checklist insists on, and sometimes one more of the place.
            questions = list(plan["photo_questions"]) or [""]
            if len(questions) < 2 and rng.random() < 0.5:
                questions.append("")
            for question in questions:
                photo_id = str(uuid.uuid4())
                sent = post(
                    "inspector: photo",
                    urls["photo"],
                    [("client_id", photo_id), ("question", question), ("captured_hint", "")],
                    [("photo", "photo.jpg", rng.choice(jpegs))],
                )
                if sent.status != 200:
                    visit["state"] = f"photo {sent.status}"
                    break
                visit["photos"].append(photo_id)
            else:
                fields = [
                    *(tuple(pair) for pair in plan["answers"]),
                    *VISIT,
                    ("client_id", visit["client_id"]),
                    ("submission_id", visit["submission_id"]),
                ]
                done = post("inspector: submit", urls["submit"], fields, [])
                ok = done.status == 200 and done.json().get("ok") is True
                visit["state"] = "submitted" if ok else f"submit {done.status}"
        except GaveUp as exc:
            visit["state"] = f"gave up: {exc}"
        finally:
            stats.finished_one()
    return results


def officer(plan: dict[str, Any], port: int, stats: Stats, deadline: float) -> list[dict[str, Any]]:
    """Sign, then reply to, each work order through /api/v1/ with If-Match and Idempotency-Key."""
    client = Client(port, stats, deadline)
    auth = {"Authorization": f"Token {plan['token']}", "Accept": "application/json"}
    results = []
    for order in plan["orders"]:
        done: dict[str, Any] = {"order": order, "signed": False, "replied": False, "state": ""}
        results.append(done)
        url = f"/api/v1/work-orders/{order}/"
        try:
            for verb, status_after, body in (
                ("sign", "signed", {}),
                ("reply", "replied", {"reply": f"已核查并处理（工单 {order}）"}),
            ):
                read = client.send("officer: read order", "GET", url, headers=auth)
                if read.status != 200:
                    done["state"] = f"read {read.status}"
                    break
                key = str(uuid.uuid4())
                acted = client.send(
                    f"officer: {verb}",
                    "POST",
                    f"{url}{verb}/",
                    body=json.dumps(body).encode(),
                    headers={
                        **auth,
                        "Content-Type": "application/json",
                        "If-Match": read.headers.get("etag", ""),
                        "Idempotency-Key": key,
                    },
                )
                if acted.status == 412:
                    # An earlier try did it but its answer (and stored key) was lost: read again.
                    again = client.send("officer: read order", "GET", url, headers=auth)
                    if again.status == 200 and again.json().get("status") in _AT_OR_AFTER[verb]:
                        done[status_after] = True
                        done["reread"] = done.get("reread", 0) + 1
                        continue
                if acted.status != 200:
                    done["state"] = f"{verb} {acted.status}"
                    break
                done[status_after] = True
            else:
                done["state"] = "replied"
        except GaveUp as exc:
            done["state"] = f"gave up: {exc}"
        finally:
            stats.finished_one()
    return results


_AT_OR_AFTER = {"sign": {"signed", "replied", "accepted"}, "reply": {"replied", "accepted"}}


def run(plan_path: Path, out_path: Path, progress_path: Path, max_seconds: float) -> None:
    """Start every client thread at once, wait for all, and write what each believes it did."""
    plan = json.loads(plan_path.read_text())
    port = int(plan["port"])
    deadline = time.time() + max_seconds
    stats = Stats()
    jpegs = photos(4, seed=7)
    inspections: list[dict[str, Any]] = []
    orders: list[dict[str, Any]] = []
    lock = threading.Lock()

    def as_inspector(p: dict[str, Any]) -> None:
        shared = {"answers": plan["answers"], "photo_questions": plan["photo_questions"]}
        found = inspector({**p, **shared}, port, stats, deadline, jpegs)
        with lock:
            inspections.extend(found)

    def as_officer(p: dict[str, Any]) -> None:
        found = officer(p, port, stats, deadline)
        with lock:
            orders.extend(found)

    threads = [threading.Thread(target=as_inspector, args=(p,)) for p in plan["inspectors"]]
    threads += [threading.Thread(target=as_officer, args=(p,)) for p in plan["officers"]]
    began = time.perf_counter()
    for thread in threads:
        thread.start()
        time.sleep(0.02)  # a short ramp rather than every device at the same instant
    running = True

    def report_progress() -> None:
        while running:
            progress_path.write_text(str(len(stats.attempts)))
            time.sleep(0.2)

    reporter = threading.Thread(target=report_progress, daemon=True)
    reporter.start()
    for thread in threads:
        thread.join()
    running = False
    elapsed = time.perf_counter() - began
    progress_path.write_text(str(len(stats.attempts)))
    out_path.write_text(
        json.dumps(
            {
                "elapsed": elapsed,
                "retries": stats.retries,
                "samples": stats.samples,
                "attempts": stats.attempts,
                "inspections": inspections,
                "orders": orders,
            }
        )
    )
