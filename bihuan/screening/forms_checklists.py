"""Forms of the checklist pages: a new template, a draft's details, one question, an upload."""

from __future__ import annotations

from typing import Any

from django import forms
from django.conf import settings
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from bihuan.screening.checklists import EVIDENCE, TYPES

TYPE_LABELS = {
    "yes_no_na": gettext_lazy("yes / no / not applicable"),
    "select_one": gettext_lazy("single choice"),
    "select_multiple": gettext_lazy("multiple choice"),
    "integer": gettext_lazy("whole number"),
    "decimal": gettext_lazy("decimal number"),
    "text": gettext_lazy("text"),
    "photo": gettext_lazy("photo"),
    "location": gettext_lazy("location"),
    "note": gettext_lazy("note (no answer)"),
}
EVIDENCE_LABELS = {
    "none": gettext_lazy("none"),
    "photo": gettext_lazy("a photo"),
    "note": gettext_lazy("a note"),
    "photo_or_note": gettext_lazy("a photo or a note"),
    "photo_and_note": gettext_lazy("a photo and a note"),
}
FLAG_WORDS = frozenset({"1", "yes", "y", "true", "flag", "是", "标记"})


class TemplateCreateForm(forms.Form):
    code = forms.SlugField(label=gettext_lazy("Code"), max_length=50)
    name = forms.CharField(label=gettext_lazy("Name"), max_length=100)
    description = forms.CharField(
        label=gettext_lazy("Description"), required=False, widget=forms.Textarea(attrs={"rows": 3})
    )


class DraftDetailsForm(forms.Form):
    title = forms.CharField(label=gettext_lazy("Title"), max_length=200, required=False)
    title_en = forms.CharField(
        label=gettext_lazy("Title in English"), max_length=200, required=False
    )
    notes = forms.CharField(label=gettext_lazy("What changed"), max_length=500, required=False)


class ImportForm(forms.Form):
    file = forms.FileField(label=gettext_lazy("Workbook (.xlsx)"))

    def clean_file(self) -> Any:
        upload = self.cleaned_data["file"]
        if upload.size is not None and upload.size > settings.IMPORT_MAX_BYTES:
            raise forms.ValidationError(
                _("The file is larger than %(mb)d MB.")
                % {"mb": settings.IMPORT_MAX_BYTES // (1024 * 1024)}
            )
        return upload


def choices_to_text(choices: list[dict[str, Any]]) -> str:
    """Choices as the editor shows them: one "name|label|label_en|flag" per line."""
    return "\n".join(
        "|".join([c["name"], c["label"], c["label_en"], "flag" if c["flag"] else ""]).rstrip("|")
        for c in choices
    )


class QuestionForm(forms.Form):
    name = forms.CharField(
        label=gettext_lazy("Name"),
        max_length=64,
        help_text=gettext_lazy("Lower-case letters, digits and _; expressions use it as ${name}."),
    )
    type = forms.ChoiceField(
        label=gettext_lazy("Type"), choices=[(t, TYPE_LABELS[t]) for t in TYPES]
    )
    label = forms.CharField(label=gettext_lazy("Label"), max_length=500)
    label_en = forms.CharField(
        label=gettext_lazy("Label in English"), max_length=500, required=False
    )
    hint = forms.CharField(label=gettext_lazy("Hint"), max_length=500, required=False)
    hint_en = forms.CharField(label=gettext_lazy("Hint in English"), max_length=500, required=False)
    group = forms.CharField(label=gettext_lazy("Group code"), max_length=32, required=False)
    group_label = forms.CharField(label=gettext_lazy("Group name"), max_length=500, required=False)
    group_label_en = forms.CharField(
        label=gettext_lazy("Group name in English"), max_length=500, required=False
    )
    required = forms.BooleanField(label=gettext_lazy("Answer required"), required=False)
    choices = forms.CharField(
        label=gettext_lazy("Choices"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 5}),
        help_text=gettext_lazy(
            "One per line: name|label|label in English|flag (write “flag” to flag that answer). "
            "A yes / no / not applicable question uses yes, no and na."
        ),
    )
    relevant = forms.CharField(
        label=gettext_lazy("Shown only if"),
        max_length=2000,
        required=False,
        help_text=gettext_lazy("For example: ${provides_meals} = 'yes'. Blank: always shown."),
    )
    constraint = forms.CharField(
        label=gettext_lazy("Constraint"),
        max_length=2000,
        required=False,
        help_text=gettext_lazy("On the answer “.”, for example: . >= 0 and . <= 500"),
    )
    constraint_message = forms.CharField(
        label=gettext_lazy("Constraint message"), max_length=500, required=False
    )
    constraint_message_en = forms.CharField(
        label=gettext_lazy("Constraint message in English"), max_length=500, required=False
    )
    flag_when = forms.CharField(
        label=gettext_lazy("Flag when"),
        max_length=2000,
        required=False,
        help_text=gettext_lazy("For numbers and text, for example: . > 3"),
    )
    evidence = forms.ChoiceField(
        label=gettext_lazy("A flagged answer needs"),
        choices=[(e, EVIDENCE_LABELS[e]) for e in EVIDENCE],
    )
    violation_types = forms.CharField(
        label=gettext_lazy("Suggested violation types"),
        max_length=200,
        required=False,
        help_text=gettext_lazy("Codes separated by spaces, for example: A1 A2"),
    )
    major = forms.BooleanField(label=gettext_lazy("Major item"), required=False)

    @classmethod
    def for_question(cls, question: dict[str, Any]) -> QuestionForm:
        """The form filled with a question of a definition."""
        initial = {k: v for k, v in question.items() if k in cls.base_fields}
        initial["choices"] = choices_to_text(question.get("choices", []))
        initial["violation_types"] = " ".join(question.get("violation_types", []))
        return cls(initial=initial)

    def clean_choices(self) -> list[dict[str, Any]]:
        parsed = []
        for number, line in enumerate(self.cleaned_data["choices"].splitlines(), start=1):
            if not line.strip():
                continue
            parts = [p.strip() for p in line.split("|")]
            if len(parts) < 2 or not parts[0]:
                raise forms.ValidationError(
                    _("Line %(n)d: write at least name|label.") % {"n": number}
                )
            parts += [""] * (4 - len(parts))
            parsed.append(
                {
                    "name": parts[0],
                    "label": parts[1],
                    "label_en": parts[2],
                    "flag": parts[3].lower() in FLAG_WORDS,
                }
            )
        return parsed

    def question(self) -> dict[str, Any]:
        """The cleaned form as a question of the definition format (validated by the service)."""
        return dict(self.cleaned_data)
