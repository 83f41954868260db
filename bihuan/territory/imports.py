"""Import of regions from CSV/XLSX: a dry run with per-row errors, then a background apply."""

from __future__ import annotations

import io
from collections.abc import Mapping
from typing import Any

from django.core.files.base import ContentFile
from django.core.files.uploadedfile import UploadedFile
from django.db import transaction
from django.utils.translation import gettext as _

from bihuan.accounts.policies import Capability, can
from bihuan.audit.services import event_record
from bihuan.core.errors import NotAllowed, ServiceError
from bihuan.core.tabular import column_index, read_table
from bihuan.territory import codes
from bihuan.territory.models import ImportStatus, Region, RegionImport

COLUMNS = {
    "code": ("code", "division code", "代码", "区划代码", "行政区划代码"),
    "name": ("name", "名称", "区划名称"),
    "parent_code": ("parent code", "parent_code", "parent", "上级代码", "上级区划代码"),
    "level": ("level", "级别", "层级"),
}
LEVEL_ALIASES = {
    "province": codes.PROVINCE,
    "省": codes.PROVINCE,
    "city": codes.CITY,
    "市": codes.CITY,
    "district": codes.DISTRICT,
    "county": codes.DISTRICT,
    "区": codes.DISTRICT,
    "县": codes.DISTRICT,
    "区县": codes.DISTRICT,
    "street": codes.STREET,
    "town": codes.STREET,
    "街道": codes.STREET,
    "乡镇": codes.STREET,
    "镇": codes.STREET,
    "乡": codes.STREET,
    "community": codes.COMMUNITY,
    "village": codes.COMMUNITY,
    "社区": codes.COMMUNITY,
    "村": codes.COMMUNITY,
}
_ORDER = {level: i for i, level in enumerate(codes.LEVELS)}


def check_rows(
    rows: list[tuple[int, dict[str, str]]], existing: Mapping[str, tuple[str, str | None, str]]
) -> list[dict[str, Any]]:
    """Decide for each row: create, update, unchanged or error (with the reason).

    ``existing`` maps code → (level, parent code, name) for regions already in the tree. Rows are
    checked parents first, so a file may list a community before its street.
    """
    known = dict(existing)
    results: dict[int, dict[str, Any]] = {}
    seen: set[str] = set()

    def order(item: tuple[int, dict[str, str]]) -> tuple[int, int]:
        level = LEVEL_ALIASES.get(item[1]["level"].lower(), "")
        return (_ORDER.get(level, 99), item[0])

    for line, row in sorted(rows, key=order):
        entry: dict[str, Any] = {"line": line, "code": row["code"], "name": row["name"]}
        results[line] = entry
        level = LEVEL_ALIASES.get(row["level"].lower())
        if level is None:
            entry |= {"action": "error", "error": _("Unknown level “%(l)s”.") % {"l": row["level"]}}
            continue
        entry["level"] = level
        parent_code = row["parent_code"] or None
        try:
            codes.check_code(row["code"], level)
            if not row["name"]:
                raise codes.CodeError(_("The name is empty."))
            if len(row["name"]) > 100:
                raise codes.CodeError(_("The name is longer than 100 characters."))
            if row["code"] in seen:
                raise codes.CodeError(
                    _("Code %(c)s appears twice in the file.") % {"c": row["code"]}
                )
            parent = known.get(parent_code) if parent_code else None
            if parent_code and parent is None:
                raise codes.CodeError(
                    _("Parent code “%(c)s” is neither in the territory nor in the file.")
                    % {"c": parent_code}
                )
            codes.check_parent(row["code"], level, parent_code, parent[0] if parent else None)
            current = existing.get(row["code"])
            if current is not None and (current[0] != level or current[1] != parent_code):
                raise codes.CodeError(
                    _("Code %(c)s already exists at another place in the tree.")
                    % {"c": row["code"]}
                )
        except codes.CodeError as exc:
            entry |= {"action": "error", "error": str(exc)}
            continue
        seen.add(row["code"])
        known[row["code"]] = (level, parent_code, row["name"])
        entry["parent_code"] = parent_code
        if current is None:
            entry["action"] = "create"
        elif current[2] != row["name"]:
            entry["action"] = "update"
        else:
            entry["action"] = "unchanged"
    return [results[line] for line in sorted(results)]


def parse_upload(data: bytes, filename: str) -> tuple[list[tuple[int, dict[str, str]]], str]:
    """Read the file and map its columns; raises ServiceError for a file that cannot be read."""
    table = read_table(data, filename)
    positions = {key: column_index(table.header, aliases) for key, aliases in COLUMNS.items()}
    missing = [key for key, pos in positions.items() if pos is None]
    if missing:
        raise ServiceError(
            _("Missing columns: %(cols)s. Download the template for the expected header.")
            % {"cols": ", ".join(COLUMNS[key][0] for key in missing)}
        )
    rows: list[tuple[int, dict[str, str]]] = []
    for line, cells in table.rows:
        padded = cells + [""] * (len(table.header) - len(cells))
        rows.append((line, {key: padded[pos] for key, pos in positions.items() if pos is not None}))
    return rows, table.encoding


def region_import_create(*, actor: Any, upload: UploadedFile) -> RegionImport:
    """Keep the uploaded file and its dry-run report; nothing in the tree changes yet."""
    if not can(actor, Capability.TERRITORY_MANAGE):
        raise NotAllowed(_("Your roles do not allow this change."))
    data = upload.read()
    name = upload.name or "upload"
    rows, encoding = parse_upload(data, name)
    existing = {
        code: (level, parent_code, rname)
        for code, level, parent_code, rname in Region.objects.values_list(
            "code", "level", "parent__code", "name"
        )
    }
    report = check_rows(rows, existing)
    with transaction.atomic():
        record = RegionImport(
            uploaded_by=actor,
            original_name=name[:200],
            encoding=encoding,
            report=report,
            total=len(report),
            error_count=sum(1 for r in report if r["action"] == "error"),
        )
        record.file.save(name, ContentFile(data), save=False)
        record.save()
        event_record(
            actor=actor,
            verb="region_import.checked",
            obj=record,
            after={"rows": record.total, "errors": record.error_count, "encoding": encoding},
        )
    return record


@transaction.atomic
def region_import_queue(*, actor: Any, record: RegionImport) -> RegionImport:
    """Queue a checked import for the worker; refused while any row has an error."""
    if not can(actor, Capability.TERRITORY_MANAGE):
        raise NotAllowed(_("Your roles do not allow this change."))
    record = RegionImport.objects.select_for_update().get(pk=record.pk)
    if record.status != ImportStatus.CHECKED:
        raise ServiceError(_("This import has already been applied or queued."))
    if record.error_count:
        raise ServiceError(_("Correct the rows with errors and upload the file again."))
    record.status = ImportStatus.QUEUED
    record.save(update_fields=["status"])
    event_record(actor=actor, verb="region_import.queued", obj=record)
    from bihuan.territory.tasks import apply_region_import

    record_id = record.pk
    transaction.on_commit(lambda: apply_region_import.enqueue(record_id))
    return record


def region_import_apply(record_id: int) -> RegionImport:
    """Write the rows of a queued import, parents first, in one transaction."""
    from bihuan.territory.services import region_upsert

    with transaction.atomic():
        record = RegionImport.objects.select_for_update().get(pk=record_id)
        if record.status != ImportStatus.QUEUED:
            return record
        record.status = ImportStatus.RUNNING
        record.save(update_fields=["status"])
    actor = record.uploaded_by
    counts = {"create": 0, "update": 0, "unchanged": 0}
    ordered = sorted(record.report, key=lambda r: (_ORDER[r["level"]], r["line"]))
    try:
        # All or nothing: a row refused at apply time rolls back every row before it.
        with transaction.atomic():
            for row in ordered:
                _, outcome = region_upsert(
                    actor=actor,
                    code=row["code"],
                    name=row["name"],
                    level=row["level"],
                    parent_code=row.get("parent_code"),
                )
                counts[{"created": "create", "updated": "update"}.get(outcome, "unchanged")] += 1
            RegionImport.objects.filter(pk=record_id).update(
                status=ImportStatus.DONE, processed=len(ordered), outcome=counts
            )
            event_record(actor=actor, verb="region_import.applied", obj=record, after=counts)
    except Exception as exc:
        message = exc.message if isinstance(exc, ServiceError) else _("The import failed.")
        with transaction.atomic():
            RegionImport.objects.filter(pk=record_id).update(
                status=ImportStatus.FAILED, outcome={"error": message}
            )
            event_record(
                actor=actor,
                verb="region_import.failed",
                obj=record,
                after={"error": message, "exception": type(exc).__name__},
            )
        if not isinstance(exc, ServiceError):
            raise
    record.refresh_from_db()
    return record


def template_xlsx() -> bytes:
    """A workbook with the expected header and two example rows."""
    from openpyxl import Workbook

    workbook = Workbook()
    sheet = workbook.active
    assert sheet is not None
    sheet.title = "regions"
    sheet.append(["code", "name", "parent code", "level"])
    sheet.append(["420902", "孝南区", "420900", "district"])
    sheet.append(["420902003000", "广场街道", "420902", "street"])
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()
