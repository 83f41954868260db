"""Read shapes of the API: the fields a page shows, never reporters' contact details."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.core.exceptions import FieldDoesNotExist
from django.utils.translation import gettext_lazy as _
from rest_framework import serializers

from bihuan.cases.models import Case
from bihuan.leads.models import ClosureReason, JointOperation, JointParticipant, Lead, WorkOrder
from bihuan.registry.models import Institution
from bihuan.screening.models import Inspection, Round, Task
from bihuan.territory.models import Region


class RegionSerializer(serializers.ModelSerializer[Region]):
    class Meta:
        model = Region
        fields = ["id", "code", "name", "level", "parent", "depth", "is_active"]


class InstitutionSerializer(serializers.ModelSerializer[Institution]):
    class Meta:
        model = Institution
        fields = [
            "id",
            "name",
            "credit_code",
            "licence_number",
            "category",
            "status",
            "is_blacklisted",
            "address",
            "latitude",
            "longitude",
            "region",
            "community",
            "area",
            "merged_into",
            "created_at",
            "updated_at",
        ]


class RoundSerializer(serializers.ModelSerializer[Round]):
    class Meta:
        model = Round
        fields = [
            "id",
            "name",
            "region",
            "checklist",
            "starts_on",
            "ends_on",
            "status",
            "created_at",
            "issued_at",
            "closed_at",
        ]


class TaskSerializer(serializers.ModelSerializer[Task]):
    class Meta:
        model = Task
        fields = ["id", "round", "inspector", "kind", "region", "instructions", "created_at"]


class InspectionSerializer(serializers.ModelSerializer[Inspection]):
    class Meta:
        model = Inspection
        fields = [
            "id",
            "task",
            "institution",
            "is_field_find",
            "region",
            "inspector",
            "status",
            "outcome",
            "visited_at",
            "submitted_at",
            "approved_at",
            "lead",
            "created_at",
            "updated_at",
        ]


class LeadSerializer(serializers.ModelSerializer[Lead]):
    # Reporter name and phone stay off the API: the pages show them only to the triaging bureau.
    class Meta:
        model = Lead
        fields = [
            "id",
            "reference",
            "source",
            "status",
            "description",
            "institution",
            "place_name",
            "address",
            "region",
            "area",
            "is_anonymous",
            "owner_department",
            "due_at",
            "merged_into",
            "created_at",
            "accepted_at",
            "dispatched_at",
            "closed_at",
            "updated_at",
        ]


class WorkOrderSerializer(serializers.ModelSerializer[WorkOrder]):
    class Meta:
        model = WorkOrder
        fields = [
            "id",
            "lead",
            "department",
            "role",
            "status",
            "sign_due",
            "reply_due",
            "signed_at",
            "replied_at",
            "reply",
            "accepted_at",
            "redo_count",
            "proposed_department",
            "return_reason",
            "urge_count",
            "escalation_level",
            "is_supervised",
            "created_at",
            "updated_at",
        ]


class JointParticipantSerializer(serializers.ModelSerializer[JointParticipant]):
    class Meta:
        model = JointParticipant
        fields = ["id", "user", "name", "department", "took_part"]


class JointOperationSerializer(serializers.ModelSerializer[JointOperation]):
    participants = JointParticipantSerializer(many=True, read_only=True)

    class Meta:
        model = JointOperation
        fields = [
            "id",
            "title",
            "status",
            "region",
            "departments",
            "participants",
            "planned_for",
            "outcome",
            "created_at",
            "decided_at",
            "recorded_at",
        ]


class CaseSerializer(serializers.ModelSerializer[Case]):
    class Meta:
        model = Case
        fields = [
            "id",
            "lead",
            "institution",
            "region",
            "department",
            "status",
            "rectification_due",
            "penalty_fen",
            "closure_ordered",
            "blacklisted",
            "is_disguised",
            "opened_at",
            "concluded_at",
        ]


class FiguresSerializer(serializers.Serializer[Any]):
    scope = serializers.CharField()
    label = serializers.CharField()
    start = serializers.DateField()
    end = serializers.DateField()
    person_times = serializers.IntegerField()
    institutions = serializers.IntegerField(allow_null=True)
    visits = serializers.IntegerField(allow_null=True)
    leads = serializers.IntegerField()
    disguised_cases = serializers.IntegerField()
    refunds_fen = serializers.IntegerField()


class FiguresQuerySerializer(serializers.Serializer[Any]):
    scope = serializers.CharField(required=False, help_text=_("kind:id, e.g. region:12"))
    start = serializers.DateField(required=False)
    end = serializers.DateField(required=False)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        start, end = attrs.get("start"), attrs.get("end")
        if start and end and start > end:
            raise serializers.ValidationError({"end": _("The end is before the start.")})
        return attrs


# ------------------------------------------------------------------------ action inputs


class EmptySerializer(serializers.Serializer[Any]):
    """An action without input."""


class ReplySerializer(serializers.Serializer[Any]):
    reply = serializers.CharField(max_length=4000)


class ReturnSerializer(serializers.Serializer[Any]):
    proposed_department = serializers.IntegerField(required=False, allow_null=True)
    reason = serializers.CharField(max_length=500)


class ExtensionSerializer(serializers.Serializer[Any]):
    days = serializers.IntegerField(min_value=1, max_value=30)
    reason = serializers.CharField(max_length=500)


class NoteSerializer(serializers.Serializer[Any]):
    note = serializers.CharField(max_length=500, required=False, allow_blank=True, default="")


class TypesSerializer(serializers.Serializer[Any]):
    violation_types = serializers.ListField(
        child=serializers.CharField(max_length=20),
        min_length=1,
        max_length=20,
        help_text=_("Violation type codes, e.g. B01."),
    )


class AcceptLeadSerializer(TypesSerializer):
    institution = serializers.IntegerField(required=False, allow_null=True)


class LinkSerializer(serializers.Serializer[Any]):
    institution = serializers.IntegerField(help_text=_("A current institution in your places."))


class MergeSerializer(serializers.Serializer[Any]):
    reference = serializers.CharField(
        max_length=20, help_text=_("Reference of the lead this one duplicates.")
    )


class ReasonSerializer(serializers.Serializer[Any]):
    reason = serializers.CharField(max_length=500)


class RequiredNoteSerializer(serializers.Serializer[Any]):
    note = serializers.CharField(max_length=500)


class ReassignSerializer(serializers.Serializer[Any]):
    department = serializers.IntegerField(help_text=_("A department covering the lead's place."))
    note = serializers.CharField(max_length=500, required=False, allow_blank=True, default="")


class ExtensionDecisionSerializer(serializers.Serializer[Any]):
    approve = serializers.BooleanField()
    note = serializers.CharField(
        max_length=500,
        required=False,
        allow_blank=True,
        default="",
        help_text=_("Required when refusing."),
    )


class PersonSerializer(serializers.Serializer[Any]):
    """Someone without an account: a name and, if known, their department."""

    name = serializers.CharField(max_length=50)
    department = serializers.IntegerField(required=False, allow_null=True)


def _optional_ids(help_text: Any) -> serializers.ListField:
    """An optional list of at most 100 record ids (empty when left out)."""
    return serializers.ListField(
        child=serializers.IntegerField(),
        max_length=100,
        required=False,
        default=list,
        help_text=help_text,
    )


class JointConfirmSerializer(serializers.Serializer[Any]):
    planned_for = serializers.DateField()
    departments = serializers.ListField(
        child=serializers.IntegerField(), min_length=1, max_length=20
    )
    team = _optional_ids(_("User ids of officers and supervisors."))
    named = PersonSerializer(many=True, required=False, default=list)


class JointRecordSerializer(serializers.Serializer[Any]):
    outcome = serializers.CharField(max_length=4000)
    absent = _optional_ids(_("Participant ids of those who did not come."))
    extra = PersonSerializer(many=True, required=False, default=list)


class CloseSerializer(serializers.Serializer[Any]):
    reason = serializers.ChoiceField(choices=ClosureReason.choices)
    note = serializers.CharField(max_length=500, required=False, allow_blank=True, default="")


class ErrorSerializer(serializers.Serializer[Any]):
    detail = serializers.CharField()
    field = serializers.CharField(required=False, allow_null=True)


# ------------------------------------------------------------------------ fast lists

# Fields whose representation of a column's value is the value itself.
_AS_IS = (
    serializers.CharField,
    serializers.IntegerField,
    serializers.BooleanField,
    serializers.ChoiceField,
    serializers.PrimaryKeyRelatedField,
)
FlatRow = Callable[[dict[str, Any]], dict[str, Any]]


def flat_shape(
    serializer_class: type[serializers.ModelSerializer[Any]],
) -> tuple[list[str], FlatRow] | None:
    """The columns to read with ``.values()`` and a function giving the serializer's output.

    A list page of model instances spends most of its time building the instances and walking
    the serializer's fields; a serializer whose fields are all the model's own columns gives the
    same representation from ``.values()`` rows. None when some field is not such a column
    (nested, many-to-many, a property): the list then goes through the serializer.
    """
    model = serializer_class.Meta.model
    columns: list[str] = []
    converters: list[tuple[str, str, Callable[[Any], Any] | None]] = []
    for name, field in serializer_class().fields.items():
        source = field.source
        if not source or "." in source or source == "*":
            return None
        try:
            model_field = model._meta.get_field(source)
        except FieldDoesNotExist:
            return None
        if not getattr(model_field, "concrete", False) or model_field.many_to_many:
            return None
        columns.append(source)
        converters.append(
            (name, source, None if isinstance(field, _AS_IS) else field.to_representation)
        )

    def row(values: dict[str, Any]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for name, source, convert in converters:
            value = values[source]
            out[name] = value if convert is None or value is None else convert(value)
        return out

    return columns, row
