"""Registry import: reading files as users have them, the dry run, the apply, and its pages."""

from __future__ import annotations

import io
import os
import re
import signal
import zipfile
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.core.files.uploadedfile import SimpleUploadedFile, UploadedFile
from django.core.management import call_command
from django.test import Client
from django.utils.translation import gettext
from django_tasks_db.models import DBTaskResult
from openpyxl import Workbook, load_workbook
from pytest_django.fixtures import DjangoCaptureOnCommitCallbacks
from stdnum.cn import uscc

from bihuan.accounts.models import User
from bihuan.audit.models import Event
from bihuan.core.crypto import blind_index
from bihuan.core.errors import NotAllowed, ServiceError
from bihuan.registry import imports, services
from bihuan.registry.models import (
    Boundary,
    Category,
    ImportRow,
    Institution,
    InstitutionImport,
    MatchCandidate,
    Source,
)
from bihuan.registry.normalize import normalize_name
from bihuan.registry.normalize import pinyin_forms as reference_pinyin_forms
from bihuan.registry.placement import resolve_community
from bihuan.territory.models import Area, ImportStatus, Region

Action = ImportRow.Action
HEADER = [
    "name",
    "credit code",
    "licence number",
    "category",
    "operator",
    "phone",
    "address",
    "division code",
    "longitude",
    "latitude",
    "datum",
    "custody",
    "capacity",
]
CHINESE_HEADER = imports.TEMPLATE_HEADER
WENCHANG = "420902003001"
XIAONAN = "420902"
XIAOCHANG = "420921"


def _code(serial: int) -> str:
    body = f"91420902MA4{serial:06d}"
    return body + uscc.calc_check_digit(body)


SHORT = {"phone": "contact_phone", "operator": "operator_name"}


def _row(name: str, serial: int | None = None, **cells: str) -> list[str]:
    """A data row in the order of ``HEADER``; ``phone`` and ``operator`` name their columns."""
    values = {key: "" for key in imports.COLUMNS}
    values["name"] = name
    if serial is not None:
        values["credit_code"] = _code(serial)
    values.update({SHORT.get(key, key): value for key, value in cells.items()})
    assert set(values) == set(imports.COLUMNS)
    return [values[key] for key in imports.COLUMNS]


CLEAN = [
    _row("小天才教育培训学校", 1, category="学科类", phone="13900001111", address="体育路1号"),
    _row("博雅书法工作室", 2, category="艺术", division_code=WENCHANG, custody="是"),
    _row("飞跃体育俱乐部", None, licence_number="教民142090270000003号", category="体育"),
]


def _csv(rows: list[list[str]], header: list[str] = HEADER) -> str:
    return "\n".join(",".join(r) for r in [header, *rows]) + "\n"


def _xlsx(rows: list[list[Any]], header: list[str] = HEADER) -> bytes:
    workbook = Workbook()
    sheet = workbook.active
    assert sheet is not None
    for row in [header, *rows]:
        sheet.append(row)
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def _region(code: str = XIAONAN) -> Region:
    return Region.objects.get(code=code)


def _upload(
    actor: User, data: bytes | str, name: str = "registry.csv", region: str = XIAONAN
) -> InstitutionImport:
    raw = data.encode() if isinstance(data, str) else data
    upload = SimpleUploadedFile(name, raw)
    return imports.institution_import_create(actor=actor, upload=upload, region=_region(region))


def _actions(record: InstitutionImport) -> dict[int, str]:
    return dict(record.rows.values_list("line", "action"))


def _errors(record: InstitutionImport) -> dict[int, list[str]]:
    return {r.line: r.errors for r in record.rows.filter(action=Action.ERROR)}


def _refused(actor: User, data: bytes | str, name: str = "registry.csv") -> str:
    with pytest.raises(ServiceError) as caught:
        _upload(actor, data, name)
    assert not InstitutionImport.objects.exists()
    return caught.value.message


def _applied(actor: User, record: InstitutionImport) -> InstitutionImport:
    imports.institution_import_queue(actor=actor, record=record)
    return imports.institution_import_apply(record.pk)


def _existing(actor: User, name: str, region: str = WENCHANG, **fields: Any) -> Institution:
    return services.institution_create(
        actor=actor, name=name, region=_region(region), source=Source.IMPORT, **fields
    )


# --- reading files ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "data", "encoding"),
    [
        ("registry.csv", _csv(CLEAN).encode("utf-8"), "utf-8"),
        ("registry.csv", _csv(CLEAN).encode("utf-8-sig"), "utf-8"),
        ("机构.csv", _csv(CLEAN, CHINESE_HEADER).encode("gbk"), "gb18030"),
        ("registry.xlsx", _xlsx(CLEAN, CHINESE_HEADER), "xlsx"),
    ],
    ids=["utf-8", "utf-8 with bom", "gbk", "xlsx"],
)
def test_file_is_read_in_any_accepted_encoding_without_asking(
    supervisor_xiaonan: User, name: str, data: bytes, encoding: str
) -> None:
    record = _upload(supervisor_xiaonan, data, name)
    assert record.encoding == encoding
    assert record.status == ImportStatus.CHECKED
    assert (record.total, record.processed, record.error_count) == (3, 3, 0)
    assert _actions(record) == {2: Action.CREATE, 3: Action.CREATE, 4: Action.CREATE}
    row = record.rows.get(line=2)
    assert row.data["fields"]["name"] == "小天才教育培训学校"
    assert row.data["fields"]["category"] == Category.SUBJECT
    assert not Institution.objects.exists()


def test_original_file_is_kept_with_the_import(supervisor_xiaonan: User) -> None:
    data = _csv(CLEAN).encode("gbk")
    record = _upload(supervisor_xiaonan, data)
    with record.file.open("rb") as kept:
        assert kept.read() == data
    assert record.original_name == "registry.csv"
    event = Event.objects.get(verb="institution_import.uploaded")
    assert event.after == {"region": XIAONAN, "encoding": "gb18030", "size": len(data)}


def test_header_names_are_read_in_english_or_chinese_with_decorations(
    supervisor_xiaonan: User,
) -> None:
    header = ["机构名称*", "Credit Code", "联系电话（手机）", "培训类别"]
    text = _csv([["小天才教育", _code(1), "13900001111", "艺术"]], header)
    record = _upload(supervisor_xiaonan, text)
    fields = record.rows.get().data["fields"]
    assert (fields["credit_code"], fields["contact_phone"], fields["category"]) == (
        _code(1),
        "13900001111",
        Category.ARTS,
    )


def test_unrecognised_columns_are_listed_and_ignored(supervisor_xiaonan: User) -> None:
    record = _upload(supervisor_xiaonan, _csv([["小天才教育", "1"]], ["名称", "序号"]))
    assert record.summary["ignored"] == ["序号"]
    assert record.error_count == 0


def test_missing_name_column_is_named_together_with_the_columns_not_recognised(
    supervisor_xiaonan: User,
) -> None:
    message = _refused(supervisor_xiaonan, _csv([["小天才教育", "1390"]], ["机构名字", "电话"]))
    assert message.startswith(
        gettext("Missing columns: %(cols)s. Download the template for the expected header.")
        % {"cols": "name (机构名称)"}
    )
    assert "机构名字" in message


def test_a_column_given_twice_is_refused(supervisor_xiaonan: User) -> None:
    message = _refused(supervisor_xiaonan, _csv([["a", "b"]], ["名称", "机构名称"]))
    assert "名称" in message and "机构名称" in message


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "The file is empty."),
        (b"name,phone\n\n,\n", "The file has a header but no rows."),
        (
            b"\xff\xfe\xfd\x80name",
            "The file is neither UTF-8 nor GBK text; save it as UTF-8 CSV or XLSX.",
        ),
        (b"name\n" + b"x" * 200_000 + b"\n", "The CSV file is malformed."),
    ],
    ids=["empty", "header only", "not text", "malformed"],
)
def test_unreadable_csv_is_refused_with_a_clear_message(
    supervisor_xiaonan: User, data: bytes, message: str
) -> None:
    assert _refused(supervisor_xiaonan, data) == gettext(message)


def test_an_encoding_broken_far_into_the_file_is_found_before_keeping_it(
    supervisor_xiaonan: User,
) -> None:
    rows = "".join(f"小天才教育{n}号\n" for n in range(60_000))  # about 1.2 MB of UTF-8
    data = ("name\n" + rows).encode() + "坏行\n".encode("gbk")
    assert len(data) > 1 << 20
    expected = gettext("The file is neither UTF-8 nor GBK text; save it as UTF-8 CSV or XLSX.")
    assert _refused(supervisor_xiaonan, data) == expected


def test_a_file_over_the_size_limit_is_refused_before_it_is_read(
    supervisor_xiaonan: User, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "big.csv"
    chunk = ("小天才教育," * 10_000 + "\n").encode()
    with path.open("wb") as out:
        out.write(b"name,x\n")
        while out.tell() <= settings.IMPORT_MAX_BYTES:
            out.write(chunk)
    size = os.path.getsize(path)
    assert size > settings.IMPORT_MAX_BYTES

    def never(*args: object) -> str:
        raise AssertionError("the file was read")

    monkeypatch.setattr(imports, "detect_encoding", never)
    with path.open("rb") as handle:
        upload = UploadedFile(file=handle, name="big.csv", size=size)
        with pytest.raises(ServiceError) as caught:
            imports.institution_import_create(
                actor=supervisor_xiaonan, upload=upload, region=_region()
            )
    assert caught.value.message == gettext("The file is larger than %(mb)d MB.") % {
        "mb": settings.IMPORT_MAX_BYTES // (1024 * 1024)
    }
    assert not InstitutionImport.objects.exists()


def test_a_file_with_more_rows_than_allowed_fails_its_check_without_rows(
    supervisor_xiaonan: User, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(imports, "MAX_ROWS", 3)
    record = _upload(supervisor_xiaonan, _csv([*CLEAN, _row("第四家", 4)]))
    assert record.status == ImportStatus.FAILED
    assert record.summary["file_error"] == gettext("The file has more than %(n)d rows.") % {"n": 3}
    assert not record.rows.exists()
    with pytest.raises(ServiceError):
        imports.institution_import_queue(actor=supervisor_xiaonan, record=record)


def test_a_failed_check_shows_its_reason_on_the_report(
    supervisor_xiaonan: User, xiaonan_client: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(imports, "MAX_ROWS", 3)
    record = _upload(supervisor_xiaonan, _csv([*CLEAN, _row("第四家", 4)]))
    content = xiaonan_client.get(f"/registry/import/{record.pk}/").content.decode()
    message = gettext("The file has more than %(n)d rows.") % {"n": 3}
    assert f'<p class="flash error">{message}</p>' in content
    assert "/apply/" not in content


def test_other_extensions_are_refused(supervisor_xiaonan: User) -> None:
    expected = gettext("Only .csv and .xlsx files are accepted.")
    assert _refused(supervisor_xiaonan, _csv(CLEAN), "registry.xls") == expected


def test_broken_xlsx_is_refused(supervisor_xiaonan: User) -> None:
    expected = gettext("The file is not a readable XLSX workbook.")
    assert _refused(supervisor_xiaonan, b"PK\x03\x04 not really", "registry.xlsx") == expected


def _rewrite(data: bytes, change: dict[str, bytes]) -> bytes:
    """The workbook with some parts replaced (or added)."""
    source = zipfile.ZipFile(io.BytesIO(data))
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as target:
        for item in source.infolist():
            target.writestr(item, change.pop(item.filename, b"") or source.read(item.filename))
        for name, content in change.items():
            target.writestr(name, content)
    return buffer.getvalue()


def test_xlsx_with_external_links_is_refused(supervisor_xiaonan: User) -> None:
    data = _rewrite(_xlsx(CLEAN), {"xl/externalLinks/externalLink1.xml": b"<externalLink/>"})
    message = _refused(supervisor_xiaonan, data, "registry.xlsx")
    assert message == gettext(
        "The workbook links to other files (external links). Copy the values into a new "
        "workbook and upload that."
    )


FORMULA = '="小天才"&"教育"'


def test_xlsx_formula_with_a_saved_result_is_read_as_its_result(supervisor_xiaonan: User) -> None:
    data = _xlsx([[FORMULA, _code(1)]], ["name", "credit code"])
    sheet = zipfile.ZipFile(io.BytesIO(data)).read("xl/worksheets/sheet1.xml").decode()
    saved = sheet.replace('<c r="A2"><f>', '<c r="A2" t="str"><f>').replace(
        "</f><v /></c>", "</f><v>小天才教育</v></c>"
    )
    assert saved != sheet
    data = _rewrite(data, {"xl/worksheets/sheet1.xml": saved.encode()})
    record = _upload(supervisor_xiaonan, data, "registry.xlsx")
    assert record.error_count == 0
    assert record.rows.get().data["fields"]["name"] == "小天才教育"


def test_xlsx_formula_without_a_saved_result_is_a_row_error_naming_the_cell(
    supervisor_xiaonan: User,
) -> None:
    data = _xlsx([["博雅书法", _code(2)], [FORMULA, _code(1)]], ["name", "credit code"])
    record = _upload(supervisor_xiaonan, data, "registry.xlsx")
    assert _actions(record) == {2: Action.CREATE, 3: Action.ERROR}
    expected = gettext(
        "Cell %(cell)s holds a formula without a saved result; open the file in Excel, save it "
        "and upload it again."
    ) % {"cell": "A3"}
    assert expected in _errors(record)[3]


def test_an_xlsx_stretched_to_the_last_excel_row_is_counted_by_its_cells(
    supervisor_xiaonan: User, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(imports, "MAX_ROWS", 3)
    data = _xlsx(CLEAN)
    sheet = zipfile.ZipFile(io.BytesIO(data)).read("xl/worksheets/sheet1.xml").decode()
    stretched = re.sub(r'<dimension ref="[^"]*"', '<dimension ref="A1:M1048576"', sheet)
    assert stretched != sheet
    data = _rewrite(data, {"xl/worksheets/sheet1.xml": stretched.encode()})
    record = _upload(supervisor_xiaonan, data, "registry.xlsx")
    assert (record.status, record.total) == (ImportStatus.CHECKED, 3)


def test_numbers_typed_as_numbers_in_xlsx_are_read_as_written(supervisor_xiaonan: User) -> None:
    data = _xlsx(
        [["小天才教育", 13900001111, int(WENCHANG), 113.92, 30.92, 120]],
        ["name", "phone", "division code", "longitude", "latitude", "capacity"],
    )
    record = _upload(supervisor_xiaonan, data, "registry.xlsx")
    fields = record.rows.get().data["fields"]
    assert (fields["contact_phone"], fields["capacity"], fields["latitude"]) == (
        "13900001111",
        120,
        "30.920000",
    )
    assert fields["community_id"] == _region(WENCHANG).pk


def test_template_has_the_header_the_import_reads_and_checks_without_errors(
    supervisor_xiaonan: User,
) -> None:
    data = imports.template_xlsx()
    workbook = load_workbook(io.BytesIO(data), read_only=True)
    header = [str(c) for c in next(workbook.worksheets[0].iter_rows(values_only=True))]
    assert len(workbook.worksheets) == 2
    workbook.close()
    assert header == CHINESE_HEADER
    record = _upload(supervisor_xiaonan, data, "institutions-template.xlsx")
    assert record.error_count == 0
    assert set(_actions(record).values()) == {Action.CREATE}


def test_pinyin_of_the_import_is_the_registry_pinyin() -> None:
    names = [
        "小天才教育培训学校",
        "重庆长乐音乐",
        "行知银行书法",
        "ABC英语（孝南分校）",
        "新東方英語",
        "乐乐 · 美术",
        "2024快乐作文",
    ]
    for name in names:
        assert imports.pinyin_forms(normalize_name(name)) == reference_pinyin_forms(name), name


# --- the dry run --------------------------------------------------------------------------------


def _line(record: InstitutionImport, line: int) -> ImportRow:
    return record.rows.get(line=line)


@pytest.mark.parametrize(
    ("cells", "expected"),
    [
        ({"credit_code": "91420902MA4000001X"}, None),
        ({"category": "培训"}, "Unknown licence category “%(value)s”."),
        ({"longitude": "113.9"}, "Give both longitude and latitude, or neither."),
        ({"longitude": "东经113", "latitude": "30.9"}, "Coordinates must be numbers."),
        ({"longitude": "30.9", "latitude": "113.9"}, "Coordinates are out of range."),
        (
            {"longitude": "113.9", "latitude": "30.9", "datum": "bd09"},
            "Unknown datum “%(value)s”: use wgs84 or gcj02.",
        ),
        ({"custody": "可能"}, "Write 是 or 否 for the custody account, not “%(value)s”."),
        ({"capacity": "很多"}, "The capacity must be a whole number, not “%(value)s”."),
        ({"phone": "123"}, "A phone number has 7 to 12 digits."),
        ({"division_code": "420902009009"}, "Division code %(code)s is not in the territory."),
        ({"name": ""}, "The name is empty."),
        ({"operator_name": "=HYPERLINK(1)"}, None),
        ({"address": "路" * 301}, "“%(column)s” has at most %(n)d characters."),
    ],
    ids=[
        "credit code",
        "category",
        "one coordinate",
        "not a number",
        "swapped coordinates",
        "datum",
        "custody",
        "capacity",
        "phone",
        "unknown division code",
        "no name",
        "formula",
        "long address",
    ],
)
def test_a_row_that_does_not_fit_is_an_error_and_the_others_are_checked(
    supervisor_xiaonan: User, cells: dict[str, str], expected: str | None
) -> None:
    cells = dict(cells)
    bad = _row(cells.pop("name", "坏行机构"), 9, **cells)
    record = _upload(supervisor_xiaonan, _csv([CLEAN[0], bad, CLEAN[1]]))
    assert _actions(record) == {2: Action.CREATE, 3: Action.ERROR, 4: Action.CREATE}
    assert record.error_count == 1
    [message] = _errors(record)[3]
    if expected:
        assert message.startswith(gettext(expected).split("%")[0].split("“")[0])
    assert record.summary["error"] == 1


def test_error_messages_name_the_value_and_are_in_the_user_language(
    supervisor_xiaonan: User,
) -> None:
    record = _upload(
        supervisor_xiaonan, _csv([_row("坏行", None, category="培训", custody="可能")])
    )
    assert _errors(record)[2] == [
        gettext("Unknown licence category “%(value)s”.") % {"value": "培训"},
        gettext("Write 是 or 否 for the custody account, not “%(value)s”.") % {"value": "可能"},
    ]
    assert record.summary["language"] == "zh-hans"


def test_duplicate_keys_inside_the_file_name_the_first_line(supervisor_xiaonan: User) -> None:
    rows = [
        _row("甲", 1),
        _row("乙", 2, licence_number="教民1号"),
        _row("丙", 1),
        _row("丁", 3, licence_number="教民1号"),
    ]
    record = _upload(supervisor_xiaonan, _csv(rows))
    assert _errors(record) == {
        4: [
            gettext("Credit code %(key)s appears twice in the file (first on line %(first)d).")
            % {"key": _code(1), "first": 2}
        ],
        5: [
            gettext("Licence number %(key)s appears twice in the file (first on line %(first)d).")
            % {"key": "教民1号", "first": 3}
        ],
    }


def test_duplicates_are_found_across_batches(
    supervisor_xiaonan: User, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(imports, "CHECK_BATCH", 2)
    rows = [_row(f"机构{n}", n) for n in range(1, 6)] + [_row("又一家", 1)]
    record = _upload(supervisor_xiaonan, _csv(rows))
    assert list(_errors(record)) == [7]


def test_division_code_outside_the_import_region_is_a_row_error(
    supervisor_xiaonan: User,
) -> None:
    record = _upload(supervisor_xiaonan, _csv([_row("孝昌机构", 1, division_code=XIAOCHANG)]))
    assert _errors(record)[2] == [
        gettext("Division code %(code)s lies outside %(region)s, where this import writes.")
        % {"code": XIAOCHANG, "region": "孝南区"}
    ]


def test_a_supervisor_cannot_import_into_a_region_outside_their_scope(
    supervisor_xiaonan: User,
) -> None:
    with pytest.raises(NotAllowed):
        _upload(supervisor_xiaonan, _csv(CLEAN), region=XIAOCHANG)
    assert not InstitutionImport.objects.exists()


def test_only_registry_managers_import(admin_system: User, coordinator_wenchang: User) -> None:
    for actor in (admin_system, coordinator_wenchang):
        with pytest.raises(NotAllowed):
            _upload(actor, _csv(CLEAN), region="420900")
    assert not InstitutionImport.objects.exists()


def _square(region: Region, lng: float, lat: float, side: float = 0.1) -> None:
    ring = [
        [lng, lat],
        [lng + side, lat],
        [lng + side, lat + side],
        [lng, lat + side],
        [lng, lat],
    ]
    Boundary.objects.create(
        region=region,
        geometry={"type": "Polygon", "coordinates": [ring]},
        min_lat=lat,
        max_lat=lat + side,
        min_lng=lng,
        max_lng=lng + side,
    )


PLACED_ROWS = [
    _row("按代码", 1, division_code=WENCHANG),
    _row("按地址", 2, address="孝南区槐荫社区光明路3号"),
    _row("按位置", 3, longitude="113.05", latitude="30.05", address="文昌社区"),
    _row("按街道", 4, division_code="420902001000"),
    _row("无处", 5),
    _row("在边界上", 6, longitude="113.1", latitude="30.05"),
]


def test_rows_are_placed_by_position_code_or_address_as_the_dry_run_shows(
    supervisor_xiaonan: User,
) -> None:
    wenchang, huaiyin, qiankun = (_region(c) for c in (WENCHANG, "420902003002", "420902003003"))
    _square(qiankun, 113.0, 30.0)
    _square(huaiyin, 113.1, 30.0)
    area = Area.objects.get(name="广场学区片区")
    record = _upload(supervisor_xiaonan, _csv(PLACED_ROWS))
    placed = {
        line: (f["region_id"], f["community_id"], f["area_id"])
        for line, f in ((r.line, r.data["fields"]) for r in record.rows.all())
    }
    street = _region("420902001000")
    assert placed == {
        2: (wenchang.pk, wenchang.pk, area.pk),
        3: (huaiyin.pk, huaiyin.pk, area.pk),
        4: (qiankun.pk, qiankun.pk, area.pk),
        5: (street.pk, None, None),
        6: (_region().pk, None, None),
        7: (huaiyin.pk, huaiyin.pk, area.pk),  # on the shared border: the lower code
    }


def test_dry_run_places_rows_where_the_registry_placement_would(
    supervisor_xiaonan: User,
) -> None:
    _square(_region("420902003003"), 113.0, 30.0)
    _square(_region("420902003002"), 113.1, 30.0)
    record = _upload(supervisor_xiaonan, _csv(PLACED_ROWS))
    for row in record.rows.all():
        fields = row.data["fields"]
        raw_code = PLACED_ROWS[row.line - 2][list(imports.COLUMNS).index("division_code")]
        institution = Institution(
            region=_region(raw_code or XIAONAN),
            address=fields["address"],
            latitude=fields["latitude"] and Decimal(fields["latitude"]),
            longitude=fields["longitude"] and Decimal(fields["longitude"]),
        )
        community = resolve_community(institution)
        assert fields["community_id"] == (community.pk if community else None), row.line


def test_gcj02_positions_are_stored_in_wgs84(supervisor_xiaonan: User) -> None:
    rows = [_row("火星坐标", 1, longitude="113.9200", latitude="30.9200", datum="GCJ-02")]
    fields = _upload(supervisor_xiaonan, _csv(rows)).rows.get().data["fields"]
    assert fields["source_datum"] == "gcj02"
    assert Decimal(fields["latitude"]) != Decimal("30.92")
    assert abs(Decimal(fields["longitude"]) - Decimal("113.92")) < Decimal("0.01")


def test_dry_run_tells_create_update_match_review_and_unchanged_apart(
    supervisor_xiaonan: User,
) -> None:
    keyed = _existing(
        supervisor_xiaonan, "小天才教育", credit_code=_code(1), contact_phone="13900001111"
    )
    licensed = _existing(supervisor_xiaonan, "飞跃体育", licence_number="教民3号")
    unchanged = _existing(supervisor_xiaonan, "博雅书法", credit_code=_code(2))
    keyless = _existing(supervisor_xiaonan, "阳光美术工作室", contact_phone="13900005555")
    similar = _existing(supervisor_xiaonan, "晨曦书法")
    rows = [
        _row("小天才教育", 1, phone="13900002222", category="学科类"),  # update by credit code
        _row("飞跃体育", None, licence_number="教民3号", capacity="80"),  # update by licence
        _row("博雅书法", 2),  # unchanged
        _row("陽光美術工作室", None, division_code=WENCHANG, address="体育路5号"),  # match
        _row("晨曦书法培训中心", None, division_code=WENCHANG),  # review
        _row("全新机构", 9),  # create
    ]
    record = _upload(supervisor_xiaonan, _csv(rows))
    assert _actions(record) == {
        2: Action.UPDATE,
        3: Action.UPDATE,
        4: Action.UNCHANGED,
        5: Action.MATCH,
        6: Action.REVIEW,
        7: Action.CREATE,
    }
    assert _line(record, 2).institution_id == keyed.pk
    assert _line(record, 2).data["changes"] == {
        "category": [str(Category.NONE.label), str(Category.SUBJECT.label)],
        "contact_phone": ["13900001111", "13900002222"],
    }
    assert _line(record, 3).institution_id == licensed.pk
    assert _line(record, 3).data["changes"] == {"capacity": ["", 80]}
    assert _line(record, 4).institution_id == unchanged.pk
    match = _line(record, 5)
    assert match.institution_id == keyless.pk
    assert match.data["match"]["score"] >= 92
    assert match.data["changes"] == {"address": ["", "体育路5号"]}
    review = _line(record, 6)
    assert review.data["candidate"]["id"] == similar.pk
    assert 75 <= review.data["candidate"]["score"] < 92
    counts = {k: record.summary[k] for k in ("create", "update", "match", "review", "unchanged")}
    assert counts == {"create": 1, "update": 2, "match": 1, "review": 1, "unchanged": 1}
    assert Institution.objects.count() == 5


def test_a_match_fills_gaps_and_never_overwrites(supervisor_xiaonan: User) -> None:
    keyless = _existing(
        supervisor_xiaonan, "阳光美术工作室", contact_phone="13900005555", address="体育路5号"
    )
    row = _row("阳光美术工作室", None, division_code=WENCHANG, phone="13900006666", capacity="30")
    record = _upload(supervisor_xiaonan, _csv([row]))
    assert _line(record, 2).data["changes"] == {"capacity": ["", 30]}
    _applied(supervisor_xiaonan, record)
    keyless.refresh_from_db()
    assert (keyless.contact_phone, keyless.capacity) == ("13900005555", 30)


def test_a_keyed_row_new_to_the_registry_matches_a_field_find_without_keys(
    supervisor_xiaonan: User,
) -> None:
    found = services.institution_create(
        actor=None, name="晨星美术", region=_region(WENCHANG), source=Source.FIELD
    )
    record = _upload(supervisor_xiaonan, _csv([_row("晨星美术", 1, division_code=WENCHANG)]))
    row = _line(record, 2)
    assert (row.action, row.institution_id) == (Action.MATCH, found.pk)
    _applied(supervisor_xiaonan, record)
    found.refresh_from_db()
    assert found.credit_code == _code(1)


def test_keys_on_two_institutions_or_outside_the_region_are_row_errors(
    supervisor_city: User, supervisor_xiaonan: User
) -> None:
    _existing(supervisor_city, "甲", credit_code=_code(1))
    _existing(supervisor_city, "乙", licence_number="教民2号")
    _existing(supervisor_city, "孝昌丙", region=XIAOCHANG, credit_code=_code(3))
    _existing(supervisor_city, "丁", credit_code=_code(4), licence_number="教民4号")
    rows = [
        _row("甲", 1, licence_number="教民2号"),
        _row("孝昌丙", 3),
        _row("丁", 5, licence_number="教民4号"),
    ]
    errors = _errors(_upload(supervisor_xiaonan, _csv(rows)))
    assert errors == {
        2: [
            gettext(
                "Credit code %(code)s and licence number %(number)s belong to two different "
                "institutions."
            )
            % {"code": _code(1), "number": "教民2号"}
        ],
        3: [
            gettext(
                "This institution is registered outside %(region)s, where this import writes; "
                "the supervisors of its region can update it."
            )
            % {"region": "孝南区"}
        ],
        4: [
            gettext(
                "Licence number %(number)s belongs to an institution with credit code %(code)s."
            )
            % {"number": "教民4号", "code": _code(4)}
        ],
    }


def test_check_progress_is_kept_per_batch(
    supervisor_xiaonan: User, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(imports, "CHECK_BATCH", 2)
    seen: list[int] = []
    original = ImportRow.objects.bulk_create

    def spy(rows: list[ImportRow], *args: Any, **kwargs: Any) -> list[ImportRow]:
        seen.append(InstitutionImport.objects.get().processed)
        return original(rows, *args, **kwargs)

    monkeypatch.setattr(ImportRow.objects, "bulk_create", spy)
    record = _upload(supervisor_xiaonan, _csv([_row(f"机构{n}", n) for n in range(1, 6)]))
    assert seen == [0, 2, 4]
    assert (record.processed, record.total) == (5, 5)


# --- applying -----------------------------------------------------------------------------------


def test_apply_writes_every_row_and_records_the_outcome(supervisor_xiaonan: User) -> None:
    keyed = _existing(supervisor_xiaonan, "小天才教育", credit_code=_code(1))
    similar = _existing(supervisor_xiaonan, "晨曦书法")
    rows = [
        _row("小天才教育", 1, phone="13900002222"),
        _row("晨曦书法培训中心", None, division_code=WENCHANG),
        *CLEAN[1:],
    ]
    record = _applied(supervisor_xiaonan, _upload(supervisor_xiaonan, _csv(rows)))
    assert record.status == ImportStatus.DONE
    assert record.outcome == {"create": 3, "update": 1, "unchanged": 0, "review": 1}
    assert record.processed == record.total == 4
    keyed.refresh_from_db()
    assert keyed.contact_phone == "13900002222"
    # bulk_update wrote the search hash with the (encrypted) number.
    assert Institution.objects.get(contact_phone_hash=blind_index("13900002222", "phone")) == keyed
    created = Institution.objects.get(credit_code=_code(2))
    assert (created.name, created.category, created.has_custody_account) == (
        "博雅书法工作室",
        Category.ARTS,
        True,
    )
    assert created.community == _region(WENCHANG)
    assert created.area is not None and created.area.name == "广场学区片区"
    assert created.name_pinyin == reference_pinyin_forms("博雅书法工作室")[0]
    assert created.source == Source.IMPORT
    assert _line(record, 4).institution_id == created.pk
    new = Institution.objects.get(name="晨曦书法培训中心")
    [pair] = MatchCandidate.objects.all()
    assert {pair.institution_id, pair.candidate_id} == {new.pk, similar.pk}
    updated = Event.objects.get(verb="institution.updated", object_id=str(keyed.pk))
    assert updated.before is not None and updated.after is not None
    assert updated.before["contact_phone"] == ""
    # The audit trail keeps the number masked: it is encrypted in its table.
    assert (updated.after["contact_phone"], updated.after["import"]) == ("139****2222", record.pk)
    assert updated.actor == supervisor_xiaonan
    applied = Event.objects.get(verb="institution_import.applied")
    assert applied.after == record.outcome


def test_an_update_moves_an_institution_to_the_community_the_file_names(
    supervisor_xiaonan: User,
) -> None:
    keyed = _existing(supervisor_xiaonan, "小天才教育", region=XIAONAN, credit_code=_code(1))
    record = _upload(supervisor_xiaonan, _csv([_row("小天才教育", 1, division_code=WENCHANG)]))
    wenchang = _region(WENCHANG)
    assert _line(record, 2).data["changes"] == {
        "region_id": ["孝南区", "文昌社区"],
        "community_id": ["", "文昌社区"],
        "area_id": ["", "广场学区片区"],
    }
    _applied(supervisor_xiaonan, record)
    keyed.refresh_from_db()
    assert (keyed.region, keyed.community) == (wenchang, wenchang)
    assert keyed.area is not None and keyed.area.name == "广场学区片区"


def test_reimporting_the_same_file_changes_nothing(supervisor_xiaonan: User) -> None:
    rows = [*CLEAN, _row("无码机构", None, division_code=WENCHANG, phone="13900007777")]
    data = _csv(rows)
    _applied(supervisor_xiaonan, _upload(supervisor_xiaonan, data))
    institutions = list(Institution.objects.order_by("pk").values())
    events = Event.objects.filter(verb__startswith="institution.").count()
    again = _upload(supervisor_xiaonan, data)
    assert set(_actions(again).values()) == {Action.UNCHANGED}
    again = _applied(supervisor_xiaonan, again)
    assert again.outcome == {"create": 0, "update": 0, "unchanged": 4, "review": 0}
    assert list(Institution.objects.order_by("pk").values()) == institutions
    assert Event.objects.filter(verb__startswith="institution.").count() == events


def test_an_import_with_errors_cannot_be_applied(supervisor_xiaonan: User) -> None:
    record = _upload(supervisor_xiaonan, _csv([*CLEAN, _row("坏", 9, category="培训")]))
    with pytest.raises(ServiceError) as caught:
        imports.institution_import_queue(actor=supervisor_xiaonan, record=record)
    assert caught.value.message == gettext(
        "Correct the rows with errors and upload the file again."
    )
    record.refresh_from_db()
    assert record.status == ImportStatus.CHECKED
    assert imports.institution_import_apply(record.pk).status == ImportStatus.CHECKED
    assert not Institution.objects.exists()


def test_apply_runs_only_a_confirmed_import_once(supervisor_xiaonan: User) -> None:
    record = _upload(supervisor_xiaonan, _csv(CLEAN))
    assert imports.institution_import_apply(record.pk).status == ImportStatus.CHECKED
    _applied(supervisor_xiaonan, record)
    with pytest.raises(ServiceError):
        imports.institution_import_queue(actor=supervisor_xiaonan, record=record)
    assert imports.institution_import_apply(record.pk).status == ImportStatus.DONE
    assert Institution.objects.count() == 3


def test_a_key_registered_after_the_check_fails_the_whole_import(
    supervisor_xiaonan: User, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(imports, "APPLY_BATCH", 2)
    record = _upload(supervisor_xiaonan, _csv([_row(f"机构{n}", n) for n in range(1, 6)]))
    imports.institution_import_queue(actor=supervisor_xiaonan, record=record)
    _existing(supervisor_xiaonan, "抢先登记", credit_code=_code(5))
    record = imports.institution_import_apply(record.pk)
    assert record.status == ImportStatus.FAILED
    assert record.outcome["error"] == gettext(
        "Line %(line)d: credit code %(key)s was registered after the check."
    ) % {"line": 6, "key": _code(5)}
    assert list(Institution.objects.values_list("name", flat=True)) == ["抢先登记"]
    assert not record.rows.filter(institution__isnull=False).exists()
    assert not Event.objects.filter(verb="institution_import.applied").exists()
    assert Event.objects.filter(verb="institution_import.failed").count() == 1


def test_a_database_refusal_mid_apply_leaves_nothing_written(
    supervisor_xiaonan: User, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(imports, "APPLY_BATCH", 2)
    keyed = _existing(supervisor_xiaonan, "小天才教育", credit_code=_code(1))
    rows = [_row("小天才教育", 1, phone="13900002222"), *[_row(f"机构{n}", n) for n in (2, 3, 4)]]
    record = _upload(supervisor_xiaonan, _csv(rows))
    imports.institution_import_queue(actor=supervisor_xiaonan, record=record)
    # A value only the database refuses (its range check), on the last row.
    row = _line(record, 5)
    row.data["fields"] |= {"latitude": "95.000000", "longitude": "113.000000"}
    row.save()
    record = imports.institution_import_apply(record.pk)
    assert record.status == ImportStatus.FAILED
    assert record.outcome["error"]
    keyed.refresh_from_db()
    assert keyed.contact_phone == ""
    assert list(Institution.objects.values_list("pk", flat=True)) == [keyed.pk]
    assert not Event.objects.filter(verb="institution.updated").exists()


# --- pages --------------------------------------------------------------------------------------


@pytest.fixture
def xiaonan_client(client: Client, supervisor_xiaonan: User) -> Client:
    client.force_login(supervisor_xiaonan)
    return client


def _post(client: Client, name: str, data: bytes, region: str = XIAONAN) -> Any:
    return client.post(
        "/registry/import/",
        {"file": SimpleUploadedFile(name, data), "region": _region(region).pk},
    )


def test_upload_page_checks_the_file_and_shows_the_report(xiaonan_client: Client) -> None:
    response = _post(xiaonan_client, "registry.csv", _csv(CLEAN).encode("gbk"))
    record = InstitutionImport.objects.get()
    assert response["Location"] == f"/registry/import/{record.pk}/"
    content = xiaonan_client.get(response["Location"]).content.decode()
    assert '<html lang="zh-hans">' in content
    for name in ("小天才教育培训学校", "博雅书法工作室", "飞跃体育俱乐部"):
        assert f"<td>{name}</td>" in content
    assert content.count(str(Action.CREATE.label)) >= 3
    assert f'action="/registry/import/{record.pk}/apply/"' in content


def test_report_shows_errors_changes_and_a_link_to_the_error_workbook(
    xiaonan_client: Client, supervisor_xiaonan: User
) -> None:
    _existing(supervisor_xiaonan, "小天才教育", credit_code=_code(1))
    rows = [_row("小天才教育", 1, phone="13900002222"), _row("坏", 9, category="培训")]
    _post(xiaonan_client, "registry.csv", _csv(rows).encode())
    record = InstitutionImport.objects.get()
    content = xiaonan_client.get(f"/registry/import/{record.pk}/").content.decode()
    assert "→ 13900002222" in content
    assert gettext("Unknown licence category “%(value)s”.") % {"value": "培训"} in content
    assert f'href="/registry/import/{record.pk}/errors.xlsx"' in content
    assert "/apply/" not in content
    errors = xiaonan_client.get(f"/registry/import/{record.pk}/?action=error").content.decode()
    assert "<td>坏</td>" in errors and "<td>小天才教育</td>" not in errors


def test_error_workbook_has_the_cells_as_uploaded_and_the_errors(
    supervisor_xiaonan: User, xiaonan_client: Client
) -> None:
    rows = [CLEAN[0], _row("坏", 9, category="培训", phone="123")]
    record = _upload(supervisor_xiaonan, _csv(rows, CHINESE_HEADER))
    response = xiaonan_client.get(f"/registry/import/{record.pk}/errors.xlsx")
    assert response.status_code == 200
    sheet = load_workbook(io.BytesIO(response.content), read_only=True).worksheets[0]
    header, *lines = [[str(c) for c in r] for r in sheet.iter_rows(values_only=True)]
    assert header[0] == gettext("Line") and header[1] == "机构名称"
    assert header[-1] == gettext("Errors")
    [line] = lines
    assert line[0] == "3" and line[1] == "坏" and "培训" in line[4]
    assert gettext("A phone number has 7 to 12 digits.") in line[-1]


def test_unreadable_upload_is_refused_on_the_form(xiaonan_client: Client) -> None:
    response = _post(xiaonan_client, "registry.csv", b"\xff\xfe\xfd\x80")
    assert response.status_code == 200
    assert response.context["form"].errors["file"]
    assert not InstitutionImport.objects.exists()


def test_the_region_choice_is_limited_to_the_user_scope(xiaonan_client: Client) -> None:
    response = _post(xiaonan_client, "registry.csv", _csv(CLEAN).encode(), region=XIAOCHANG)
    assert response.status_code == 200
    assert response.context["form"].errors["region"]
    assert not InstitutionImport.objects.exists()


def test_an_oversized_upload_is_refused_on_the_form(xiaonan_client: Client, settings: Any) -> None:
    settings.IMPORT_MAX_BYTES = 1024
    response = _post(xiaonan_client, "registry.csv", _csv(CLEAN * 20).encode())
    assert response.context["form"].errors["file"] == [
        gettext("The file is larger than %(mb)d MB.") % {"mb": 0}
    ]


def test_apply_button_queues_the_task(
    xiaonan_client: Client, django_capture_on_commit_callbacks: DjangoCaptureOnCommitCallbacks
) -> None:
    _post(xiaonan_client, "registry.csv", _csv(CLEAN).encode())
    record = InstitutionImport.objects.get()
    with django_capture_on_commit_callbacks(execute=True):
        response = xiaonan_client.post(f"/registry/import/{record.pk}/apply/")
    assert response["Location"] == f"/registry/import/{record.pk}/"
    record.refresh_from_db()
    assert record.status == ImportStatus.QUEUED
    [task] = DBTaskResult.objects.all()
    assert task.task_path == "bihuan.registry.tasks.apply_institution_import"
    assert task.args_kwargs == {"args": [record.pk], "kwargs": {}}


def test_a_large_file_is_checked_by_the_task(
    supervisor_xiaonan: User,
    monkeypatch: pytest.MonkeyPatch,
    django_capture_on_commit_callbacks: DjangoCaptureOnCommitCallbacks,
) -> None:
    monkeypatch.setattr(imports, "INLINE_CHECK_BYTES", 10)
    with django_capture_on_commit_callbacks(execute=True):
        record = _upload(supervisor_xiaonan, _csv(CLEAN))
    assert record.status == ImportStatus.QUEUED
    assert not record.rows.exists()
    [task] = DBTaskResult.objects.all()
    assert task.task_path == "bihuan.registry.tasks.check_institution_import"


def test_htmx_poll_gets_the_status_while_open_and_a_refresh_once_done(
    xiaonan_client: Client, supervisor_xiaonan: User, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(imports, "INLINE_CHECK_BYTES", 10)
    record = _upload(supervisor_xiaonan, _csv(CLEAN))
    url = f"/registry/import/{record.pk}/"
    content = xiaonan_client.get(url, headers={"HX-Request": "true"}).content.decode()
    assert content.lstrip().startswith('<div id="import-status"')
    assert gettext("Checking the file") in content and "<html" not in content
    imports.institution_import_check(record.pk)
    response = xiaonan_client.get(url, headers={"HX-Request": "true"})
    assert response["HX-Refresh"] == "true"


def test_report_page_makes_a_fixed_number_of_queries(
    xiaonan_client: Client, supervisor_xiaonan: User, django_assert_max_num_queries: Any
) -> None:
    _existing(supervisor_xiaonan, "小天才教育", credit_code=_code(1))
    rows = [_row("小天才教育", 1, phone="13900002222")] + [
        _row(f"机构{n}", n) for n in range(2, 60)
    ]
    record = _upload(supervisor_xiaonan, _csv(rows))
    xiaonan_client.get(f"/registry/import/{record.pk}/")
    # 10 for the page and its session, 1 for the unread count of the header's bell.
    with django_assert_max_num_queries(11):
        xiaonan_client.get(f"/registry/import/{record.pk}/")


IMPORT_PAGES = [
    ("get", "/registry/import/"),
    ("post", "/registry/import/"),
    ("get", "/registry/import/template.xlsx"),
    ("get", "/registry/import/{pk}/"),
    ("post", "/registry/import/{pk}/apply/"),
    ("get", "/registry/import/{pk}/errors.xlsx"),
]


@pytest.fixture
def xiaonan_import(supervisor_xiaonan: User) -> InstitutionImport:
    return _upload(supervisor_xiaonan, _csv(CLEAN))


@pytest.mark.parametrize(
    "persona",
    [
        "admin_system",
        "admin_security",
        "admin_audit",
        "coordinator_wenchang",
        "inspector_wenchang",
        "officer_market",
        "school_tiyulu",
        "area_guangchang",
        "supervisor_city",  # a manager, but not the uploader
    ],
)
def test_import_pages_are_404_for_all_but_registry_managers_and_their_own_imports(
    client: Client,
    request: pytest.FixtureRequest,
    xiaonan_import: InstitutionImport,
    persona: str,
) -> None:
    client.force_login(request.getfixturevalue(persona))
    counts = (InstitutionImport.objects.count(), Institution.objects.count(), Event.objects.count())
    answers = {}
    for method, path in IMPORT_PAGES:
        url = path.format(pk=xiaonan_import.pk)
        if method == "post":
            data = {"file": SimpleUploadedFile("r.csv", _csv(CLEAN).encode())}
            answers[method, path] = client.post(url, data).status_code
        else:
            answers[method, path] = client.get(url).status_code
    expected = dict.fromkeys(IMPORT_PAGES, 404)
    if persona == "supervisor_city":
        expected |= {
            ("get", "/registry/import/"): 200,
            ("post", "/registry/import/"): 200,  # the form, refused: no region chosen
            ("get", "/registry/import/template.xlsx"): 200,
        }
    assert answers == expected
    xiaonan_import.refresh_from_db()
    assert xiaonan_import.status == ImportStatus.CHECKED
    assert (
        InstitutionImport.objects.count(),
        Institution.objects.count(),
        Event.objects.count(),
    ) == counts
    assert not DBTaskResult.objects.exists()


def test_recent_imports_are_listed_on_the_upload_page(
    xiaonan_client: Client, xiaonan_import: InstitutionImport
) -> None:
    content = xiaonan_client.get("/registry/import/").content.decode()
    assert re.search(rf'href="/registry/import/{xiaonan_import.pk}/">registry\.csv</a>', content)


# --- the real worker ----------------------------------------------------------------------------


@pytest.fixture
def default_signals() -> Iterator[None]:
    """The worker installs its own signal handlers; give pytest its own back."""
    saved = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM, signal.SIGQUIT)}
    yield
    for number, handler in saved.items():
        signal.signal(number, handler)


def _run_worker() -> None:
    call_command("db_worker", batch=True, startup_delay=False, interval=0, verbosity=0)


def test_worker_checks_and_applies_and_a_second_import_is_all_unchanged(
    live_db: None, client: Client, default_signals: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    from bihuan.demo.loader import load_demo

    load_demo()
    monkeypatch.setattr(imports, "INLINE_CHECK_BYTES", 10)
    client.force_login(User.objects.get(username="xiaonan"))
    data = _csv(CLEAN).encode("gbk")

    _post(client, "registry.csv", data)
    record = InstitutionImport.objects.get()
    assert record.status == ImportStatus.QUEUED
    _run_worker()
    record.refresh_from_db()
    assert record.status == ImportStatus.CHECKED, record.summary
    assert _actions(record) == {2: Action.CREATE, 3: Action.CREATE, 4: Action.CREATE}

    client.post(f"/registry/import/{record.pk}/apply/")
    _run_worker()
    check, apply = DBTaskResult.objects.order_by("enqueued_at")
    assert (check.status, apply.status) == ("SUCCESSFUL", "SUCCESSFUL"), apply.traceback
    assert apply.return_value == {"create": 3, "update": 0, "unchanged": 0, "review": 0}
    record.refresh_from_db()
    assert record.status == ImportStatus.DONE
    assert Institution.objects.count() == 3
    content = client.get(f"/registry/import/{record.pk}/").content.decode()
    assert f"<strong>{ImportStatus.DONE.label}</strong>" in content

    _post(client, "registry.csv", data)
    again = InstitutionImport.objects.exclude(pk=record.pk).get()
    _run_worker()
    again.refresh_from_db()
    assert set(_actions(again).values()) == {Action.UNCHANGED}
    client.post(f"/registry/import/{again.pk}/apply/")
    _run_worker()
    again.refresh_from_db()
    assert again.outcome == {"create": 0, "update": 0, "unchanged": 3, "review": 0}
    assert Institution.objects.count() == 3
