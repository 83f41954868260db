"""XLSForm-style workbooks: what imports, what is refused with its row, and the round trip."""

from __future__ import annotations

import io
from collections.abc import Iterator
from typing import Any

import pytest
from django.utils import translation
from openpyxl import Workbook, load_workbook

from bihuan.screening.default_checklist import DEFAULT_CHECKLIST
from bihuan.screening.tests.factories import SIMPLE
from bihuan.screening.xlsform import XLSFormError, export_workbook, import_workbook

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _english() -> Iterator[None]:
    # Messages are compared in English, whatever the catalogue says in Chinese.
    with translation.override("en"):
        yield


SURVEY_HEADER = [
    "type",
    "name",
    "label",
    "label::English (en)",
    "required",
    "relevant",
    "constraint",
    "constraint_message",
    "bihuan_evidence",
    "bihuan_violation_types",
    "bihuan_flag_when",
]
CHOICES_HEADER = ["list_name", "name", "label", "label::English (en)", "bihuan_flag"]


def _workbook(
    survey: list[list[Any]],
    choices: list[list[Any]] | None = None,
    settings: list[list[Any]] | None = None,
    survey_header: list[str] = SURVEY_HEADER,
) -> bytes:
    book = Workbook()
    sheet: Any = book.active
    sheet.title = "survey"
    sheet.append(survey_header)
    for row in survey:
        sheet.append(row)
    if choices is not None:
        sheet = book.create_sheet("choices")
        sheet.append(CHOICES_HEADER)
        for row in choices:
            sheet.append(row)
    if settings is not None:
        sheet = book.create_sheet("settings")
        for row in settings:
            sheet.append(row)
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


YNN = [
    ["ynn", "yes", "是", "Yes", ""],
    ["ynn", "no", "否", "No", "yes"],
    ["ynn", "na", "不适用", "Not applicable", ""],
]


def _errors(data: bytes, filename: str = "form.xlsx") -> list[str]:
    with pytest.raises(XLSFormError) as caught:
        import_workbook(data, filename)
    return caught.value.errors


@pytest.mark.parametrize("definition", [SIMPLE, DEFAULT_CHECKLIST], ids=["simple", "default"])
def test_export_imports_back_to_the_same_definition(definition: dict[str, Any]) -> None:
    assert import_workbook(export_workbook(definition), "export.xlsx") == definition


def test_export_writes_the_three_sheets_in_xlsform_terms() -> None:
    book = load_workbook(io.BytesIO(export_workbook(SIMPLE)))
    assert book.sheetnames == ["survey", "choices", "settings"]
    survey = [[c.value for c in row] for row in book["survey"].iter_rows()]
    assert survey[0][:4] == ["type", "name", "label", "label::English (en)"]
    assert survey[1][:2] == ["select_one yes_no_na_flag_no", "licence_displayed"]
    # The meals question flags nothing, so it gets its own list.
    assert survey[2][0] == "select_one yes_no_na"
    assert [r[1] for r in book["settings"].iter_rows(values_only=True)][1] == "Test checklist"


def test_a_workbook_with_groups_skip_logic_and_flags_imports() -> None:
    data = _workbook(
        [
            ["start", "start", "", "", "", "", "", "", "", "", ""],
            ["begin group", "A", "资质", "Licences", "", "", "", "", "", "", ""],
            [
                "select_one ynn",
                "licence",
                "许可证",
                "Licence",
                "yes",
                "",
                "",
                "",
                "photo",
                "A2",
                "",
            ],
            ["end group", "", "", "", "", "", "", "", "", "", ""],
            ["begin_group", "B", "场所", "Premises", "", "", "", "", "", "", ""],
            ["integer", "floor", "楼层", "Floor", "true", "", ". > 0", "大于0", "", "F2", ". >= 4"],
            ["image", "facade", "门头", "", "", "${floor} > 0", "", "", "", "", ""],
            ["geopoint", "spot", "位置", "", "", "", "", "", "", "", ""],
            ["end_group"],
            ["select_multiple forms", "forms", "形式", "", "", "", "", "", "", "", ""],
        ],
        [*YNN, ["forms", "online", "线上", "Online", 1], ["forms", "none", "未发现", "", ""]],
        [["form_title", "form_id", "version"], ["测试表", "t1", 3]],
    )
    definition = import_workbook(data, "form.xlsx")
    assert definition["title"] == "测试表"
    assert definition["version"] == "3"
    questions = {q["name"]: q for q in definition["questions"]}
    assert list(questions) == ["licence", "floor", "facade", "spot", "forms"]
    assert questions["licence"]["type"] == "yes_no_na"
    assert questions["licence"]["group_label_en"] == "Licences"
    assert questions["licence"]["required"] is True
    assert questions["floor"]["flag_ast"] == [">=", ["self"], ["lit", 4]]
    assert questions["floor"]["group"] == "B"
    assert questions["facade"]["type"] == "photo"
    assert questions["facade"]["relevant_ast"] == [">", ["ref", "floor"], ["lit", 0]]
    assert questions["spot"]["type"] == "location"
    assert questions["forms"]["group"] == ""
    # No evidence column value on a question that can be flagged: a photo or a note.
    assert questions["forms"]["evidence"] == "photo_or_note"


def test_a_select_one_of_other_choices_stays_a_single_choice() -> None:
    data = _workbook(
        [["select_one kind", "kind", "类型", "", "", "", "", "", "", "", ""]],
        [["kind", "shop", "商铺", "", ""], ["kind", "flat", "住宅", "", ""]],
    )
    assert import_workbook(data)["questions"][0]["type"] == "select_one"


def test_labels_in_a_chinese_language_column_are_read() -> None:
    data = _workbook(
        [["text", "remarks", "备注", "Remarks"]],
        survey_header=["type", "name", "label::Chinese (zh)", "label::English (en)"],
    )
    question = import_workbook(data)["questions"][0]
    assert (question["label"], question["label_en"]) == ("备注", "Remarks")


def test_every_bad_row_is_reported_with_its_number_and_nothing_is_returned() -> None:
    data = _workbook(
        [
            ["text", "ok", "好", "", "", "", "", "", "", "", ""],
            ["rank", "order", "排序", "", "", "", "", "", "", "", ""],
            ["select_one missing", "m", "缺列表", "", "", "", "", "", "", "", ""],
            ["begin repeat", "r", "", "", "", "", "", "", "", "", ""],
            ["", "untyped", "无类型", "", "", "", "", "", "", "", ""],
        ],
        YNN,
    )
    assert _errors(data) == [
        "survey row 3: unknown type “rank”",
        "survey row 4: no choice list named “missing” on the choices sheet",
        "survey row 5: “begin repeat” is not supported",
        "survey row 6: the type is empty",
    ]


def test_validation_problems_name_the_survey_row() -> None:
    data = _workbook(
        [
            ["text", "remarks", "备注", "", "", "", "", "", "", "", ""],
            ["integer", "Bad-Name", "人数", "", "", "", "", "", "", "", ""],
            ["integer", "n", "人数", "", "", "${nowhere} > 1", "", "", "", "", ""],
            ["select_one ynn", "lic", "许可证", "", "", "", "", "", "", "Z9", ""],
        ],
        YNN,
    )
    errors = _errors(data)
    assert errors[0].startswith("survey row 3 (Bad-Name): the name must start")
    assert any(e.startswith("survey row 4 (n): relevant: no question") for e in errors)
    assert any(
        e.startswith("survey row 5 (lic): unknown or inactive") and "Z9" in e for e in errors
    )


@pytest.mark.parametrize(
    ("row", "message"),
    [
        (["calculate", "c", "计算"], "survey row 2: unknown type “calculate”"),
        (["select_one_from_file x.csv", "f", "文件"], "survey row 2: unknown type"),
        (["select_one", "s", "无列表"], "must name one choice list"),
    ],
)
def test_unsupported_features_are_refused(row: list[str], message: str) -> None:
    assert message in _errors(_workbook([row], YNN))[0]


def test_a_calculation_column_in_use_is_refused() -> None:
    data = _workbook(
        [["integer", "n", "数", "1 + 1"]], survey_header=["type", "name", "label", "calculation"]
    )
    assert _errors(data) == ["survey row 2: the column calculation is not supported"]


def test_groups_must_close_and_not_nest() -> None:
    data = _workbook(
        [
            ["begin group", "A", "甲"],
            ["begin group", "B", "乙"],
            ["text", "t", "文本"],
        ],
        survey_header=["type", "name", "label"],
    )
    assert _errors(data) == [
        "survey row 3: groups cannot be nested",
        "survey: group “A” has no “end group” row",
    ]


def test_a_gbk_csv_is_refused_with_a_clear_message() -> None:
    data = "type,name,label\ntext,remarks,备注\n".encode("gbk")
    (message,) = _errors(data, "表.csv")
    assert "“表.csv” is not an Excel workbook (.xlsx)" in message
    assert "GBK" in message


def test_an_old_xls_file_is_refused() -> None:
    assert "old Excel (.xls)" in _errors(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 100)[0]


def test_a_damaged_zip_is_refused() -> None:
    assert _errors(b"PK\x03\x04garbage") == ["The file is not a readable XLSX workbook."]


def test_a_workbook_without_a_survey_sheet_is_refused() -> None:
    book = Workbook()
    book.active.title = "questions"  # type: ignore[union-attr]
    buffer = io.BytesIO()
    book.save(buffer)
    assert _errors(buffer.getvalue()) == ["The workbook has no sheet named “survey”."]


def test_an_empty_survey_is_refused() -> None:
    assert _errors(_workbook([])) == ["The survey sheet has no questions."]
