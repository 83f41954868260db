"""A phone that posts the same submission twice at the same moment makes one inspection version.

Phones on a poor connection resend, and inspectors tap twice. Each visit carries a client_id and
each submission attempt a submission_id; these tests post them concurrently, committed, on SQLite
(WAL journal, transactions IMMEDIATE: the second writer queues at BEGIN) as on PostgreSQL
(``SELECT … FOR UPDATE`` on the inspection makes the second wait, then find the first's version):

- through the services, from threads released together;
- through a live server, over HTTP with the standard library only (session cookie and CSRF
  token, as the phone's browser sends them), both as the page's script posts (JSON) and as the
  plain form does (a redirect to the task page).
Every post must be answered as a success, and exactly one version, one event and one
notification per reviewer must exist afterwards.
"""

from __future__ import annotations

import json
import re
import threading
import urllib.error
import urllib.parse
import urllib.request
import uuid
from collections.abc import Callable
from decimal import Decimal
from http.cookies import SimpleCookie
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.db import connection
from django.test import Client
from django.urls import reverse
from PIL import Image
from playwright.sync_api import Browser, expect
from pytest_django.live_server_helper import LiveServer

from bihuan.accounts.models import User
from bihuan.audit.models import Event
from bihuan.demo.data import DEMO_PASSWORD
from bihuan.notifications.models import Notification
from bihuan.registry import services as registry_services
from bihuan.registry.models import Institution, Source
from bihuan.screening import inspection_services as services
from bihuan.screening.models import Inspection, InspectionVersion, Round
from bihuan.screening.tests import factories as f
from bihuan.screening.workflow import InspectionStatus

POSTS = 4
SCREENSHOTS = Path(settings.BASE_DIR) / "var" / "screenshots"
Outcome = Any


def race(*calls: Callable[[], Any]) -> list[Outcome]:
    """Run the calls in threads released together; each outcome is what it returned or raised."""
    start = threading.Barrier(len(calls))
    outcomes: list[Outcome] = [None] * len(calls)

    def run(index: int, call: Callable[[], Any]) -> None:
        try:
            start.wait(timeout=30)
            outcomes[index] = call()
        except BaseException as exc:  # whatever it was, the test inspects it
            outcomes[index] = exc
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(i, call)) for i, call in enumerate(calls)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=90)
    assert not [t for t in threads if t.is_alive()], "a thread is still waiting"
    return outcomes


def _assert_sqlite_queues_writers() -> None:
    """The configuration these tests rely on for SQLite: WAL, a busy timeout, IMMEDIATE."""
    if connection.vendor != "sqlite":
        return
    with connection.cursor() as cursor:
        cursor.execute("PRAGMA journal_mode")
        assert cursor.fetchone()[0] == "wal"
        cursor.execute("PRAGMA busy_timeout")
        assert cursor.fetchone()[0] >= 5000
    assert connection.transaction_mode == "IMMEDIATE"  # type: ignore[attr-defined]


@pytest.fixture
def round_(live_db: None, demo_city: dict[str, int]) -> Round:
    inspector = User.objects.get(username="yangtiezhu")
    place = registry_services.institution_create(
        actor=None,
        name="文昌启明学科辅导中心",
        region=f.wenchang(),
        source=Source.IMPORT,
        latitude=Decimal("30.918000"),
        longitude=Decimal("113.913000"),
    )
    return f.issued_round(inspector, [place])


@pytest.fixture
def inspection(round_: Round) -> Inspection:
    item = round_.items.get()
    return services.inspection_start(actor=item.task.inspector, client_id=uuid.uuid4(), item=item)


def _values() -> dict[str, str]:
    return {"licence_displayed": "yes", "provides_meals": "no", "students_present": "9"}


def _counts(inspection: Inspection) -> tuple[int, int, int]:
    return (
        InspectionVersion.objects.filter(inspection=inspection).count(),
        Event.objects.filter(
            verb="inspection.submitted",
            object_type="screening.inspection",
            object_id=str(inspection.pk),
        ).count(),
        Notification.objects.filter(key=f"inspection.submitted:{inspection.pk}:1").count(),
    )


def _reviewers() -> int:
    # 文昌社区's coordinator, 孝南区's and the city's supervisors.
    return User.objects.filter(username__in=["wenchang", "xiaonan", "supervisor"]).count()


# ---------------------------------------------------------------------------- through the services


def test_same_submission_from_threads_makes_one_version(inspection: Inspection) -> None:
    _assert_sqlite_queues_writers()
    inspector = inspection.inspector
    submission_id = uuid.uuid4()

    def post() -> InspectionVersion:
        return services.inspection_submit(
            actor=inspector,
            client_id=inspection.client_id,
            submission_id=submission_id,
            values=_values(),
            notes={},
        )

    outcomes = race(*[post for _ in range(POSTS)])

    assert all(isinstance(o, InspectionVersion) for o in outcomes), outcomes
    assert len({o.pk for o in outcomes}) == 1
    assert _counts(inspection) == (1, 1, _reviewers())
    inspection.refresh_from_db()
    assert (inspection.status, inspection.version) == (InspectionStatus.SUBMITTED, 1)


def test_same_start_from_threads_makes_one_inspection(round_: Round) -> None:
    item = round_.items.get()
    client_id = uuid.uuid4()
    outcomes = race(
        *[
            lambda: services.inspection_start(
                actor=item.task.inspector, client_id=client_id, item=item
            )
            for _ in range(POSTS)
        ]
    )
    assert all(isinstance(o, Inspection) for o in outcomes), outcomes
    assert {o.pk for o in outcomes} == {Inspection.objects.get(client_id=client_id).pk}
    assert Event.objects.filter(verb="inspection.started").count() == 1


def test_same_field_find_from_threads_makes_one_institution(round_: Round) -> None:
    task = round_.tasks.get()
    client_id = uuid.uuid4()
    before = Institution.objects.count()
    outcomes = race(
        *[
            lambda: services.field_find_report(
                actor=task.inspector, task=task, client_id=client_id, name="文昌某托管班"
            )
            for _ in range(POSTS)
        ]
    )
    assert all(isinstance(o, Inspection) for o in outcomes), outcomes
    assert len({o.pk for o in outcomes}) == 1
    assert Institution.objects.count() == before + 1


# ---------------------------------------------------------------------------- through a live server


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


class Phone:
    """A signed-in browser seen from the server: a session cookie and the CSRF cookie and token.

    Cookies are kept by hand: the standard library's jar does not match a dotless host such as
    ``localhost``, and these requests need nothing more than two cookies sent back.
    """

    def __init__(self, base_url: str, user: User) -> None:
        client = Client()
        client.force_login(user)  # a real session row, committed: the live server reads it
        self.base_url = base_url
        self.cookies = {"sessionid": client.cookies["sessionid"].value}
        self.token = ""
        self.lock = threading.Lock()

    def _send(self, request: urllib.request.Request) -> tuple[int, dict[str, str], bytes]:
        request.add_header("Cookie", "; ".join(f"{k}={v}" for k, v in self.cookies.items()))
        opener = urllib.request.build_opener(_NoRedirect())
        try:
            with opener.open(request, timeout=60) as response:
                status, headers, body = response.status, response.headers, response.read()
        except urllib.error.HTTPError as exc:  # 3xx (not followed) and 4xx arrive here
            status, headers, body = exc.code, exc.headers, exc.read()
        jar: SimpleCookie = SimpleCookie()
        for line in headers.get_all("Set-Cookie") or []:
            jar.load(line)
        with self.lock:
            self.cookies.update({name: morsel.value for name, morsel in jar.items()})
        return status, dict(headers), body

    def open_page(self, path: str) -> str:
        status, _headers, body = self._send(urllib.request.Request(self.base_url + path))  # noqa: S310
        assert status == 200, (status, _headers.get("Location"))
        html = body.decode()
        match = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', html)
        assert match, "the page has no CSRF token"
        assert "csrftoken" in self.cookies
        self.token = match.group(1)
        return html

    def post(
        self, path: str, fields: dict[str, str], *, as_json: bool
    ) -> tuple[int, dict[str, str], bytes]:
        body = urllib.parse.urlencode({**fields, "csrfmiddlewaretoken": self.token}).encode()
        request = urllib.request.Request(self.base_url + path, data=body, method="POST")  # noqa: S310
        request.add_header("Content-Type", "application/x-www-form-urlencoded")
        if as_json:
            request.add_header("Accept", "application/json")
        return self._send(request)


def _form(inspection: Inspection, submission_id: uuid.UUID) -> dict[str, str]:
    fields = {f"q-{k}": v for k, v in _values().items()}
    fields.update(
        client_id=str(inspection.client_id),
        submission_id=str(submission_id),
        outcome="visited",
        note="",
        latitude="30.918100",
        longitude="113.913100",
        accuracy="12",
    )
    return fields


def test_double_posts_to_a_live_server_make_one_version(
    live_server: LiveServer, inspection: Inspection
) -> None:
    _assert_sqlite_queues_writers()
    phone = Phone(live_server.url, inspection.inspector)
    edit = reverse("screening:inspection_edit", args=[inspection.pk])
    assert "inspect-form" in phone.open_page(edit)
    submit = reverse("screening:inspection_submit", args=[inspection.pk])
    fields = _form(inspection, uuid.uuid4())

    answers = race(*[lambda: phone.post(submit, fields, as_json=True) for _ in range(POSTS)])

    task_url = reverse("screening:task", args=[inspection.task_id])
    for answer in answers:
        assert not isinstance(answer, BaseException), answer
        status, _headers, body = answer
        assert status == 200, body[:500]
        assert json.loads(body)["redirect"] == task_url
    assert _counts(inspection) == (1, 1, _reviewers())


def test_plain_form_double_posts_to_a_live_server_all_go_to_the_task(
    live_server: LiveServer, inspection: Inspection
) -> None:
    phone = Phone(live_server.url, inspection.inspector)
    phone.open_page(reverse("screening:inspection_edit", args=[inspection.pk]))
    submit = reverse("screening:inspection_submit", args=[inspection.pk])
    fields = _form(inspection, uuid.uuid4())

    answers = race(*[lambda: phone.post(submit, fields, as_json=False) for _ in range(POSTS)])

    task_url = reverse("screening:task", args=[inspection.task_id])
    for answer in answers:
        assert not isinstance(answer, BaseException), answer
        status, headers, body = answer
        assert (status, headers.get("Location")) == (302, task_url), body[:500]
    assert _counts(inspection) == (1, 1, _reviewers())


def test_two_different_submissions_at_once_keep_the_first_and_refuse_the_second(
    live_server: LiveServer, inspection: Inspection
) -> None:
    phone = Phone(live_server.url, inspection.inspector)
    phone.open_page(reverse("screening:inspection_edit", args=[inspection.pk]))
    submit = reverse("screening:inspection_submit", args=[inspection.pk])

    answers = race(
        lambda: phone.post(submit, _form(inspection, uuid.uuid4()), as_json=True),
        lambda: phone.post(submit, _form(inspection, uuid.uuid4()), as_json=True),
    )

    statuses = sorted(a[0] for a in answers)
    assert statuses == [200, 400], answers
    refused = next(json.loads(a[2]) for a in answers if a[0] == 400)
    assert "Reload the page" in refused["error"] or "刷新" in refused["error"]
    assert _counts(inspection) == (1, 1, _reviewers())


# ---------------------------------------------------------------------------- a phone's browser


def _in_django(call: Callable[[], Any]) -> Any:
    """Database work in a thread without the browser's event loop (Django refuses it there)."""
    outcome = race(call)[0]
    if isinstance(outcome, BaseException):
        raise outcome
    return outcome


@pytest.fixture
def item_pk(round_: Round) -> int:
    """The task's one item, committed before the browser starts."""
    return round_.items.get().pk


@pytest.mark.browser
def test_phone_fills_the_checklist_and_a_double_tap_sends_it_once(
    item_pk: int, browser: Browser, live_server: LiveServer, tmp_path: Path
) -> None:
    """Skip logic, flag and evidence live, a scaled photo upload, the position, one version."""
    photo = tmp_path / "licence.jpg"
    Image.new("RGB", (3200, 2400), (180, 40, 40)).save(photo, format="JPEG")
    context = browser.new_context(
        base_url=live_server.url,
        locale="zh-CN",
        timezone_id="Asia/Shanghai",
        viewport={"width": 390, "height": 844},
        has_touch=True,
        geolocation={"latitude": 30.9181, "longitude": 113.9131, "accuracy": 18},
        permissions=["geolocation"],
    )
    context.set_default_timeout(10_000)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    try:
        page.goto("/login/")
        page.locator("main form input[name=username]").fill("yangtiezhu")
        page.locator("main form input[name=password]").fill(DEMO_PASSWORD)
        with page.expect_navigation():
            page.locator("main form button[type=submit]").click()
        page.goto(reverse("screening:inspect", args=[item_pk]))

        expect(page.locator("#position-status")).to_contain_text("±18 m")
        food = page.locator("#q-food_licence")
        expect(food).to_be_hidden()
        page.locator("#q-provides_meals label", has_text="是").click()
        expect(food).to_be_visible()
        page.locator("#q-food_licence label", has_text="是").click()
        page.locator("#q-licence_displayed label", has_text="否").click()
        expect(page.locator("#q-licence_displayed")).to_have_class(re.compile(r"\bflagged\b"))
        page.locator("input[name='photo-licence_displayed']").set_input_files(str(photo))
        expect(page.locator("[data-thumbs='licence_displayed'] figure.thumb button")).to_have_count(
            1
        )
        page.locator("input[name='q-students_present']").fill("12")
        page.screenshot(path=str(SCREENSHOTS / "inspect-phone.png"), full_page=True)

        with page.expect_navigation(url=re.compile(r"/screening/tasks/\d+/$")):
            page.locator("#submit-button").dblclick()
        expect(page.locator(".item .chip")).to_have_class(re.compile(r"chip-submitted"))
        expect(page.locator(".flash.success")).to_have_count(1)
        page.screenshot(path=str(SCREENSHOTS / "inspect-task.png"), full_page=True)
    finally:
        context.close()

    assert errors == []
    _in_django(_assert_sent_once_with_its_photo_and_position)


def _assert_sent_once_with_its_photo_and_position() -> None:
    inspection = Inspection.objects.get(item__isnull=False)
    (version,) = inspection.versions.all()
    assert version.answers["values"] == {
        "licence_displayed": "no",
        "provides_meals": "yes",
        "food_licence": "yes",
        "students_present": 12,
    }
    assert [flag["question"] for flag in version.flags] == ["licence_displayed"]
    (stored,) = inspection.photos.all()
    assert version.flags[0]["photos"] == [stored.pk]
    assert max(stored.width, stored.height) == 1600  # scaled on the phone before it was sent
    assert stored.captured_at is not None  # the file's time, sent as captured_hint
    assert (inspection.accuracy_m, inspection.is_far) == (18, False)
    assert inspection.distance_m is not None and inspection.distance_m < 30
