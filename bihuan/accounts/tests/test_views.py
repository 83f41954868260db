"""Pages of accounts: each persona's home, and the administrators' pages on accounts and roles."""

from __future__ import annotations

import datetime

import pytest
from django.test import Client
from django.utils import timezone
from django.utils.translation import gettext

from bihuan.accounts import services
from bihuan.accounts.models import Assignment, Role, User
from bihuan.audit.models import Event

INSPECTORS = "Inspectors of your community"
LOCKED = "Locked accounts"
WITHOUT_ROLE = "Accounts without any role"
FAILED_LOGINS = "Failed logins in the last 24 hours"
NOT_SENTINELS = "Communities that are not yet sentinels"
YOUR_PLACE = "Your place"


def _home(client: Client, user: User) -> str:
    client.force_login(user)
    response = client.get("/")
    assert response.status_code == 200
    return response.content.decode()


def test_home_is_in_chinese_by_default(client: Client, inspector_wenchang: User) -> None:
    content = _home(client, inspector_wenchang)
    assert '<html lang="zh-hans">' in content
    assert "欢迎" in content


def test_coordinator_home_lists_the_inspectors_of_the_community(
    client: Client, coordinator_wenchang: User
) -> None:
    content = _home(client, coordinator_wenchang)
    assert gettext(INSPECTORS) in content
    assert "杨铁柱" in content
    assert "钱红" in content
    assert "何芳" not in content  # the school sentinel is no inspector


def test_coordinator_home_drops_an_inspector_whose_role_ended(
    client: Client, coordinator_wenchang: User, admin_security: User
) -> None:
    ended = Assignment.objects.get(user__username="inspector2", role=Role.INSPECTOR)
    services.assignment_end(actor=admin_security, assignment=ended)
    content = _home(client, coordinator_wenchang)
    assert "杨铁柱" in content
    assert "钱红" not in content


def test_supervisor_home_lists_communities_that_are_not_sentinels(
    client: Client, supervisor_city: User
) -> None:
    content = _home(client, supervisor_city)
    assert gettext(NOT_SENTINELS) in content
    assert "书院示范社区" in content
    assert "420902001001" in content
    assert "420902003001" not in content  # 文昌社区 is a sentinel
    assert gettext(INSPECTORS) not in content


def test_inspector_home_shows_the_inspector_place_and_area(
    client: Client, inspector_wenchang: User
) -> None:
    content = _home(client, inspector_wenchang)
    assert gettext(YOUR_PLACE) in content
    assert "文昌社区" in content
    assert "420902003001" in content
    assert "广场学区片区" in content
    assert gettext(LOCKED) not in content


def test_officer_home_shows_the_department(client: Client, officer_market: User) -> None:
    content = _home(client, officer_market)
    assert "孝感市市场监督管理局" in content
    assert "420900" in content


def test_school_sentinel_home_shows_the_school(client: Client, school_tiyulu: User) -> None:
    content = _home(client, school_tiyulu)
    assert "体育路学校" in content
    assert "420902003001" in content


def test_security_admin_home_lists_locked_accounts(
    client: Client, admin_security: User, inspector_wenchang: User
) -> None:
    assert "杨铁柱" not in _home(client, admin_security)
    User.objects.filter(pk=inspector_wenchang.pk).update(
        locked_until=timezone.now() + datetime.timedelta(minutes=10)
    )
    content = _home(client, admin_security)
    assert gettext(LOCKED) in content
    assert "杨铁柱" in content


def test_system_admin_home_lists_accounts_without_a_role(
    client: Client, admin_system: User
) -> None:
    services.user_create(
        actor=admin_system, username="newcomer", password="Initial#2026x", display_name="新人"
    )
    content = _home(client, admin_system)
    assert gettext(WITHOUT_ROLE) in content
    assert "新人" in content


def test_audit_admin_home_lists_failed_logins(client: Client, admin_audit: User) -> None:
    services.login_attempt(username="nobody-here", password="Wrong#Password1")
    content = _home(client, admin_audit)
    assert gettext(FAILED_LOGINS) in content
    assert "nobody-here login.failed" in content


def test_account_without_a_role_sees_no_panel(client: Client, admin_system: User) -> None:
    newcomer = services.user_create(
        actor=admin_system, username="newcomer", password="Initial#2026x", display_name="新人"
    )
    User.objects.filter(pk=newcomer.pk).update(must_change_password=False)
    content = _home(client, newcomer)
    assert gettext("You hold no role yet: ask the security administrator.") in content
    assert 'class="card panel"' not in content


def test_anonymous_visitor_is_sent_to_login(client: Client, demo_city: dict[str, int]) -> None:
    response = client.get("/users/")
    assert response.status_code == 302
    assert response["Location"] == "/login/?next=/users/"


@pytest.mark.parametrize(
    "persona", ["inspector_wenchang", "school_tiyulu", "officer_market", "admin_audit"]
)
def test_people_without_user_read_get_404_on_the_user_pages(
    client: Client, persona: str, request: pytest.FixtureRequest, coordinator_wenchang: User
) -> None:
    client.force_login(request.getfixturevalue(persona))
    assert client.get("/users/").status_code == 404
    assert client.get(f"/users/{coordinator_wenchang.pk}/").status_code == 404


def test_coordinator_gets_404_for_a_user_outside_the_community(
    client: Client, coordinator_wenchang: User, coordinator_huaiyin: User
) -> None:
    client.force_login(coordinator_wenchang)
    assert client.get(f"/users/{coordinator_huaiyin.pk}/").status_code == 404


@pytest.mark.parametrize(
    ("persona", "path", "data"),
    [
        ("supervisor_city", "active", {"active": "0"}),
        ("admin_security", "active", {"active": "0"}),
        ("admin_audit", "active", {"active": "0"}),
        ("supervisor_city", "password", {"password": "Reset#2026ab"}),
        ("admin_security", "password", {"password": "Reset#2026ab"}),
        ("admin_system", "assignments", {"role": "inspector", "region_code": "420902003002"}),
        ("supervisor_city", "assignments", {"role": "inspector", "region_code": "420902003002"}),
        ("coordinator_wenchang", "unlock", {}),
    ],
)
def test_account_actions_outside_a_role_answer_404_and_change_nothing(
    client: Client,
    request: pytest.FixtureRequest,
    inspector_wenchang: User,
    persona: str,
    path: str,
    data: dict[str, str],
) -> None:
    before = User.objects.values().get(pk=inspector_wenchang.pk)
    assignments, events = Assignment.objects.count(), Event.objects.count()
    client.force_login(request.getfixturevalue(persona))
    response = client.post(f"/users/{inspector_wenchang.pk}/{path}/", data)
    assert response.status_code == 404
    assert User.objects.values().get(pk=inspector_wenchang.pk) == before
    assert (Assignment.objects.count(), Event.objects.count()) == (assignments, events)


def test_system_admin_disables_an_account_through_the_page(
    client: Client, admin_system: User, inspector_wenchang: User
) -> None:
    client.force_login(admin_system)
    response = client.post(f"/users/{inspector_wenchang.pk}/active/", {"active": "0"})
    assert response["Location"] == f"/users/{inspector_wenchang.pk}/"
    inspector_wenchang.refresh_from_db()
    assert inspector_wenchang.is_active is False


def test_disabling_oneself_through_the_page_is_refused_with_a_message(
    client: Client, admin_system: User
) -> None:
    client.force_login(admin_system)
    response = client.post(f"/users/{admin_system.pk}/active/", {"active": "0"}, follow=True)
    assert gettext("You cannot disable your own account.") in response.content.decode()
    admin_system.refresh_from_db()
    assert admin_system.is_active


def test_security_admin_grants_a_role_through_the_page(
    client: Client, admin_security: User, inspector_wenchang: User
) -> None:
    client.force_login(admin_security)
    client.post(
        f"/users/{inspector_wenchang.pk}/assignments/",
        {"role": "inspector", "region_code": "420902003002"},
    )
    assert Assignment.objects.filter(
        user=inspector_wenchang, role=Role.INSPECTOR, region__code="420902003002", is_active=True
    ).exists()


def test_refused_grant_through_the_page_shows_the_reason(
    client: Client, admin_security: User, inspector_wenchang: User
) -> None:
    client.force_login(admin_security)
    response = client.post(
        f"/users/{inspector_wenchang.pk}/assignments/",
        {"role": "inspector", "region_code": "420902003001"},
        follow=True,
    )
    assert gettext("The user already holds this role here.") in response.content.decode()


def test_security_admin_unlocks_an_account_through_the_page(
    client: Client, admin_security: User, inspector_wenchang: User
) -> None:
    User.objects.filter(pk=inspector_wenchang.pk).update(
        locked_until=timezone.now() + datetime.timedelta(minutes=10)
    )
    client.force_login(admin_security)
    client.post(f"/users/{inspector_wenchang.pk}/unlock/")
    inspector_wenchang.refresh_from_db()
    assert inspector_wenchang.locked_until is None
    assert Event.objects.get(verb="user.unlocked").actor == admin_security


def test_system_admin_creates_an_account_through_the_page(
    client: Client, admin_system: User
) -> None:
    client.force_login(admin_system)
    response = client.post(
        "/users/new/",
        {
            "username": "newcomer",
            "display_name": "新人",
            "phone": "13712345678",
            "password": "Initial#2026x",
        },
    )
    newcomer = User.objects.get(username="newcomer")
    assert response["Location"] == f"/users/{newcomer.pk}/"
    assert newcomer.must_change_password is True


def test_creating_a_taken_username_through_the_page_shows_the_error(
    client: Client, admin_system: User
) -> None:
    client.force_login(admin_system)
    response = client.post(
        "/users/new/",
        {"username": "WENCHANG", "display_name": "重名", "password": "Initial#2026x"},
    )
    assert response.status_code == 200
    assert gettext("That username is taken.") in response.content.decode()
    assert User.objects.filter(username__iexact="wenchang").count() == 1


def test_the_user_list_finds_a_user_by_the_whole_phone_number_only(
    client: Client, admin_system: User, inspector_wenchang: User
) -> None:
    client.force_login(admin_system)
    whole = client.get("/users/", {"q": "139 0000 0008"}).content.decode()
    assert f"/users/{inspector_wenchang.pk}/" in whole
    part = client.get("/users/", {"q": "00000008"}).content.decode()
    assert f"/users/{inspector_wenchang.pk}/" not in part
