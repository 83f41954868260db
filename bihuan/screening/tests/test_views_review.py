"""The review pages: the queue, one inspection, approve and return, and field finds.

Out of scope is a 404; every refused POST is checked against the database.
"""

from __future__ import annotations

import datetime
import io
import re
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from openpyxl import load_workbook

from bihuan.accounts.models import User
from bihuan.core.exports import XLSX_TYPE
from bihuan.demo import data
from bihuan.leads.tests import factories as lf
from bihuan.registry import services as registry_services
from bihuan.registry.models import Institution, Source
from bihuan.registry.models import Status as InstitutionStatus
from bihuan.screening import review_services
from bihuan.screening.models import Inspection, InspectionParticipant, InspectionVersion, Round
from bihuan.screening.tests import factories as f
from bihuan.screening.tests.test_review_services import FLAG, NOTES, VALUES, photo
from bihuan.screening.workflow import InspectionStatus, VisitOutcome

pytestmark = pytest.mark.django_db

QUEUE = "/screening/review/"
FINDS = "/screening/review/finds/"


@pytest.fixture(scope="module")
def _city(django_db_setup: None, django_db_blocker: Any) -> Iterator[None]:
    with f.city_for_module(django_db_blocker):
        yield


@pytest.fixture
def demo_city(_city: None, db: None) -> dict[str, int]:
    return {}


@pytest.fixture(autouse=True)
def _media_and_language(demo_city: dict[str, int], settings: Any, tmp_path: Path) -> None:
    settings.MEDIA_ROOT = tmp_path
    # The assertions read the English strings; the Chinese catalogue is filled separately.
    settings.LANGUAGE_CODE = "en"


def _login(client: Client, user: User) -> Client:
    client.force_login(user)
    return client


def _qian() -> User:
    return User.objects.get(username="inspector2")


def _submitted(
    inspector: User,
    *,
    name: str = "",
    region_code: str = data.WENCHANG,
    round_: Round | None = None,
    flagged: bool = False,
) -> Inspection:
    place = lf.institution_make(name or f"审核页测试机构{uuid.uuid4().hex[:8]}", region_code)
    if round_ is None:
        round_ = f.issued_round(inspector, [place], region=lf.region(region_code))
        item = round_.items.get()
    else:
        task = round_.tasks.get()
        item = task.items.create(round=round_, institution=place, position=task.items.count())
    if flagged:
        return f.submitted_inspection(item, values=VALUES, notes=NOTES, flags=[dict(FLAG)])
    return f.submitted_inspection(item, values={**VALUES, "licence_displayed": "yes"})


def _state() -> Any:
    return lf.fingerprint("screening", "leads", "audit", "notifications")


# ---------------------------------------------------------------------------- who sees the pages

PAGE_ACCESS = {
    "supervisor_city": 200,
    "supervisor_xiaonan": 200,
    "coordinator_wenchang": 200,
    "coordinator_huaiyin": 200,
    "inspector_wenchang": 404,
    "officer_market": 404,
    "school_tiyulu": 404,
    "area_guangchang": 404,
    "admin_system": 404,
    "admin_security": 404,
}


@pytest.mark.parametrize(("persona", "status"), PAGE_ACCESS.items())
@pytest.mark.parametrize("url", [QUEUE, FINDS])
def test_the_review_pages_are_for_coordinators_and_supervisors(
    client: Client, persona: str, status: int, url: str, request: pytest.FixtureRequest
) -> None:
    _login(client, request.getfixturevalue(persona))
    assert client.get(url).status_code == status


def test_the_pages_ask_an_anonymous_visitor_to_sign_in(client: Client, demo_city: Any) -> None:
    assert client.get(QUEUE).status_code == 302


DETAIL_ACCESS = {
    "supervisor_city": 200,
    "coordinator_wenchang": 200,
    "coordinator_huaiyin": 404,  # another community
    "inspector_wenchang": 404,  # inspectors use their own pages
    "officer_market": 404,
    "admin_system": 404,
}


@pytest.mark.parametrize(("persona", "status"), DETAIL_ACCESS.items())
def test_one_inspection_is_shown_to_managers_of_its_place(
    client: Client, persona: str, status: int, request: pytest.FixtureRequest
) -> None:
    inspection = _submitted(_qian())
    _login(client, request.getfixturevalue(persona))
    assert client.get(f"{QUEUE}{inspection.pk}/").status_code == status


# ---------------------------------------------------------------------------- the queue


def test_the_queue_lists_what_the_user_may_decide_oldest_first(
    client: Client,
    coordinator_wenchang: User,
    inspector_wenchang: User,
    coordinator_huaiyin: User,
) -> None:
    older = _submitted(inspector_wenchang, name="较早提交的机构", flagged=True)
    newer = _submitted(_qian(), name="较晚提交的机构")
    Inspection.objects.filter(pk=older.pk).update(
        submitted_at=timezone.now() - datetime.timedelta(hours=3), is_far=True, distance_m=850
    )
    _submitted(coordinator_wenchang, name="协调员自己的排查")
    _submitted(coordinator_huaiyin, name="槐荫社区的排查", region_code=data.HUAIYIN)
    approved = _submitted(_qian(), name="已通过的排查")
    review_services.inspection_approve(actor=coordinator_wenchang, inspection=approved)
    html = _login(client, coordinator_wenchang).get(QUEUE).content.decode()
    assert html.index("较早提交的机构") < html.index("较晚提交的机构")
    for hidden in ("协调员自己的排查", "槐荫社区的排查", "已通过的排查"):
        assert hidden not in html
    row = re.search(rf'<tr id="inspection-{older.pk}">(.*?)</tr>', html, re.S)
    assert row is not None
    assert '<strong class="error">1</strong>' in row.group(1)
    assert "far: 850 m" in row.group(1)
    assert str(newer.pk) in html


def test_the_queue_filters_by_round_and_place(
    client: Client, supervisor_city: User, inspector_wenchang: User, coordinator_huaiyin: User
) -> None:
    first = _submitted(inspector_wenchang, name="第一轮的机构")
    _submitted(inspector_wenchang, name="第二轮的机构")
    _submitted(coordinator_huaiyin, name="槐荫的机构", region_code=data.HUAIYIN)
    _login(client, supervisor_city)
    assert first.task is not None
    by_round = client.get(QUEUE, {"round": first.task.round_id}).content.decode()
    assert "第一轮的机构" in by_round and "第二轮的机构" not in by_round
    by_place = client.get(QUEUE, {"place": data.HUAIYIN}).content.decode()
    assert "槐荫的机构" in by_place and "第一轮的机构" not in by_place
    by_street = client.get(QUEUE, {"place": data.GUANGCHANG}).content.decode()
    assert "槐荫的机构" in by_street and "第一轮的机构" in by_street
    unknown = client.get(QUEUE, {"place": "999999"}).content.decode()
    assert "Nothing waits for your review." in unknown


def test_the_queue_query_count_does_not_grow_with_rows(
    client: Client,
    coordinator_wenchang: User,
    inspector_wenchang: User,
    django_assert_max_num_queries: Any,
) -> None:
    _login(client, coordinator_wenchang)
    round_ = f.issued_round(inspector_wenchang, [])
    for _n in range(2):
        _submitted(inspector_wenchang, round_=round_, flagged=True)
    with CaptureQueriesContext(connection) as few:
        assert client.get(QUEUE).status_code == 200
    for n in range(20):
        _submitted(_qian() if n % 2 else inspector_wenchang, flagged=bool(n % 3))
    with django_assert_max_num_queries(len(few.captured_queries)):
        html = client.get(QUEUE).content.decode()
    assert len(re.findall(r'<tr id="inspection-\d+">', html)) == 22


def test_the_queue_exports_to_xlsx(
    client: Client, coordinator_wenchang: User, inspector_wenchang: User
) -> None:
    inspection = _submitted(inspector_wenchang, name="导出的机构", flagged=True)
    response = _login(client, coordinator_wenchang).get(QUEUE, {"format": "xlsx"})
    assert response["Content-Type"] == XLSX_TYPE
    sheet = load_workbook(io.BytesIO(response.content)).active
    assert sheet is not None
    rows = list(sheet.iter_rows(values_only=True))
    assert rows[0][:2] == ("Submitted", "Institution")
    assert rows[1][1] == "导出的机构"
    assert rows[1][6:8] == (inspection.version, 1)


# ---------------------------------------------------------------------------- one inspection


def test_the_page_shows_answers_flags_photos_position_and_versions(
    client: Client, coordinator_wenchang: User, inspector_wenchang: User
) -> None:
    inspection = _submitted(inspector_wenchang, flagged=True)
    InspectionParticipant.objects.create(inspection=inspection, user=_qian())
    review_services.inspection_return(
        actor=coordinator_wenchang, inspection=inspection, reason="请补拍许可证照片"
    )
    InspectionVersion.objects.create(
        inspection=inspection,
        number=2,
        submission_id=uuid.uuid4(),
        answers={"values": {**VALUES, "students_present": 15}, "notes": NOTES},
        flags=[dict(FLAG)],
        outcome=VisitOutcome.VISITED,
        latitude="30.924500",
        longitude="113.916600",
        accuracy_m=18,
        submitted_by=inspector_wenchang,
        submitted_at=timezone.now(),
    )
    Inspection.objects.filter(pk=inspection.pk).update(
        status=InspectionStatus.SUBMITTED, version=2, distance_m=640, is_far=True
    )
    inspection.refresh_from_db()
    picture = photo(inspection)
    html = _login(client, coordinator_wenchang).get(f"{QUEUE}{inspection.pk}/").content.decode()
    flagged = re.search(r'<tr id="q-licence_displayed" class="flagged">(.*?)</tr>', html, re.S)
    assert flagged is not None
    assert "School licence displayed" in flagged.group(1)
    assert "A2" in flagged.group(1)
    assert f'href="/screening/photos/{picture.pk}/"' in flagged.group(1)
    assert "墙上未见办学许可证" in flagged.group(1)
    assert 'id="q-food_licence"' not in html  # skipped: no meals
    assert "± 18 m" in html and "640 m" in html
    assert str(_qian()) in html
    history = re.search(r'<tr id="version-2">(.*?)</tr>', html, re.S)
    assert history is not None
    assert "Students present: 12 → 15" in history.group(1)
    assert "请补拍许可证照片" in html
    assert f'action="/screening/review/{inspection.pk}/approve/"' in html


def test_ones_own_visit_is_shown_without_the_decision(
    client: Client, coordinator_wenchang: User
) -> None:
    own = _submitted(coordinator_wenchang)
    html = _login(client, coordinator_wenchang).get(f"{QUEUE}{own.pk}/").content.decode()
    assert "/approve/" not in html and "/return/" not in html


# ---------------------------------------------------------------------------- decisions


def test_approving_with_flags_announces_the_new_lead_with_a_link(
    client: Client, coordinator_wenchang: User, inspector_wenchang: User
) -> None:
    inspection = _submitted(inspector_wenchang, flagged=True)
    response = _login(client, coordinator_wenchang).post(
        f"{QUEUE}{inspection.pk}/approve/", follow=True
    )
    inspection.refresh_from_db()
    assert inspection.status == InspectionStatus.APPROVED
    lead = inspection.lead
    assert lead is not None
    assert response.redirect_chain[-1][0] == QUEUE
    assert f'<a href="/leads/{lead.pk}/">{lead.reference}</a>' in response.content.decode()


def test_a_refused_approval_is_a_message_and_changes_nothing(
    client: Client, coordinator_wenchang: User, inspector_wenchang: User
) -> None:
    found = registry_services.institution_create(
        actor=None,
        name="审核页的新发现机构",
        region=lf.region(),
        source=Source.FIELD,
        status=InstitutionStatus.PENDING,
    )
    item = f.issued_round(inspector_wenchang, [found]).items.get()
    inspection = f.submitted_inspection(item)
    before = _state()
    response = _login(client, coordinator_wenchang).post(
        f"{QUEUE}{inspection.pk}/approve/", follow=True
    )
    assert "approve the new institution first" in response.content.decode()
    assert _state() == before


@pytest.mark.parametrize("persona", ["coordinator_huaiyin", "inspector_wenchang", "officer_market"])
@pytest.mark.parametrize("action", ["approve", "return"])
def test_a_decision_outside_ones_reach_is_a_404_and_changes_nothing(
    client: Client, persona: str, action: str, request: pytest.FixtureRequest
) -> None:
    inspection = _submitted(_qian())
    before = _state()
    _login(client, request.getfixturevalue(persona))
    response = client.post(f"{QUEUE}{inspection.pk}/{action}/", {"reason": "重填"})
    assert response.status_code == 404
    assert _state() == before


def test_ones_own_visit_cannot_be_approved_by_post(
    client: Client, coordinator_wenchang: User
) -> None:
    own = _submitted(coordinator_wenchang)
    before = _state()
    response = _login(client, coordinator_wenchang).post(f"{QUEUE}{own.pk}/approve/")
    assert response.status_code == 404
    assert _state() == before


def test_decisions_are_posts(client: Client, coordinator_wenchang: User) -> None:
    inspection = _submitted(_qian())
    _login(client, coordinator_wenchang)
    assert client.get(f"{QUEUE}{inspection.pk}/approve/").status_code == 405


def test_a_return_needs_what_to_correct(client: Client, coordinator_wenchang: User) -> None:
    inspection = _submitted(_qian())
    before = _state()
    _login(client, coordinator_wenchang)
    response = client.post(f"{QUEUE}{inspection.pk}/return/", {"reason": ""}, follow=True)
    assert "Say what the inspector should correct." in response.content.decode()
    assert _state() == before
    client.post(f"{QUEUE}{inspection.pk}/return/", {"reason": "门头照片缺失"})
    inspection.refresh_from_db()
    assert inspection.status == InspectionStatus.RETURNED
    assert inspection.reviews.get().reason == "门头照片缺失"


# ---------------------------------------------------------------------------- field finds


def _found(name: str, region_code: str = data.WENCHANG, reporter: User | None = None) -> Any:
    institution = registry_services.institution_create(
        actor=None,
        name=name,
        region=lf.region(region_code),
        source=Source.FIELD,
        status=InstitutionStatus.PENDING,
        address="体育路18号",
    )
    if reporter is not None:
        item = f.issued_round(reporter, [institution], region=lf.region(region_code)).items.get()
        inspection = f.submitted_inspection(item)
        Inspection.objects.filter(pk=inspection.pk).update(is_field_find=True)
    return institution


def test_field_finds_of_ones_place_are_listed_with_who_reported_them(
    client: Client, coordinator_wenchang: User, inspector_wenchang: User
) -> None:
    _found("文昌新发现的舞蹈班", reporter=inspector_wenchang)
    _found("槐荫新发现的围棋班", region_code=data.HUAIYIN)
    lf.institution_make("文昌已登记的美术班")
    html = _login(client, coordinator_wenchang).get(FINDS).content.decode()
    assert "文昌新发现的舞蹈班" in html
    assert str(inspector_wenchang) in html
    assert "槐荫新发现的围棋班" not in html and "文昌已登记的美术班" not in html


def test_the_field_finds_query_count_does_not_grow_with_rows(
    client: Client,
    coordinator_wenchang: User,
    inspector_wenchang: User,
    django_assert_max_num_queries: Any,
) -> None:
    _login(client, coordinator_wenchang)
    _found(f"新发现机构甲{uuid.uuid4().hex[:4]}", reporter=inspector_wenchang)
    with CaptureQueriesContext(connection) as few:
        assert client.get(FINDS).status_code == 200
    for n in range(10):
        _found(f"新发现机构{n}号{uuid.uuid4().hex[:4]}", reporter=inspector_wenchang)
    with django_assert_max_num_queries(len(few.captured_queries)):
        html = client.get(FINDS).content.decode()
    assert len(re.findall(r'<section class="card" id="find-\d+">', html)) == 11


def test_approving_a_field_find_says_how_many_look_alikes_went_to_review(
    client: Client, coordinator_wenchang: User
) -> None:
    lf.institution_make("孝南区彩虹舞蹈培训中心")
    found = _found("孝南区彩虹舞蹈培训中心（二部）")
    response = _login(client, coordinator_wenchang).post(f"{FINDS}{found.pk}/approve/", follow=True)
    assert "1 possible duplicate was sent to the bureau" in response.content.decode()
    assert Institution.objects.get(pk=found.pk).status == InstitutionStatus.REGISTERED


def test_rejecting_a_field_find_needs_a_reason_and_keeps_the_record(
    client: Client, coordinator_wenchang: User
) -> None:
    found = _found("其实是托管班")
    before = _state()
    _login(client, coordinator_wenchang)
    client.post(f"{FINDS}{found.pk}/reject/", {"reason": ""})
    assert _state() == before
    client.post(f"{FINDS}{found.pk}/reject/", {"reason": "托管班，不属于培训机构"})
    assert Institution.objects.get(pk=found.pk).status == InstitutionStatus.CLOSED


@pytest.mark.parametrize("persona", ["coordinator_huaiyin", "inspector_wenchang", "officer_market"])
@pytest.mark.parametrize("action", ["approve", "reject"])
def test_a_field_find_outside_ones_reach_is_a_404(
    client: Client, persona: str, action: str, request: pytest.FixtureRequest
) -> None:
    found = _found("文昌的另一个新发现")
    before = lf.fingerprint("registry", "audit")
    _login(client, request.getfixturevalue(persona))
    response = client.post(f"{FINDS}{found.pk}/{action}/", {"reason": "非培训机构"})
    assert response.status_code == 404
    assert lf.fingerprint("registry", "audit") == before
