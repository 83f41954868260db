"""Region import: reading the file, the dry run's per-row decisions, queueing and applying."""

from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils.translation import gettext
from pytest_django.fixtures import DjangoCaptureOnCommitCallbacks

from bihuan.accounts.models import User
from bihuan.audit.models import Event
from bihuan.core.errors import NotAllowed, ServiceError
from bihuan.territory import imports
from bihuan.territory.imports import check_rows, parse_upload
from bihuan.territory.models import ImportStatus, Region, RegionImport

EXISTING = {
    "420900": ("city", "420000", "孝感市"),
    "420902": ("district", "420900", "孝南区"),
    "420902003000": ("street", "420902", "广场街道"),
    "420902003001": ("community", "420902003000", "文昌社区"),
}
CLEAN_CSV = (
    "code,name,parent code,level\n"
    "420902005001,新建社区,420902005000,community\n"
    "420902005000,新建街道,420902,street\n"
    "420902003004,广场新社区,420902003000,社区\n"
)


def _row(code: str, name: str, parent: str, level: str) -> dict[str, str]:
    return {"code": code, "name": name, "parent_code": parent, "level": level}


def _decisions(*rows: dict[str, str]) -> list[tuple[str, str]]:
    report = check_rows([(i, r) for i, r in enumerate(rows, start=2)], EXISTING)
    return [(r["code"], r["action"]) for r in report]


def test_new_code_under_a_known_parent_is_created() -> None:
    assert _decisions(_row("420902003004", "新社区", "420902003000", "community")) == [
        ("420902003004", "create")
    ]


def test_known_code_with_another_name_is_renamed() -> None:
    assert _decisions(_row("420902003001", "文昌新社区", "420902003000", "社区")) == [
        ("420902003001", "update")
    ]


def test_known_code_with_the_same_name_is_unchanged() -> None:
    assert _decisions(_row("420902", "孝南区", "420900", "区")) == [("420902", "unchanged")]


def test_rows_are_checked_parents_first_so_a_child_may_come_before_its_parent() -> None:
    decisions = _decisions(
        _row("420902005001", "新建社区", "420902005000", "community"),
        _row("420902005000", "新建街道", "420902", "street"),
    )
    assert decisions == [("420902005001", "create"), ("420902005000", "create")]


@pytest.mark.parametrize(
    "level", ["社区", "村", "Community", "VILLAGE"], ids=["社区", "村", "Community", "VILLAGE"]
)
def test_level_is_read_in_chinese_or_english_in_any_case(level: str) -> None:
    assert _decisions(_row("420902003004", "新社区", "420902003000", level)) == [
        ("420902003004", "create")
    ]


@pytest.mark.parametrize(
    ("row", "reason"),
    [
        (_row("42090200300", "短码", "420902003000", "community"), "length"),
        (_row("420902009001", "孤儿", "420902009000", "community"), "unknown parent"),
        (_row("420902003004", "怪级", "420902003000", "城市"), "unknown level"),
        (_row("420921003004", "错前缀", "420902003000", "community"), "parent prefix"),
        (_row("420902003004", "", "420902003000", "community"), "empty name"),
        (_row("420902003004", "名" * 101, "420902003000", "community"), "long name"),
        (_row("420902003001", "文昌社区", "420902", "community"), "wrong parent level"),
    ],
    ids=lambda value: value if isinstance(value, str) else "",
)
def test_row_that_does_not_fit_is_an_error(row: dict[str, str], reason: str) -> None:
    [entry] = check_rows([(2, row)], EXISTING)
    assert entry["action"] == "error", reason
    assert entry["error"]
    assert entry["line"] == 2


def test_second_row_with_the_same_code_is_an_error() -> None:
    report = check_rows(
        [
            (2, _row("420902003004", "一", "420902003000", "community")),
            (3, _row("420902003004", "二", "420902003000", "community")),
        ],
        EXISTING,
    )
    assert [r["action"] for r in report] == ["create", "error"]
    assert report[1]["error"] == gettext("Code %(c)s appears twice in the file.") % {
        "c": "420902003004"
    }


def test_unknown_parent_error_names_the_parent_code() -> None:
    [entry] = check_rows([(2, _row("420902009001", "孤儿", "420902009000", "community"))], EXISTING)
    assert entry["error"] == gettext(
        "Parent code “%(c)s” is neither in the territory nor in the file."
    ) % {"c": "420902009000"}


def test_report_is_in_line_order_whatever_the_checking_order() -> None:
    report = check_rows(
        [
            (2, _row("420902005001", "新建社区", "420902005000", "community")),
            (3, _row("420902005000", "新建街道", "420902", "street")),
            (4, _row("bad", "坏", "", "城市")),
        ],
        EXISTING,
    )
    assert [r["line"] for r in report] == [2, 3, 4]


def test_parse_upload_accepts_the_chinese_header() -> None:
    data = "区划代码,区划名称,上级代码,级别\n420902003004,新社区,420902003000,社区\n".encode("gbk")
    rows, encoding = parse_upload(data, "regions.csv")
    assert encoding == "gb18030"
    assert rows == [(2, _row("420902003004", "新社区", "420902003000", "社区"))]


def test_parse_upload_pads_short_rows() -> None:
    rows, _ = parse_upload(b"code,name,parent code,level\n420000,Hubei\n", "regions.csv")
    assert rows == [(2, _row("420000", "Hubei", "", ""))]


def test_parse_upload_names_the_missing_columns() -> None:
    with pytest.raises(ServiceError) as caught:
        parse_upload("代码,名称\n420902,孝南区\n".encode(), "regions.csv")
    expected = gettext(
        "Missing columns: %(cols)s. Download the template for the expected header."
    ) % {"cols": "parent code, level"}
    assert caught.value.message == expected


def _upload(actor: User, text: str = CLEAN_CSV, name: str = "regions.csv") -> RegionImport:
    file = SimpleUploadedFile(name, text.encode("utf-8"), content_type="text/csv")
    return imports.region_import_create(actor=actor, upload=file)


def test_dry_run_keeps_the_file_and_the_report_and_changes_no_region(admin_system: User) -> None:
    regions = Region.objects.count()
    record = _upload(admin_system)
    assert record.status == ImportStatus.CHECKED
    assert (record.total, record.error_count) == (3, 0)
    assert record.encoding == "utf-8"
    assert record.file.read().decode() == CLEAN_CSV
    assert Region.objects.count() == regions
    event = Event.objects.get(verb="region_import.checked")
    assert event.after == {"rows": 3, "errors": 0, "encoding": "utf-8"}


def test_dry_run_is_for_the_system_administrator_only(admin_security: User) -> None:
    with pytest.raises(NotAllowed):
        _upload(admin_security)
    assert not RegionImport.objects.exists()


def test_import_with_errors_cannot_be_queued(admin_system: User) -> None:
    record = _upload(admin_system, CLEAN_CSV + "bad,坏,420902,street\n")
    assert record.error_count == 1
    with pytest.raises(ServiceError):
        imports.region_import_queue(actor=admin_system, record=record)
    record.refresh_from_db()
    assert record.status == ImportStatus.CHECKED


def test_import_is_queued_once(
    admin_system: User, django_capture_on_commit_callbacks: DjangoCaptureOnCommitCallbacks
) -> None:
    from django_tasks_db.models import DBTaskResult

    record = _upload(admin_system)
    with django_capture_on_commit_callbacks(execute=True):
        imports.region_import_queue(actor=admin_system, record=record)
    with pytest.raises(ServiceError):
        imports.region_import_queue(actor=admin_system, record=record)
    record.refresh_from_db()
    assert record.status == ImportStatus.QUEUED
    [task] = DBTaskResult.objects.all()
    assert task.task_path == "bihuan.territory.tasks.apply_region_import"
    assert task.args_kwargs == {"args": [record.pk], "kwargs": {}}
    assert Event.objects.filter(verb="region_import.queued").count() == 1


def _queued(actor: User, text: str = CLEAN_CSV) -> RegionImport:
    record = _upload(actor, text)
    imports.region_import_queue(actor=actor, record=record)
    return record


def test_apply_writes_the_regions_parents_first_and_records_the_outcome(
    admin_system: User,
) -> None:
    record = imports.region_import_apply(_queued(admin_system).pk)
    assert record.status == ImportStatus.DONE
    assert record.outcome == {"create": 3, "update": 0, "unchanged": 0}
    assert record.processed == 3
    community = Region.objects.get(code="420902005001")
    assert community.parent is not None and community.parent.code == "420902005000"
    assert community.path == "420000/420900/420902/420902005000/420902005001/"
    created = Event.objects.filter(verb="region.created", actor=admin_system)
    assert set(created.values_list("object_repr", flat=True)) == {
        "新建街道",
        "新建社区",
        "广场新社区",
    }
    assert Event.objects.get(verb="region_import.applied").after == record.outcome


def test_apply_runs_only_a_queued_import(admin_system: User) -> None:
    record = _upload(admin_system)
    assert imports.region_import_apply(record.pk).status == ImportStatus.CHECKED
    assert not Region.objects.filter(code="420902005000").exists()


def test_row_refused_while_applying_marks_the_import_failed(admin_system: User) -> None:
    record = _queued(admin_system)
    # A region the dry run counted on is no longer what it was: the parent code now names nothing.
    report = [dict(r) for r in record.report]
    report[0]["parent_code"] = "420902008000"
    RegionImport.objects.filter(pk=record.pk).update(report=report)
    record = imports.region_import_apply(record.pk)
    assert record.status == ImportStatus.FAILED
    assert record.outcome["error"]
    assert Event.objects.filter(verb="region_import.failed").count() == 1


def test_apply_agrees_with_the_dry_run_on_a_synthetic_region(admin_system: User) -> None:
    wenchang = "code,name,parent code,level\n420902003001,文昌社区,420902003000,community\n"
    record = _queued(admin_system, wenchang)
    assert [r["action"] for r in record.report] == ["unchanged"]
    record = imports.region_import_apply(record.pk)
    assert record.outcome == {"create": 0, "update": 0, "unchanged": 1}
    assert Region.objects.get(code="420902003001").is_synthetic


def test_dry_run_refuses_a_code_in_full_width_digits(admin_system: User) -> None:
    text = "code,name,parent code,level\n４２０９０２００３００４,全角社区,420902003000,community\n"
    assert _upload(admin_system, text).error_count == 1


def test_dry_run_refuses_a_province_code_the_database_would_refuse(admin_system: User) -> None:
    text = "code,name,parent code,level\n４２0000,全角省,,province\n"
    assert _upload(admin_system, text).error_count == 1
