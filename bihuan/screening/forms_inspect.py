"""Reading the phone's checklist form, and laying the checklist out for the page.

The checklist's fields come from its definition, not from a Django form class: each question
``q`` posts ``q-<name>`` (several values for a multiple choice; ``q-<name>-lat``/``-lng``/
``-accuracy`` for a location), its evidence note ``note-<name>`` and its photos ``photo-<name>``
(general photos: ``photo-``). The same parser reads the autosaved draft and the submission, so
the server checks exactly what the inspector saw.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

from bihuan.registry.models import Category
from bihuan.screening import checklists
from bihuan.screening.inspection_services import PhotoUpload
from bihuan.screening.workflow import VisitOutcome

VALUELESS = frozenset({"photo", "note"})
GENERAL = ""


def parse_answers(
    definition: Mapping[str, Any], data: Any
) -> tuple[dict[str, Any], dict[str, str]]:
    """The answers and evidence notes a form post carries, as the checklist module reads them."""
    values: dict[str, Any] = {}
    notes: dict[str, str] = {}
    for q in definition.get("questions", []):
        name, qtype = q["name"], q["type"]
        note = (data.get(f"note-{name}") or "").strip()
        if note:
            notes[name] = note
        if qtype in VALUELESS:
            continue
        if qtype == "select_multiple":
            chosen = [v for v in data.getlist(f"q-{name}") if v]
            if chosen:
                values[name] = chosen
        elif qtype == "location":
            lat, lng = data.get(f"q-{name}-lat", ""), data.get(f"q-{name}-lng", "")
            if lat and lng:
                values[name] = {"lat": lat, "lng": lng, "accuracy": data.get(f"q-{name}-accuracy")}
        else:
            value = data.get(f"q-{name}", "")
            if value != "":
                values[name] = value
    return values, notes


def inline_photos(definition: Mapping[str, Any], files: Any) -> list[PhotoUpload]:
    """Photos attached to a plain form post, each with a fresh client id."""
    names = [GENERAL] + [q["name"] for q in definition.get("questions", [])]
    found: list[PhotoUpload] = []
    for name in names:
        for upload in files.getlist(f"photo-{name}"):
            if getattr(upload, "size", 0):
                found.append(PhotoUpload(client_id=uuid.uuid4(), question=name, upload=upload))
    return found


class VisitForm(forms.Form):
    """The parts of a submission besides the answers: ids, outcome, note, position, time."""

    client_id = forms.UUIDField(widget=forms.HiddenInput)
    submission_id = forms.UUIDField(widget=forms.HiddenInput)
    outcome = forms.ChoiceField(
        label=_("Outcome of the visit"),
        choices=VisitOutcome.choices,
        initial=VisitOutcome.VISITED,
        widget=forms.RadioSelect,
    )
    note = forms.CharField(
        label=_("Note"),
        required=False,
        max_length=4000,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text=_("Required when you could not inspect the place."),
    )
    latitude = forms.DecimalField(required=False, widget=forms.HiddenInput)
    longitude = forms.DecimalField(required=False, widget=forms.HiddenInput)
    accuracy = forms.FloatField(required=False, min_value=0, widget=forms.HiddenInput)
    visited_at = forms.DateTimeField(required=False, widget=forms.HiddenInput)


class FieldFindForm(forms.Form):
    """An institution found in the field that is not in the registry."""

    client_id = forms.UUIDField(widget=forms.HiddenInput)
    name = forms.CharField(label=_("Name of the institution"), max_length=200)
    address = forms.CharField(label=_("Address"), max_length=300, required=False)
    category = forms.ChoiceField(
        label=_("What it teaches"), choices=Category.choices, initial=Category.NONE
    )
    note = forms.CharField(
        label=_("Note"), required=False, max_length=4000, widget=forms.Textarea(attrs={"rows": 3})
    )
    latitude = forms.DecimalField(required=False, widget=forms.HiddenInput)
    longitude = forms.DecimalField(required=False, widget=forms.HiddenInput)
    accuracy = forms.FloatField(required=False, min_value=0, widget=forms.HiddenInput)


class ParticipantForm(forms.Form):
    """Add or take off one co-inspector."""

    user = forms.IntegerField(min_value=1)
    action = forms.ChoiceField(choices=[("add", "add"), ("remove", "remove")])


class PhotoForm(forms.Form):
    """One photo uploaded on its own (by the page's script, already scaled down)."""

    client_id = forms.UUIDField()
    question = forms.CharField(required=False, max_length=64)
    captured_hint = forms.CharField(required=False, max_length=20)
    photo = forms.FileField()


# ---------------------------------------------------------------------------- layout for the page


@dataclass
class ChoiceView:
    name: str
    label: str
    flag: bool
    checked: bool


@dataclass
class QuestionView:
    """One question as the template draws it, with the answer so far and any error."""

    q: dict[str, Any]
    name: str
    type: str
    label: str
    hint: str
    required: bool
    choices: list[ChoiceView]
    value: Any
    note: str
    error: str
    evidence: str
    flaggable: bool
    photos: list[Any] = field(default_factory=list)

    @property
    def location(self) -> Mapping[str, Any]:
        return self.value if isinstance(self.value, Mapping) else {}


@dataclass
class GroupView:
    label: str
    questions: list[QuestionView]


def checklist_groups(
    definition: Mapping[str, Any],
    values: Mapping[str, Any],
    notes: Mapping[str, str],
    errors: Mapping[str, str],
    photos_by_question: Mapping[str, list[Any]],
) -> list[GroupView]:
    """The checklist's questions grouped in order, each with its answer, note, error and photos."""
    groups: list[GroupView] = []
    for q in definition.get("questions", []):
        value = values.get(q["name"])
        chosen = value if isinstance(value, list) else [value]
        view = QuestionView(
            q=q,
            name=q["name"],
            type=q["type"],
            label=checklists.question_label(q),
            hint=checklists.question_hint(q),
            required=bool(q.get("required")),
            choices=[
                ChoiceView(
                    name=c["name"],
                    label=checklists.choice_label(c),
                    flag=bool(c.get("flag")),
                    checked=c["name"] in chosen,
                )
                for c in q.get("choices", [])
            ],
            value="" if value is None else value,
            note=notes.get(q["name"], ""),
            error=errors.get(q["name"], ""),
            evidence=q.get("evidence", "none"),
            flaggable=checklists.is_flaggable(q),
            photos=list(photos_by_question.get(q["name"], [])),
        )
        label = checklists.group_label(q)
        if not groups or groups[-1].label != label:
            groups.append(GroupView(label=label, questions=[]))
        groups[-1].questions.append(view)
    return groups
