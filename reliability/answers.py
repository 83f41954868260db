"""A complete, valid set of answers to a checklist, found by asking the checklist itself.

The load submits real inspections, so its answers must pass the same checks as a person's: the
checklist module's ``evaluate`` (skip logic, required answers, constraints, evidence) is asked
again and again, and each question it objects to gets its next candidate answer (or, for evidence,
a note) until nothing is wrong. Photos go only to the photo questions that insist on one.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from bihuan.screening import checklists

LOCATION = {"lat": "30.918100", "lng": "113.913100", "accuracy": "15"}
NUMBERS = ["1", "0", "5", "10", "100"]
TEXTS = ["无", "正常经营"]


def _candidates(question: Mapping[str, Any]) -> list[Any]:
    qtype = question["type"]
    choices = question.get("choices", [])
    # Unflagged choices first: an inspection that finds nothing wrong needs the least evidence.
    ordered = [c["name"] for c in choices if not c.get("flag")]
    ordered += [c["name"] for c in choices if c.get("flag")]
    if qtype in ("yes_no_na", "select_one"):
        return ordered
    if qtype == "select_multiple":
        return [[name] for name in ordered]
    if qtype in ("integer", "decimal"):
        return NUMBERS
    if qtype == "text":
        return TEXTS
    if qtype == "location":
        return [LOCATION]
    return []


def checklist_answers(definition: Mapping[str, Any]) -> tuple[list[tuple[str, str]], list[str]]:
    """Form fields (``q-…``, ``note-…``) and the photo questions needing one photo each."""
    questions = list(definition.get("questions", []))
    options = {q["name"]: _candidates(q) for q in questions}
    chosen = {name: 0 for name, found in options.items() if found}
    notes: dict[str, str] = {}
    photos: dict[str, int] = {}
    kinds = {q["name"]: q["type"] for q in questions}
    for _round in range(60):
        values = {name: options[name][i] for name, i in chosen.items()}
        evaluation = checklists.evaluate(definition, values, notes, photos)
        if not evaluation.errors:
            break
        for name in evaluation.errors:
            if kinds.get(name) == "photo" and name not in photos:
                photos[name] = 1
            elif name in chosen and chosen[name] + 1 < len(options[name]):
                chosen[name] += 1
            else:
                notes[name] = "现场核实，情况见照片"
    else:
        raise ValueError(f"no valid answers found for the checklist: {evaluation.errors}")
    fields: list[tuple[str, str]] = []
    for name, value in evaluation.clean_values.items():
        if kinds[name] == "location":
            fields += [(f"q-{name}-{part}", LOCATION[part]) for part in ("lat", "lng", "accuracy")]
        elif isinstance(value, list):
            fields += [(f"q-{name}", str(v)) for v in value]
        else:
            fields.append((f"q-{name}", str(values[name])))
    fields += [(f"note-{name}", note) for name, note in notes.items()]
    return fields, sorted(photos)
