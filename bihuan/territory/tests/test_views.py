"""Region import through its pages, applied by a real task worker; the import pages' access."""

from __future__ import annotations

import io
import re
import signal
from collections.abc import Iterator

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from django.test import Client
from django.utils.translation import gettext
from django_tasks_db.models import DBTaskResult
from openpyxl import Workbook, load_workbook
from pytest_django.fixtures import DjangoCaptureOnCommitCallbacks

from bihuan.accounts.models import User
from bihuan.audit.models import Event
from bihuan.territory.imports import COLUMNS, parse_upload
from bihuan.territory.models import ImportStatus, Region, RegionImport

HEADER = ["code", "name", "parent code", "level"]
CLEAN_ROWS = [
    ["420902005001", "新建社区", "420902005000", "community"],
    ["420902005000", "新建街道", "420902", "street"],
    ["420902003004", "广场新社区", "420902003000", "社区"],
]
ERROR_ROWS = [
    ["42090200500", "短码街道", "420902", "street"],  # line 2: eleven digits
    ["420902009001", "孤儿社区", "420902009000", "community"],  # line 3: unknown parent
    ["420902006000", "重码街道", "420902", "street"],  # line 4: fine
    ["420902006000", "重码街道二", "420902", "street"],  # line 5: duplicate code
    ["420902007000", "怪级街道", "420902", "城市"],  # line 6: unknown level
    ["420921007000", "错前缀街道", "420902", "street"],  # line 7: not under 孝南区's digits
]
ERROR_LINES = {
    2: "42090200500",
    3: "420902009001",
    5: "420902006000",
    6: "420902007000",
    7: "420921007000",
}


def _csv(rows: list[list[str]], header: list[str] = HEADER) -> str:
    return "\n".join(",".join(r) for r in [header, *rows]) + "\n"


def _xlsx(rows: list[list[str]]) -> bytes:
    workbook = Workbook()
    sheet = workbook.active
    assert sheet is not None
    for row in [HEADER, *rows]:
        sheet.append(row)
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def _upload(client: Client, name: str, data: bytes) -> RegionImport:
    response = client.post("/territory/import/", {"file": SimpleUploadedFile(name, data)})
    assert response.status_code == 302, response.content.decode()[:2000]
    record = RegionImport.objects.latest("pk")
    assert response["Location"] == f"/territory/import/{record.pk}/"
    return record


def _detail(client: Client, record: RegionImport) -> str:
    response = client.get(f"/territory/import/{record.pk}/")
    assert response.status_code == 200
    return response.content.decode()


def _apply_form(record: RegionImport) -> str:
    return f'action="/territory/import/{record.pk}/apply/"'


@pytest.fixture
def admin_client(client: Client, admin_system: User) -> Client:
    client.force_login(admin_system)
    return client


@pytest.mark.parametrize(
    ("name", "data", "encoding"),
    [
        ("regions.csv", _csv(CLEAN_ROWS).encode("utf-8"), "utf-8"),
        ("regions.csv", _csv(CLEAN_ROWS).encode("utf-8-sig"), "utf-8"),
        (
            "地区.csv",
            _csv(CLEAN_ROWS, ["区划代码", "名称", "上级代码", "级别"]).encode("gbk"),
            "gb18030",
        ),
        ("regions.xlsx", _xlsx(CLEAN_ROWS), "xlsx"),
    ],
    ids=["utf-8", "utf-8 with bom", "gbk", "xlsx"],
)
def test_clean_file_shows_its_rows_and_the_apply_button(
    admin_client: Client, name: str, data: bytes, encoding: str
) -> None:
    regions = Region.objects.count()
    record = _upload(admin_client, name, data)
    assert record.encoding == encoding
    assert [(r["code"], r["action"]) for r in record.report] == [
        ("420902005001", "create"),
        ("420902005000", "create"),
        ("420902003004", "create"),
    ]
    content = _detail(admin_client, record)
    assert '<html lang="zh-hans">' in content
    for code, region_name, _, _ in CLEAN_ROWS:
        assert f"<td>{code}</td><td>{region_name}</td>" in content
    assert content.count(gettext("will be created")) == 3
    assert _apply_form(record) in content
    assert Region.objects.count() == regions


def test_file_with_errors_shows_each_error_row_and_no_apply_button(admin_client: Client) -> None:
    record = _upload(admin_client, "regions.csv", _csv(ERROR_ROWS).encode())
    assert record.error_count == 5
    content = _detail(admin_client, record)
    for line, code in ERROR_LINES.items():
        assert f'<tr class="row-error"><td>{line}</td><td>{code}</td>' in content
    assert "<tr><td>4</td><td>420902006000</td><td>重码街道</td>" in content
    for entry in record.report:
        if entry["action"] == "error":
            assert entry["error"] in content
    assert _apply_form(record) not in content
    assert record.status == ImportStatus.CHECKED


def test_error_rows_explain_the_problem_in_the_user_language(admin_client: Client) -> None:
    record = _upload(admin_client, "regions.csv", _csv(ERROR_ROWS).encode())
    errors = {r["line"]: r["error"] for r in record.report if r["action"] == "error"}
    assert errors[3] == gettext(
        "Parent code “%(c)s” is neither in the territory nor in the file."
    ) % {"c": "420902009000"}
    assert errors[5] == gettext("Code %(c)s appears twice in the file.") % {"c": "420902006000"}
    assert errors[6] == gettext("Unknown level “%(l)s”.") % {"l": "城市"}


def test_applying_an_import_with_errors_is_refused(admin_client: Client) -> None:
    record = _upload(admin_client, "regions.csv", _csv(ERROR_ROWS).encode())
    response = admin_client.post(f"/territory/import/{record.pk}/apply/", follow=True)
    expected = gettext("Correct the rows with errors and upload the file again.")
    assert expected in response.content.decode()
    record.refresh_from_db()
    assert record.status == ImportStatus.CHECKED
    assert not DBTaskResult.objects.exists()


@pytest.mark.parametrize(
    ("name", "data", "message"),
    [
        ("regions.txt", b"code,name\n", "Only .csv and .xlsx files are accepted."),
        ("regions.csv", b"\xff\xfe\xfd\x80", None),
        ("regions.xlsx", b"PK\x03\x04 not really", "The file is not a readable XLSX workbook."),
        ("regions.csv", "代码,名称\n1,2\n".encode(), None),
    ],
    ids=["wrong extension", "not text", "broken xlsx", "missing columns"],
)
def test_unreadable_upload_is_refused_on_the_form(
    admin_client: Client, name: str, data: bytes, message: str | None
) -> None:
    response = admin_client.post("/territory/import/", {"file": SimpleUploadedFile(name, data)})
    assert response.status_code == 200
    assert response.context["form"].errors["file"]
    if message:
        assert gettext(message) in response.content.decode()
    assert not RegionImport.objects.exists()


def test_apply_queues_the_task(
    admin_client: Client, django_capture_on_commit_callbacks: DjangoCaptureOnCommitCallbacks
) -> None:
    record = _upload(admin_client, "regions.csv", _csv(CLEAN_ROWS).encode())
    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post(f"/territory/import/{record.pk}/apply/")
    assert response["Location"] == f"/territory/import/{record.pk}/"
    record.refresh_from_db()
    assert record.status == ImportStatus.QUEUED
    [task] = DBTaskResult.objects.all()
    assert task.args_kwargs["args"] == [record.pk]
    assert _apply_form(record) not in _detail(admin_client, record)


def test_htmx_poll_gets_only_the_status(admin_client: Client) -> None:
    record = _upload(admin_client, "regions.csv", _csv(CLEAN_ROWS).encode())
    response = admin_client.get(f"/territory/import/{record.pk}/", headers={"HX-Request": "true"})
    content = response.content.decode()
    assert content.lstrip().startswith('<div id="import-status"')
    assert "<html" not in content


@pytest.fixture
def default_signals() -> Iterator[None]:
    """The worker installs its own signal handlers; give pytest its own back."""
    saved = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM, signal.SIGQUIT)}
    yield
    for number, handler in saved.items():
        signal.signal(number, handler)


def _run_worker() -> None:
    call_command("db_worker", batch=True, startup_delay=False, interval=0, verbosity=0)


def test_worker_applies_a_queued_import_and_a_second_import_is_all_unchanged(
    live_db: None, client: Client, default_signals: None
) -> None:
    from bihuan.demo.loader import load_demo

    load_demo()
    client.force_login(User.objects.get(username="admin"))
    data = _csv(CLEAN_ROWS).encode("gbk")

    record = _upload(client, "regions.csv", data)
    client.post(f"/territory/import/{record.pk}/apply/")
    [task] = DBTaskResult.objects.all()
    assert task.status == "READY"
    _run_worker()

    task.refresh_from_db()
    assert task.status == "SUCCESSFUL", task.traceback
    assert task.return_value == {"create": 3, "update": 0, "unchanged": 0}
    record.refresh_from_db()
    assert record.status == ImportStatus.DONE
    assert (record.processed, record.total) == (3, 3)
    assert record.outcome == {"create": 3, "update": 0, "unchanged": 0}
    street = Region.objects.get(code="420902005000")
    assert street.name == "新建街道"
    assert Region.objects.get(code="420902005001").parent == street
    assert Region.objects.get(code="420902003004").parent == Region.objects.get(code="420902003000")
    created = Event.objects.filter(verb="region.created", actor__username="admin")
    assert created.count() == 3
    assert Event.objects.filter(verb="region_import.applied", object_id=str(record.pk)).exists()
    content = _detail(client, record)
    assert f"<strong>{ImportStatus.DONE.label}</strong>" in content

    again = _upload(client, "regions.csv", data)
    assert {r["action"] for r in again.report} == {"unchanged"}
    assert _detail(client, again).count(gettext("unchanged")) >= 3
    client.post(f"/territory/import/{again.pk}/apply/")
    events = Event.objects.filter(verb__startswith="region.").count()
    _run_worker()
    again.refresh_from_db()
    assert again.status == ImportStatus.DONE
    assert again.outcome == {"create": 0, "update": 0, "unchanged": 3}
    assert Event.objects.filter(verb__startswith="region.").count() == events


def test_template_is_a_workbook_with_the_header_the_import_accepts(admin_client: Client) -> None:
    response = admin_client.get("/territory/import/template.xlsx")
    assert response.status_code == 200
    assert response["Content-Type"].startswith(
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    )
    assert "regions-template.xlsx" in response["Content-Disposition"]
    workbook = load_workbook(io.BytesIO(response.content), read_only=True)
    sheet = workbook.worksheets[0]
    header = [str(c) for c in next(sheet.iter_rows(values_only=True))]
    workbook.close()
    assert [h.lower() for h in header] == [COLUMNS[key][0] for key in COLUMNS]
    rows, encoding = parse_upload(response.content, "regions-template.xlsx")
    assert encoding == "xlsx"
    assert len(rows) == 2


def test_template_uploaded_as_is_checks_without_error(admin_client: Client) -> None:
    template = admin_client.get("/territory/import/template.xlsx").content
    record = _upload(admin_client, "regions-template.xlsx", template)
    assert record.error_count == 0
    assert {r["action"] for r in record.report} == {"unchanged"}


@pytest.fixture
def admin_import(admin_system: User) -> RegionImport:
    from bihuan.territory import imports

    data = _csv(CLEAN_ROWS).encode()
    upload = SimpleUploadedFile("regions.csv", data)
    return imports.region_import_create(actor=admin_system, upload=upload)


IMPORT_PAGES = [
    ("get", "/territory/import/"),
    ("post", "/territory/import/"),
    ("get", "/territory/import/template.xlsx"),
    ("get", "/territory/import/{pk}/"),
    ("post", "/territory/import/{pk}/apply/"),
]


@pytest.mark.parametrize(
    "persona",
    [
        "admin_security",
        "admin_audit",
        "supervisor_city",
        "coordinator_wenchang",
        "inspector_wenchang",
        "officer_market",
    ],
)
def test_import_pages_are_404_for_everyone_but_the_system_administrator(
    client: Client, request: pytest.FixtureRequest, admin_import: RegionImport, persona: str
) -> None:
    client.force_login(request.getfixturevalue(persona))
    counts = (RegionImport.objects.count(), Region.objects.count(), Event.objects.count())
    answers = {}
    for method, path in IMPORT_PAGES:
        url = path.format(pk=admin_import.pk)
        if method == "post":
            data = {"file": SimpleUploadedFile("r.csv", _csv(CLEAN_ROWS).encode())}
            answers[method, path] = client.post(url, data).status_code
        else:
            answers[method, path] = client.get(url).status_code
    assert answers == dict.fromkeys(IMPORT_PAGES, 404)
    admin_import.refresh_from_db()
    assert admin_import.status == ImportStatus.CHECKED
    assert (RegionImport.objects.count(), Region.objects.count(), Event.objects.count()) == counts
    assert not DBTaskResult.objects.exists()


def test_import_menu_entry_is_shown_to_the_system_administrator_only(
    client: Client, admin_system: User, supervisor_city: User
) -> None:
    client.force_login(admin_system)
    assert 'href="/territory/import/"' in client.get("/").content.decode()
    client.force_login(supervisor_city)
    assert 'href="/territory/import/"' not in client.get("/").content.decode()


def test_recent_imports_are_listed_on_the_upload_page(
    admin_client: Client, admin_import: RegionImport
) -> None:
    content = admin_client.get("/territory/import/").content.decode()
    assert re.search(rf'href="/territory/import/{admin_import.pk}/">regions\.csv</a>', content)
