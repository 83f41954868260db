"""Writes to accounts: users and the assignments that give them roles in places."""

from __future__ import annotations

import pytest
from django.utils.translation import gettext

from bihuan.accounts import services
from bihuan.accounts.models import Assignment, Department, Role, User
from bihuan.accounts.policies import Capability, can
from bihuan.audit.models import Event
from bihuan.core.errors import NotAllowed, ServiceError
from bihuan.demo.data import GUANGCHANG, HUAIYIN, WENCHANG, XIAOGAN, XIAONAN
from bihuan.territory.models import Area, Region, Sentinel

PASSWORD = "Initial#2026x"


def _region(code: str) -> Region:
    return Region.objects.get(code=code)


@pytest.fixture
def newcomer(admin_system: User) -> User:
    """An account with no role yet."""
    return services.user_create(
        actor=admin_system,
        username="newcomer",
        password=PASSWORD,
        display_name="新人",
        phone="13712345678",
    )


def _refused(**kwargs: object) -> ServiceError:
    """Grant, expecting a refusal that writes nothing."""
    assignments, events = Assignment.objects.count(), Event.objects.count()
    with pytest.raises(ServiceError) as caught:
        services.assignment_grant(**kwargs)  # type: ignore[arg-type]
    assert Assignment.objects.count() == assignments
    assert Event.objects.count() == events
    return caught.value


def test_user_create_writes_the_account_and_an_event(admin_system: User, newcomer: User) -> None:
    assert newcomer.must_change_password is True
    assert newcomer.check_password(PASSWORD)
    event = Event.objects.get(verb="user.created", object_id=str(newcomer.pk))
    assert event.actor == admin_system
    assert event.after == {
        "username": "newcomer",
        "display_name": "新人",
        "phone": "137****5678",  # encrypted in its table, so masked in the trail
        "is_active": True,
        "must_change_password": True,
    }


def _create_refusal(actor: User, username: str = "p", phone: str = "") -> ServiceError:
    with pytest.raises(ServiceError) as caught:
        services.user_create(actor=actor, username=username, password=PASSWORD, phone=phone)
    return caught.value


def test_user_create_refuses_a_taken_username_in_any_case(admin_system: User) -> None:
    users = User.objects.count()
    taken = gettext("That username is taken.")
    for username in ["Yangtiezhu", "YANGTIEZHU", " yangtiezhu "]:
        error = _create_refusal(admin_system, username=username)
        assert (error.field, error.message) == ("username", taken), username
    assert User.objects.count() == users


def test_user_create_refuses_a_malformed_phone(admin_system: User) -> None:
    for phone in ["138-1234-5678", "12345", "1380013800a", "1" * 21]:
        assert _create_refusal(admin_system, phone=phone).field == "phone", phone
    assert not User.objects.filter(username="p").exists()


def test_only_the_system_administrator_creates_accounts(admin_security: User) -> None:
    with pytest.raises(NotAllowed):
        services.user_create(actor=admin_security, username="newcomer", password=PASSWORD)
    assert not User.objects.filter(username="newcomer").exists()


def test_nobody_can_disable_their_own_account(admin_system: User) -> None:
    with pytest.raises(ServiceError):
        services.user_set_active(actor=admin_system, user=admin_system, active=False)
    admin_system.refresh_from_db()
    assert admin_system.is_active


def test_disabling_keeps_the_account_and_is_recorded(
    admin_system: User, inspector_wenchang: User
) -> None:
    services.user_set_active(actor=admin_system, user=inspector_wenchang, active=False)
    inspector_wenchang.refresh_from_db()
    assert inspector_wenchang.is_active is False
    event = Event.objects.get(verb="user.disabled")
    assert event.before is not None and event.after is not None
    assert (event.before["is_active"], event.after["is_active"]) == (True, False)


def test_setting_the_same_state_again_writes_nothing(
    admin_system: User, inspector_wenchang: User
) -> None:
    events = Event.objects.count()
    services.user_set_active(actor=admin_system, user=inspector_wenchang, active=True)
    assert Event.objects.count() == events


def test_grant_writes_the_assignment_and_an_event(admin_security: User, newcomer: User) -> None:
    assignment = services.assignment_grant(
        actor=admin_security, user=newcomer, role=Role.INSPECTOR, region=_region(WENCHANG)
    )
    assert assignment.is_active
    event = Event.objects.get(verb="assignment.granted", object_id=str(assignment.pk))
    assert event.actor == admin_security
    assert event.after is not None
    assert event.after["role"] == "inspector"
    assert event.after["region"] == _region(WENCHANG).pk


def test_grant_takes_effect_at_once_for_the_same_user_object(
    admin_security: User, newcomer: User
) -> None:
    assert not can(newcomer, Capability.TERRITORY_READ)
    services.assignment_grant(
        actor=admin_security, user=newcomer, role=Role.INSPECTOR, region=_region(WENCHANG)
    )
    assert can(newcomer, Capability.TERRITORY_READ)


@pytest.mark.parametrize(
    ("role", "code"),
    [
        (Role.COORDINATOR, XIAONAN),
        (Role.INSPECTOR, XIAOGAN),
        (Role.SUPERVISOR, WENCHANG),
        (Role.SCHOOL_SENTINEL, GUANGCHANG),
    ],
)
def test_grant_refuses_a_role_at_a_level_it_is_not_held(
    admin_security: User, newcomer: User, role: str, code: str
) -> None:
    error = _refused(actor=admin_security, user=newcomer, role=role, region=_region(code))
    assert error.field == "region"


def test_officer_needs_a_department(admin_security: User, newcomer: User) -> None:
    error = _refused(
        actor=admin_security, user=newcomer, role=Role.OFFICER, region=_region(XIAONAN)
    )
    assert error.field == "department"


def test_officer_place_must_lie_within_the_department_jurisdiction(
    admin_security: User, newcomer: User
) -> None:
    xiaonan_market = Department.objects.get(short_name="孝南区市场监管局")
    error = _refused(
        actor=admin_security,
        user=newcomer,
        role=Role.OFFICER,
        region=_region("420921"),
        department=xiaonan_market,
    )
    assert error.field == "region"


def test_officer_within_the_jurisdiction_is_granted(admin_security: User, newcomer: User) -> None:
    city_market = Department.objects.get(short_name="市市场监管局")
    assignment = services.assignment_grant(
        actor=admin_security,
        user=newcomer,
        role=Role.OFFICER,
        region=_region(XIAONAN),
        department=city_market,
    )
    assert assignment.department == city_market


def test_only_officers_belong_to_a_department(admin_security: User, newcomer: User) -> None:
    error = _refused(
        actor=admin_security,
        user=newcomer,
        role=Role.SUPERVISOR,
        region=_region(XIAONAN),
        department=Department.objects.get(short_name="孝南区教育局"),
    )
    assert error.field == "department"


def test_school_sentinel_needs_a_sentinel(admin_security: User, newcomer: User) -> None:
    error = _refused(
        actor=admin_security, user=newcomer, role=Role.SCHOOL_SENTINEL, region=_region(WENCHANG)
    )
    assert error.field == "sentinel"


def test_school_sentinel_needs_a_sentinel_of_that_community(
    admin_security: User, newcomer: User
) -> None:
    other_school = Sentinel.objects.get(name="广场示范小学")
    assert other_school.region.code == HUAIYIN
    error = _refused(
        actor=admin_security,
        user=newcomer,
        role=Role.SCHOOL_SENTINEL,
        region=_region(WENCHANG),
        sentinel=other_school,
    )
    assert error.field == "sentinel"


def test_area_responsible_needs_an_area(admin_security: User, newcomer: User) -> None:
    error = _refused(
        actor=admin_security, user=newcomer, role=Role.AREA_RESPONSIBLE, region=_region(GUANGCHANG)
    )
    assert error.field == "area"


def test_area_responsible_needs_an_area_of_that_region(
    admin_security: User, newcomer: User
) -> None:
    area = Area.objects.get(name="广场学区片区")
    error = _refused(
        actor=admin_security,
        user=newcomer,
        role=Role.AREA_RESPONSIBLE,
        region=_region(XIAONAN),
        area=area,
    )
    assert error.field == "area"


def test_nobody_grants_a_role_to_themselves(admin_security: User) -> None:
    error = _refused(
        actor=admin_security, user=admin_security, role=Role.SUPERVISOR, region=_region(XIAOGAN)
    )
    assert error.message == gettext("Nobody grants roles to themselves.")


def test_a_second_active_role_of_the_same_kind_in_the_same_place_is_refused(
    admin_security: User, coordinator_wenchang: User
) -> None:
    error = _refused(
        actor=admin_security,
        user=coordinator_wenchang,
        role=Role.COORDINATOR,
        region=_region(WENCHANG),
    )
    assert error.message == gettext("The user already holds this role here.")


def test_one_person_holds_at_most_one_administrator_role(
    admin_security: User, admin_system: User
) -> None:
    error = _refused(
        actor=admin_security, user=admin_system, role=Role.AUDIT_ADMIN, region=_region(XIAOGAN)
    )
    assert error.field == "role"


def test_only_the_security_administrator_grants_roles(admin_system: User, newcomer: User) -> None:
    with pytest.raises(NotAllowed):
        services.assignment_grant(
            actor=admin_system, user=newcomer, role=Role.INSPECTOR, region=_region(WENCHANG)
        )
    assert not Assignment.objects.filter(user=newcomer).exists()


def test_ending_a_role_keeps_the_row_and_is_recorded(
    admin_security: User, inspector_wenchang: User
) -> None:
    assignment = Assignment.objects.get(user=inspector_wenchang, role=Role.INSPECTOR)
    rows = Assignment.objects.count()
    services.assignment_end(actor=admin_security, assignment=assignment)
    assignment.refresh_from_db()
    assert assignment.is_active is False
    assert assignment.ended_at is not None
    assert Assignment.objects.count() == rows
    event = Event.objects.get(verb="assignment.ended")
    assert event.actor == admin_security
    assert event.before is not None and event.after is not None
    assert (event.before["is_active"], event.after["is_active"]) == (True, False)


def test_ending_an_ended_role_writes_nothing(
    admin_security: User, inspector_wenchang: User
) -> None:
    assignment = Assignment.objects.get(user=inspector_wenchang, role=Role.INSPECTOR)
    services.assignment_end(actor=admin_security, assignment=assignment)
    events = Event.objects.count()
    services.assignment_end(actor=admin_security, assignment=assignment)
    assert Event.objects.count() == events


def test_a_role_granted_again_after_it_ended_is_a_new_row(
    admin_security: User, inspector_wenchang: User
) -> None:
    old = Assignment.objects.get(user=inspector_wenchang, role=Role.INSPECTOR)
    services.assignment_end(actor=admin_security, assignment=old)
    new = services.assignment_grant(
        actor=admin_security,
        user=inspector_wenchang,
        role=Role.INSPECTOR,
        region=_region(WENCHANG),
    )
    assert new.pk != old.pk
    assert list(
        Assignment.objects.filter(user=inspector_wenchang, role=Role.INSPECTOR)
        .order_by("pk")
        .values_list("is_active", flat=True)
    ) == [False, True]


def test_ending_a_role_removes_what_it_allowed(
    admin_security: User, inspector_wenchang: User
) -> None:
    assignment = Assignment.objects.get(user=inspector_wenchang, role=Role.INSPECTOR)
    services.assignment_end(actor=admin_security, assignment=assignment)
    fresh = User.objects.get(pk=inspector_wenchang.pk)
    assert not can(fresh, Capability.TERRITORY_READ)
