"""Open311 GeoReport v2 endpoints (machine clients) and the API key page (system administrators).

Format by extension as the spec does (.json / .xml); both are rendered from one structure. One
jurisdiction: `jurisdiction_id` is accepted and ignored. Requests are created synchronously, so
every service is "realtime" and a token is the service_request_id itself (the tracking code).
media_url is never fetched (no requests to URLs a client chooses): it is kept as text in the
description. email, first_name, last_name, device_id and account_id are not stored.
"""

from __future__ import annotations

import datetime
import json
from decimal import Decimal, InvalidOperation
from typing import Any

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime
from django.utils.translation import gettext as _
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from bihuan.accounts.policies import can
from bihuan.core.errors import ServiceError
from bihuan.intake.categories import CATEGORIES, PublicCategory, category
from bihuan.open311 import services, xml
from bihuan.open311.selectors import api_client_for_key, api_clients_visible_to, public_requests

SPECIFICATION = "http://wiki.open311.org/GeoReport_v2"
CONTENT_TYPES = {
    "json": "application/json; charset=utf-8",
    "xml": "text/xml; charset=utf-8",
}
# The date our service list or definitions last changed (sortable, as discovery asks).
CHANGESET = "2026-11-27T00:00:00+08:00"
MAX_DESCRIPTION = 4000
MAX_RESULTS = 1000
MAX_SPAN = datetime.timedelta(days=90)


class Open311Error(Exception):
    """One error in the spec's format: HTTP status, body code and description."""

    def __init__(self, status: int, description: str) -> None:
        super().__init__(description)
        self.status = status
        self.description = description


def _respond(fmt: str, root: str, data: Any, status: int = 200) -> HttpResponse:
    body = xml.render(root, data) if fmt == "xml" else json.dumps(data, ensure_ascii=False).encode()
    return HttpResponse(body, status=status, content_type=CONTENT_TYPES[fmt])


def _error(fmt: str, error: Open311Error) -> HttpResponse:
    data = [{"code": error.status, "description": error.description}]
    return _respond(fmt, "errors", data, status=error.status)


def _format(fmt: str) -> str:
    if fmt not in CONTENT_TYPES:
        raise Http404
    return fmt


def _category(code: str) -> PublicCategory:
    try:
        return category(code)
    except KeyError:
        raise Open311Error(404, _("No service has code %(c)s.") % {"c": code}) from None


def _service(kind: PublicCategory) -> dict[str, Any]:
    return {
        "service_code": kind.code,
        "service_name": kind.name,
        "description": kind.description,
        "metadata": True,
        "type": "realtime",
        "keywords": ",".join([kind.name_zh, kind.name_en, *kind.violation_codes]),
        "group": _("Off-campus tutoring"),
    }


def _definition(kind: PublicCategory) -> dict[str, Any]:
    return {
        "service_code": kind.code,
        "attributes": [
            {
                "variable": True,
                "code": "place_name",
                "datatype": "string",
                "required": False,
                "datatype_description": _("The institution's name, as shown on its sign."),
                "order": 1,
                "description": _("Name of the institution"),
                "values": [],
            },
            {
                "variable": True,
                "code": "happened_on",
                "datatype": "datetime",
                "required": False,
                "datatype_description": _("A date, YYYY-MM-DD, not in the future."),
                "order": 2,
                "description": _("When it happened"),
                "values": [],
            },
        ],
    }


@require_GET
def discovery(request: HttpRequest, fmt: str) -> HttpResponse:
    """The discovery document: where the endpoint is and which formats it speaks."""
    fmt = _format(fmt)
    changeset = getattr(settings, "OPEN311_CHANGESET", CHANGESET)
    data = {
        "changeset": changeset,
        "contact": getattr(settings, "OPEN311_CONTACT", "") or _("The city's education bureau"),
        "key_service": getattr(settings, "OPEN311_KEY_SERVICE", "")
        or _("Ask the bureau's system administrator for an API key."),
        "endpoints": [
            {
                "specification": SPECIFICATION,
                "url": request.build_absolute_uri(reverse("open311:root")),
                "changeset": changeset,
                "type": getattr(settings, "OPEN311_ENDPOINT_TYPE", "production"),
                "formats": ["text/xml", "application/json"],
            }
        ],
    }
    return _respond(fmt, "discovery", data)


@require_GET
def service_list(request: HttpRequest, fmt: str) -> HttpResponse:
    """Every service: one per public tip category."""
    fmt = _format(fmt)
    return _respond(fmt, "services", [_service(kind) for kind in CATEGORIES])


@require_GET
def service_definition(request: HttpRequest, code: str, fmt: str) -> HttpResponse:
    """The extra attributes a request of this service may carry."""
    fmt = _format(fmt)
    try:
        kind = _category(code)
    except Open311Error as exc:
        return _error(fmt, exc)
    return _respond(fmt, "service_definition", _definition(kind))


def _decimal(value: str, name: str, limit: int) -> Decimal | None:
    if not value:
        return None
    try:
        number = Decimal(value)
    except InvalidOperation:
        raise Open311Error(400, _("%(f)s is not a number.") % {"f": name}) from None
    if not number.is_finite() or abs(number) > limit:
        raise Open311Error(400, _("%(f)s is out of range.") % {"f": name})
    return number.quantize(Decimal("0.000001"))


def _day(value: str) -> datetime.date | None:
    if not value:
        return None
    moment = parse_datetime(value)
    day = timezone.localtime(moment).date() if moment and moment.tzinfo else parse_date(value[:10])
    if day is None:
        raise Open311Error(400, _("attribute[happened_on] is not a date (YYYY-MM-DD)."))
    return day


def _create_fields(post: Any) -> dict[str, Any]:
    """The tip_create arguments of a POST, or Open311Error (400/404) naming what is wrong."""
    code = post.get("service_code", "").strip()
    if not code:
        raise Open311Error(400, _("service_code is required."))
    kind = _category(code)
    latitude = _decimal(post.get("lat", "").strip(), "lat", 90)
    longitude = _decimal(post.get("long", "").strip(), "long", 180)
    if (latitude is None) != (longitude is None):
        raise Open311Error(400, _("lat and long go together."))
    address = post.get("address_string", "").strip() or post.get("address_id", "").strip()
    if latitude is None and not address:
        raise Open311Error(400, _("A location is required: lat and long, or address_string."))
    if not address:
        # A lead needs a place in words; a pin alone is written down as its coordinates.
        address = f"{latitude}, {longitude}"
    description = post.get("description", "").strip()
    media_url = post.get("media_url", "").strip()
    if media_url:
        description = f"{description}\n\nmedia_url: {media_url}".strip()
    if len(description) > MAX_DESCRIPTION:
        raise Open311Error(400, _("description is longer than 4000 characters."))
    phone = post.get("phone", "").strip()
    return {
        "category": kind.code,
        "description": description,
        "place_name": post.get("attribute[place_name]", "").strip()[:200],
        "address": address[:300],
        "latitude": latitude,
        "longitude": longitude,
        "happened_on": _day(post.get("attribute[happened_on]", "").strip()),
        "phone": phone,
        "is_anonymous": not phone,
    }


def _create(request: HttpRequest, fmt: str) -> HttpResponse:
    # The spec sends api_key in the body; some clients (python-open311) put it in the query.
    client = api_client_for_key(request.POST.get("api_key") or request.GET.get("api_key", ""))
    if client is None:
        raise Open311Error(403, _("Invalid api_key received -- can't proceed with create_request."))
    fields = _create_fields(request.POST)
    if not services.api_client_spend(client):
        raise Open311Error(429, _("Too many requests with this api_key; try again later."))
    try:
        tip = services.request_create(client=client, **fields)
    except ServiceError as exc:
        raise Open311Error(400, exc.message) from None
    reply = {
        "service_request_id": tip.tracking_code,
        "service_notice": _(
            "The education bureau will look into it; follow it with this service_request_id."
        ),
        "account_id": None,
    }
    return _respond(fmt, "service_requests", [reply], status=201)


def _moment(value: str, name: str) -> datetime.datetime | None:
    if not value:
        return None
    moment = parse_datetime(value)
    if moment is None:
        raise Open311Error(400, _("%(f)s is not a W3C date and time.") % {"f": name})
    if moment.tzinfo is None:
        moment = timezone.make_aware(moment)
    return moment


def _search(request: HttpRequest) -> list[dict[str, Any]]:
    """The GET requests list: by ids (overriding all else), or the calling client's own requests."""
    query = request.GET
    ids = [i.strip() for i in query.get("service_request_id", "").split(",") if i.strip()]
    if ids:
        return public_requests(codes=ids[:MAX_RESULTS])
    client = api_client_for_key(query.get("api_key", ""))
    if client is None:
        # Tips are private to whoever holds their code: without ids or a key, nothing to list.
        return []
    end = _moment(query.get("end_date", ""), "end_date") or timezone.now()
    start = _moment(query.get("start_date", ""), "start_date") or end - MAX_SPAN
    if end < start or end - start > MAX_SPAN:
        raise Open311Error(400, _("start_date to end_date must span at most 90 days."))
    codes = [c.strip() for c in query.get("service_code", "").split(",") if c.strip()]
    for code in codes:
        _category(code)
    statuses = {s.strip() for s in query.get("status", "").split(",") if s.strip()}
    if statuses - {"open", "closed"}:
        raise Open311Error(400, _("status is open, closed or both."))
    return public_requests(
        client=client,
        start=start,
        end=end,
        service_codes=codes,
        statuses=statuses,
        limit=MAX_RESULTS,
    )


@csrf_exempt
@sensitive_post_parameters("phone", "api_key", "email")
@require_http_methods(["GET", "POST"])
def requests(request: HttpRequest, fmt: str) -> HttpResponse:
    """POST: create a request with an api_key. GET: find requests (public fields only)."""
    fmt = _format(fmt)
    try:
        if request.method == "POST":
            return _create(request, fmt)
        return _respond(fmt, "service_requests", _search(request))
    except Open311Error as exc:
        return _error(fmt, exc)


@require_GET
def request_detail(request: HttpRequest, code: str, fmt: str) -> HttpResponse:
    """One request by its service_request_id (the tip's tracking code)."""
    fmt = _format(fmt)
    found = public_requests(codes=[code])
    if not found:
        return _error(fmt, Open311Error(404, _("No request has this service_request_id.")))
    return _respond(fmt, "service_requests", found)


@require_GET
def token(request: HttpRequest, code: str, fmt: str) -> HttpResponse:
    """A token is the service_request_id itself: requests are created synchronously."""
    fmt = _format(fmt)
    found = public_requests(codes=[code])
    if not found:
        return _error(fmt, Open311Error(404, _("No request has this token.")))
    rows = [{"service_request_id": found[0]["service_request_id"], "token": code}]
    return _respond(fmt, "service_requests", rows)


def _require_manager(request: HttpRequest) -> None:
    # A page the user may not use at all does not exist for them.
    if not can(request.user, services.MANAGE):
        raise Http404


@login_required
def clients(request: HttpRequest) -> HttpResponse:
    """API keys for Open311 clients: list, create (key shown once), revoke."""
    _require_manager(request)
    # The key is in the session for exactly one page view after creation, then gone.
    new_key = request.session.pop("open311_new_key", None)
    return render(
        request,
        "open311/clients.html",
        {"clients": api_clients_visible_to(request.user), "new_key": new_key},
    )


@login_required
@require_POST
def client_create(request: HttpRequest) -> HttpResponse:
    """A system administrator creates a key for a named client."""
    _require_manager(request)
    try:
        client, key = services.api_client_create(
            actor=request.user, name=request.POST.get("name", "")
        )
    except ServiceError as exc:
        messages.error(request, exc.message)
        return redirect("open311:clients")
    request.session["open311_new_key"] = {"name": client.name, "key": key}
    messages.success(request, _("API key created. Copy it now: it will not be shown again."))
    return redirect("open311:clients")


@login_required
@require_POST
def client_revoke(request: HttpRequest, pk: int) -> HttpResponse:
    """A system administrator revokes a key for good."""
    _require_manager(request)
    client = get_object_or_404(api_clients_visible_to(request.user), pk=pk)
    try:
        services.api_client_revoke(actor=request.user, client=client)
    except ServiceError as exc:
        messages.error(request, exc.message)
        return redirect("open311:clients")
    messages.success(request, _("API key revoked."))
    return redirect("open311:clients")
