"""Who may do what: the capability table, the services' own refusals, and 三员 kept apart.

The views refuse a role without the capability with a 404 (test_scope_matrix); the services
refuse the same actor with NotAllowed, so that a task, a command or a future API that forgets the
check in its view still writes nothing.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from django.contrib.auth.models import AnonymousUser
from django.db import IntegrityError, transaction
from django.test import Client
from django.urls import reverse

from bihuan.accounts import services as account_services
from bihuan.accounts.models import ADMIN_ROLES, Assignment, Role, User
from bihuan.accounts.policies import CAPABILITIES, Capability, can, capabilities_of
from bihuan.accounts.tests.test_scope_matrix import (
    NEW_PASSWORD,
    PERSONAS,
    RESPONSIBLES_EDITORS,
    SECURITY,
    SYSTEM,
    Targets,
    build_targets,
    city_for_module,
    db_state,
    regions_csv,
)
from bihuan.audit.models import Event
from bihuan.audit.selectors import events_visible_to
from bihuan.core.errors import NotAllowed, ServiceError
from bihuan.territory import imports
from bihuan.territory import services as territory_services
from bihuan.territory.models import Region

C = Capability
PLACE_READER = frozenset({C.TERRITORY_READ, C.REGISTRY_READ})
COORDINATOR = PLACE_READER | {
    C.USER_READ,
    C.INSTITUTION_CONTACT_READ,
    C.LEAD_REPORT,
    C.ROUND_MANAGE,
    C.INSPECT,
    C.FIGURES_READ,
}
EXPECTED_CAPABILITIES: dict[str, frozenset[Capability]] = {
    "admin_system": frozenset(
        {
            C.TERRITORY_MANAGE,
            C.DEPARTMENT_MANAGE,
            C.USER_MANAGE,
            C.TERRITORY_READ,
            C.USER_READ,
            C.REGISTRY_READ,
            C.CALENDAR_MANAGE,
            C.TAXONOMY_MANAGE,
            C.CHECKLIST_MANAGE,
        }
    ),
    "admin_security": frozenset(
        {C.ASSIGNMENT_MANAGE, C.ACCOUNT_UNLOCK, C.SESSION_MANAGE, C.TERRITORY_READ, C.USER_READ}
    ),
    "admin_audit": frozenset({C.AUDIT_READ}),
    "supervisor_city": PLACE_READER
    | {
        C.USER_READ,
        C.AREA_RESPONSIBLES_MANAGE,
        C.REGISTRY_MANAGE,
        C.INSTITUTION_CONTACT_READ,
        C.LEAD_REPORT,
        C.LEAD_TRIAGE,
        C.CASE_RECORD,
        C.ROUND_MANAGE,
        C.FIGURES_READ,
    },
    "supervisor_xiaonan": PLACE_READER
    | {
        C.USER_READ,
        C.AREA_RESPONSIBLES_MANAGE,
        C.REGISTRY_MANAGE,
        C.INSTITUTION_CONTACT_READ,
        C.LEAD_REPORT,
        C.LEAD_TRIAGE,
        C.CASE_RECORD,
        C.ROUND_MANAGE,
        C.FIGURES_READ,
    },
    "coordinator_wenchang": COORDINATOR,
    "coordinator_huaiyin": COORDINATOR,
    "inspector_wenchang": PLACE_READER | {C.INSPECT},
    "officer_market": PLACE_READER
    | {C.INSTITUTION_CONTACT_READ, C.ORDER_HANDLE, C.CASE_RECORD, C.FIGURES_READ},
    "school_tiyulu": PLACE_READER | {C.LEAD_REPORT},
    "area_guangchang": PLACE_READER | {C.FIGURES_READ},
}


pytestmark = pytest.mark.django_db


@pytest.fixture(scope="module", autouse=True)
def _city(django_db_setup: None, django_db_blocker: Any) -> Iterator[None]:
    with city_for_module(django_db_blocker):
        yield


@pytest.fixture
def demo_city(db: None) -> dict[str, int]:
    # Overrides conftest's for this module: the city is already there, the personas only look up.
    return {}


@pytest.fixture
def targets(admin_system: User) -> Targets:
    return build_targets(admin_system)


def _region(code: str) -> Region:
    return Region.objects.get(code=code)


# --- The capability table ---------------------------------------------------------------------


@pytest.mark.parametrize("persona", PERSONAS)
def test_persona_holds_exactly_its_capabilities(
    request: pytest.FixtureRequest, persona: str
) -> None:
    assert capabilities_of(request.getfixturevalue(persona)) == EXPECTED_CAPABILITIES[persona]


@pytest.mark.parametrize(
    ("capability", "sole_role"),
    [
        (C.AUDIT_READ, Role.AUDIT_ADMIN),
        (C.ASSIGNMENT_MANAGE, Role.SECURITY_ADMIN),
        (C.ACCOUNT_UNLOCK, Role.SECURITY_ADMIN),
        (C.USER_MANAGE, Role.SYSTEM_ADMIN),
        (C.TERRITORY_MANAGE, Role.SYSTEM_ADMIN),
        (C.DEPARTMENT_MANAGE, Role.SYSTEM_ADMIN),
    ],
)
def test_administrative_duty_belongs_to_one_role_only(
    capability: Capability, sole_role: Role
) -> None:
    holders = {role for role, capabilities in CAPABILITIES.items() if capability in capabilities}
    assert holders == {sole_role}


def test_anonymous_visitor_has_no_capability() -> None:
    assert capabilities_of(AnonymousUser()) == frozenset()


def test_disabled_account_loses_every_capability(admin_system: User) -> None:
    supervisor = User.objects.get(username="supervisor")
    account_services.user_set_active(actor=admin_system, user=supervisor, active=False)
    assert capabilities_of(User.objects.get(username="supervisor")) == frozenset()


def test_ended_role_takes_its_capabilities_away(admin_security: User) -> None:
    coordinator = User.objects.get(username="wenchang")
    for assignment in Assignment.objects.filter(user=coordinator, is_active=True):
        account_services.assignment_end(actor=admin_security, assignment=assignment)
    assert capabilities_of(User.objects.get(username="wenchang")) == frozenset()


# --- Every service refuses an actor without the capability ------------------------------------


@dataclass(frozen=True)
class ServiceCall:
    """One service, the personas whose roles allow it, and a call that would write."""

    function: Callable[..., Any]
    allowed: tuple[str, ...]
    kwargs: Callable[[Targets], dict[str, Any]]

    @property
    def name(self) -> str:
        return self.function.__name__

    def __call__(self, actor: User, targets: Targets) -> Any:
        return self.function(actor=actor, **self.kwargs(targets))


SERVICE_CALLS: list[ServiceCall] = [
    ServiceCall(
        account_services.user_create,
        SYSTEM,
        lambda t: {"username": "newcomer", "password": NEW_PASSWORD, "display_name": "新人"},
    ),
    ServiceCall(
        account_services.user_set_active, SYSTEM, lambda t: {"user": t.user, "active": False}
    ),
    ServiceCall(
        account_services.user_reset_password,
        SYSTEM,
        lambda t: {"user": t.user, "password": NEW_PASSWORD},
    ),
    ServiceCall(account_services.account_unlock, SECURITY, lambda t: {"user": t.user}),
    ServiceCall(
        account_services.assignment_grant,
        SECURITY,
        lambda t: {"user": t.user, "role": Role.INSPECTOR, "region": _region("420902003002")},
    ),
    ServiceCall(account_services.assignment_end, SECURITY, lambda t: {"assignment": t.assignment}),
    ServiceCall(
        account_services.department_upsert,
        SYSTEM,
        lambda t: {
            "kind": "culture_tourism",
            "name": "孝南区文化和旅游局",
            "short_name": "孝南区文旅局",
            "jurisdiction": _region("420902"),
        },
    ),
    ServiceCall(
        territory_services.region_upsert,
        SYSTEM,
        lambda t: {
            "code": "420902003004",
            "name": "矩阵社区",
            "level": "community",
            "parent_code": "420902003000",
        },
    ),
    ServiceCall(
        territory_services.region_set_active,
        SYSTEM,
        lambda t: {"region": _region("420902003003"), "active": False},
    ),
    ServiceCall(
        territory_services.area_create,
        SYSTEM,
        lambda t: {
            "name": "矩阵片区",
            "region": _region("420902003000"),
            "communities": [_region("420902003001")],
        },
    ),
    ServiceCall(
        territory_services.sentinel_create,
        SYSTEM,
        lambda t: {"kind": "school", "name": "矩阵小学", "region": _region("420902003001")},
    ),
    ServiceCall(
        territory_services.area_responsible_add,
        RESPONSIBLES_EDITORS,
        lambda t: {"area": t.party.area, "kind": t.party.kind, "name": "矩阵责任人"},
    ),
    ServiceCall(
        territory_services.area_responsible_end, RESPONSIBLES_EDITORS, lambda t: {"party": t.party}
    ),
    ServiceCall(
        territory_services.responsible_kind_create,
        SYSTEM,
        lambda t: {"code": "matrix", "name": "矩阵"},
    ),
    ServiceCall(
        territory_services.responsible_kind_set_active,
        SYSTEM,
        lambda t: {"kind": t.party.kind, "active": False},
    ),
    ServiceCall(imports.region_import_create, SYSTEM, lambda t: {"upload": regions_csv()}),
    ServiceCall(imports.region_import_queue, SYSTEM, lambda t: {"record": t.region_import}),
]


def test_table_names_every_service_that_takes_an_actor() -> None:
    # A new service with an actor must join SERVICE_CALLS to pass.
    found = {
        f"{module.__name__}.{name}"
        for module in (account_services, territory_services, imports)
        for name, function in inspect.getmembers(module, inspect.isfunction)
        if function.__module__ == module.__name__
        and not name.startswith("_")
        and "actor" in inspect.signature(function).parameters
    }
    assert found == {f"{c.function.__module__}.{c.name}" for c in SERVICE_CALLS}


def _refused_calls() -> list[Any]:
    return [
        pytest.param(call, persona, id=f"{call.name}-{persona}")
        for call in SERVICE_CALLS
        for persona in PERSONAS
        if persona not in call.allowed
    ]


def _allowed_calls() -> list[Any]:
    return [
        pytest.param(call, persona, id=f"{call.name}-{persona}")
        for call in SERVICE_CALLS
        for persona in call.allowed
    ]


@pytest.mark.parametrize(("call", "persona"), _refused_calls())
def test_service_refuses_an_actor_without_the_capability_and_writes_nothing(
    request: pytest.FixtureRequest, targets: Targets, call: ServiceCall, persona: str
) -> None:
    before = db_state()
    with pytest.raises(NotAllowed):
        call(request.getfixturevalue(persona), targets)
    assert db_state() == before


@pytest.mark.parametrize(("call", "persona"), _allowed_calls())
def test_service_writes_for_an_actor_with_the_capability(
    request: pytest.FixtureRequest, targets: Targets, call: ServiceCall, persona: str
) -> None:
    # The control of the test above: the same call from a role that may make it does write.
    before = db_state()
    call(request.getfixturevalue(persona), targets)
    assert db_state() != before


# --- 三员: system, security and audit administrators kept apart -------------------------------


def test_system_admin_cannot_grant_roles(
    client: Client, admin_system: User, supervisor_city: User
) -> None:
    client.force_login(admin_system)
    before = db_state()
    url = reverse("accounts:assignment_grant", args=[supervisor_city.pk])
    response = client.post(url, {"role": Role.AUDIT_ADMIN, "region_code": "420900"})
    with pytest.raises(NotAllowed):
        account_services.assignment_grant(
            actor=admin_system,
            user=supervisor_city,
            role=Role.AUDIT_ADMIN,
            region=_region("420900"),
        )
    assert response.status_code == 404
    assert db_state() == before


def test_system_admin_cannot_read_the_audit_log(client: Client, admin_system: User) -> None:
    client.force_login(admin_system)
    assert client.get(reverse("audit:events")).status_code == 404
    assert not events_visible_to(admin_system).exists()


def test_security_admin_cannot_create_users(client: Client, admin_security: User) -> None:
    client.force_login(admin_security)
    before = db_state()
    response = client.post(
        reverse("accounts:user_create"),
        {"username": "newcomer", "display_name": "新人", "password": NEW_PASSWORD},
    )
    with pytest.raises(NotAllowed):
        account_services.user_create(
            actor=admin_security, username="newcomer", password=NEW_PASSWORD
        )
    assert response.status_code == 404
    assert db_state() == before


def test_security_admin_cannot_read_the_audit_log(client: Client, admin_security: User) -> None:
    client.force_login(admin_security)
    assert client.get(reverse("audit:events")).status_code == 404
    assert not events_visible_to(admin_security).exists()


def test_auditor_cannot_change_anything(admin_audit: User, targets: Targets) -> None:
    before = db_state()
    refused = []
    for call in SERVICE_CALLS:
        try:
            call(admin_audit, targets)
        except NotAllowed:
            refused.append(call.name)
    assert refused == [call.name for call in SERVICE_CALLS]
    assert db_state() == before


def test_auditor_reads_the_whole_audit_log(admin_audit: User) -> None:
    assert events_visible_to(admin_audit).count() == Event.objects.count() > 0


def test_second_admin_role_is_refused_by_the_service(
    admin_security: User, admin_audit: User
) -> None:
    before = db_state()
    with pytest.raises(ServiceError) as refusal:
        account_services.assignment_grant(
            actor=admin_security,
            user=admin_audit,
            role=Role.SYSTEM_ADMIN,
            region=_region("420900"),
        )
    assert not isinstance(refusal.value, NotAllowed)
    assert refusal.value.field == "role"
    assert db_state() == before


@pytest.mark.parametrize("second_role", sorted(ADMIN_ROLES - {Role.AUDIT_ADMIN}))
def test_second_admin_role_is_refused_by_the_database(admin_audit: User, second_role: str) -> None:
    # Bypassing the service: the partial unique constraint still keeps 三员 apart.
    with pytest.raises(IntegrityError), transaction.atomic():
        Assignment.objects.create(user=admin_audit, role=second_role, region=_region("420000"))
    assert set(
        Assignment.objects.filter(user=admin_audit, is_active=True).values_list("role", flat=True)
    ) == {Role.AUDIT_ADMIN}


def test_ended_admin_role_frees_the_person_for_another(
    admin_security: User, admin_audit: User
) -> None:
    held = Assignment.objects.get(user=admin_audit, role=Role.AUDIT_ADMIN, is_active=True)
    account_services.assignment_end(actor=admin_security, assignment=held)
    account_services.assignment_grant(
        actor=admin_security, user=admin_audit, role=Role.SYSTEM_ADMIN, region=_region("420900")
    )
    assert (
        capabilities_of(User.objects.get(pk=admin_audit.pk))
        == EXPECTED_CAPABILITIES["admin_system"]
    )


def test_security_admin_cannot_grant_a_role_to_themselves(admin_security: User) -> None:
    before = db_state()
    with pytest.raises(ServiceError):
        account_services.assignment_grant(
            actor=admin_security,
            user=admin_security,
            role=Role.SUPERVISOR,
            region=_region("420900"),
        )
    assert not can(User.objects.get(pk=admin_security.pk), Capability.AREA_RESPONSIBLES_MANAGE)
    assert db_state() == before
