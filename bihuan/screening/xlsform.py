"""Checklists as XLSForm-style workbooks: import one into a definition, export a definition.

Supported subset (also shown on the import page, templates/screening/checklists/import.html):

Sheet ``survey`` (one row per question; the first row names the columns):
  - ``type``: ``select_one LIST``, ``select_multiple LIST``, ``integer``, ``decimal``, ``text``,
    ``image`` (a photo), ``geopoint`` (the location), ``note``; ``begin group NAME`` /
    ``end group`` rows put the questions between them in group NAME (label columns give the group
    its name; groups do not nest). A ``select_one`` whose list is exactly ``yes``, ``no``, ``na``
    becomes a yes / no / not applicable question. Metadata rows (``start``, ``end``, ``today``,
    ``deviceid``, ``username``, ``audit``) are skipped: Bihuan records those itself.
  - ``name``, ``label``, ``label::English (en)``, ``hint``, ``hint::English (en)``, ``required``
    (yes / no), ``relevant``, ``constraint``, ``constraint_message``,
    ``constraint_message::English (en)``; expressions use ``${name}``, ``.``, quoted text, numbers,
    ``= != < <= > >=``, ``and``, ``or``, ``not()``, ``selected()``, ``count-selected()`` and
    parentheses.
  - Bihuan's columns: ``bihuan_flag_when`` (an expression on ``.`` that flags a number or text
    answer), ``bihuan_evidence`` (``none``, ``photo``, ``note``, ``photo_or_note``,
    ``photo_and_note``: what a flagged answer needs; blank means ``photo_or_note`` for a question
    that can be flagged), ``bihuan_violation_types`` (codes separated by spaces or commas),
    ``bihuan_group`` (a group code, instead of begin/end group rows), ``bihuan_major`` (yes / no).
  - Not supported, refused with the row number: repeats, ``calculate``, ``select_*_from_file``,
    ``rank``, ``range`` and other types, and non-empty ``calculation``, ``choice_filter``,
    ``repeat_count``, ``default`` or ``trigger`` columns. Other columns are ignored.

Sheet ``choices``: ``list_name``, ``name``, ``label``, ``label::English (en)``, and ``bihuan_flag``
(yes / 1 marks a choice whose answer is flagged).

Sheet ``settings`` (optional, first data row): ``form_title``, ``form_title::English (en)``,
``form_id``, ``version``.

Every problem is collected with its sheet and row ("survey row 7: unknown type 'rank'") and the
import fails as a whole: nothing is saved from a workbook with any error. ``export_workbook``
writes a definition in this subset; importing the result gives the same definition back.
"""

from __future__ import annotations

import io
import re
import zipfile
from collections.abc import Iterator
from typing import Any

from django.utils.translation import gettext as _

from bihuan.core.errors import ServiceError
from bihuan.core.tabular import check_xlsx_archive
from bihuan.screening.checklists import (
    YES_NO_NA,
    DefinitionError,
    is_flaggable,
    validate_definition,
)

MAX_BYTES = 5 * 1024 * 1024
MAX_ROWS = 2000
TYPE_TO_BIHUAN = {
    "integer": "integer",
    "int": "integer",
    "decimal": "decimal",
    "text": "text",
    "string": "text",
    "image": "photo",
    "photo": "photo",
    "geopoint": "location",
    "location": "location",
    "note": "note",
}
BIHUAN_TO_TYPE = {
    "integer": "integer",
    "decimal": "decimal",
    "text": "text",
    "photo": "image",
    "location": "geopoint",
    "note": "note",
}
METADATA_TYPES = frozenset(
    {"start", "end", "today", "deviceid", "username", "audit", "phonenumber", "email"}
)
UNSUPPORTED_COLUMNS = ("calculation", "choice_filter", "repeat_count", "default", "trigger")
YES_VALUES = frozenset({"yes", "true", "1", "y", "是", "true()"})

SURVEY_COLUMNS = [
    "type",
    "name",
    "label",
    "label::English (en)",
    "hint",
    "hint::English (en)",
    "required",
    "relevant",
    "constraint",
    "constraint_message",
    "constraint_message::English (en)",
    "bihuan_flag_when",
    "bihuan_evidence",
    "bihuan_violation_types",
    "bihuan_major",
]
CHOICE_COLUMNS = ["list_name", "name", "label", "label::English (en)", "bihuan_flag"]
SETTINGS_COLUMNS = ["form_title", "form_title::English (en)", "form_id", "version"]

_EN = re.compile(r"\(en\)|english|英文|英语", re.IGNORECASE)
_ZH = re.compile(r"\(zh|chinese|中文|汉语|简体", re.IGNORECASE)


class XLSFormError(ServiceError):
    """A workbook that cannot be imported; ``errors`` lists every problem found, by row."""

    def __init__(self, errors: list[str]) -> None:
        self.errors = errors
        super().__init__("; ".join(errors))


def _column_key(header: str) -> str:
    """A header as a field key: "label::English (en)" → "label_en", "Label" → "label"."""
    text = header.strip()
    base, sep, language = text.partition("::")
    base = base.strip().lower().replace(" ", "_")
    if not sep:
        return base
    if _EN.search(language):
        return f"{base}_en"
    if _ZH.search(language):
        return base
    return f"{base}::{language.strip().lower()}"


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return str(value).strip()


def _yes(value: str) -> bool:
    return value.strip().lower() in YES_VALUES


def _rows(sheet: Any) -> Iterator[tuple[int, dict[str, str]]]:
    """(row number, {column key: text}) for each non-blank data row of a sheet."""
    rows = sheet.iter_rows(values_only=True)
    header_row = next(rows, None)
    if header_row is None:
        return
    keys = [_column_key(_text(h)) for h in header_row]
    for number, values in enumerate(rows, start=2):
        record: dict[str, str] = {}
        for key, value in zip(keys, values, strict=False):
            # The first of two columns with one meaning wins; a blank header is no column.
            if key and key not in record:
                record[key] = _text(value)
        if any(record.values()):
            yield number, record


def _open(data: bytes, filename: str) -> Any:
    from openpyxl import load_workbook

    if len(data) > MAX_BYTES:
        raise XLSFormError([_("The file is larger than 5 MB.")])
    if data[:4] == b"\xd0\xcf\x11\xe0":
        raise XLSFormError(
            [_("This is an old Excel (.xls) file; save it as an Excel workbook (.xlsx).")]
        )
    if data[:4] != b"PK\x03\x04":
        raise XLSFormError(
            [
                _(
                    "“%(name)s” is not an Excel workbook (.xlsx). Text and CSV files, in GBK or "
                    "any other encoding, cannot be imported: open the file in Excel and save it "
                    "as .xlsx."
                )
                % {"name": filename}
            ]
        )
    try:
        check_xlsx_archive(data)
    except ServiceError as exc:
        raise XLSFormError([exc.message]) from None
    try:
        return load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except (zipfile.BadZipFile, KeyError, ValueError, OSError, IndexError, TypeError):
        raise XLSFormError([_("The file is not a readable XLSX workbook.")]) from None


def _sheets(workbook: Any) -> dict[str, Any]:
    return {name.strip().lower(): workbook[name] for name in workbook.sheetnames}


def _read_choices(sheet: Any, errors: list[str]) -> dict[str, list[dict[str, Any]]]:
    lists: dict[str, list[dict[str, Any]]] = {}
    for number, row in _rows(sheet):
        where = _("choices row %(row)d") % {"row": number}
        list_name = row.get("list_name") or row.get("list name", "")
        if not list_name:
            errors.append(_("%(where)s: the list_name is empty") % {"where": where})
            continue
        if not row.get("name"):
            errors.append(_("%(where)s: the name is empty") % {"where": where})
            continue
        lists.setdefault(list_name, []).append(
            {
                "name": row["name"],
                "label": row.get("label", ""),
                "label_en": row.get("label_en", ""),
                "flag": _yes(row.get("bihuan_flag", "")),
            }
        )
        if sum(len(v) for v in lists.values()) > MAX_ROWS:
            errors.append(_("The choices sheet has more than %(n)d rows.") % {"n": MAX_ROWS})
            break
    return lists


def _question(
    row: dict[str, str], qtype: str, group: dict[str, str], choices: list[dict[str, Any]]
) -> dict[str, Any]:
    code = row.get("bihuan_group") or group.get("group", "")
    labels = group if code == group.get("group") else {}
    question: dict[str, Any] = {
        "name": row.get("name", ""),
        "type": qtype,
        "label": row.get("label", ""),
        "label_en": row.get("label_en", ""),
        "hint": row.get("hint", ""),
        "hint_en": row.get("hint_en", ""),
        "group": code,
        "group_label": labels.get("group_label", ""),
        "group_label_en": labels.get("group_label_en", ""),
        "required": _yes(row.get("required", "")),
        "relevant": row.get("relevant", ""),
        "constraint": row.get("constraint", ""),
        "constraint_message": row.get("constraint_message", ""),
        "constraint_message_en": row.get("constraint_message_en", ""),
        "choices": [dict(c) for c in choices],
        "flag_when": row.get("bihuan_flag_when", ""),
        "evidence": row.get("bihuan_evidence", ""),
        "violation_types": row.get("bihuan_violation_types", ""),
        "major": _yes(row.get("bihuan_major", "")),
    }
    if not question["evidence"]:
        question["evidence"] = "photo_or_note" if is_flaggable_raw(question) else "none"
    return question


def is_flaggable_raw(question: dict[str, Any]) -> bool:
    """Could this not yet compiled question be flagged (a flagged choice or a flag_when)?"""
    return bool(question.get("flag_when")) or is_flaggable(question)


def _read_survey(
    sheet: Any, lists: dict[str, list[dict[str, Any]]], errors: list[str]
) -> tuple[list[dict[str, Any]], dict[str, int]]:
    questions: list[dict[str, Any]] = []
    rows_of: dict[str, int] = {}
    group: dict[str, str] = {}
    group_labels: dict[str, dict[str, str]] = {}
    count = 0
    for number, row in _rows(sheet):
        count += 1
        if count > MAX_ROWS:
            errors.append(_("The survey sheet has more than %(n)d rows.") % {"n": MAX_ROWS})
            break
        where = _("survey row %(row)d") % {"row": number}
        raw_type = re.sub(r"\s+", " ", row.get("type", "")).strip()
        words = raw_type.replace("_", " ", 1).split(" ") if raw_type else []
        head = words[0].lower() if words else ""
        if not raw_type:
            errors.append(_("%(where)s: the type is empty") % {"where": where})
            continue
        used = [c for c in UNSUPPORTED_COLUMNS if row.get(c)]
        if used:
            errors.append(
                _("%(where)s: the column %(column)s is not supported")
                % {"where": where, "column": used[0]}
            )
            continue
        if head == "begin" and len(words) > 1 and words[1].lower() == "group":
            if group:
                errors.append(_("%(where)s: groups cannot be nested") % {"where": where})
                continue
            code = row.get("name") or (words[2] if len(words) > 2 else "")
            if row.get("relevant"):
                errors.append(
                    _("%(where)s: a group cannot have a condition; put it on its questions")
                    % {"where": where}
                )
            group = {
                "group": code,
                "group_label": row.get("label", ""),
                "group_label_en": row.get("label_en", ""),
            }
            group_labels[code] = group
            continue
        if head == "end" and len(words) > 1 and words[1].lower() == "group":
            if not group:
                errors.append(_("%(where)s: “end group” without “begin group”") % {"where": where})
            group = {}
            continue
        if head in ("begin", "end"):
            errors.append(
                _("%(where)s: “%(type)s” is not supported") % {"where": where, "type": raw_type}
            )
            continue
        if raw_type.lower() in METADATA_TYPES:
            continue
        choices: list[dict[str, Any]] = []
        kind = raw_type.split(" ")[0].lower()
        if kind in ("select_one", "select_multiple"):
            list_name = raw_type.split(" ", 1)[1].strip() if " " in raw_type else ""
            if not list_name or " " in list_name:
                errors.append(
                    _("%(where)s: “%(type)s” must name one choice list")
                    % {"where": where, "type": raw_type}
                )
                continue
            if list_name not in lists:
                errors.append(
                    _("%(where)s: no choice list named “%(list)s” on the choices sheet")
                    % {"where": where, "list": list_name}
                )
                continue
            choices = lists[list_name]
            qtype = kind
            if kind == "select_one" and [c["name"] for c in choices] == list(YES_NO_NA):
                qtype = "yes_no_na"
        elif kind in TYPE_TO_BIHUAN and " " not in raw_type:
            qtype = TYPE_TO_BIHUAN[kind]
        else:
            errors.append(
                _("%(where)s: unknown type “%(type)s”") % {"where": where, "type": raw_type}
            )
            continue
        own = row.get("bihuan_group")
        question = _question(
            row, qtype, group_labels.get(own, {"group": own}) if own else group, choices
        )
        rows_of.setdefault(question["name"], number)
        questions.append(question)
    if group:
        errors.append(
            _("survey: group “%(name)s” has no “end group” row") % {"name": group.get("group", "")}
        )
    return questions, rows_of


def _read_settings(sheet: Any) -> dict[str, str]:
    for _number, row in _rows(sheet):
        return {
            "title": row.get("form_title", ""),
            "title_en": row.get("form_title_en", ""),
            "form_id": row.get("form_id", ""),
            "version": row.get("version", ""),
        }
    return {}


def import_workbook(data: bytes, filename: str = "") -> dict[str, Any]:
    """A validated definition from an XLSForm-style workbook, or XLSFormError listing every row."""
    workbook = _open(data, filename or "?")
    try:
        sheets = _sheets(workbook)
        if "survey" not in sheets:
            raise XLSFormError([_("The workbook has no sheet named “survey”.")])
        errors: list[str] = []
        lists = _read_choices(sheets["choices"], errors) if "choices" in sheets else {}
        questions, rows_of = _read_survey(sheets["survey"], lists, errors)
        settings = _read_settings(sheets["settings"]) if "settings" in sheets else {}
    finally:
        workbook.close()
    if not questions and not errors:
        errors.append(_("The survey sheet has no questions."))
    if errors:
        raise XLSFormError(errors)
    raw = {
        "title": settings.get("title", ""),
        "title_en": settings.get("title_en", ""),
        "form_id": settings.get("form_id", ""),
        "version": settings.get("version", ""),
        "questions": questions,
    }
    try:
        return validate_definition(raw)
    except DefinitionError as exc:
        raise XLSFormError(
            [
                (_("survey row %(row)d") % {"row": rows_of[name]} + f" ({name}): {message}")
                if name in rows_of
                else (f"{name}: {message}" if name else message)
                for name, message in exc.problems
            ]
        ) from None


# ---------------------------------------------------------------------------- export


def _list_names(questions: list[dict[str, Any]]) -> tuple[dict[str, str], list[tuple[str, list]]]:
    """A choice-list name for each choice question; identical lists are written once."""
    by_content: dict[str, str] = {}
    list_of: dict[str, str] = {}
    lists: list[tuple[str, list]] = []
    used: set[str] = set()
    for q in questions:
        if not q.get("choices"):
            continue
        content = repr([(c["name"], c["label"], c["label_en"], c["flag"]) for c in q["choices"]])
        if content not in by_content:
            if q["type"] == "yes_no_na":
                flagged = [c["name"] for c in q["choices"] if c["flag"]]
                base = "yes_no_na" + "".join(f"_flag_{n}" for n in flagged)
            else:
                base = q["name"]
            name, n = base, 2
            while name in used:
                name, n = f"{base}_{n}", n + 1
            used.add(name)
            by_content[content] = name
            lists.append((name, q["choices"]))
        list_of[q["name"]] = by_content[content]
    return list_of, lists


def export_workbook(definition: dict[str, Any]) -> bytes:
    """The definition as an XLSForm-style workbook (survey, choices, settings)."""
    from openpyxl import Workbook
    from openpyxl.styles import Font

    questions = list(definition.get("questions", []))
    list_of, lists = _list_names(questions)
    workbook = Workbook()
    survey: Any = workbook.active
    survey.title = "survey"
    survey.append(SURVEY_COLUMNS)
    current_group = ""
    for q in questions:
        if q.get("group", "") != current_group:
            if current_group:
                survey.append(["end group"])
            current_group = q.get("group", "")
            if current_group:
                survey.append(
                    [
                        "begin group",
                        current_group,
                        q.get("group_label", ""),
                        q.get("group_label_en", ""),
                    ]
                )
        if q["type"] in ("yes_no_na", "select_one"):
            qtype = f"select_one {list_of[q['name']]}"
        elif q["type"] == "select_multiple":
            qtype = f"select_multiple {list_of[q['name']]}"
        else:
            qtype = BIHUAN_TO_TYPE[q["type"]]
        survey.append(
            [
                qtype,
                q["name"],
                q.get("label", ""),
                q.get("label_en", ""),
                q.get("hint", ""),
                q.get("hint_en", ""),
                "yes" if q.get("required") else "",
                q.get("relevant", ""),
                q.get("constraint", ""),
                q.get("constraint_message", ""),
                q.get("constraint_message_en", ""),
                q.get("flag_when", ""),
                q.get("evidence", "none"),
                " ".join(q.get("violation_types", [])),
                "yes" if q.get("major") else "",
            ]
        )
    if current_group:
        survey.append(["end group"])
    choices = workbook.create_sheet("choices")
    choices.append(CHOICE_COLUMNS)
    for list_name, items in lists:
        for c in items:
            choices.append(
                [list_name, c["name"], c["label"], c["label_en"], "yes" if c["flag"] else ""]
            )
    settings = workbook.create_sheet("settings")
    settings.append(SETTINGS_COLUMNS)
    settings.append(
        [
            definition.get("title", ""),
            definition.get("title_en", ""),
            definition.get("form_id", ""),
            definition.get("version", ""),
        ]
    )
    bold = Font(bold=True)
    for sheet in (survey, choices, settings):
        for cell in sheet[1]:
            cell.font = bold
        # Text cells throughout, so "1" stays a name and "=..." is never read as a formula.
        for row in sheet.iter_rows(min_row=2):
            for cell in row:
                if isinstance(cell.value, str) and cell.value[:1] == "=":
                    cell.data_type = "s"
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()
