"""Import of the institution registry from CSV or XLSX: upload, a dry run, then the apply.

Three steps, each a function the views and tasks call:

1. ``institution_import_create`` (the request): refuses a file that is too large, not CSV/XLSX,
   in an unknown encoding, with external links or without the required columns, before anything
   else; keeps the original file with an InstitutionImport whose ``region`` is where the import
   writes. Small files are checked at once, larger ones by the CHECK task.
2. ``institution_import_check`` (CHECK task): streams the file and writes one ImportRow per data
   row, in batches, with what applying would do (create, update, match, review, unchanged) or
   why it cannot (error). ``processed`` moves as it goes, for the progress bar. Nothing else is
   written. Errors are written in the uploader's language (kept in ``summary["language"]``).
   ``summary`` also keeps the header as uploaded (``columns``, ``ignored``), the count of each
   action, ``checked`` once the dry run is complete, or ``file_error`` when the file as a whole
   failed it (too many rows, say); a failed check keeps the rows it had written and can never
   be applied.
3. ``institution_import_apply`` (APPLY task, after ``institution_import_queue``): refused while
   any row has an error, then writes every row in ONE transaction per import: either the whole
   file is in the registry or none of it ("all-or-nothing per confirmed batch": the confirmed
   batch is the import). A key taken by someone else between check and apply, a record merged
   meanwhile or a database constraint fails the whole import and nothing stays written.

Keys of the upsert: the credit code, else the licence number, else the matcher
(``bihuan.registry.matching``): at AUTO_LINK the row is matched to the existing record and only
fills its empty fields ("match"); between REVIEW and AUTO_LINK the row is created and the pair is
queued for review ("review"). A row found by key updates the fields the file gives. An empty
cell never erases a value: the edit form does that.

Audit: each institution an import updates gets its own ``institution.updated`` event (before and
after, through ``event_record``). Created institutions get no event each: the import writes one
``institution_import.applied`` event with the counts, and its ImportRows, kept with the original
file, say which line created which institution. One event per created row would double the
writes of a 100,000-row import and pass ``event_record`` one row at a time; a bulk variant of
``event_record`` in ``bihuan.audit.services`` would let the apply log each creation at bulk speed.

Speed: rows are validated with the registry services' own checks (``clean_credit_code``,
``clean_phone``, ``to_wgs84``) and written with ``bulk_create``/``bulk_update``, not through
``institution_build`` row by row, because that computes pinyin with pypinyin's per-call set-up
(about 0.2 ms a name); ``pinyin_forms`` below gives the same result with the per-word results
memoised. Placement (``placement.resolve_community`` and the area of the community) is worked out
at check time from the import region's subtree held in memory (codes, community names, outlines in
an STRtree), so the dry run shows where each row will go and applying needs no query per row.

Memory stays flat as files grow: files are read as streams (csv over a decoded text stream,
openpyxl in read-only mode), rows pass in batches, and the keys already seen in the file are kept
in a private temporary SQLite database on disk rather than in a Python set. XLSX cells are read
as last computed (``data_only``); a second read-only pass over the same sheet, in step, tells
which of them are formulas that were never computed (files written by scripts).
"""

from __future__ import annotations

import codecs
import csv
import io
import itertools
import re
import sqlite3
import unicodedata
import zipfile
from collections import Counter
from collections.abc import Generator, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from decimal import Decimal
from functools import lru_cache
from typing import IO, Any

from django.conf import settings
from django.core.files.uploadedfile import UploadedFile
from django.db import DEFAULT_DB_ALIAS, DatabaseError, connection, connections, transaction
from django.utils import timezone, translation
from django.utils.translation import gettext as _
from pypinyin import Style
from pypinyin.converter import UltimateConverter
from pypinyin.core import Pinyin
from pypinyin.seg.simpleseg import simple_seg
from shapely import STRtree
from shapely.geometry import Point, box, shape
from shapely.prepared import PreparedGeometry, prep

from bihuan.accounts.policies import Capability, can
from bihuan.audit.services import event_record, snapshot
from bihuan.core.crypto_services import with_hash_fields
from bihuan.core.errors import NotAllowed, ServiceError
from bihuan.core.tabular import check_xlsx_archive
from bihuan.registry import matching
from bihuan.registry.models import (
    Boundary,
    Category,
    Datum,
    ImportRow,
    Institution,
    InstitutionImport,
    Source,
    Status,
)
from bihuan.registry.normalize import core_name, normalize_address, normalize_name
from bihuan.registry.services import FIELDS, clean_credit_code, clean_phone, to_wgs84
from bihuan.territory.models import Area, ImportStatus, Level, Region

# A million rows is the largest registry one import takes (a province's is about 150,000).
MAX_ROWS = 1_000_000
CHECK_BATCH = 1000
APPLY_BATCH = 2000
# Files up to this size are checked in the upload request; larger ones by the CHECK task.
INLINE_CHECK_BYTES = 256 * 1024
_READ_CHUNK = 1 << 20

Action = ImportRow.Action
WRITES = (Action.CREATE, Action.REVIEW, Action.UPDATE, Action.MATCH)

# Accepted header names per column; the first is the English name, the second the template's.
COLUMNS: dict[str, tuple[str, ...]] = {
    "name": ("name", "机构名称", "名称", "机构名", "培训机构名称", "单位名称"),
    "credit_code": (
        "credit code",
        "统一社会信用代码",
        "社会信用代码",
        "信用代码",
        "unified social credit code",
    ),
    "licence_number": (
        "licence number",
        "办学许可证号",
        "办学许可证编号",
        "许可证号",
        "license number",
    ),
    "category": ("category", "培训类别", "类别", "办学类别", "licence category"),
    "operator_name": ("operator", "举办者", "法定代表人", "负责人", "operator name"),
    "contact_phone": ("phone", "联系电话", "电话", "联系方式", "contact phone"),
    "address": ("address", "地址", "办学地址", "详细地址"),
    "division_code": (
        "division code",
        "区划代码",
        "社区代码",
        "行政区划代码",
        "所属社区代码",
    ),
    "longitude": ("longitude", "经度", "lng", "lon"),
    "latitude": ("latitude", "纬度", "lat"),
    "datum": ("datum", "坐标系", "坐标系统"),
    "custody": ("custody", "预收费资金监管", "资金监管", "预收费监管"),
    "capacity": ("capacity", "核定人数", "容量", "规模"),
}
REQUIRED = ("name",)
CATEGORY_ALIASES: dict[str, str] = {
    **{value: value for value in Category.values},
    "学科类": Category.SUBJECT,
    "学科": Category.SUBJECT,
    "艺术": Category.ARTS,
    "艺术类": Category.ARTS,
    "文化艺术类": Category.ARTS,
    "体育": Category.SPORTS,
    "体育类": Category.SPORTS,
    "科技": Category.SCIENCE_TECH,
    "科技类": Category.SCIENCE_TECH,
    "science": Category.SCIENCE_TECH,
    "science and technology": Category.SCIENCE_TECH,
    "其他": Category.OTHER,
    "其它": Category.OTHER,
    "其他类": Category.OTHER,
    "非学科类": Category.OTHER,
    "无证": Category.NONE,
    "无": Category.NONE,
    "no licence": Category.NONE,
}
DATUM_ALIASES = {
    "wgs84": Datum.WGS84,
    "wgs-84": Datum.WGS84,
    "gps": Datum.WGS84,
    "gcj02": Datum.GCJ02,
    "gcj-02": Datum.GCJ02,
}
YES = frozenset({"是", "有", "yes", "y", "true", "1", "已监管"})
NO = frozenset({"否", "无", "no", "n", "false", "0", "未监管"})
MAX_LENGTHS = {"name": 200, "licence_number": 64, "operator_name": 100, "address": 300}
# What a dry-run row shows of a change (derived name forms change with the name, unshown).
SHOWN_CHANGES = (
    "name",
    "credit_code",
    "licence_number",
    "category",
    "operator_name",
    "contact_phone",
    "address",
    "latitude",
    "longitude",
    "region_id",
    "community_id",
    "area_id",
    "has_custody_account",
    "capacity",
)
TEMPLATE_HEADER = [aliases[1] for aliases in COLUMNS.values()]


# --- reading files ------------------------------------------------------------------------------


def _header_key(cell: str) -> str:
    text = unicodedata.normalize("NFKC", cell or "").lower()
    text = re.sub(r"\(.*?\)|[\s*:_]", "", text)
    return text


_ALIASES = {_header_key(alias): key for key, aliases in COLUMNS.items() for alias in aliases}


@dataclass(frozen=True)
class Header:
    """Where each known column stands, as the user named it, and what was not recognised."""

    positions: dict[str, int]
    labels: dict[str, str]
    ignored: list[str]


def map_header(cells: list[str]) -> Header:
    """Recognise the columns (English or Chinese names); ServiceError if one is missing."""
    positions: dict[str, int] = {}
    labels: dict[str, str] = {}
    ignored: list[str] = []
    for index, cell in enumerate(cells):
        key = _ALIASES.get(_header_key(cell))
        if key is None:
            if cell.strip():
                ignored.append(cell.strip())
            continue
        if key in positions:
            raise ServiceError(
                _("Two columns are read as “%(column)s”: “%(a)s” and “%(b)s”.")
                % {"column": COLUMNS[key][0], "a": labels[key], "b": cell.strip()}
            )
        positions[key] = index
        labels[key] = cell.strip()
    missing = [key for key in REQUIRED if key not in positions]
    if missing:
        message = _("Missing columns: %(cols)s. Download the template for the expected header.") % {
            "cols": ", ".join(f"{COLUMNS[k][0]} ({COLUMNS[k][1]})" for k in missing)
        }
        if ignored:
            message += " " + _("Columns not recognised: %(cols)s.") % {"cols": ", ".join(ignored)}
        raise ServiceError(message)
    return Header(positions=positions, labels=labels, ignored=ignored)


def detect_encoding(stream: IO[bytes]) -> str:
    """UTF-8 (with or without BOM), else GB18030 (a superset of GBK), tried on the whole file."""
    for codec in ("utf-8-sig", "gb18030"):
        stream.seek(0)
        decoder = codecs.getincrementaldecoder(codec)()
        try:
            while chunk := stream.read(_READ_CHUNK):
                decoder.decode(chunk)
            decoder.decode(b"", final=True)
        except UnicodeDecodeError:
            continue
        finally:
            stream.seek(0)
        return "utf-8" if codec == "utf-8-sig" else codec
    raise ServiceError(_("The file is neither UTF-8 nor GBK text; save it as UTF-8 CSV or XLSX."))


def _is_xlsx(name: str) -> bool:
    return name.lower().endswith(".xlsx")


def _cell_text(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return str(value).strip()


def _csv_records(stream: IO[bytes], encoding: str) -> Generator[list[str], None, None]:
    codec = "utf-8-sig" if encoding == "utf-8" else encoding
    text = io.TextIOWrapper(stream, encoding=codec, newline="")
    try:
        for record in csv.reader(text):
            yield [cell.strip() for cell in record]
    except csv.Error:
        raise ServiceError(_("The CSV file is malformed.")) from None
    except UnicodeDecodeError:
        raise ServiceError(
            _("The file is neither UTF-8 nor GBK text; save it as UTF-8 CSV or XLSX.")
        ) from None
    finally:
        text.detach()


@dataclass
class Table:
    """A file being read: its header, then (line, cells, formula cells without a value) rows."""

    header: list[str]
    rows: Iterator[tuple[int, list[str], list[int]]]
    size_hint: int | None  # data rows, if the file says so without being read


@contextmanager
def _csv_table(stream: IO[bytes], encoding: str) -> Iterator[Table]:
    records = _csv_records(stream, encoding)
    try:
        header = next(records, None)
        if header is None:
            raise ServiceError(_("The file is empty."))
        rows: Iterator[tuple[int, list[str], list[int]]] = (
            (line, cells, []) for line, cells in enumerate(records, start=2)
        )
        yield Table(header=header, rows=rows, size_hint=None)
    finally:
        records.close()  # detaches the text wrapper, leaving the stream open


def _open_workbook(stream: IO[bytes], *, data_only: bool) -> Any:
    from openpyxl import load_workbook

    check_xlsx_archive(stream)
    try:
        workbook = load_workbook(stream, read_only=True, data_only=data_only)
        workbook.worksheets[0]
    except (zipfile.BadZipFile, KeyError, ValueError, OSError, IndexError, TypeError):
        raise ServiceError(_("The file is not a readable XLSX workbook.")) from None
    return workbook


def _check_zip(stream: IO[bytes]) -> None:
    try:
        with zipfile.ZipFile(stream) as archive:
            names = archive.namelist()
    except (zipfile.BadZipFile, OSError):
        raise ServiceError(_("The file is not a readable XLSX workbook.")) from None
    finally:
        stream.seek(0)
    if any(name.startswith("xl/externalLinks/") for name in names):
        raise ServiceError(
            _(
                "The workbook links to other files (external links). Copy the values into a new "
                "workbook and upload that."
            )
        )


@contextmanager
def _xlsx_table(values: IO[bytes], formulas: IO[bytes] | None) -> Iterator[Table]:
    """Cells as last computed (data_only); with ``formulas``, also which cells are formulas."""
    books = [_open_workbook(values, data_only=True)]
    if formulas is not None:
        books.append(_open_workbook(formulas, data_only=False))
    try:
        sheet = books[0].worksheets[0]
        formula_rows: Iterable[tuple[Any, ...]] = itertools.repeat(())
        if formulas is not None:
            formula_rows = books[1].worksheets[0].iter_rows(values_only=True)
        both = zip(sheet.iter_rows(values_only=True), formula_rows, strict=False)
        first = next(both, None)
        if first is None:
            raise ServiceError(_("The file is empty."))

        def rows() -> Iterator[tuple[int, list[str], list[int]]]:
            for line, (cells, raw) in enumerate(both, start=2):
                # A formula read without data_only is "=…"; data_only gives None when no
                # program ever saved its result (files written by scripts): no value to import.
                missing = [
                    i
                    for i, formula in enumerate(raw)
                    if isinstance(formula, str)
                    and formula.startswith("=")
                    and (i >= len(cells) or cells[i] is None)
                ]
                yield line, [_cell_text(v) for v in cells], missing

        max_row = sheet.max_row
        yield Table(
            header=[_cell_text(v) for v in first[0]],
            rows=rows(),
            size_hint=max_row - 1 if max_row else None,
        )
    finally:
        for book in books:
            book.close()


@contextmanager
def _opened(record: InstitutionImport, *, formulas: bool = True) -> Iterator[Table]:
    storage, name = record.file.storage, record.file.name
    assert name is not None
    with storage.open(name, "rb") as stream:
        if record.encoding != "xlsx":
            with _csv_table(stream, record.encoding) as table:
                yield table
        elif not formulas:
            with _xlsx_table(stream, None) as table:
                yield table
        else:
            with storage.open(name, "rb") as second, _xlsx_table(stream, second) as table:
                yield table


def _count_rows(record: InstitutionImport) -> int:
    """Data rows of the file (blank rows aside), counted by a first streaming pass."""
    with _opened(record, formulas=False) as table:
        # A workbook's own dimension is trusted when plausible; cells emptied after use can
        # stretch it to Excel's last row, so a larger one is counted.
        if table.size_hint is not None and table.size_hint <= MAX_ROWS:
            return table.size_hint
        return sum(1 for _line, cells, _f in table.rows if any(cells))


# --- names and places ---------------------------------------------------------------------------


class _MemoisedConverter(UltimateConverter):
    """pypinyin's converter with its per-word results memoised (bounded), same output."""

    LIMIT = 50_000

    def __init__(self) -> None:
        super().__init__(v_to_u=False, neutral_tone_with_five=False, tone_sandhi=False)
        self._memo: dict[tuple[Any, ...], list[list[str]]] = {}

    def convert(  # type: ignore[override]
        self, words: str, style: Any, heteronym: bool, errors: Any, strict: bool, **kwargs: Any
    ) -> list[list[str]]:
        if callable(errors) or kwargs:
            return super().convert(words, style, heteronym, errors, strict, **kwargs)
        key = (words, style, heteronym, errors, strict)
        found = self._memo.get(key)
        if found is None:
            if len(self._memo) >= self.LIMIT:
                self._memo.clear()
            found = super().convert(words, style, heteronym, errors, strict)
            self._memo[key] = found
        return [list(p) for p in found]


_PINYIN = Pinyin(_MemoisedConverter())


@lru_cache(maxsize=20_000)
def _run_pinyin(run: str) -> tuple[str, ...]:
    return tuple(_PINYIN.lazy_pinyin(run, style=Style.NORMAL, errors="default"))


def pinyin_forms(normalized: str) -> tuple[str, str]:
    """``normalize.pinyin_forms`` of a name already normalised, memoised per run and per word.

    pypinyin segments a text into runs of Chinese and other characters and converts each run on
    its own, so converting run by run gives the same result.
    """
    syllables = [s for run in simple_seg(normalized) for s in _run_pinyin(run)]
    full = "".join(syllables).lower()
    initials = "".join(s[0] for s in syllables if s).lower()
    return full[:600], initials[:200]


@dataclass(frozen=True)
class _Place:
    pk: int
    code: str
    path: str
    level: str
    name: str


class Places:
    """The import region's subtree in memory: codes, community names, areas and outlines.

    Bounded by the territory, not by the file; decides placement as ``placement.py`` does.
    """

    def __init__(self, region: Region) -> None:
        self.region = _Place(region.pk, region.code, region.path, region.level, region.name)
        self.by_code: dict[str, _Place] = {}
        self.by_pk: dict[int, _Place] = {}
        self.communities: dict[str, list[_Place]] = {}
        regions = Region.objects.filter(region.subtree_q(), is_active=True).values_list(
            "pk", "code", "path", "level", "name"
        )
        for pk, code, path, level, name in regions:
            place = _Place(pk, code, path, level, name)
            self.by_code[code] = place
            self.by_pk[pk] = place
            if level == Level.COMMUNITY and name:
                self.communities.setdefault(name, []).append(place)
        self.lengths = sorted({len(n) for n in self.communities}, reverse=True)
        self.area_of: dict[int, int] = {}
        links = (
            Area.communities.through.objects.filter(
                region__path__startswith=region.path, area__is_active=True
            )
            .order_by("area__region__path", "area__name", "area_id")
            .values_list("region_id", "area_id")
        )
        for community_id, area_id in links:
            self.area_of.setdefault(community_id, area_id)
        self.area_names = dict(
            Area.objects.filter(pk__in=set(self.area_of.values())).values_list("pk", "name")
        )
        # Only outlines of active regions of the subtree: a position never places a row outside
        # the import's region.
        outlines = [
            outline
            for outline in Boundary.objects.filter(region.subtree_q("region")).values_list(
                "pk", "region_id", "min_lng", "min_lat", "max_lng", "max_lat"
            )
            if outline[1] in self.by_pk
        ]
        self._outlines = [(pk, region_id) for pk, region_id, *_ in outlines]
        self._tree = STRtree([box(*bbox) for _pk, _region, *bbox in outlines])
        self._prepared: dict[int, PreparedGeometry] = {}
        self._elsewhere: dict[str, bool] = {}

    def exists_elsewhere(self, code: str) -> bool:
        if code not in self._elsewhere:
            self._elsewhere[code] = Region.objects.filter(code=code).exists()
        return self._elsewhere[code]

    def _outline(self, boundary_id: int) -> PreparedGeometry:
        if boundary_id not in self._prepared:
            self._load([boundary_id])
        return self._prepared[boundary_id]

    def _load(self, boundary_ids: Iterable[int]) -> None:
        geometries: Any = Boundary.objects.filter(pk__in=list(boundary_ids)).values_list(
            "pk", "geometry"
        )
        for pk, geometry in geometries:
            self._prepared[pk] = prep(shape(geometry))

    def preload(self, raws: Iterable[dict[str, str]]) -> None:
        """Load in one query the outlines the positions of a batch of rows may fall in."""
        if not self._outlines:
            return
        points = []
        for raw in raws:
            try:
                points.append(
                    Point(float(raw.get("longitude", "")), float(raw.get("latitude", "")))
                )
            except ValueError:
                continue
        if not points:
            return
        _inputs, hits = self._tree.query(points)
        wanted = {self._outlines[int(i)][0] for i in hits} - set(self._prepared)
        if wanted:
            self._load(wanted)

    def community_at(self, lat: Decimal, lng: Decimal) -> _Place | None:
        if not self._outlines:
            return None
        point = Point(float(lng), float(lat))
        found = [self._outlines[int(i)] for i in self._tree.query(point)]
        # As placement.community_at: a point on a shared border goes to the lower code.
        for boundary_id, region_id in sorted(found, key=lambda o: self.by_pk[o[1]].code):
            if self._outline(boundary_id).covers(point):
                return self.by_pk[region_id]
        return None

    def community_in_address(self, address: str, within: _Place) -> _Place | None:
        """The longest community name of ``within``'s subtree found in the address."""
        best: tuple[int, int] | None = None
        found: _Place | None = None
        for length in self.lengths:
            if best is not None and length < best[0]:
                break
            for start in range(len(address) - length + 1):
                for place in self.communities.get(address[start : start + length], ()):
                    rank = (length, place.pk)
                    if place.path.startswith(within.path) and (best is None or rank > best):
                        best, found = rank, place
        return found

    def resolve(
        self, base: _Place, lat: Decimal | None, lng: Decimal | None, address: str
    ) -> tuple[int, int | None, int | None]:
        """(region, community, area): by position, else by division code, else by address."""
        community = self.community_at(lat, lng) if lat is not None and lng is not None else None
        if community is None:
            if base.level == Level.COMMUNITY:
                community = base
            elif address:
                community = self.community_in_address(address, base)
        if community is None:
            return base.pk, None, None
        return community.pk, community.pk, self.area_of.get(community.pk)


# --- checking rows ------------------------------------------------------------------------------


@dataclass
class CheckedRow:
    """One data row after validation: the cleaned values the file gives, or its errors."""

    line: int
    raw: dict[str, str]
    errors: list[str] = field(default_factory=list)
    values: dict[str, Any] = field(default_factory=dict)
    placed: bool = False  # position, division code or a community in the address was given
    _pinyin: tuple[str, str] | None = None

    @property
    def pinyin(self) -> tuple[str, str]:
        """(full pinyin, initials) of the name, worked out once."""
        if self._pinyin is None:
            self._pinyin = pinyin_forms(self.values["name_normalized"])
        return self._pinyin

    @property
    def credit_code(self) -> str:
        return str(self.values.get("credit_code", ""))

    @property
    def licence_number(self) -> str:
        return str(self.values.get("licence_number", ""))


def _label(header: Header, key: str) -> str:
    return header.labels.get(key, COLUMNS[key][0])


def clean_row(line: int, raw: dict[str, str], header: Header, places: Places) -> CheckedRow:
    """Validate one row; pure but for the rare query about a division code outside the import."""
    row = CheckedRow(line=line, raw=raw)
    errors = row.errors
    values = row.values
    for key, cell in raw.items():
        if cell.startswith("="):
            errors.append(
                _("“%(column)s”: “%(value)s” looks like a spreadsheet formula; enter the value.")
                % {"column": _label(header, key), "value": cell[:40]}
            )
    if errors:
        return row
    name = raw.get("name", "")
    if not name:
        errors.append(_("The name is empty."))
    for key, limit in MAX_LENGTHS.items():
        if len(raw.get(key, "")) > limit:
            errors.append(
                _("“%(column)s” has at most %(n)d characters.")
                % {"column": _label(header, key), "n": limit}
            )
    for key in ("name", "licence_number", "operator_name", "address"):
        if raw.get(key):
            values[key] = raw[key]
    if "name" in values:
        values["name_normalized"] = normalize_name(name)[:200]
    try:
        if raw.get("credit_code"):
            values["credit_code"] = clean_credit_code(
                unicodedata.normalize("NFKC", raw["credit_code"])
            )
    except ServiceError as exc:
        errors.append(exc.message)
    try:
        if raw.get("contact_phone"):
            values["contact_phone"] = clean_phone(raw["contact_phone"])
    except ServiceError as exc:
        errors.append(exc.message)
    if raw.get("category"):
        category = CATEGORY_ALIASES.get(unicodedata.normalize("NFKC", raw["category"]).lower())
        if category is None:
            errors.append(_("Unknown licence category “%(value)s”.") % {"value": raw["category"]})
        else:
            values["category"] = category
    if raw.get("custody"):
        custody = unicodedata.normalize("NFKC", raw["custody"]).lower()
        if custody in YES or custody in NO:
            values["has_custody_account"] = custody in YES
        else:
            errors.append(
                _("Write 是 or 否 for the custody account, not “%(value)s”.")
                % {"value": raw["custody"]}
            )
    if raw.get("capacity"):
        capacity = unicodedata.normalize("NFKC", raw["capacity"]).removesuffix("人").strip()
        if capacity.isdigit() and len(capacity) <= 9:
            values["capacity"] = int(capacity)
        else:
            errors.append(
                _("The capacity must be a whole number, not “%(value)s”.")
                % {"value": raw["capacity"]}
            )
    lat, lng = _coordinates(raw, values, errors)
    base = places.region
    code = unicodedata.normalize("NFKC", raw.get("division_code", ""))
    if code:
        found = places.by_code.get(code)
        if found is None:
            errors.append(
                _("Division code %(code)s lies outside %(region)s, where this import writes.")
                % {"code": code, "region": places.region.name}
                if places.exists_elsewhere(code)
                else _("Division code %(code)s is not in the territory.") % {"code": code}
            )
        else:
            base = found
    if errors:
        return row
    region_id, community_id, area_id = places.resolve(base, lat, lng, raw.get("address", ""))
    row.placed = bool(code) or lat is not None or community_id is not None
    values.update(region_id=region_id, community_id=community_id, area_id=area_id)
    return row


def _coordinates(
    raw: dict[str, str], values: dict[str, Any], errors: list[str]
) -> tuple[Decimal | None, Decimal | None]:
    lat_text = unicodedata.normalize("NFKC", raw.get("latitude", ""))
    lng_text = unicodedata.normalize("NFKC", raw.get("longitude", ""))
    datum_text = unicodedata.normalize("NFKC", raw.get("datum", "")).lower()
    datum = DATUM_ALIASES.get(datum_text.replace(" ", "")) if datum_text else Datum.WGS84
    if datum is None:
        errors.append(_("Unknown datum “%(value)s”: use wgs84 or gcj02.") % {"value": datum_text})
        return None, None
    if not lat_text and not lng_text:
        return None, None
    if not lat_text or not lng_text:
        errors.append(_("Give both longitude and latitude, or neither."))
        return None, None
    try:
        lat, lng = to_wgs84(lat_text, lng_text, datum)
    except ServiceError as exc:
        errors.append(exc.message)
        return None, None
    values.update(latitude=lat, longitude=lng, source_datum=datum)
    return lat, lng


class SeenKeys:
    """Keys already met in the file, with their line: on disk, so memory stays flat.

    ``sqlite3.connect("")`` is a private temporary database that SQLite deletes on close.
    """

    def __init__(self) -> None:
        self._db = sqlite3.connect("")
        self._db.execute(
            "CREATE TABLE seen (kind TEXT, key TEXT, line INTEGER, PRIMARY KEY (kind, key))"
            " WITHOUT ROWID"
        )

    def earlier(self, kind: str, keyed: list[tuple[str, int]]) -> dict[int, int]:
        """Record (key, line) pairs in line order; returns line → earlier line of its key."""
        keys = list({key for key, _line in keyed})
        first: dict[str, int] = {}
        for start in range(0, len(keys), 500):
            chunk = keys[start : start + 500]
            marks = ",".join("?" * len(chunk))
            first.update(
                self._db.execute(
                    f"SELECT key, line FROM seen WHERE kind = ? AND key IN ({marks})",  # noqa: S608
                    [kind, *chunk],
                ).fetchall()
            )
        duplicates: dict[int, int] = {}
        new: list[tuple[str, str, int]] = []
        for key, line in keyed:
            if key in first:
                duplicates[line] = first[key]
            else:
                first[key] = line
                new.append((kind, key, line))
        self._db.executemany("INSERT INTO seen VALUES (?, ?, ?)", new)
        return duplicates

    def close(self) -> None:
        self._db.close()


def _mark_duplicates(rows: list[CheckedRow], seen: SeenKeys) -> None:
    for kind, message in (
        (
            "credit_code",
            _("Credit code %(key)s appears twice in the file (first on line %(first)d)."),
        ),
        (
            "licence_number",
            _("Licence number %(key)s appears twice in the file (first on line %(first)d)."),
        ),
    ):
        keyed = [(str(r.values[kind]), r.line) for r in rows if r.values.get(kind)]
        by_line = {r.line: r for r in rows}
        for line, first in seen.earlier(kind, keyed).items():
            row = by_line[line]
            row.errors.append(message % {"key": row.values[kind], "first": first})


_COMPARED = [
    "name",
    "credit_code",
    "licence_number",
    "category",
    "operator_name",
    "contact_phone",
    "address",
    "latitude",
    "longitude",
    "source_datum",
    "region_id",
    "community_id",
    "area_id",
    "has_custody_account",
    "capacity",
]
_PLACEMENT = ("region_id", "community_id", "area_id")
_COORDINATES = ("latitude", "longitude", "source_datum")


def _jsonable(value: Any) -> Any:
    if isinstance(value, Decimal):
        return f"{value:.6f}"
    return value


def _given(row: CheckedRow) -> dict[str, Any]:
    """The values a row sets on an existing record: what the file gives, placement if stated."""
    given = {k: v for k, v in row.values.items() if k in _COMPARED}
    if not row.placed:
        for key in _PLACEMENT:
            given.pop(key, None)
    return given


def _fills(row: CheckedRow, existing: Institution) -> dict[str, Any]:
    """For a match: only what the existing record lacks."""
    given = _given(row)
    fills: dict[str, Any] = {}
    for key in ("credit_code", "licence_number", "operator_name", "contact_phone", "address"):
        if given.get(key) and not getattr(existing, key):
            fills[key] = given[key]
    if given.get("category") not in (None, Category.NONE) and existing.category == Category.NONE:
        fills["category"] = given["category"]
    if given.get("capacity") is not None and existing.capacity is None:
        fills["capacity"] = given["capacity"]
    if given.get("has_custody_account") and not existing.has_custody_account:
        fills["has_custody_account"] = True
    if "latitude" in given and existing.latitude is None:
        fills.update({k: given[k] for k in _COORDINATES})
    if given.get("community_id") and existing.community_id is None:
        fills.update({k: given[k] for k in _PLACEMENT})
    return fills


def _differences(target: dict[str, Any], existing: Institution) -> dict[str, Any]:
    return {
        key: value
        for key, value in target.items()
        if _jsonable(getattr(existing, key)) != _jsonable(value)
    }


class _Names:
    """Display names of regions and areas for the dry run's "changed from … to …"."""

    def __init__(self, places: Places) -> None:
        self.places = places
        self._regions: dict[int, str] = {}

    def show(self, key: str, value: Any) -> Any:
        if value is None:
            return ""
        if key in ("region_id", "community_id"):
            place = self.places.by_pk.get(value)
            if place is not None:
                return place.name
            if value not in self._regions:
                self._regions[value] = (
                    Region.objects.filter(pk=value).values_list("name", flat=True).first() or ""
                )
            return self._regions[value]
        if key == "area_id":
            return self.places.area_names.get(value) or str(
                Area.objects.filter(pk=value).values_list("name", flat=True).first() or ""
            )
        if key == "category":
            return str(Category(value).label)
        if key == "has_custody_account":
            return _("yes") if value else _("no")
        return _jsonable(value)


def _change_list(
    set_values: dict[str, Any], existing: Institution, names: _Names
) -> dict[str, Any]:
    return {
        key: [names.show(key, getattr(existing, key)), names.show(key, value)]
        for key, value in set_values.items()
        if key in SHOWN_CHANGES
    }


def _with_names(set_values: dict[str, Any], row: CheckedRow) -> dict[str, Any]:
    if "name" in set_values:
        pinyin, initials = row.pinyin
        set_values |= {
            "name_normalized": row.values["name_normalized"],
            "name_pinyin": pinyin,
            "name_initials": initials,
        }
    return {k: _jsonable(v) for k, v in set_values.items()}


def _create_fields(row: CheckedRow) -> dict[str, Any]:
    values = row.values
    pinyin, initials = row.pinyin
    return {
        "name": values["name"],
        "name_normalized": values["name_normalized"],
        "name_pinyin": pinyin,
        "name_initials": initials,
        "credit_code": values.get("credit_code", ""),
        "licence_number": values.get("licence_number", ""),
        "category": values.get("category", Category.NONE),
        "operator_name": values.get("operator_name", ""),
        "contact_phone": values.get("contact_phone", ""),
        "address": values.get("address", ""),
        "latitude": _jsonable(values.get("latitude")),
        "longitude": _jsonable(values.get("longitude")),
        "source_datum": values.get("source_datum", ""),
        "region_id": values["region_id"],
        "community_id": values["community_id"],
        "area_id": values["area_id"],
        "has_custody_account": values.get("has_custody_account", False),
        "capacity": values.get("capacity"),
    }


def _match_input(row: CheckedRow) -> matching.MatchInput:
    values = row.values
    return matching.MatchInput(
        name=core_name(values["name"]),
        name_normalized=values["name_normalized"],
        branch=matching.branch_note(values["name"]),
        initials=row.pinyin[1],
        community_id=values["community_id"],
        phone=values.get("contact_phone", ""),
        address=normalize_address(values.get("address", "")),
        credit_code=values.get("credit_code", ""),
        licence_number=values.get("licence_number", ""),
    )


class KeylessIndex:
    """Current institutions of the import region without credit code or licence number (field
    finds, mostly), by name stem and phone: a keyed row new to the registry may be one of them."""

    def __init__(self, region: Region) -> None:
        self.by_stem: dict[str, list[tuple[int, matching.MatchInput]]] = {}
        self.by_phone: dict[str, list[tuple[int, matching.MatchInput]]] = {}
        keyless = Institution.objects.filter(
            region.subtree_q("region"), merged_into__isnull=True, credit_code="", licence_number=""
        )
        for institution in keyless.iterator(chunk_size=2000):
            entry = (institution.pk, matching.MatchInput.from_institution(institution))
            self.by_stem.setdefault(entry[1].name[:2], []).append(entry)
            if entry[1].phone:
                self.by_phone.setdefault(entry[1].phone, []).append(entry)

    def best(self, row: CheckedRow) -> tuple[int, matching.MatchScore] | None:
        """The keyless record most like the row, if it scores at least REVIEW."""
        if not (self.by_stem or self.by_phone):
            return None
        stem = core_name(row.values["name"])[:2]
        phone = row.values.get("contact_phone", "")
        entries = dict(self.by_stem.get(stem, []))
        entries |= dict(self.by_phone.get(phone, [])) if phone else {}
        if not entries:
            return None
        inp = _match_input(row)
        scored = [(pk, matching.score_pair(inp, other)) for pk, other in entries.items()]
        scored = [pair for pair in scored if pair[1].score >= matching.REVIEW]
        if not scored:
            return None
        return max(scored, key=lambda pair: (pair[1].score, -pair[0]))


def _existing_by(kind: str, keys: list[str]) -> dict[str, Institution]:
    if not keys:
        return {}
    found = (
        Institution.objects.filter(**{f"{kind}__in": keys}, merged_into__isnull=True)
        .exclude(**{kind: ""})
        .select_related("region")
        .order_by()
    )
    return {getattr(i, kind): i for i in found}


class _Decider:
    """Decides each valid row's action against the registry, batch by batch."""

    def __init__(self, record: InstitutionImport, places: Places) -> None:
        self.record = record
        self.places = places
        self.names = _Names(places)
        self.keyless = KeylessIndex(record.region)
        self.scope = Institution.objects.filter(record.region.subtree_q("region"))
        # The check writes no institution: a region empty now stays empty until the apply.
        self.scope_is_empty = not self.scope.exists()

    def decide(self, rows: list[CheckedRow]) -> list[ImportRow]:
        valid = [r for r in rows if not r.errors]
        by_code = _existing_by("credit_code", [r.credit_code for r in valid if r.credit_code])
        by_licence = _existing_by(
            "licence_number", [r.licence_number for r in valid if r.licence_number]
        )
        result = []
        for row in rows:
            if not row.errors:
                found = self._existing(row, by_code, by_licence)
                if not row.errors:
                    result.append(self._decided(row, found))
                    continue
            result.append(
                ImportRow(
                    batch=self.record,
                    line=row.line,
                    action=Action.ERROR,
                    errors=row.errors,
                    data={"name": row.raw.get("name", ""), "raw": row.raw},
                )
            )
        return result

    def _existing(
        self,
        row: CheckedRow,
        by_code: dict[str, Institution],
        by_licence: dict[str, Institution],
    ) -> Institution | None:
        a = by_code.get(row.credit_code) if row.credit_code else None
        b = by_licence.get(row.licence_number) if row.licence_number else None
        if a is not None and b is not None and a.pk != b.pk:
            row.errors.append(
                _(
                    "Credit code %(code)s and licence number %(number)s belong to two different "
                    "institutions."
                )
                % {"code": row.credit_code, "number": row.licence_number}
            )
            return None
        if a is None and b is not None and row.credit_code and b.credit_code:
            row.errors.append(
                _("Licence number %(number)s belongs to an institution with credit code %(code)s.")
                % {"number": row.licence_number, "code": b.credit_code}
            )
            return None
        found = a or b
        if found is not None and not found.region.path.startswith(self.record.region.path):
            row.errors.append(
                _(
                    "This institution is registered outside %(region)s, where this import writes; "
                    "the supervisors of its region can update it."
                )
                % {"region": self.record.region.name}
            )
            return None
        return found

    def _row(self, row: CheckedRow, action: str, **data: Any) -> ImportRow:
        institution_id = data.pop("institution_id", None)
        return ImportRow(
            batch=self.record,
            line=row.line,
            action=action,
            institution_id=institution_id,
            data={
                "name": row.values["name"],
                "credit_code": row.credit_code,
                "licence_number": row.licence_number,
                **data,
            },
        )

    def _best_match(self, row: CheckedRow) -> tuple[int, matching.MatchScore] | None:
        """A row without keys against the registry; a keyed row against records without keys."""
        if row.credit_code or row.licence_number:
            return self.keyless.best(row)
        found = matching.find_matches(_match_input(row), self.scope, limit=1)
        return (found[0][0].pk, found[0][1]) if found else None

    def _decided(self, row: CheckedRow, existing: Institution | None) -> ImportRow:
        if existing is not None:
            changes = _differences(_given(row), existing)
            if not changes:
                return self._row(row, Action.UNCHANGED, institution_id=existing.pk)
            return self._row(
                row,
                Action.UPDATE,
                institution_id=existing.pk,
                set=_with_names(changes, row),
                changes=_change_list(changes, existing, self.names),
            )
        best = None if self.scope_is_empty else self._best_match(row)
        if best is not None and best[1].is_auto_link:
            matched = Institution.objects.select_related("region").get(pk=best[0])
            fills = _differences(_fills(row, matched), matched)
            score = {"score": best[1].score, "reasons": best[1].reasons}
            if not fills:
                return self._row(row, Action.UNCHANGED, institution_id=matched.pk, match=score)
            return self._row(
                row,
                Action.MATCH,
                institution_id=matched.pk,
                match=score,
                set=_with_names(fills, row),
                changes=_change_list(fills, matched, self.names),
            )
        if best is not None:
            return self._row(
                row,
                Action.REVIEW,
                fields=_create_fields(row),
                candidate={"id": best[0], "score": best[1].score, "reasons": best[1].reasons},
            )
        return self._row(row, Action.CREATE, fields=_create_fields(row))


# --- the three steps ----------------------------------------------------------------------------


def _require_manager(actor: Any) -> None:
    if actor is None or not can(actor, Capability.REGISTRY_MANAGE):
        raise NotAllowed(_("Your roles do not allow this change."))


def _require_region(actor: Any, region: Region) -> None:
    from bihuan.territory.selectors import regions_visible_to

    if not regions_visible_to(actor).filter(pk=region.pk).exists():
        raise NotAllowed(_("You cannot import into this region."))


def inspect_upload(upload: UploadedFile) -> tuple[str, Header]:
    """Refuse a file that cannot be imported before keeping it: (encoding, header)."""
    name = upload.name or ""
    if upload.size is not None and upload.size > settings.IMPORT_MAX_BYTES:
        raise ServiceError(
            _("The file is larger than %(mb)d MB.")
            % {"mb": settings.IMPORT_MAX_BYTES // (1024 * 1024)}
        )
    if not name.lower().endswith((".csv", ".xlsx")):
        raise ServiceError(_("Only .csv and .xlsx files are accepted."))
    stream: Any = upload.file
    stream.seek(0)
    if _is_xlsx(name):
        _check_zip(stream)
        encoding = "xlsx"
        opened = _xlsx_table(stream, None)
    else:
        encoding = detect_encoding(stream)
        opened = _csv_table(stream, encoding)
    try:
        with opened as table:
            header = map_header(table.header)
            if not any(any(cells) for _line, cells, _f in table.rows):
                raise ServiceError(_("The file has a header but no rows."))
    finally:
        stream.seek(0)
    return encoding, header


def institution_import_create(
    *, actor: Any, upload: UploadedFile, region: Region
) -> InstitutionImport:
    """Keep the uploaded file for a dry run into ``region``; nothing in the registry changes."""
    _require_manager(actor)
    _require_region(actor, region)
    encoding, header = inspect_upload(upload)
    name = (upload.name or "upload").rsplit("/", 1)[-1]
    with transaction.atomic():
        record = InstitutionImport(
            uploaded_by=actor,
            region=region,
            original_name=name[:200],
            encoding=encoding,
            status=ImportStatus.QUEUED,
            summary={
                "language": translation.get_language() or settings.LANGUAGE_CODE,
                "columns": header.labels,
                "ignored": header.ignored,
            },
        )
        upload.seek(0)
        record.file.save(name, upload, save=False)
        record.save()
        event_record(
            actor=actor,
            verb="institution_import.uploaded",
            obj=record,
            after={"region": region.code, "encoding": encoding, "size": upload.size},
        )
        inline = (upload.size or 0) <= INLINE_CHECK_BYTES
        if not inline:
            from bihuan.registry.tasks import check_institution_import

            record_id = record.pk
            transaction.on_commit(lambda: check_institution_import.enqueue(record_id))
    if inline:
        return institution_import_check(record.pk)
    return record


def is_checked(record: InstitutionImport) -> bool:
    """Has the dry run finished (successfully)? Before, QUEUED/RUNNING mean "checking"."""
    return bool(record.summary.get("checked"))


def _claim(record_id: int, *, checked: bool) -> InstitutionImport | None:
    with transaction.atomic():
        record = InstitutionImport.objects.select_for_update().get(pk=record_id)
        if record.status != ImportStatus.QUEUED or is_checked(record) != checked:
            return None
        record.status = ImportStatus.RUNNING
        record.save(update_fields=["status"])
    return record


def _fail(record: InstitutionImport, verb: str, message: str, **fields: Any) -> None:
    with transaction.atomic():
        InstitutionImport.objects.filter(pk=record.pk).update(status=ImportStatus.FAILED, **fields)
        event_record(actor=record.uploaded_by, verb=verb, obj=record, after={"error": message})


def institution_import_check(record_id: int) -> InstitutionImport:
    """The dry run: one ImportRow per data row, in batches, with the progress kept up to date."""
    record = _claim(record_id, checked=False)
    if record is None:
        return InstitutionImport.objects.get(pk=record_id)
    with translation.override(record.summary.get("language") or settings.LANGUAGE_CODE):
        try:
            counts = _check(record)
        except ServiceError as exc:
            summary = record.summary | {"file_error": exc.message}
            _fail(record, "institution_import.check_failed", exc.message, summary=summary)
        except Exception:
            message = _("The check stopped on an unexpected error; try again or ask for help.")
            summary = record.summary | {"file_error": message}
            _fail(record, "institution_import.check_failed", message, summary=summary)
            raise
        else:
            with transaction.atomic():
                summary = record.summary | dict(counts) | {"checked": True}
                InstitutionImport.objects.filter(pk=record.pk).update(
                    status=ImportStatus.CHECKED,
                    total=sum(counts.values()),
                    processed=sum(counts.values()),
                    error_count=counts[Action.ERROR],
                    summary=summary,
                )
                event_record(
                    actor=record.uploaded_by,
                    verb="institution_import.checked",
                    obj=record,
                    after=dict(counts),
                )
    record.refresh_from_db()
    return record


def _refresh_statistics(*models: type[Institution] | type[ImportRow]) -> None:
    """Let the planner know these tables as they are now.

    Without statistics (SQLite until ANALYZE first runs, PostgreSQL until autovacuum catches up
    after a large import) key lookups go through the index on ``merged_into``, which every
    current record shares, and the rows of a fresh dry run are read by scanning the table: the
    whole table once per batch of the file.
    """
    try:
        with transaction.atomic(), connection.cursor() as cursor:
            if connection.vendor == "sqlite":
                cursor.execute("PRAGMA analysis_limit = 1000")
            for model in models:
                cursor.execute(f"ANALYZE {connection.ops.quote_name(model._meta.db_table)}")
    except DatabaseError:
        pass  # only a matter of speed, e.g. a database role that may not analyse


def _check(record: InstitutionImport) -> Counter[str]:
    _refresh_statistics(Institution)
    total = _count_rows(record)
    if total > MAX_ROWS:
        raise ServiceError(_("The file has more than %(n)d rows.") % {"n": MAX_ROWS})
    InstitutionImport.objects.filter(pk=record.pk).update(total=total, processed=0)
    counts: Counter[str] = Counter({action: 0 for action in Action.values})
    places = Places(record.region)
    decider = _Decider(record, places)
    seen = SeenKeys()
    done = 0
    try:
        with _opened(record) as table:
            header = map_header(table.header)
            positions = list(header.positions.items())
            nonblank = (r for r in table.rows if any(r[1]))
            while batch := list(itertools.islice(nonblank, CHECK_BATCH)):
                if done + len(batch) > MAX_ROWS:
                    raise ServiceError(_("The file has more than %(n)d rows.") % {"n": MAX_ROWS})
                raws = [
                    {key: cells[pos] if pos < len(cells) else "" for key, pos in positions}
                    for _line, cells, _formulas in batch
                ]
                places.preload(raws)
                checked = []
                for (line, _cells, formulas), raw in zip(batch, raws, strict=True):
                    row = clean_row(line, raw, header, places)
                    for pos in formulas:
                        row.errors.append(
                            _(
                                "Cell %(cell)s holds a formula without a saved result; open the "
                                "file in Excel, save it and upload it again."
                            )
                            % {"cell": f"{_column_letter(pos)}{line}"}
                        )
                    checked.append(row)
                _mark_duplicates([r for r in checked if not r.errors], seen)
                rows = decider.decide(checked)
                done += len(rows)
                counts.update(r.action for r in rows)
                with transaction.atomic():
                    ImportRow.objects.bulk_create(rows)
                    InstitutionImport.objects.filter(pk=record.pk).update(
                        processed=done, total=max(total, done)
                    )
    finally:
        seen.close()
    if not done:
        raise ServiceError(_("The file has a header but no rows."))
    return counts


def _column_letter(index: int) -> str:
    from openpyxl.utils import get_column_letter

    return get_column_letter(index + 1)


@transaction.atomic
def institution_import_queue(*, actor: Any, record: InstitutionImport) -> InstitutionImport:
    """Confirm a checked import for the APPLY task; refused while any row has an error."""
    _require_manager(actor)
    _require_region(actor, record.region)
    record = InstitutionImport.objects.select_for_update().get(pk=record.pk)
    if record.status != ImportStatus.CHECKED:
        raise ServiceError(_("This import has already been applied or queued."))
    if record.error_count:
        raise ServiceError(_("Correct the rows with errors and upload the file again."))
    record.status = ImportStatus.QUEUED
    record.processed = 0
    record.save(update_fields=["status", "processed"])
    event_record(actor=actor, verb="institution_import.queued", obj=record)
    from bihuan.registry.tasks import apply_institution_import

    record_id = record.pk
    transaction.on_commit(lambda: apply_institution_import.enqueue(record_id))
    return record


class _Progress:
    """Reports rows applied while the apply's one transaction is still open.

    PostgreSQL: through a second connection in autocommit, so the page polling it sees the
    figure move. SQLite has one writer at a time, so the figure moves only at the end there.
    """

    def __init__(self, record_id: int) -> None:
        self.record_id = record_id
        self.connection = None
        if connection.vendor == "postgresql":
            self.connection = connections.create_connection(DEFAULT_DB_ALIAS)
        meta = InstitutionImport._meta
        qn = connection.ops.quote_name
        column = qn(meta.get_field("processed").column)
        self.statement = f"UPDATE {qn(meta.db_table)} SET {column} = %s WHERE id = %s"  # noqa: S608

    def report(self, processed: int) -> None:
        if self.connection is None:
            return
        try:
            with self.connection.cursor() as cursor:
                cursor.execute("SET lock_timeout = '1s'")
                cursor.execute(self.statement, [processed, self.record_id])
        except Exception:  # noqa: S110 - progress is best effort; the import must not fail on it
            pass

    def close(self) -> None:
        if self.connection is not None:
            self.connection.close()


def institution_import_apply(record_id: int) -> InstitutionImport:
    """Write a confirmed import in one transaction; FAILED with the reason if any row fails."""
    record = _claim(record_id, checked=True)
    if record is None:
        return InstitutionImport.objects.get(pk=record_id)
    progress = _Progress(record.pk)
    _refresh_statistics(Institution, ImportRow)
    with translation.override(record.summary.get("language") or settings.LANGUAGE_CODE):
        try:
            with transaction.atomic():
                counts = _apply(record, progress)
                outcome = dict(counts)
                InstitutionImport.objects.filter(pk=record.pk).update(
                    status=ImportStatus.DONE, processed=record.total, outcome=outcome
                )
                event_record(
                    actor=record.uploaded_by,
                    verb="institution_import.applied",
                    obj=record,
                    after=outcome,
                )
        except ServiceError as exc:
            _fail(record, "institution_import.failed", exc.message, outcome={"error": exc.message})
        except DatabaseError:
            message = _taken_key(record) or _(
                "The registry refused a row (a credit code or licence number taken since the "
                "check, or an invalid value); nothing was imported. Upload the file again."
            )
            _fail(record, "institution_import.failed", message, outcome={"error": message})
        except Exception:
            message = _("The import stopped on an unexpected error; nothing was imported.")
            _fail(record, "institution_import.failed", message, outcome={"error": message})
            raise
        finally:
            progress.close()
    record.refresh_from_db()
    return record


# An ImportRow as the apply reads it: pk, line, action, data, institution id.
Row = tuple[int, int, str, dict[str, Any], int | None]


def _apply(record: InstitutionImport, progress: _Progress) -> Counter[str]:
    counts: Counter[str] = Counter(create=0, update=0, unchanged=0, review=0)
    last_line = 0
    done = 0
    rows = ImportRow.objects.filter(batch=record).order_by("line")
    batch: list[Row]
    while batch := list(
        rows.filter(line__gt=last_line).values_list(
            "pk", "line", "action", "data", "institution_id"
        )[:APPLY_BATCH]
    ):
        last_line = batch[-1][1]
        if any(action == Action.ERROR for _pk, _line, action, _data, _i in batch):
            raise ServiceError(_("Correct the rows with errors and upload the file again."))
        creates = [r for r in batch if r[2] in (Action.CREATE, Action.REVIEW)]
        updates = [r for r in batch if r[2] in (Action.UPDATE, Action.MATCH)]
        counts["unchanged"] += sum(1 for r in batch if r[2] == Action.UNCHANGED)
        if creates:
            counts["create"] += len(creates)
            counts["review"] += _apply_creates(record, creates)
        if updates:
            changed = _apply_updates(record, updates)
            counts["update"] += changed
            counts["unchanged"] += len(updates) - changed
        done += len(batch)
        progress.report(done)
    return counts


def _taken_key(record: InstitutionImport) -> str | None:
    """After the database refused the apply: the first line whose key someone else registered
    since the check, as a message (None if no key explains the refusal)."""
    messages = {
        "credit_code": _("Line %(line)d: credit code %(key)s was registered after the check."),
        "licence_number": _(
            "Line %(line)d: licence number %(key)s was registered after the check."
        ),
    }
    rows = record.rows.filter(action__in=WRITES).order_by("line")
    last = 0
    while batch := list(
        rows.filter(line__gt=last).values_list("line", "data", "institution")[:500]
    ):
        last = batch[-1][0]
        for kind, message in messages.items():
            wanted = {}
            for line, data, own in batch:
                key = (data.get("fields") or data.get("set") or {}).get(kind)
                if key:
                    wanted[key] = (line, own)
            taken = _existing_by(kind, list(wanted))
            clashes = sorted(
                wanted[key][0] for key, found in taken.items() if found.pk != wanted[key][1]
            )
            if clashes:
                line = clashes[0]
                key = next(k for k, (ln, _own) in wanted.items() if ln == line)
                return message % {"line": line, "key": key}
    return None


def _link(pairs: list[tuple[int, int]]) -> None:
    """Point ImportRows at the institutions their lines created: (institution id, row id) pairs.

    ``bulk_update`` builds a CASE over the whole batch, which costs more than the insert it
    follows. PostgreSQL: one UPDATE joined to the pairs as VALUES (a round trip per row would
    cost as much); SQLite, in process: one prepared UPDATE run per pair.
    """
    if not pairs:
        return
    meta = ImportRow._meta
    qn = connection.ops.quote_name
    table, pk = qn(meta.db_table), qn(meta.pk.column)
    column = qn(meta.get_field("institution").column)
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            values = ", ".join(["(%s::bigint, %s::bigint)"] * len(pairs))
            cursor.execute(
                f"UPDATE {table} SET {column} = v.institution FROM (VALUES {values}) "  # noqa: S608
                f"AS v(institution, row) WHERE {table}.{pk} = v.row",
                [value for pair in pairs for value in pair],
            )
        else:
            statement = f"UPDATE {table} SET {column} = %s WHERE {pk} = %s"  # noqa: S608
            cursor.executemany(statement, pairs)


def _apply_creates(record: InstitutionImport, rows: Sequence[Row]) -> int:
    """Create the rows' institutions in one bulk insert; returns how many pairs went to review."""
    institutions = []
    for _pk, _line, _action, data, _i in rows:
        fields = dict(data["fields"])
        for key in ("latitude", "longitude"):
            if fields[key] is not None:
                fields[key] = Decimal(fields[key])
        institutions.append(Institution(**fields, source=Source.IMPORT, status=Status.REGISTERED))
    Institution.objects.bulk_create(institutions)
    _link(
        [
            (institution.pk, row_pk)
            for (row_pk, *_rest), institution in zip(rows, institutions, strict=True)
        ]
    )
    queued = 0
    for (_pk, _line, action, data, _i), institution in zip(rows, institutions, strict=True):
        if action == Action.REVIEW:
            candidate = data["candidate"]
            matching.queue_candidate(
                institution,
                Institution(pk=candidate["id"]),
                matching.MatchScore(candidate["score"], candidate["reasons"]),
                actor=record.uploaded_by,
            )
            queued += 1
    return queued


def _apply_updates(record: InstitutionImport, rows: Sequence[Row]) -> int:
    """Set the checked values on the existing records, one event each; returns how many changed."""
    ids = [institution_id for *_rest, institution_id in rows]
    locked = Institution.objects.select_for_update().in_bulk([i for i in ids if i is not None])
    now = timezone.now()
    changed: list[Institution] = []
    fields: set[str] = {"updated_at"}
    for _pk, line, _action, data, institution_id in rows:
        institution = locked.get(institution_id or 0)
        if institution is None or institution.is_merged:
            raise ServiceError(
                _("Line %(line)d: the institution was merged or removed after the check.")
                % {"line": line}
            )
        before = snapshot(institution, FIELDS)
        for key, value in data["set"].items():
            if key in ("latitude", "longitude") and value is not None:
                value = Decimal(value)
            setattr(institution, key, value)
            fields.add(key)
        after = snapshot(institution, FIELDS)
        if after == before:
            continue
        institution.updated_at = now
        changed.append(institution)
        event_record(
            actor=record.uploaded_by,
            verb="institution.updated",
            obj=institution,
            before=before,
            after=after | {"import": record.pk, "line": line},
        )
    if changed:
        # A changed phone is written with its search hash (bulk_update skips pre_save).
        Institution.objects.bulk_update(changed, with_hash_fields(Institution, fields))
    return len(changed)


# --- what the pages show and offer --------------------------------------------------------------


def template_xlsx() -> bytes:
    """The workbook to fill in: the header the import reads, two example rows, and notes."""
    from openpyxl import Workbook
    from stdnum.cn import uscc

    workbook = Workbook()
    sheet = workbook.active
    assert sheet is not None
    sheet.title = "机构"
    sheet.append(TEMPLATE_HEADER)
    examples = []
    for stem in ("91420902MA4F0001", "52420902MA4F0002"):
        body = stem + "0"
        examples.append(body + uscc.calc_check_digit(body))
    sheet.append(
        [
            "孝感市示例艺术培训学校有限公司",
            examples[0],
            "教民142090270000001号",
            "艺术",
            "张示例",
            "13800000000",
            "孝感市孝南区广场街道示例路1号",
            "",
            "113.9169",
            "30.9246",
            "wgs84",
            "是",
            "120",
        ]
    )
    sheet.append(
        [
            "示例体育俱乐部（孝南分部）",
            examples[1],
            "",
            "体育",
            "李示例",
            "0712-0000000",
            "孝感市孝南区书院街道示例路2号",
            "",
            "",
            "",
            "",
            "否",
            "",
        ]
    )
    notes = workbook.create_sheet(_("Notes"))
    notes.append([_("Column"), _("Also accepted"), _("What to write")])
    explanations = {
        "name": _("Required. The registered name."),
        "credit_code": _("18 characters; checked against its check digit."),
        "licence_number": _("As printed on the school-running licence."),
        "category": _("学科类, 艺术, 体育, 科技, 其他 or 无证."),
        "operator_name": _("The operator or legal representative."),
        "contact_phone": _("7 to 12 digits; +86 is dropped."),
        "address": _("A community named in the address places the institution there."),
        "division_code": _(
            "A region code within the region you import into; empty: that region itself."
        ),
        "longitude": _("Decimal degrees."),
        "latitude": _("Decimal degrees."),
        "datum": _("wgs84 (GPS, default) or gcj02 (Chinese map services)."),
        "custody": _("是 or 否: are prepaid fees in a supervised account?"),
        "capacity": _("A whole number of students."),
    }
    for key, aliases in COLUMNS.items():
        notes.append(
            [aliases[1], ", ".join(a for a in aliases if a != aliases[1]), explanations[key]]
        )
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def error_report(record: InstitutionImport) -> tuple[list[str], Iterator[list[Any]]]:
    """Header and rows of the per-row error report: the line, the cells as uploaded, the errors."""
    labels: dict[str, str] = record.summary.get("columns") or {}
    keys = [key for key in COLUMNS if key in labels]
    header = [_("Line"), *(labels[k] for k in keys), _("Errors")]
    rows = (
        ImportRow.objects.filter(batch=record, action=Action.ERROR)
        .order_by("line")
        .values_list("line", "data", "errors")
    )

    def lines() -> Iterator[list[Any]]:
        for line, data, errors in rows.iterator(chunk_size=2000):
            raw = data.get("raw", {})
            yield [line, *(raw.get(k, "") for k in keys), "\n".join(errors)]

    return header, lines()
