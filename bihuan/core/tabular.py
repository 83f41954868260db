"""Reading spreadsheets as users have them: CSV in UTF-8, UTF-8 with BOM or GBK/GB18030, or XLSX.

Shared by every import; each caller maps the header to its own columns.
"""

from __future__ import annotations

import csv
import io
import zipfile
from collections.abc import Iterable
from dataclasses import dataclass
from typing import IO

from django.utils.translation import gettext as _

from bihuan.core.errors import ServiceError

MAX_ROWS = 200_000
# The XML of a real workbook is 5 to 20 times its zipped size: a 20 MB upload stays well under this.
# Far more means a zip bomb (a gibibyte of XML in one megabyte), refused before anything inflates.
XLSX_MAX_UNPACKED = 256 * 1024 * 1024
XLSX_MAX_PARTS = 10_000


@dataclass(frozen=True)
class Table:
    """The header and data rows of a file, with the encoding it was read in."""

    header: list[str]
    rows: list[tuple[int, list[str]]]  # (line number as the user sees it, cells)
    encoding: str


def decode_text(data: bytes) -> tuple[str, str]:
    """Decode as UTF-8 (with or without BOM), else GB18030 (a superset of GBK); no other guess."""
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            return data.decode(encoding), "utf-8" if encoding == "utf-8-sig" else encoding
        except UnicodeDecodeError:
            continue
    raise ServiceError(_("The file is neither UTF-8 nor GBK text; save it as UTF-8 CSV or XLSX."))


def _clean(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return str(value).strip()


def check_xlsx_archive(source: bytes | IO[bytes]) -> None:
    """Refuse a workbook whose parts would inflate past XLSX_MAX_UNPACKED, before parsing any XML.

    The sizes checked are those the zip declares; Python's zipfile never inflates a part beyond
    its declared size (a part that lies inflates to garbage and fails its CRC), so the declared
    total bounds the memory and time openpyxl can spend.
    """
    stream = io.BytesIO(source) if isinstance(source, bytes) else source
    try:
        with zipfile.ZipFile(stream) as archive:
            parts = archive.infolist()
    except (zipfile.BadZipFile, OSError, ValueError):
        raise ServiceError(_("The file is not a readable XLSX workbook.")) from None
    finally:
        if not isinstance(source, bytes):
            stream.seek(0)
    unpacked = sum(part.file_size for part in parts)
    if len(parts) > XLSX_MAX_PARTS or unpacked > XLSX_MAX_UNPACKED:
        raise ServiceError(
            _(
                "The workbook would unpack to more than %(mb)d MB. Copy the rows you need into a "
                "new workbook and upload that."
            )
            % {"mb": XLSX_MAX_UNPACKED // (1024 * 1024)}
        )


def _read_xlsx(data: bytes) -> tuple[list[list[str]], str]:
    from openpyxl import load_workbook

    check_xlsx_archive(data)
    try:
        workbook = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except (zipfile.BadZipFile, KeyError, ValueError, OSError):
        raise ServiceError(_("The file is not a readable XLSX workbook.")) from None
    sheet = workbook.worksheets[0]
    rows: list[list[str]] = []
    for row in sheet.iter_rows(values_only=True):
        rows.append([_clean(v) for v in row])
        if len(rows) > MAX_ROWS + 1:
            break
    workbook.close()
    return rows, "xlsx"


def _read_csv(data: bytes) -> tuple[list[list[str]], str]:
    text, encoding = decode_text(data)
    try:
        rows = [[cell.strip() for cell in row] for row in csv.reader(io.StringIO(text))]
    except csv.Error:
        raise ServiceError(_("The CSV file is malformed.")) from None
    return rows, encoding


def read_table(data: bytes, filename: str) -> Table:
    """Parse a CSV or XLSX file into a header and numbered non-empty rows."""
    if filename.lower().endswith(".xlsx"):
        raw, encoding = _read_xlsx(data)
    else:
        raw, encoding = _read_csv(data)
    if not raw:
        raise ServiceError(_("The file is empty."))
    header = [h.strip().lower() for h in raw[0]]
    rows = [(i + 1, r) for i, r in enumerate(raw[1:], start=1) if any(c for c in r)]
    if len(rows) > MAX_ROWS:
        raise ServiceError(_("The file has more than %(n)d rows.") % {"n": MAX_ROWS})
    return Table(header=header, rows=rows, encoding=encoding)


def column_index(header: list[str], aliases: Iterable[str]) -> int | None:
    """Where one of the accepted names of a column stands in the header."""
    for alias in aliases:
        if alias.lower() in header:
            return header.index(alias.lower())
    return None
