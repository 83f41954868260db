"""Every URL pattern × every persona × in scope / out of scope, requested and compared.

The patterns come from the URL configuration (``access_matrix.patterns()``), so a new endpoint
is in this matrix the moment it is routed: it fails ``test_every_pattern_has_a_rule`` until it
gets a rule, and then each of its cells is requested here. Refused requests (out of scope, or a
role without the capability) must answer 404 and change nothing: no table gains or loses a row,
no audit event is written, the target's row stays as it was.

The demo city is written once for the module (with records of every kind in and out of each
persona's places) and rolled back after it; every request runs in a savepoint rolled back after
it, so an allowed write never changes what the next persona sees.
"""

from __future__ import annotations

import datetime
import functools
import hashlib
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from django.apps import apps
from django.conf import settings
from django.core.files.base import ContentFile
from django.db import connection, transaction
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from bihuan.accounts import otp
from bihuan.accounts.models import User, UserSession
from bihuan.accounts.tests.test_scope_matrix import city_for_module, regions_csv
from bihuan.api.services import api_token_create
from bihuan.audit.models import Event
from bihuan.cases.models import Refund
from bihuan.cases.tests import factories as case_factories
from bihuan.core import access_matrix as matrix
from bihuan.core.access_matrix import NONE, NOT_FOUND, OK, Category, Pattern, Rule
from bihuan.demo import data
from bihuan.intake.models import PublicTip
from bihuan.leads.generator import generate_leads
from bihuan.leads.models import (
    Attachment,
    ExtensionRequest,
    JointOperation,
    RoutingRule,
    ViolationType,
)
from bihuan.leads.tests import factories as lead_factories
from bihuan.leads.workflow import LeadStatus
from bihuan.notifications.models import Notification
from bihuan.open311.services import api_client_create
from bihuan.registry import services as registry_services
from bihuan.registry.generator import RegistryParams, institutions_generate
from bihuan.registry.models import (
    BoundaryImport,
    Institution,
    InstitutionImport,
    MatchCandidate,
    Source,
)
from bihuan.screening.models import ChecklistVersion, InspectionPhoto
from bihuan.screening.tests import factories as screening_factories
from bihuan.territory import imports
from bihuan.territory import services as territory_services
from bihuan.territory.models import Area, Region, ResponsiblePartyKind
from bihuan.webhooks.models import Delivery, Subscription

JIANGAN = "420102001001"  # 江岸示范社区, 武汉市: outside every persona's places
XIAOCHANG = "420921100001"  # 孝昌示范社区: in 孝感市, outside 孝南区
DOC = Path(settings.BASE_DIR) / "docs" / "access-matrix.md"
TOKENS: dict[str, str] = {}

pytestmark = pytest.mark.django_db


def _region(code: str) -> Region:
    return Region.objects.get(code=code)


def _user(username: str) -> User:
    return User.objects.get(username=username)


def build_records() -> None:
    """Records of every kind a URL names, inside and outside the personas' places."""
    admin, supervisor = _user("admin"), _user("supervisor")
    inspector = _user("yangtiezhu")
    for code in (data.WENCHANG, data.HUAIYIN):
        institutions_generate(
            within=_region(code), params=RegistryParams(count=4, seed=len(code) + int(code[-1]))
        )
    far = lead_factories.institution_make("江岸示范培训中心", region_code=JIANGAN)
    lead_factories.institution_make("孝昌示范培训中心", region_code=XIAOCHANG)
    for name, code in (("文昌实地发现", data.WENCHANG), ("江岸实地发现", JIANGAN)):
        registry_services.institution_create(
            actor=None, name=name, region=_region(code), source=Source.FIELD
        )
    near = Institution.objects.filter(region__code=data.WENCHANG).order_by("pk")
    MatchCandidate.objects.create(institution=near[0], candidate=near[1], score=0.9)
    far_twin = lead_factories.institution_make("江岸示范培训中心二部", region_code=JIANGAN)
    MatchCandidate.objects.create(institution=far, candidate=far_twin, score=0.9)
    for code in (data.WENCHANG, JIANGAN):
        InstitutionImport.objects.create(
            uploaded_by=admin,
            original_name="institutions.xlsx",
            region=_region(code),
            file=ContentFile(b"x", name="institutions.xlsx"),
        )
    BoundaryImport.objects.create(
        uploaded_by=admin, original_name="b.geojson", file=ContentFile(b"{}", name="b.geojson")
    )

    # Leads: generated ones in the demo city, the B3 story in 文昌, one per city department, and
    # leads in 江岸 and 孝昌 that no one in 孝南区 may see.
    generate_leads(count=4, status=LeadStatus.DISPATCHED, seed=3)
    generate_leads(count=3, status=LeadStatus.NEW, seed=4, now=timezone.now() - HOUR)
    story = lead_factories.lead_dispatched(supervisor)
    market_lead = case_factories.dispatched_lead()
    case_factories.order_make(market_lead, short_name="市公安局", role="assist")
    far_lead = case_factories.dispatched_lead(region_code=JIANGAN)
    case_factories.dispatched_lead(region_code=XIAOCHANG)
    tip = lead_factories.lead_tip()
    far_tip = lead_factories.lead_tip(region=_region(JIANGAN))
    for number, lead in enumerate((tip, far_tip)):
        PublicTip.objects.create(lead=lead, tracking_code=f"MATRIX{number}")
    for lead in (story, far_lead):
        order = lead.work_orders.order_by("pk").first()
        assert order is not None
        Attachment.objects.create(
            lead=lead,
            file=ContentFile(lead_factories.PDF, name="evidence.pdf"),
            original_name="evidence.pdf",
            content_type="application/pdf",
            size=len(lead_factories.PDF),
            sha256="0" * 64,
            uploaded_by=admin,
        )
        ExtensionRequest.objects.create(
            work_order=order, days=3, reason="需要更多时间", requested_by=admin
        )
        case = case_factories.case_make(lead=lead)
        Refund.objects.create(case=case, amount_fen=10000, families=1, reported_by=admin)
        JointOperation.objects.create(title="联合行动", region=lead.region)

    # Screening: a round in 文昌 (the demo inspector's), one in 槐荫 and one in 江岸.
    for code, who in ((data.WENCHANG, inspector), (data.HUAIYIN, inspector)):
        screening_factories.issued_round(who, region=_region(code))
    screening_factories.issued_round(_user("jiangan"), institutions=[far], region=_region(JIANGAN))
    for round_code in (data.WENCHANG, JIANGAN):
        item = (
            screening_factories.TaskItem.objects.filter(round__region__code=round_code)
            .order_by("pk")
            .first()
        )
        assert item is not None
        inspection = screening_factories.submitted_inspection(item)
        InspectionPhoto.objects.create(
            inspection=inspection,
            client_id=uuid.uuid4(),
            file=ContentFile(lead_factories.JPEG, name="p.jpg"),
            content_type="image/jpeg",
            size=len(lead_factories.JPEG),
            width=1,
            height=1,
            sha256="0" * 64,
            uploaded_by=item.task.inspector,
        )

    # Field finds wait for review; imports of the registry are their uploader's.
    Institution.objects.filter(source=Source.FIELD).update(status="pending")
    for record, owner in zip(
        InstitutionImport.objects.order_by("pk"), ("supervisor", "xiaonan"), strict=True
    ):
        record.uploaded_by = _user(owner)
        record.save(update_fields=["uploaded_by"])
    imports.region_import_create(actor=admin, upload=regions_csv())
    territory_services.area_responsible_add(
        actor=None,
        area=Area.objects.get(name="江岸示范片区"),
        kind=ResponsiblePartyKind.objects.earliest("pk"),
        name="江岸责任人",
    )
    published = screening_factories.checklist()
    ChecklistVersion.objects.create(
        template=published.template,
        number=published.number + 1,
        status="draft",
        definition=published.definition,
    )

    # Configuration and per-user records.
    RoutingRule.objects.create(
        violation_type=ViolationType.objects.earliest("pk"),
        region=_region(data.WENCHANG),
        lead_kind="market",
    )
    api_client_create(actor=admin, name="矩阵客户端")
    subscription = Subscription.objects.create(
        url="https://hooks.invalid/matrix", kinds=["lead.created"], secret="s", created_by=admin
    )
    Delivery.objects.create(subscription=subscription, kind="lead.created", body="{}")
    for username in matrix.PERSONAS:
        user = _user(username)
        Notification.objects.create(user=user, kind="matrix", title="矩阵", key=f"m-{username}")
        UserSession.objects.create(
            user=user,
            key_hash=hashlib.sha256(username.encode()).hexdigest(),
            last_seen_at=timezone.now() + HOUR,
        )
        _token, TOKENS[username] = api_token_create(actor=user, name="matrix")


HOUR = datetime.timedelta(hours=1)


@pytest.fixture(scope="module", autouse=True)
def _city(django_db_setup: None, django_db_blocker: Any) -> Iterator[None]:
    with city_for_module(django_db_blocker):
        with django_db_blocker.unblock():
            build_records()
        yield


@pytest.fixture
def demo_city(db: None) -> dict[str, int]:
    # The module's city is already there; the conftest personas only look up.
    return {}


# --- Measuring --------------------------------------------------------------------------------


def snapshot(record: Any = None, *, tables: bool = True) -> tuple[Any, ...]:
    """Row counts of every table, the newest audit event and the target's row."""
    counts: tuple[int, ...] = ()
    if tables:
        with connection.cursor() as cursor:
            cursor.execute(_count_every_table_sql())
            counts = tuple(cursor.fetchone())
    row: Any = None
    if record is not None:
        values = type(record)._default_manager.filter(pk=record.pk).values_list()
        row = hashlib.sha256(repr(list(values)).encode()).hexdigest()
    return counts, Event.objects.order_by("-pk").values_list("pk", flat=True).first(), row


# Bookkeeping of signing in, not changes a request makes.
_BOOKS = {"sessions.Session", "accounts.UserSession"}


@functools.cache
def _count_every_table_sql() -> str:
    """One query counting the rows of every table (one COUNT each costs a query per table)."""
    quote = connection.ops.quote_name
    tables = sorted(
        {
            model._meta.db_table
            for model in apps.get_models()
            if model._meta.managed and not model._meta.proxy and model._meta.label not in _BOOKS
        }
    )
    # Table names come from the models, never from input.
    counts = ", ".join(f"(SELECT COUNT(*) FROM {quote(t)})" for t in tables)  # noqa: S608
    return "SELECT " + counts


@dataclass
class Answer:
    status: int
    changed: bool
    location: str = ""


def client_of(pattern: Pattern, username: str | None) -> tuple[Client, dict[str, str]]:
    """A client signed in as the persona (a token for the API), and the headers to send."""
    client = Client(raise_request_exception=False)
    if username is None:
        return client, {}
    if pattern.is_api:
        return client, {"Authorization": f"Token {TOKENS[username]}"}
    client.force_login(_user(username))
    # Past the second factor: the matrix is about what a fully signed-in persona may reach.
    session = client.session
    session[otp.CLEAR_KEY] = True
    session.save()
    return client, {}


def _ask(
    pattern: Pattern,
    rule: Rule,
    signed: tuple[Client, dict[str, str]],
    method: str,
    kwargs: dict[str, Any],
) -> Answer:
    client, headers = signed
    url = reverse(pattern.name, kwargs=kwargs)
    target = None
    if rule.target is not None and kwargs:
        target = matrix.makers()[rule.target].record(kwargs)
    with transaction.atomic():
        # Every table is counted around a POST; a GET must not write an event or the target.
        before = snapshot(target, tables=method != "GET")
        if method == "GET":
            response = client.get(url, headers=headers)
        elif pattern.is_api:
            response = client.post(url, {}, content_type="application/json", headers=headers)
        else:
            response = client.post(url, rule.body, headers=headers)
        changed = snapshot(target, tables=method != "GET") != before
        transaction.set_rollback(True)
    return Answer(response.status_code, changed, response.get("Location", ""))


def _kwargs_for(pattern: Pattern, rule: Rule, found: dict[str, Any]) -> dict[str, Any]:
    kwargs = {k: v for k, v in rule.fixed.items() if k in pattern.kwargs}
    if "format" in pattern.kwargs and "format" not in kwargs:
        kwargs["format"] = matrix.SUFFIX  # the converters add the dot
    return kwargs | found


def _methods(pattern: Pattern, rule: Rule) -> list[str]:
    methods = [m for m in ("GET", "POST") if m in pattern.methods]
    if rule.category is Category.PUBLIC:
        return methods[:1]
    return methods


def _judge(expected: str, answer: Answer) -> str | None:
    """Why the answer is wrong for the expected cell, or None."""
    if answer.status >= 500:
        return f"server error {answer.status}"
    if expected == OK and answer.status == 404:
        return "404 where the persona should reach the page"
    if expected == NOT_FOUND and answer.status != 404:
        return f"{answer.status} where a refused request must be 404"
    if answer.changed and expected != OK:
        return "a refused request changed the database"
    return None


def _as_missing(
    pattern: Pattern,
    rule: Rule,
    signed: tuple[Client, dict[str, str]],
    method: str,
    answer: Answer,
    found: dict[str, Any] | None,
) -> Answer:
    """An API action may check its body before the record (400, 428): refused is then the answer
    it gives for a record that does not exist, so it confirms nothing. Counted as a 404."""
    if not (pattern.is_api and method == "POST" and answer.status in (400, 428)) or not found:
        return answer
    missing = dict(found, pk=10**9)
    twin = _ask(pattern, rule, signed, method, _kwargs_for(pattern, rule, missing))
    if twin.status == answer.status:
        return Answer(404, answer.changed, answer.location)
    return answer


def measure(pattern: Pattern) -> list[str]:
    """Request every cell of one pattern; the list of wrong cells (empty when all is right).

    A persona allowed to use the page but holding no record of the kind in their scope has no
    in-scope cell to request; at least one allowed persona must have one. A format-suffix twin
    of an API route is requested for one persona, in and out of scope.
    """
    rule = matrix.rule_of(pattern)
    assert rule is not None, pattern.name
    maker = matrix.makers()[rule.target] if rule.target else None
    wrong: list[str] = []
    methods = _methods(pattern, rule)
    reached = False
    for username in matrix.PERSONAS:
        user = _user(username)
        inside, outside = matrix.expected(rule, username)
        found: dict[str, Any] | None = {}
        if maker is not None:
            found = maker.find(user, in_scope=True)
            if found is None and inside == NOT_FOUND:
                found = maker.find(None, in_scope=True)
        far = maker.find(user, in_scope=False) if maker and outside != NONE else None
        missing = maker is not None and outside != NONE and far is None
        if missing and not matrix.sees_everything(username):
            wrong.append(f"{username}: no {rule.target} out of scope to request")
        if found is None and far is None:
            continue
        signed = client_of(pattern, username)
        for method in methods if found is not None else ():
            reached = reached or inside == OK
            answer = _ask(pattern, rule, signed, method, _kwargs_for(pattern, rule, found or {}))
            if inside == NOT_FOUND:
                answer = _as_missing(pattern, rule, signed, method, answer, found)
            problem = _judge(inside, answer)
            if problem:
                wrong.append(f"{username} {method} in scope: {problem}")
        for method in methods if far is not None else ():
            answer = _ask(pattern, rule, signed, method, _kwargs_for(pattern, rule, far or {}))
            problem = _judge(NOT_FOUND, _as_missing(pattern, rule, signed, method, answer, far))
            if problem:
                wrong.append(f"{username} {method} out of scope: {problem}")
        if pattern.is_suffix_twin and reached:
            break
    if not reached and rule.category is not Category.PUBLIC:
        wrong.append(f"no persona allowed to use it holds a {rule.target} in scope")
    return wrong


def _anonymous_wrong(pattern: Pattern, rule: Rule) -> str | None:
    maker = matrix.makers()[rule.target] if rule.target else None
    found = maker.find(None, in_scope=True) if maker else {}
    if found is None:
        return f"no {rule.target} to request"
    method = _methods(pattern, rule)[0]
    answer = _ask(
        pattern, rule, client_of(pattern, None), method, _kwargs_for(pattern, rule, found)
    )
    if answer.status >= 500:
        return f"server error {answer.status}"
    if rule.category is Category.PUBLIC:
        return None
    if answer.changed:
        return "an anonymous request changed the database"
    if pattern.is_api:
        return None if answer.status in (401, 403) else f"{answer.status}, not 401/403"
    if answer.status == 302 and "/login/" in answer.location:
        return None
    return f"{answer.status}, not a redirect to the sign-in page"


# --- The tests --------------------------------------------------------------------------------


def test_every_pattern_has_a_rule_and_a_maker() -> None:
    problems = matrix.problems()
    assert not problems, "Endpoints outside the access matrix:\n" + "\n".join(problems)


def test_the_committed_document_is_current() -> None:
    assert DOC.exists() and DOC.read_text(encoding="utf-8") == matrix.markdown(), (
        "docs/access-matrix.md is stale: run `python manage.py access_matrix` and commit it."
    )


def test_an_unknown_pattern_is_named_as_a_problem(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delitem(matrix.RULES, "leads:detail")
    assert any(p.startswith("leads:detail (") for p in matrix.problems())


def test_a_pattern_whose_arguments_no_maker_fills_is_named(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(matrix.RULES, "leads:detail", matrix.gated(matrix.C.LEAD_TRIAGE))
    assert "leads:detail: no maker knows the arguments ['pk']" in matrix.problems()


def _pattern_params(*, public: bool = True) -> list[Any]:
    return [
        pytest.param(p, id=p.key)
        for p in matrix.patterns()
        if (rule := matrix.rule_of(p)) and (public or rule.category is not Category.PUBLIC)
    ]


@pytest.mark.parametrize("pattern", _pattern_params(public=False))
def test_pattern_answers_every_persona_as_declared(pattern: Pattern) -> None:
    wrong = measure(pattern)
    assert not wrong, f"{pattern.name} ({pattern.route}):\n" + "\n".join(wrong)


@pytest.mark.parametrize("pattern", _pattern_params())
def test_anonymous_visitor_is_sent_to_sign_in_or_refused(pattern: Pattern) -> None:
    rule = matrix.rule_of(pattern)
    assert rule is not None
    assert _anonymous_wrong(pattern, rule) is None, pattern.name
