"""The REST API: scoped reads through the pages' selectors, actions through the same services."""

from __future__ import annotations

import datetime
import functools
from collections.abc import Callable
from typing import Any

from django.db.models import Model, QuerySet
from django.http import Http404
from django.shortcuts import get_object_or_404
from django.utils import timezone
from django.utils.translation import gettext as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import status, viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from bihuan.api import serializers as s
from bihuan.api.etag import etag_of, require_if_match
from bihuan.api.filters import ListFilterBackend, filter_for
from bihuan.api.idempotency import idempotent
from bihuan.cases.selectors import cases_visible_to
from bihuan.core.errors import NotAllowed, ServiceError
from bihuan.leads import services
from bihuan.leads.forms_orders import return_candidates
from bihuan.leads.models import ExtensionStatus
from bihuan.leads.selectors import (
    departments_covering,
    joint_decidable_by,
    joint_operations_visible_to,
    joint_team_candidates,
    lead_by_reference,
    leads_triaged_by,
    leads_visible_to,
    violation_types_active,
    work_orders_handled_by,
    work_orders_visible_to,
)
from bihuan.registry.selectors import institutions_current, institutions_visible_to
from bihuan.reports.figures import headline
from bihuan.reports.scope import parse_scope_key
from bihuan.screening.selectors import inspections_visible_to, rounds_visible_to, tasks_visible_to
from bihuan.territory.selectors import regions_visible_to

IF_MATCH = OpenApiParameter(
    "If-Match",
    OpenApiTypes.STR,
    OpenApiParameter.HEADER,
    required=True,
    description="The ETag of the record as last read.",
)
IDEMPOTENCY_KEY = OpenApiParameter(
    "Idempotency-Key",
    OpenApiTypes.STR,
    OpenApiParameter.HEADER,
    required=False,
    description="Retrying with the same key and body replays the first response (kept 24 h).",
)
ACTION_RESPONSES = {
    400: s.ErrorSerializer,
    404: s.ErrorSerializer,
    412: s.ErrorSerializer,
    422: s.ErrorSerializer,
    428: s.ErrorSerializer,
}


_flat_shape = functools.cache(s.flat_shape)


class ScopedViewSet(viewsets.ReadOnlyModelViewSet[Any]):
    """List and detail of what the user's pages show them; anything else is 404."""

    selector: Callable[[Any], QuerySet[Any]]
    filter_backends = [ListFilterBackend]
    related: tuple[str, ...] = ()
    prefetch: tuple[str, ...] = ()

    def get_queryset(self) -> QuerySet[Any]:
        rows = type(self).selector(self.request.user)
        if self.related:
            rows = rows.select_related(*self.related)
        if self.prefetch:
            rows = rows.prefetch_related(*self.prefetch)
        return rows.order_by("pk")

    def list(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        """A page of the scoped rows; plain shapes are read with ``.values()`` (same output)."""
        shape = _flat_shape(self.get_serializer_class())
        if shape is None:
            return super().list(request, *args, **kwargs)
        columns, row = shape
        rows = self.filter_queryset(self.get_queryset()).values(*columns)
        page = self.paginate_queryset(rows)
        return self.get_paginated_response([row(values) for values in page or []])

    def retrieve(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        obj = self.get_object()
        response = Response(self.get_serializer(obj).data)
        response["ETag"] = etag_of(obj)
        return response


def _scoped(
    name: str,
    model: type[Model],
    serializer: type[Any],
    selector: Callable[[Any], QuerySet[Any]],
    doc: str,
) -> type[ScopedViewSet]:
    """One read-only endpoint over a page selector."""
    return type(
        name,
        (ScopedViewSet,),
        {
            "__doc__": doc,
            "selector": staticmethod(selector),
            "serializer_class": serializer,
            "filterset_class": filter_for(model),
            "queryset": model._default_manager.none(),  # for the schema only
        },
    )


RegionViewSet = _scoped(
    "RegionViewSet",
    s.RegionSerializer.Meta.model,
    s.RegionSerializer,
    regions_visible_to,
    "Regions of the territory tree the user may see.",
)
InstitutionViewSet = _scoped(
    "InstitutionViewSet",
    s.InstitutionSerializer.Meta.model,
    s.InstitutionSerializer,
    institutions_visible_to,
    "Institutions in the user's places.",
)
RoundViewSet = _scoped(
    "RoundViewSet",
    s.RoundSerializer.Meta.model,
    s.RoundSerializer,
    rounds_visible_to,
    "Screening rounds the user may see.",
)
TaskViewSet = _scoped(
    "TaskViewSet",
    s.TaskSerializer.Meta.model,
    s.TaskSerializer,
    tasks_visible_to,
    "Screening tasks the user may see.",
)
InspectionViewSet = _scoped(
    "InspectionViewSet",
    s.InspectionSerializer.Meta.model,
    s.InspectionSerializer,
    inspections_visible_to,
    "Inspections the user may see.",
)
CaseViewSet = _scoped(
    "CaseViewSet",
    s.CaseSerializer.Meta.model,
    s.CaseSerializer,
    cases_visible_to,
    "Cases the user may see.",
)


def _perform(
    request: Request,
    obj: Model,
    call: Callable[[], Any],
    fresh: Callable[[], Model],
    serializer: type[Any],
) -> Response:
    """If-Match, then one service call; its refusal becomes 400 (or 404 as the pages answer)."""
    require_if_match(request, obj)
    try:
        call()
    except NotAllowed:
        raise Http404 from None
    except ServiceError as exc:
        return _refused(exc.message, exc.field)
    done = fresh()
    response = Response(serializer(done).data)
    response["ETag"] = etag_of(done)
    return response


def _refused(message: str, field: str | None) -> Response:
    return Response({"detail": message, "field": field}, status=status.HTTP_400_BAD_REQUEST)


def _input(request: Request, serializer: type[Any]) -> dict[str, Any]:
    data = serializer(data=request.data)
    data.is_valid(raise_exception=True)
    return dict(data.validated_data)


def _action_schema(request: type[Any], response: type[Any]) -> Callable[[Any], Any]:
    """The OpenAPI description every action shares: If-Match, Idempotency-Key, the errors."""
    return extend_schema(
        request=request,
        responses={200: response, **ACTION_RESPONSES},
        parameters=[IF_MATCH, IDEMPOTENCY_KEY],
    )


def _act_on(
    request: Request,
    find: Callable[[], Any],
    serializer: type[Any] | None,
    call: Callable[[Any, Any, dict[str, Any]], Any],
    shape: type[Any],
) -> Response:
    """Validate the body, find the record (404 outside scope), check If-Match, call the service.

    Idempotent on Idempotency-Key; ``call(user, record, data)`` may raise ServiceError for input
    that only the record can judge (a department that does not cover its place, …).
    """

    def run() -> Response:
        data = _input(request, serializer) if serializer else {}
        record = find()
        return _perform(request, record, lambda: call(request.user, record, data), find, shape)

    return idempotent(request, run)


def _types(codes: list[str]) -> list[Any]:
    types = list(violation_types_active().filter(code__in=codes))
    unknown = sorted(set(codes) - {t.code for t in types})
    if unknown:
        raise ServiceError(
            _("Unknown violation type codes: %(codes)s.") % {"codes": ", ".join(unknown)},
            field="violation_types",
        )
    return types


def _institution(user: Any, pk: int | None) -> Any:
    if not pk:
        return None
    institution = institutions_current(user).filter(pk=pk).first()
    if institution is None:
        raise ServiceError(_("Choose an institution from the search."), field="institution")
    return institution


class LeadViewSet(ScopedViewSet):
    """Leads the user may see; the bureau's triage moves as actions."""

    selector = staticmethod(leads_visible_to)
    serializer_class = s.LeadSerializer
    filterset_class = filter_for(s.LeadSerializer.Meta.model)
    queryset = s.LeadSerializer.Meta.model.objects.none()

    def _act(
        self,
        request: Request,
        pk: str,
        serializer: type[Any] | None,
        call: Callable[[Any, Any, dict[str, Any]], Any],
    ) -> Response:
        def triaged() -> Any:
            return get_object_or_404(leads_triaged_by(request.user), pk=pk)

        return _act_on(request, triaged, serializer, call, s.LeadSerializer)

    @_action_schema(s.AcceptLeadSerializer, s.LeadSerializer)
    @action(detail=True, methods=["post"])
    def accept(self, request: Request, pk: str) -> Response:
        """受理: classify the lead by violation type codes (and link a current institution)."""
        return self._act(
            request,
            pk,
            s.AcceptLeadSerializer,
            lambda u, lead, d: services.lead_accept(
                actor=u,
                lead=lead,
                violation_types=_types(d["violation_types"]),
                institution=_institution(u, d.get("institution")),
            ),
        )

    @_action_schema(s.TypesSerializer, s.LeadSerializer)
    @action(detail=True, methods=["post"])
    def classify(self, request: Request, pk: str) -> Response:
        """改类: change the violation types of a lead not yet dispatched."""
        return self._act(
            request,
            pk,
            s.TypesSerializer,
            lambda u, lead, d: services.lead_classify(
                actor=u, lead=lead, violation_types=_types(d["violation_types"])
            ),
        )

    @_action_schema(s.LinkSerializer, s.LeadSerializer)
    @action(detail=True, methods=["post"])
    def link(self, request: Request, pk: str) -> Response:
        """关联机构: tie the lead to the registry record of its place."""
        return self._act(
            request,
            pk,
            s.LinkSerializer,
            lambda u, lead, d: services.lead_link_institution(
                actor=u, lead=lead, institution=_institution(u, d["institution"])
            ),
        )

    @_action_schema(s.MergeSerializer, s.LeadSerializer)
    @action(detail=True, methods=["post"])
    def merge(self, request: Request, pk: str) -> Response:
        """并单: merge this duplicate into the lead with the given reference."""

        def call(u: Any, lead: Any, d: dict[str, Any]) -> Any:
            into = lead_by_reference(u, d["reference"])
            if into is None:
                raise ServiceError(
                    _("No lead you can see has the reference %(r)s.") % {"r": d["reference"]},
                    field="reference",
                )
            return services.lead_merge(actor=u, lead=lead, into=into)

        return self._act(request, pk, s.MergeSerializer, call)

    @_action_schema(s.ReasonSerializer, s.LeadSerializer)
    @action(detail=True, methods=["post"])
    def dismiss(self, request: Request, pk: str) -> Response:
        """不予受理: dismiss a lead that is not a matter for supervision, saying why."""
        return self._act(
            request,
            pk,
            s.ReasonSerializer,
            lambda u, lead, d: services.lead_dismiss(actor=u, lead=lead, reason=d["reason"]),
        )

    @_action_schema(s.EmptySerializer, s.LeadSerializer)
    @action(detail=True, methods=["post"], url_path="dispatch")
    def dispatch_lead(self, request: Request, pk: str) -> Response:
        """派单: route an accepted lead to the departments."""
        return self._act(
            request, pk, None, lambda u, lead, d: services.lead_dispatch(actor=u, lead=lead)
        )

    @_action_schema(s.CloseSerializer, s.LeadSerializer)
    @action(detail=True, methods=["post"])
    def close(self, request: Request, pk: str) -> Response:
        """办结: close a lead whose work orders the bureau accepted."""
        return self._act(
            request,
            pk,
            s.CloseSerializer,
            lambda u, lead, d: services.lead_close(
                actor=u, lead=lead, reason=d["reason"], note=d["note"]
            ),
        )

    @_action_schema(s.ReasonSerializer, s.LeadSerializer)
    @action(detail=True, methods=["post"])
    def reopen(self, request: Request, pk: str) -> Response:
        """重新打开: reopen a closed or dismissed lead, saying why."""
        return self._act(
            request,
            pk,
            s.ReasonSerializer,
            lambda u, lead, d: services.lead_reopen(actor=u, lead=lead, reason=d["reason"]),
        )


class WorkOrderViewSet(ScopedViewSet):
    """Work orders the user may see; the department's and the bureau's moves as actions."""

    selector = staticmethod(work_orders_visible_to)
    serializer_class = s.WorkOrderSerializer
    filterset_class = filter_for(s.WorkOrderSerializer.Meta.model)
    queryset = s.WorkOrderSerializer.Meta.model.objects.none()
    related = ("lead",)

    def _handled(self, pk: str) -> Any:
        return get_object_or_404(
            work_orders_handled_by(self.request.user).select_related("lead"), pk=pk
        )

    def _bureau(self, pk: str) -> Any:
        order = get_object_or_404(work_orders_visible_to(self.request.user), pk=pk)
        # The bureau acts on orders of leads it triages, as the lead page does.
        get_object_or_404(leads_triaged_by(self.request.user), pk=order.lead_id)
        return order

    def _act(
        self,
        request: Request,
        find: Callable[[str], Any],
        pk: str,
        serializer: type[Any] | None,
        call: Callable[[Any, Any, dict[str, Any]], Any],
    ) -> Response:
        return _act_on(request, lambda: find(pk), serializer, call, s.WorkOrderSerializer)

    @_action_schema(s.EmptySerializer, s.WorkOrderSerializer)
    @action(detail=True, methods=["post"])
    def sign(self, request: Request, pk: str) -> Response:
        """签收: the department takes the order."""
        return self._act(
            request,
            self._handled,
            pk,
            None,
            lambda u, o, d: services.work_order_sign(actor=u, order=o),
        )

    @_action_schema(s.ReplySerializer, s.WorkOrderSerializer)
    @action(detail=True, methods=["post"])
    def reply(self, request: Request, pk: str) -> Response:
        """反馈: the department reports what it did (evidence files go through the page)."""
        return self._act(
            request,
            self._handled,
            pk,
            s.ReplySerializer,
            lambda u, o, d: services.work_order_reply(actor=u, order=o, reply=d["reply"]),
        )

    @_action_schema(s.ReturnSerializer, s.WorkOrderSerializer)
    @action(detail=True, methods=["post"], url_path="return")
    def return_order(self, request: Request, pk: str) -> Response:
        """退单: the order is not this department's business; name the one that is."""

        def call(u: Any, o: Any, d: dict[str, Any]) -> Any:
            wanted = d.get("proposed_department")
            department = return_candidates(o).filter(pk=wanted).first() if wanted else None
            if wanted and department is None:
                raise ServiceError(
                    _("Name a department that covers this place."), field="proposed_department"
                )
            return services.work_order_return(
                actor=u, order=o, proposed_department=department, reason=d["reason"]
            )

        return self._act(request, self._handled, pk, s.ReturnSerializer, call)

    @_action_schema(s.ExtensionSerializer, s.WorkOrderSerializer)
    @action(detail=True, methods=["post"])
    def extension(self, request: Request, pk: str) -> Response:
        """延期: ask for more working days to reply."""
        return self._act(
            request,
            self._handled,
            pk,
            s.ExtensionSerializer,
            lambda u, o, d: services.extension_request(
                actor=u, order=o, days=d["days"], reason=d["reason"]
            ),
        )

    @_action_schema(s.EmptySerializer, s.WorkOrderSerializer)
    @action(detail=True, methods=["post"])
    def accept(self, request: Request, pk: str) -> Response:
        """核查通过: the bureau accepts the department's reply."""
        return self._act(
            request,
            self._bureau,
            pk,
            None,
            lambda u, o, d: services.work_order_accept(actor=u, order=o),
        )

    @_action_schema(s.NoteSerializer, s.WorkOrderSerializer)
    @action(detail=True, methods=["post"])
    def urge(self, request: Request, pk: str) -> Response:
        """催办: remind the department of an open order."""
        return self._act(
            request,
            self._bureau,
            pk,
            s.NoteSerializer,
            lambda u, o, d: services.work_order_urge(actor=u, order=o, note=d["note"]),
        )

    @_action_schema(s.ReasonSerializer, s.WorkOrderSerializer)
    @action(detail=True, methods=["post"])
    def redo(self, request: Request, pk: str) -> Response:
        """重办: send the department's reply back; it must act again within a new deadline."""
        return self._act(
            request,
            self._bureau,
            pk,
            s.ReasonSerializer,
            lambda u, o, d: services.work_order_redo(actor=u, order=o, reason=d["reason"]),
        )

    @_action_schema(s.RequiredNoteSerializer, s.WorkOrderSerializer)
    @action(detail=True, methods=["post"])
    def supervise(self, request: Request, pk: str) -> Response:
        """督办: put the order under supervision; the area's responsible parties are told."""
        return self._act(
            request,
            self._bureau,
            pk,
            s.RequiredNoteSerializer,
            lambda u, o, d: services.work_order_supervise(actor=u, order=o, note=d["note"]),
        )

    @_action_schema(s.ReassignSerializer, s.WorkOrderSerializer)
    @action(detail=True, methods=["post"])
    def reassign(self, request: Request, pk: str) -> Response:
        """改派: move a returned or unsigned order to another department covering the place."""

        def call(u: Any, o: Any, d: dict[str, Any]) -> Any:
            department = departments_covering(o.lead.region).filter(pk=d["department"]).first()
            if department is None:
                raise ServiceError(
                    _("Name a department that covers this place."), field="department"
                )
            return services.work_order_reassign(
                actor=u, order=o, department=department, note=d["note"]
            )

        return self._act(request, self._bureau, pk, s.ReassignSerializer, call)

    @_action_schema(s.RequiredNoteSerializer, s.WorkOrderSerializer)
    @action(detail=True, methods=["post"], url_path="refuse-return")
    def refuse_return(self, request: Request, pk: str) -> Response:
        """审定退单: refuse a return; the order goes back to the department as it was."""
        return self._act(
            request,
            self._bureau,
            pk,
            s.RequiredNoteSerializer,
            lambda u, o, d: services.work_order_refuse_return(actor=u, order=o, note=d["note"]),
        )

    @_action_schema(s.ExtensionDecisionSerializer, s.WorkOrderSerializer)
    @action(detail=True, methods=["post"], url_path="extension-decision")
    def extension_decision(self, request: Request, pk: str) -> Response:
        """延期审批: approve (the reply deadline moves) or refuse the order's pending request."""

        def call(u: Any, o: Any, d: dict[str, Any]) -> Any:
            pending = o.extensions.filter(status=ExtensionStatus.PENDING).first()
            if pending is None:
                raise ServiceError(_("This order has no pending extension request."))
            return services.extension_decide(
                actor=u, request=pending, approve=d["approve"], note=d["note"]
            )

        return self._act(request, self._bureau, pk, s.ExtensionDecisionSerializer, call)


class JointOperationViewSet(ScopedViewSet):
    """Joint operations the user may see; the bureau of the place confirms, declines, records."""

    selector = staticmethod(joint_operations_visible_to)
    serializer_class = s.JointOperationSerializer
    filterset_class = filter_for(s.JointOperationSerializer.Meta.model)
    queryset = s.JointOperationSerializer.Meta.model.objects.none()
    prefetch = ("departments", "participants")

    def _act(
        self,
        request: Request,
        pk: str,
        serializer: type[Any],
        call: Callable[[Any, Any, dict[str, Any]], Any],
    ) -> Response:
        def decidable() -> Any:
            operation = get_object_or_404(
                joint_operations_visible_to(request.user).select_related("region"), pk=pk
            )
            if not joint_decidable_by(request.user, operation):
                raise Http404
            return operation

        return _act_on(request, decidable, serializer, call, s.JointOperationSerializer)

    @_action_schema(s.JointConfirmSerializer, s.JointOperationSerializer)
    @action(detail=True, methods=["post"])
    def confirm(self, request: Request, pk: str) -> Response:
        """确认联合执法: date, departments and team of a proposed joint operation."""

        def call(u: Any, op: Any, d: dict[str, Any]) -> Any:
            covering = departments_covering(op.region)
            departments = _members(covering, d["departments"], "departments")
            team = _members(joint_team_candidates(op), d["team"], "team")
            return services.joint_confirm(
                actor=u,
                operation=op,
                planned_for=d["planned_for"],
                departments=departments,
                team=team,
                named=_people(covering, d["named"], "named"),
            )

        return self._act(request, pk, s.JointConfirmSerializer, call)

    @_action_schema(s.ReasonSerializer, s.JointOperationSerializer)
    @action(detail=True, methods=["post"])
    def decline(self, request: Request, pk: str) -> Response:
        """不开展: decline a proposed joint operation, saying why."""
        return self._act(
            request,
            pk,
            s.ReasonSerializer,
            lambda u, op, d: services.joint_decline(actor=u, operation=op, reason=d["reason"]),
        )

    @_action_schema(s.JointRecordSerializer, s.JointOperationSerializer)
    @action(detail=True, methods=["post"])
    def record(self, request: Request, pk: str) -> Response:
        """登记结果: what a confirmed operation did and who really took part."""

        def call(u: Any, op: Any, d: dict[str, Any]) -> Any:
            covering = departments_covering(op.region)
            return services.joint_record(
                actor=u,
                operation=op,
                outcome=d["outcome"],
                absent=_members(op.participants.all(), d["absent"], "absent"),
                extra=_people(covering, d["extra"], "extra"),
            )

        return self._act(request, pk, s.JointRecordSerializer, call)


def _members(rows: QuerySet[Any], ids: list[int], field: str) -> list[Any]:
    """The rows with these ids, refusing any id that is not among them."""
    wanted = set(ids)
    found = list(rows.filter(pk__in=wanted))
    missing = sorted(wanted - {row.pk for row in found})
    if missing:
        raise ServiceError(
            _("Not a choice here: %(ids)s.") % {"ids": ", ".join(map(str, missing))}, field=field
        )
    return found


def _people(
    covering: QuerySet[Any], people: list[dict[str, Any]], field: str
) -> list[tuple[str, Any]]:
    """(name, department) pairs; a department must cover the place."""
    named = [p["department"] for p in people if p.get("department")]
    departments = {d.pk: d for d in _members(covering, named, field)}
    return [(p["name"].strip(), departments.get(p.get("department") or 0)) for p in people]


class FiguresView(APIView):
    """The five headline figures of one slice over an inclusive period of days."""

    @extend_schema(parameters=[s.FiguresQuerySerializer], responses={200: s.FiguresSerializer})
    def get(self, request: Request) -> Response:
        query = s.FiguresQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        today = timezone.localdate()
        start = query.validated_data.get("start") or datetime.date(today.year, 1, 1)
        end = query.validated_data.get("end") or today
        scope = parse_scope_key(request.user, query.validated_data.get("scope"))
        figures = headline(scope, start, end)
        return Response(
            s.FiguresSerializer(
                {
                    "scope": scope.key,
                    "label": scope.label,
                    "start": start,
                    "end": end,
                    "person_times": figures.person_times,
                    "institutions": figures.institutions,
                    "visits": figures.visits,
                    "leads": figures.leads,
                    "disguised_cases": figures.disguised_cases,
                    "refunds_fen": figures.refunds_fen,
                }
            ).data
        )
