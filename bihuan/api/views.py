"""The REST API: scoped reads through the pages' selectors, actions through the same services."""

from __future__ import annotations

import datetime
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
from bihuan.api.filters import filter_for
from bihuan.api.idempotency import idempotent
from bihuan.cases.selectors import cases_visible_to
from bihuan.core.errors import NotAllowed, ServiceError
from bihuan.leads import services
from bihuan.leads.forms_orders import return_candidates
from bihuan.leads.selectors import (
    joint_operations_visible_to,
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


class ScopedViewSet(viewsets.ReadOnlyModelViewSet[Any]):
    """List and detail of what the user's pages show them; anything else is 404."""

    selector: Callable[[Any], QuerySet[Any]]
    related: tuple[str, ...] = ()

    def get_queryset(self) -> QuerySet[Any]:
        rows = type(self).selector(self.request.user)
        if self.related:
            rows = rows.select_related(*self.related)
        return rows.order_by("pk")

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
JointOperationViewSet = _scoped(
    "JointOperationViewSet",
    s.JointOperationSerializer.Meta.model,
    s.JointOperationSerializer,
    joint_operations_visible_to,
    "Joint operations the user may see.",
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


class LeadViewSet(ScopedViewSet):
    """Leads the user may see; the bureau's dispatch and close as actions."""

    selector = staticmethod(leads_visible_to)
    serializer_class = s.LeadSerializer
    filterset_class = filter_for(s.LeadSerializer.Meta.model)
    queryset = s.LeadSerializer.Meta.model.objects.none()

    def _triaged(self, pk: str) -> Any:
        return get_object_or_404(leads_triaged_by(self.request.user), pk=pk)

    def _act(self, request: Request, pk: str, call: Callable[[Any, Any], Any]) -> Response:
        def run() -> Response:
            lead = self._triaged(pk)
            return _perform(
                request,
                lead,
                lambda: call(request.user, lead),
                lambda: self._triaged(pk),
                s.LeadSerializer,
            )

        return idempotent(request, run)

    @extend_schema(
        request=s.AcceptLeadSerializer,
        responses={200: s.LeadSerializer, **ACTION_RESPONSES},
        parameters=[IF_MATCH, IDEMPOTENCY_KEY],
    )
    @action(detail=True, methods=["post"])
    def accept(self, request: Request, pk: str) -> Response:
        """受理: classify the lead by violation type codes (and link a current institution)."""

        def run() -> Response:
            data = _input(request, s.AcceptLeadSerializer)
            lead = self._triaged(pk)
            types = list(violation_types_active().filter(code__in=data["violation_types"]))
            wanted = data.get("institution")
            institution = None
            if wanted:
                institution = institutions_current(request.user).filter(pk=wanted).first()
                if institution is None:
                    return _refused(_("Choose an institution from the search."), "institution")
            return _perform(
                request,
                lead,
                lambda: services.lead_accept(
                    actor=request.user, lead=lead, violation_types=types, institution=institution
                ),
                lambda: self._triaged(pk),
                s.LeadSerializer,
            )

        return idempotent(request, run)

    @extend_schema(
        request=s.EmptySerializer,
        responses={200: s.LeadSerializer, **ACTION_RESPONSES},
        parameters=[IF_MATCH, IDEMPOTENCY_KEY],
    )
    @action(detail=True, methods=["post"], url_path="dispatch")
    def dispatch_lead(self, request: Request, pk: str) -> Response:
        """派单: route an accepted lead to the departments."""
        return self._act(request, pk, lambda u, lead: services.lead_dispatch(actor=u, lead=lead))

    @extend_schema(
        request=s.CloseSerializer,
        responses={200: s.LeadSerializer, **ACTION_RESPONSES},
        parameters=[IF_MATCH, IDEMPOTENCY_KEY],
    )
    @action(detail=True, methods=["post"])
    def close(self, request: Request, pk: str) -> Response:
        """办结: close a lead whose work orders the bureau accepted."""

        def run() -> Response:
            data = _input(request, s.CloseSerializer)
            lead = self._triaged(pk)
            return _perform(
                request,
                lead,
                lambda: services.lead_close(
                    actor=request.user, lead=lead, reason=data["reason"], note=data["note"]
                ),
                lambda: self._triaged(pk),
                s.LeadSerializer,
            )

        return idempotent(request, run)


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
        def run() -> Response:
            data = _input(request, serializer) if serializer else {}
            order = find(pk)
            return _perform(
                request,
                order,
                lambda: call(request.user, order, data),
                lambda: find(pk),
                s.WorkOrderSerializer,
            )

        return idempotent(request, run)

    @extend_schema(
        request=s.EmptySerializer,
        responses={200: s.WorkOrderSerializer, **ACTION_RESPONSES},
        parameters=[IF_MATCH, IDEMPOTENCY_KEY],
    )
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

    @extend_schema(
        request=s.ReplySerializer,
        responses={200: s.WorkOrderSerializer, **ACTION_RESPONSES},
        parameters=[IF_MATCH, IDEMPOTENCY_KEY],
    )
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

    @extend_schema(
        request=s.ReturnSerializer,
        responses={200: s.WorkOrderSerializer, **ACTION_RESPONSES},
        parameters=[IF_MATCH, IDEMPOTENCY_KEY],
    )
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

    @extend_schema(
        request=s.ExtensionSerializer,
        responses={200: s.WorkOrderSerializer, **ACTION_RESPONSES},
        parameters=[IF_MATCH, IDEMPOTENCY_KEY],
    )
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

    @extend_schema(
        request=s.EmptySerializer,
        responses={200: s.WorkOrderSerializer, **ACTION_RESPONSES},
        parameters=[IF_MATCH, IDEMPOTENCY_KEY],
    )
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

    @extend_schema(
        request=s.NoteSerializer,
        responses={200: s.WorkOrderSerializer, **ACTION_RESPONSES},
        parameters=[IF_MATCH, IDEMPOTENCY_KEY],
    )
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
