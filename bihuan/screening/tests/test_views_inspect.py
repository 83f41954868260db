"""The phone pages: who sees what, the plain-form path, the script's JSON path, and query counts.

杨铁柱 (inspector_wenchang) has a task of two institutions in 文昌社区; 钱红 (inspector2) is a
fellow inspector with no task; the coordinator of 文昌社区 may read the task and its inspections
but not fill them in; 槐荫社区's coordinator and the officers see none of it (404).
"""

from __future__ import annotations

import io
import json
import uuid
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from PIL import Image

from bihuan.accounts.models import User
from bihuan.audit.models import Event
from bihuan.registry import services as registry_services
from bihuan.registry.models import Institution, Source
from bihuan.screening import inspection_services as services
from bihuan.screening.models import (
    Inspection,
    InspectionParticipant,
    InspectionPhoto,
    InspectionReview,
    InspectionVersion,
    Round,
    TaskItem,
)
from bihuan.screening.tests import factories as f
from bihuan.screening.workflow import InspectionStatus, ReviewDecision, RoundStatus

JSON: dict[str, Any] = {"HTTP_ACCEPT": "application/json"}
HOME = (Decimal("30.918000"), Decimal("113.913000"))


@pytest.fixture(scope="module")
def _city(django_db_setup: None, django_db_blocker: Any) -> Iterator[None]:
    with f.city_for_module(django_db_blocker):
        yield


@pytest.fixture
def demo_city(_city: None, db: None) -> dict[str, int]:
    return {}


@pytest.fixture(autouse=True)
def _media_and_language(settings: Any, tmp_path: Path) -> None:
    settings.MEDIA_ROOT = tmp_path / "media"
    # The assertions read the English strings; the Chinese catalogue is filled separately.
    settings.LANGUAGE_CODE = "en"


def _institution(name: str, position: tuple[Decimal, Decimal] | None = None) -> Institution:
    lat, lng = position or (None, None)
    return registry_services.institution_create(
        actor=None,
        name=name,
        region=f.wenchang(),
        source=Source.IMPORT,
        latitude=lat,
        longitude=lng,
    )


@pytest.fixture
def round_(inspector_wenchang: User) -> Round:
    places = [_institution("文昌启明学科辅导中心", HOME), _institution("文昌小画家美术")]
    return f.issued_round(inspector_wenchang, places)


@pytest.fixture
def item(round_: Round) -> TaskItem:
    return round_.items.order_by("position").first()  # type: ignore[return-value]


@pytest.fixture
def started(inspector_wenchang: User, item: TaskItem) -> Inspection:
    return services.inspection_start(actor=inspector_wenchang, client_id=uuid.uuid4(), item=item)


def login(client: Client, user: User) -> Client:
    client.force_login(user)
    return client


def jpeg_bytes(size: tuple[int, int] = (64, 48)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, (10, 200, 10)).save(out, format="JPEG")
    return out.getvalue()


def answers(**extra: str) -> dict[str, Any]:
    data: dict[str, Any] = {
        "q-licence_displayed": "yes",
        "q-provides_meals": "no",
        "q-students_present": "8",
        "outcome": "visited",
        "note": "",
        "latitude": "30.918100",
        "longitude": "113.913100",
        "accuracy": "15",
    }
    data.update(extra)
    return data


def state() -> tuple[Any, ...]:
    return (
        list(Inspection.objects.order_by("pk").values_list("pk", "status", "version", "draft")),
        InspectionVersion.objects.count(),
        list(InspectionParticipant.objects.order_by("pk").values_list("pk", "is_active")),
        list(InspectionPhoto.objects.order_by("pk").values_list("pk", "removed_at")),
        Event.objects.count(),
    )


# ---------------------------------------------------------------------------- who sees which page

READERS = ["inspector_wenchang", "coordinator_wenchang", "supervisor_city"]
OUTSIDERS = ["inspector2", "coordinator_huaiyin", "officer_market", "school_tiyulu"]


def persona(request: pytest.FixtureRequest, name: str) -> User:
    if name == "inspector2":
        request.getfixturevalue("demo_city")
        return User.objects.get(username="inspector2")
    return request.getfixturevalue(name)  # type: ignore[no-any-return]


@pytest.mark.parametrize(
    ("name", "status"),
    [(n, 200) for n in READERS] + [(n, 404) for n in OUTSIDERS],
)
def test_task_page_is_seen_by_its_inspector_and_the_places_managers_only(
    name: str, status: int, request: pytest.FixtureRequest, client: Client, round_: Round
) -> None:
    task = round_.tasks.get()
    response = login(client, persona(request, name)).get(reverse("screening:task", args=[task.pk]))
    assert response.status_code == status


@pytest.mark.parametrize(
    ("name", "status"),
    [("inspector_wenchang", 200)] + [(n, 404) for n in ["coordinator_wenchang", *OUTSIDERS]],
)
def test_only_the_inspector_opens_the_checklist(
    name: str, status: int, request: pytest.FixtureRequest, client: Client, item: TaskItem
) -> None:
    response = login(client, persona(request, name)).get(
        reverse("screening:inspect", args=[item.pk])
    )
    assert response.status_code == status


@pytest.mark.parametrize("name", ["coordinator_wenchang", "supervisor_city", *OUTSIDERS])
def test_nobody_else_submits_drafts_or_uploads_to_an_inspection(
    name: str, request: pytest.FixtureRequest, client: Client, started: Inspection
) -> None:
    login(client, persona(request, name))
    before = state()
    posts = [
        (
            "screening:inspection_submit",
            answers(client_id=str(started.client_id), submission_id=str(uuid.uuid4())),
        ),
        ("screening:inspection_draft", answers()),
        (
            "screening:inspection_photo",
            {"client_id": str(uuid.uuid4()), "photo": SimpleUploadedFile("p.jpg", jpeg_bytes())},
        ),
        ("screening:inspection_participants", {"user": started.inspector_id, "action": "remove"}),
    ]
    for url_name, data in posts:
        response = client.post(reverse(url_name, args=[started.pk]), data)
        assert response.status_code == 404, url_name
    assert state() == before


@pytest.mark.parametrize(
    ("name", "status"),
    [(n, 200) for n in READERS] + [(n, 404) for n in OUTSIDERS],
)
def test_inspection_and_its_photos_are_seen_in_scope_only(
    name: str,
    status: int,
    request: pytest.FixtureRequest,
    client: Client,
    inspector_wenchang: User,
    started: Inspection,
) -> None:
    photo = services.photo_add(
        actor=inspector_wenchang,
        inspection=started,
        client_id=uuid.uuid4(),
        question="",
        upload=SimpleUploadedFile("p.jpg", jpeg_bytes()),
    )
    login(client, persona(request, name))
    assert (
        client.get(reverse("screening:inspection_detail", args=[started.pk])).status_code == status
    )
    assert client.get(reverse("screening:photo", args=[photo.pk])).status_code == status


# ---------------------------------------------------------------------------- lists and their cost


def test_my_tasks_lists_issued_tasks_with_progress(
    client: Client, inspector_wenchang: User, round_: Round, django_assert_max_num_queries: Any
) -> None:
    item = round_.items.order_by("position").first()
    assert item is not None
    f.submitted_inspection(item)
    login(client, inspector_wenchang)
    with django_assert_max_num_queries(9):
        response = client.get(reverse("screening:my_tasks"))
    assert response.status_code == 200
    page = response.content.decode()
    assert round_.name in page
    assert "1 of 2 done" in page


def test_my_tasks_costs_the_same_for_many_tasks(
    client: Client, inspector_wenchang: User, django_assert_max_num_queries: Any
) -> None:
    for n in range(5):
        f.issued_round(inspector_wenchang, [_institution(f"文昌培训点{n}")])
    login(client, inspector_wenchang)
    with django_assert_max_num_queries(9):
        response = client.get(reverse("screening:my_tasks"))
    assert response.content.decode().count('class="task-card card"') == 5


def test_task_page_lists_institutions_in_order_with_their_status(
    client: Client,
    inspector_wenchang: User,
    round_: Round,
    django_assert_max_num_queries: Any,
) -> None:
    for n in range(8):
        TaskItem.objects.create(
            round=round_,
            task=round_.tasks.get(),
            institution=_institution(f"文昌附加机构{n}"),
            position=10 + n,
        )
    first = round_.items.order_by("position").first()
    assert first is not None
    f.submitted_inspection(first)
    login(client, inspector_wenchang)
    with django_assert_max_num_queries(11):
        response = client.get(reverse("screening:task", args=[round_.tasks.get().pk]))
    page = response.content.decode()
    assert page.index("文昌启明学科辅导中心") < page.index("文昌小画家美术")
    assert "submitted" in page and "to visit" in page
    assert f"geo:{HOME[0]},{HOME[1]}" in page
    assert reverse("screening:field_find_new", args=[round_.tasks.get().pk]) in page


def test_coordinator_reads_the_task_without_start_buttons(
    client: Client, coordinator_wenchang: User, item: TaskItem
) -> None:
    response = login(client, coordinator_wenchang).get(
        reverse("screening:task", args=[item.task_id])
    )
    page = response.content.decode()
    assert "文昌启明学科辅导中心" in page
    assert reverse("screening:inspect", args=[item.pk]) not in page


# ---------------------------------------------------------------------------- the checklist page


def test_checklist_page_works_as_a_plain_form(
    client: Client, inspector_wenchang: User, item: TaskItem
) -> None:
    response = login(client, inspector_wenchang).get(reverse("screening:inspect", args=[item.pk]))
    page = response.content.decode()
    assert 'enctype="multipart/form-data"' in page
    assert f'action="{reverse("screening:inspect", args=[item.pk])}"' in page
    assert 'name="q-licence_displayed" value="no"' in page
    assert 'capture="environment"' in page and 'name="photo-licence_displayed"' in page
    assert 'name="photo-"' in page
    assert 'name="co_inspectors"' in page
    assert 'name="client_id"' in page and 'name="submission_id"' in page
    assert "js/checklist.js" in page and "js/inspect.js" in page
    assert Inspection.objects.count() == 0  # opening the page writes nothing


def test_plain_submission_records_the_visit_and_returns_to_the_task(
    client: Client, inspector_wenchang: User, item: TaskItem
) -> None:
    colleague = User.objects.get(username="inspector2")
    data = answers(
        **{"q-licence_displayed": "no", "co_inspectors_sent": "1"},
        client_id=str(uuid.uuid4()),
        submission_id=str(uuid.uuid4()),
    )
    data["co_inspectors"] = [str(colleague.pk)]
    data["photo-licence_displayed"] = SimpleUploadedFile("licence.jpg", jpeg_bytes())
    response = login(client, inspector_wenchang).post(
        reverse("screening:inspect", args=[item.pk]), data
    )
    assert response.status_code == 302
    assert response["Location"] == reverse("screening:task", args=[item.task_id])
    inspection = Inspection.objects.get(item=item)
    version = inspection.versions.get()
    assert inspection.status == InspectionStatus.SUBMITTED
    assert version.flags[0]["question"] == "licence_displayed"
    assert len(version.photo_ids) == 1
    assert sorted(version.participant_ids) == sorted([inspector_wenchang.pk, colleague.pk])
    follow = client.get(response["Location"])
    assert "Inspection submitted for review." in follow.content.decode()


def test_refused_plain_submission_shows_errors_by_question_and_saves_nothing(
    client: Client, inspector_wenchang: User, item: TaskItem
) -> None:
    before = state()
    data = answers(
        **{"q-licence_displayed": "no", "q-students_present": "900"},
        client_id=str(uuid.uuid4()),
        submission_id=str(uuid.uuid4()),
    )
    response = login(client, inspector_wenchang).post(
        reverse("screening:inspect", args=[item.pk]), data
    )
    assert response.status_code == 200
    page = response.content.decode()
    assert "take a photo or write a note as evidence" in page
    assert "Between 0 and 500" in page
    assert 'value="900"' in page  # what was typed comes back
    assert state() == before


def test_a_double_tap_on_submit_makes_one_version(
    client: Client, inspector_wenchang: User, started: Inspection
) -> None:
    data = answers(client_id=str(started.client_id), submission_id=str(uuid.uuid4()))
    url = reverse("screening:inspection_submit", args=[started.pk])
    login(client, inspector_wenchang)
    first = client.post(url, data)
    second = client.post(url, data)
    assert first.status_code == second.status_code == 302
    assert InspectionVersion.objects.filter(inspection=started).count() == 1


def test_script_start_answers_the_urls_and_reuses_the_client_id(
    client: Client, inspector_wenchang: User, item: TaskItem
) -> None:
    client_id = str(uuid.uuid4())
    url = reverse("screening:inspect", args=[item.pk])
    login(client, inspector_wenchang)
    first = client.post(url, {"action": "start", "client_id": client_id}, **JSON).json()
    again = client.post(url, {"action": "start", "client_id": client_id}, **JSON).json()
    assert first["id"] == again["id"]
    assert first["urls"]["submit"] == reverse("screening:inspection_submit", args=[first["id"]])
    assert Inspection.objects.filter(item=item).count() == 1


def test_autosave_keeps_the_draft_and_the_edit_page_shows_it(
    client: Client, inspector_wenchang: User, started: Inspection
) -> None:
    login(client, inspector_wenchang)
    reply = client.post(
        reverse("screening:inspection_draft", args=[started.pk]),
        answers(**{"q-students_present": "17", "note-licence_displayed": "挂在二楼"}),
        **JSON,
    ).json()
    assert reply["ok"] and reply["saved_at"]
    started.refresh_from_db()
    assert started.draft["values"]["students_present"] == "17"
    page = client.get(reverse("screening:inspection_edit", args=[started.pk])).content.decode()
    assert 'value="17"' in page and "挂在二楼" in page


def test_script_submission_answers_json_errors_then_success(
    client: Client, inspector_wenchang: User, started: Inspection
) -> None:
    url = reverse("screening:inspection_submit", args=[started.pk])
    login(client, inspector_wenchang)
    bad = client.post(
        url,
        answers(
            **{"q-licence_displayed": "no"},
            client_id=str(started.client_id),
            submission_id=str(uuid.uuid4()),
        ),
        **JSON,
    )
    assert bad.status_code == 400
    assert set(bad.json()["errors"]) == {"licence_displayed"}
    good = client.post(
        url, answers(client_id=str(started.client_id), submission_id=str(uuid.uuid4())), **JSON
    )
    assert good.json() == {
        "ok": True,
        "redirect": reverse("screening:task", args=[started.task_id]),
        "message": "Inspection submitted for review.",
    }


def test_photo_upload_answers_its_id_and_thumbnail_and_is_served_scoped(
    client: Client, inspector_wenchang: User, started: Inspection
) -> None:
    login(client, inspector_wenchang)
    photo_id = str(uuid.uuid4())
    url = reverse("screening:inspection_photo", args=[started.pk])

    def send() -> dict[str, Any]:
        data = {
            "client_id": photo_id,
            "question": "licence_displayed",
            "captured_hint": "",
            "photo": SimpleUploadedFile("p.jpg", jpeg_bytes((800, 600))),
        }
        return client.post(url, data, **JSON).json()  # type: ignore[no-any-return]

    reply = send()
    assert send()["id"] == reply["id"]
    assert InspectionPhoto.objects.count() == 1
    thumb = client.get(reply["thumbnail"])
    assert thumb.status_code == 200 and thumb["Content-Type"] == "image/jpeg"
    assert max(Image.open(io.BytesIO(thumb.content)).size) == 320
    full = client.get(reply["url"])
    assert b"".join(full.streaming_content) == InspectionPhoto.objects.get().file.read()  # type: ignore[attr-defined]
    assert "private" in full["Cache-Control"]


def test_fake_photo_is_refused_with_a_message(
    client: Client, inspector_wenchang: User, started: Inspection
) -> None:
    before = state()
    reply = login(client, inspector_wenchang).post(
        reverse("screening:inspection_photo", args=[started.pk]),
        {
            "client_id": str(uuid.uuid4()),
            "photo": SimpleUploadedFile("p.jpg", b"\xff\xd8\xff" + b"0" * 99),
        },
        **JSON,
    )
    assert reply.status_code == 400
    assert "not a JPEG" in reply.json()["error"]
    assert state() == before


def test_photo_removed_from_the_page_is_kept_on_the_server(
    client: Client, inspector_wenchang: User, started: Inspection
) -> None:
    photo = services.photo_add(
        actor=inspector_wenchang,
        inspection=started,
        client_id=uuid.uuid4(),
        question="",
        upload=SimpleUploadedFile("p.jpg", jpeg_bytes()),
    )
    response = login(client, inspector_wenchang).post(
        reverse("screening:inspection_photo_remove", args=[started.pk, photo.pk])
    )
    assert response.status_code == 302
    photo.refresh_from_db()
    assert photo.removed_at is not None


def test_co_inspector_added_and_removed_through_the_page(
    client: Client, inspector_wenchang: User, started: Inspection
) -> None:
    colleague = User.objects.get(username="inspector2")
    url = reverse("screening:inspection_participants", args=[started.pk])
    login(client, inspector_wenchang)
    added = client.post(url, {"user": colleague.pk, "action": "add"}, **JSON).json()
    assert added["participants"] == sorted([inspector_wenchang.pk, colleague.pk])
    removed = client.post(url, {"user": colleague.pk, "action": "remove"}, **JSON).json()
    assert removed["participants"] == [inspector_wenchang.pk]


def test_detail_shows_versions_flags_and_people(
    client: Client, coordinator_wenchang: User, item: TaskItem
) -> None:
    inspection = f.submitted_inspection(
        item,
        values={"licence_displayed": "no"},
        notes={"licence_displayed": "未公示"},
        flags=[
            {
                "question": "licence_displayed",
                "label": "办学许可证在显著位置公示",
                "answer": "否",
                "violation_types": ["A2"],
                "note": "未公示",
                "evidence": "photo_or_note",
            }
        ],
    )
    page = (
        login(client, coordinator_wenchang)
        .get(reverse("screening:inspection_detail", args=[inspection.pk]))
        .content.decode()
    )
    assert "Version 1" in page and "A2" in page and "未公示" in page
    assert "1 person-time" in page


# ---------------------------------------------------------------------------- field finds


def test_field_find_is_reported_once_and_opens_its_checklist(
    client: Client, inspector_wenchang: User, round_: Round
) -> None:
    task = round_.tasks.get()
    url = reverse("screening:field_find_new", args=[task.pk])
    login(client, inspector_wenchang)
    page = client.get(url).content.decode()
    client_id = json.dumps(str(uuid.uuid4()))[1:-1]
    assert 'name="client_id"' in page
    data = {
        "client_id": client_id,
        "name": "文昌某托管辅导班",
        "address": "体育路18号",
        "category": "none",
        "note": "",
        "latitude": "30.9190",
        "longitude": "113.9140",
        "accuracy": "25",
    }
    first = client.post(url, data)
    second = client.post(url, data)
    inspection = Inspection.objects.get(is_field_find=True)
    assert (
        first["Location"]
        == second["Location"]
        == reverse("screening:inspection_edit", args=[inspection.pk])
    )
    edit = client.get(first["Location"]).content.decode()
    assert "文昌某托管辅导班" in edit and "found in the field" in edit
    task_page = client.get(reverse("screening:task", args=[task.pk])).content.decode()
    assert "文昌某托管辅导班" in task_page


@pytest.mark.parametrize("name", ["coordinator_wenchang", "inspector2", "officer_market"])
def test_only_the_tasks_inspector_reports_field_finds(
    name: str, request: pytest.FixtureRequest, client: Client, round_: Round
) -> None:
    task = round_.tasks.get()
    login(client, persona(request, name))
    before = (Institution.objects.count(), state())
    data = {"client_id": str(uuid.uuid4()), "name": "某机构", "category": "none"}
    response = client.post(reverse("screening:field_find_new", args=[task.pk]), data)
    assert response.status_code == 404
    assert (Institution.objects.count(), state()) == before


def test_a_returned_inspection_opens_with_its_reason_and_last_answers(
    client: Client, inspector_wenchang: User, coordinator_wenchang: User, item: TaskItem
) -> None:
    inspection = f.submitted_inspection(
        item, values={"licence_displayed": "yes", "students_present": 31}
    )
    Inspection.objects.filter(pk=inspection.pk).update(status=InspectionStatus.RETURNED)
    InspectionReview.objects.create(
        inspection=inspection,
        version=inspection.versions.get(),
        decision=ReviewDecision.RETURNED,
        reason="请补拍许可证照片",
        reviewer=coordinator_wenchang,
        decided_at=timezone.now(),
    )
    login(client, inspector_wenchang)
    start = client.get(reverse("screening:inspect", args=[item.pk]))
    assert start["Location"] == reverse("screening:inspection_edit", args=[inspection.pk])
    page = client.get(start["Location"]).content.decode()
    assert "请补拍许可证照片" in page
    assert 'value="31"' in page
    assert f'action="{reverse("screening:inspection_submit", args=[inspection.pk])}"' in page


def test_a_closed_round_takes_no_new_visit(
    client: Client, inspector_wenchang: User, item: TaskItem
) -> None:
    Round.objects.filter(pk=item.round_id).update(status=RoundStatus.CLOSED)
    response = login(client, inspector_wenchang).get(reverse("screening:inspect", args=[item.pk]))
    assert response["Location"] == reverse("screening:task", args=[item.task_id])
    assert Inspection.objects.count() == 0


def test_plain_forms_for_start_photos_and_people_return_to_the_checklist(
    client: Client, inspector_wenchang: User, item: TaskItem
) -> None:
    login(client, inspector_wenchang)
    started = client.post(
        reverse("screening:inspect", args=[item.pk]),
        {"action": "start", "client_id": str(uuid.uuid4())},
    )
    inspection = Inspection.objects.get(item=item)
    edit = reverse("screening:inspection_edit", args=[inspection.pk])
    assert started["Location"] == edit
    photo_url = reverse("screening:inspection_photo", args=[inspection.pk])
    good = client.post(
        photo_url,
        {"client_id": str(uuid.uuid4()), "photo": SimpleUploadedFile("p.jpg", jpeg_bytes())},
    )
    bad = client.post(
        photo_url,
        {"client_id": str(uuid.uuid4()), "photo": SimpleUploadedFile("p.jpg", b"GIF89a" * 9)},
    )
    people = client.post(
        reverse("screening:inspection_participants", args=[inspection.pk]),
        {"user": User.objects.get(username="inspector2").pk, "action": "add"},
    )
    assert good["Location"] == bad["Location"] == people["Location"] == edit
    page = client.get(edit).content.decode()
    assert "Photo added." in page and "not a JPEG" in page
    assert inspection.photos.count() == 1
    assert inspection.participants.filter(is_active=True).count() == 2


def test_a_submitted_inspection_opens_read_only(
    client: Client, inspector_wenchang: User, item: TaskItem
) -> None:
    inspection = f.submitted_inspection(item, values={"licence_displayed": "yes"})
    login(client, inspector_wenchang)
    edit = client.get(reverse("screening:inspection_edit", args=[inspection.pk]))
    detail = reverse("screening:inspection_detail", args=[inspection.pk])
    assert edit["Location"] == detail
    assert client.get(reverse("screening:inspect", args=[item.pk]))["Location"] == detail
    page = client.get(detail).content.decode()
    assert "School licence displayed" in page  # the English label, as the user reads English
    assert reverse("screening:inspection_edit", args=[inspection.pk]) not in page
