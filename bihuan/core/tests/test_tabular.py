"""Spreadsheets are read as users have them: UTF-8 (with or without BOM), GBK, or XLSX."""

from __future__ import annotations

import io
import random
import re
import zipfile

import pytest
from django.utils.translation import gettext
from openpyxl import Workbook

from bihuan.core.errors import ServiceError
from bihuan.core.tabular import column_index, read_table

CSV_TEXT = "代码,名称,级别\n420902003001,文昌社区,社区\n420902003002,槐荫社区,社区\n"
NOT_TEXT = "The file is neither UTF-8 nor GBK text; save it as UTF-8 CSV or XLSX."
NOT_XLSX = "The file is not a readable XLSX workbook."
EMPTY = "The file is empty."
EXPECTED_ROWS = [
    (2, ["420902003001", "文昌社区", "社区"]),
    (3, ["420902003002", "槐荫社区", "社区"]),
]


def said(msgid: str) -> str:
    """The whole message in the active language (Chinese by default), as a pattern."""
    return f"^{re.escape(gettext(msgid))}$"


def test_utf8_csv_is_read() -> None:
    table = read_table(CSV_TEXT.encode("utf-8"), "regions.csv")
    assert table.header == ["代码", "名称", "级别"]
    assert table.rows == EXPECTED_ROWS
    assert table.encoding == "utf-8"


def test_utf8_csv_with_bom_is_read_without_the_bom_in_the_header() -> None:
    table = read_table(CSV_TEXT.encode("utf-8-sig"), "regions.csv")
    assert table.header[0] == "代码"
    assert table.rows == EXPECTED_ROWS
    assert table.encoding == "utf-8"


def test_gbk_csv_is_read() -> None:
    data = CSV_TEXT.encode("gbk")
    with pytest.raises(UnicodeDecodeError):
        data.decode("utf-8")
    table = read_table(data, "regions.csv")
    assert table.header == ["代码", "名称", "级别"]
    assert table.rows == EXPECTED_ROWS
    assert table.encoding == "gb18030"


def test_header_is_matched_without_regard_to_case_or_spaces() -> None:
    table = read_table(b" Code , Name \n1,a\n", "x.csv")
    assert table.header == ["code", "name"]
    assert column_index(table.header, ("division code", "CODE")) == 0
    assert column_index(table.header, ("parent",)) is None


def test_blank_lines_are_skipped_but_line_numbers_stay_those_of_the_file() -> None:
    table = read_table(b"code,name\n1,a\n\n,\n2,b\n", "x.csv")
    assert table.rows == [(2, ["1", "a"]), (5, ["2", "b"])]


def test_bytes_that_are_neither_utf8_nor_gbk_are_refused() -> None:
    with pytest.raises(ServiceError, match=said(NOT_TEXT)):
        read_table(b"code,name\n\xff\xfe\xfd,\x80\n", "regions.csv")


def test_utf16_text_is_refused_rather_than_misread() -> None:
    with pytest.raises(ServiceError, match=said(NOT_TEXT)):
        read_table(CSV_TEXT.encode("utf-16"), "regions.csv")


def test_random_bytes_named_xlsx_are_refused() -> None:
    data = random.Random(2026).randbytes(4096)
    with pytest.raises(ServiceError, match=said(NOT_XLSX)):
        read_table(data, "regions.xlsx")


def test_zip_that_is_not_a_workbook_is_refused() -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("readme.txt", "not a workbook")
    with pytest.raises(ServiceError, match=said(NOT_XLSX)):
        read_table(buffer.getvalue(), "regions.xlsx")


def test_empty_csv_is_refused() -> None:
    with pytest.raises(ServiceError, match=said(EMPTY)):
        read_table(b"", "regions.csv")


def test_empty_file_named_xlsx_is_refused() -> None:
    with pytest.raises(ServiceError, match=said(NOT_XLSX)):
        read_table(b"", "regions.xlsx")


def test_workbook_without_any_cell_is_refused_as_empty() -> None:
    buffer = io.BytesIO()
    Workbook().save(buffer)
    with pytest.raises(ServiceError, match=said(EMPTY)):
        read_table(buffer.getvalue(), "regions.xlsx")


def test_xlsx_made_with_openpyxl_is_read() -> None:
    workbook = Workbook()
    sheet = workbook.active
    assert sheet is not None
    sheet.append(["代码", "名称", "级别"])
    sheet.append([420902003001, "文昌社区", "社区"])  # a number, as Excel stores typed codes
    sheet.append(["420902003002", " 槐荫社区 ", "社区"])
    sheet.append([None, None, None])
    buffer = io.BytesIO()
    workbook.save(buffer)
    table = read_table(buffer.getvalue(), "Regions.XLSX")
    assert table.header == ["代码", "名称", "级别"]
    assert table.rows == EXPECTED_ROWS
    assert table.encoding == "xlsx"
