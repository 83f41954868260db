"""Round services: opening (with generation), adjusting, issuing and closing, and who may do it.

Every refusal is checked against the database: no round, task, item, event or notification
appears or changes.
"""

from __future__ import annotations

import datetime
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from django.utils import timezone

from bihuan.accounts.models import Assignment, Role, User
from bihuan.audit.models import Event
from bihuan.core.errors import NotAllowed, ServiceError
from bihuan.notifications.models import Notification
from bihuan.registry.models import Category, Institution, Source
from bihuan.screening import round_services as services
from bihuan.screening.models import ChecklistVersion, Round, Task, TaskItem
from bihuan.screening.tests import factories
from bihuan.screening.workflow import RoundStatus, TaskKind, VersionStatus
from bihuan.territory.models import Region

pytestmark = pytest.mark.django_db


@pytest.fixture(scope="module")
def _city(django_db_setup: None, django_db_blocker: Any) -> Iterator[None]:
    with factories.city_for_module(django_db_blocker):
        yield


@pytest.fixture
def demo_city(_city: None, db: None) -> dict[str, int]:
    return {}


@pytest.fixture
def version(demo_city: dict[str, int]) -> ChecklistVersion:
    return factories.checklist()


@pytest.fixture
def three(demo_city: dict[str, int]) -> list[Institution]:
    """The story's three institutions of 文昌社区."""
    wenchang = factories.wenchang()
    return [_institution(f"文昌机构{i}", wenchang) for i in range(3)]


def _institution(name: str, region: Region, **extra: Any) -> Institution:
    return Institution.objects.create(
        name=name,
        name_normalized=name,
        region=region,
        community=region if region.level == "community" else None,
        source=Source.MANUAL,
        category=extra.pop("category", Category.ARTS),
        **extra,
    )


def _state() -> tuple[Any, ...]:
    return (
        list(Round.objects.order_by("pk").values_list("pk", "status", "issued_at", "closed_at")),
        list(Task.objects.order_by("pk").values_list("pk", "inspector_id", "kind")),
        list(TaskItem.objects.order_by("pk").values_list("pk", "task_id", "position")),
        Event.objects.count(),
        Notification.objects.count(),
    )


def _refused(call: Callable[[], Any], error: type[ServiceError] = ServiceError) -> ServiceError:
    before = _state()
    with pytest.raises(error) as refused:
        call()
    assert _state() == before
    return refused.value


def _open(actor: User, version: ChecklistVersion, region: Region | None = None) -> Round:
    today = timezone.localdate()
    return services.round_open(
        actor=actor,
        region=region or factories.wenchang(),
        name="文昌社区 第4期",
        starts_on=today,
        ends_on=today + datetime.timedelta(days=14),
        checklist=version,
    )


def _user(username: str) -> User:
    return User.objects.get(username=username)


# ---------------------------------------------------------------------------- opening


def test_coordinator_opens_a_draft_round_with_the_tables_generated(
    coordinator_wenchang: User, version: ChecklistVersion, three: list[Institution]
) -> None:
    round_ = _open(coordinator_wenchang, version)
    assert round_.status == RoundStatus.DRAFT
    assert round_.created_by == coordinator_wenchang
    assert TaskItem.objects.filter(round=round_).count() == 3
    assert round_.summary["institutions"] == 3 and round_.summary["unstaffed"] == []
    events = Event.objects.filter(object_type="screening.round", object_id=str(round_.pk))
    assert [e.verb for e in events] == ["round.opened"]
    assert events[0].after is not None and events[0].after["assigned"] == 3
    # One event for the round, none per item.
    assert not Event.objects.filter(object_type="screening.taskitem").exists()


def test_supervisor_opens_a_district_round(
    supervisor_xiaonan: User, version: ChecklistVersion, three: list[Institution]
) -> None:
    xiaonan = Region.objects.get(code=factories.data.XIAONAN)
    round_ = _open(supervisor_xiaonan, version, xiaonan)
    assert set(TaskItem.objects.filter(round=round_).values_list("institution_id", flat=True)) >= {
        i.pk for i in three
    }


@pytest.mark.parametrize(
    ("persona", "region_code"),
    [
        ("inspector_wenchang", factories.data.WENCHANG),
        ("officer_market", factories.data.WENCHANG),
        ("admin_system", factories.data.WENCHANG),
        ("school_tiyulu", factories.data.WENCHANG),
        ("coordinator_huaiyin", factories.data.WENCHANG),
        ("coordinator_wenchang", factories.data.GUANGCHANG),
        ("supervisor_xiaonan", "420921"),
    ],
)
def test_opening_outside_ones_place_or_role_is_refused(
    persona: str,
    region_code: str,
    request: pytest.FixtureRequest,
    version: ChecklistVersion,
    three: list[Institution],
) -> None:
    actor = request.getfixturevalue(persona)
    region = Region.objects.get(code=region_code)
    _refused(lambda: _open(actor, version, region), NotAllowed)


def test_a_checklist_that_is_not_published_is_refused(
    coordinator_wenchang: User, version: ChecklistVersion
) -> None:
    ChecklistVersion.objects.filter(pk=version.pk).update(status=VersionStatus.RETIRED)
    version.refresh_from_db()
    error = _refused(lambda: _open(coordinator_wenchang, version))
    assert error.field == "checklist"


def test_a_period_that_ends_before_it_starts_is_refused(
    coordinator_wenchang: User, version: ChecklistVersion
) -> None:
    today = timezone.localdate()
    error = _refused(
        lambda: services.round_open(
            actor=coordinator_wenchang,
            region=factories.wenchang(),
            name="倒序",
            starts_on=today,
            ends_on=today - datetime.timedelta(days=1),
            checklist=version,
        )
    )
    assert error.field == "ends_on"


def test_a_round_needs_a_name(coordinator_wenchang: User, version: ChecklistVersion) -> None:
    today = timezone.localdate()
    error = _refused(
        lambda: services.round_open(
            actor=coordinator_wenchang,
            region=factories.wenchang(),
            name="  ",
            starts_on=today,
            ends_on=today,
            checklist=version,
        )
    )
    assert error.field == "name"


def test_regeneration_closes_the_draft_and_opens_a_fresh_round(
    coordinator_wenchang: User, version: ChecklistVersion, three: list[Institution]
) -> None:
    round_ = _open(coordinator_wenchang, version)
    items_before = TaskItem.objects.count()
    fresh = services.round_regenerate(actor=coordinator_wenchang, round_=round_)
    round_.refresh_from_db()
    assert round_.status == RoundStatus.CLOSED and round_.summary["superseded_by"] == fresh.pk
    assert fresh.status == RoundStatus.DRAFT and fresh.items.count() == 3
    # Nothing deleted: the draft keeps its rows.
    assert TaskItem.objects.count() == items_before + 3


def test_an_issued_round_is_not_regenerated(
    coordinator_wenchang: User, version: ChecklistVersion, three: list[Institution]
) -> None:
    round_ = _open(coordinator_wenchang, version)
    services.round_issue(actor=coordinator_wenchang, round_=round_)
    _refused(lambda: services.round_regenerate(actor=coordinator_wenchang, round_=round_))


# ---------------------------------------------------------------------------- adjusting


def test_coordinator_moves_an_item_to_another_inspector_of_the_street(
    coordinator_wenchang: User, version: ChecklistVersion, three: list[Institution]
) -> None:
    round_ = _open(coordinator_wenchang, version)
    yang = _user("yangtiezhu")
    moved = [
        services.task_item_move(actor=coordinator_wenchang, item=item, inspector=yang)
        for item in round_.items.exclude(task__inspector=yang)
    ]
    assert moved
    assert set(round_.items.values_list("task__inspector_id", flat=True)) == {yang.pk}
    positions = list(round_.items.order_by("position").values_list("position", flat=True))
    assert len(set(positions)) == 3
    event = Event.objects.filter(verb="task_item.moved").latest("pk")
    assert event.after is not None and event.after["inspector"] == yang.pk


def test_an_item_cannot_go_to_someone_outside_the_street(
    coordinator_wenchang: User, version: ChecklistVersion, three: list[Institution]
) -> None:
    round_ = _open(coordinator_wenchang, version)
    item = round_.items.first()
    assert item is not None
    error = _refused(
        lambda: services.task_item_move(
            actor=coordinator_wenchang, item=item, inspector=_user("market")
        )
    )
    assert error.field == "inspector"


@pytest.mark.parametrize(
    "persona",
    ["inspector_wenchang", "coordinator_huaiyin", "officer_market", "supervisor_city"],
)
def test_only_the_rounds_managers_move_items(
    persona: str,
    request: pytest.FixtureRequest,
    coordinator_wenchang: User,
    version: ChecklistVersion,
    three: list[Institution],
) -> None:
    round_ = _open(coordinator_wenchang, version)
    actor = request.getfixturevalue(persona)
    item = round_.items.exclude(task__inspector__username="yangtiezhu").first()
    assert item is not None
    if persona == "supervisor_city":
        # The city's supervisor manages everything below the city, 文昌社区 included.
        services.task_item_move(actor=actor, item=item, inspector=_user("yangtiezhu"))
        return
    _refused(
        lambda: services.task_item_move(actor=actor, item=item, inspector=_user("yangtiezhu")),
        NotAllowed,
    )


def test_items_are_not_moved_once_issued(
    coordinator_wenchang: User, version: ChecklistVersion, three: list[Institution]
) -> None:
    round_ = _open(coordinator_wenchang, version)
    services.round_issue(actor=coordinator_wenchang, round_=round_)
    item = round_.items.exclude(task__inspector__username="yangtiezhu").first()
    assert item is not None
    _refused(
        lambda: services.task_item_move(
            actor=coordinator_wenchang, item=item, inspector=_user("yangtiezhu")
        )
    )


def test_unstaffed_institutions_block_issuing_until_assigned_by_hand(
    coordinator_wenchang: User, version: ChecklistVersion, three: list[Institution]
) -> None:
    Assignment.objects.filter(role=Role.INSPECTOR).update(is_active=False)
    round_ = _open(coordinator_wenchang, version)
    assert sorted(round_.summary["unstaffed"]) == sorted(i.pk for i in three)
    _refused(lambda: services.round_issue(actor=coordinator_wenchang, round_=round_))
    # The coordinator inspects them: coordinators may take institutions too.
    for institution in three:
        item = services.task_item_add(
            actor=coordinator_wenchang,
            round_=round_,
            institution=institution,
            inspector=coordinator_wenchang,
        )
        assert item.risk == 13
    services.round_issue(actor=coordinator_wenchang, round_=round_)
    round_.refresh_from_db()
    assert round_.status == RoundStatus.ISSUED


def test_an_institution_already_on_a_table_is_not_added_twice(
    coordinator_wenchang: User, version: ChecklistVersion, three: list[Institution]
) -> None:
    round_ = _open(coordinator_wenchang, version)
    _refused(
        lambda: services.task_item_add(
            actor=coordinator_wenchang,
            round_=round_,
            institution=three[0],
            inspector=_user("yangtiezhu"),
        )
    )


def test_an_institution_outside_the_round_is_not_added(
    coordinator_wenchang: User, version: ChecklistVersion, three: list[Institution]
) -> None:
    round_ = _open(coordinator_wenchang, version)
    elsewhere = _institution("槐荫机构", Region.objects.get(code=factories.data.HUAIYIN))
    error = _refused(
        lambda: services.task_item_add(
            actor=coordinator_wenchang,
            round_=round_,
            institution=elsewhere,
            inspector=_user("yangtiezhu"),
        )
    )
    assert error.field == "institution"


def test_sweep_task_is_added_with_instructions(
    coordinator_wenchang: User, version: ChecklistVersion, three: list[Institution]
) -> None:
    round_ = _open(coordinator_wenchang, version)
    task = services.task_sweep_add(
        actor=coordinator_wenchang,
        round_=round_,
        inspector=_user("inspector2"),
        region=factories.wenchang(),
        instructions="沿体育路步行排查",
    )
    assert task.kind == TaskKind.SWEEP and task.instructions == "沿体育路步行排查"


def test_a_sweep_needs_instructions(
    coordinator_wenchang: User, version: ChecklistVersion, three: list[Institution]
) -> None:
    round_ = _open(coordinator_wenchang, version)
    error = _refused(
        lambda: services.task_sweep_add(
            actor=coordinator_wenchang,
            round_=round_,
            inspector=_user("inspector2"),
            region=factories.wenchang(),
            instructions=" ",
        )
    )
    assert error.field == "instructions"


def test_a_sweep_stays_inside_the_rounds_place(
    coordinator_wenchang: User, version: ChecklistVersion, three: list[Institution]
) -> None:
    round_ = _open(coordinator_wenchang, version)
    error = _refused(
        lambda: services.task_sweep_add(
            actor=coordinator_wenchang,
            round_=round_,
            inspector=_user("inspector2"),
            region=Region.objects.get(code=factories.data.GUANGCHANG),
            instructions="沿体育路步行排查",
        )
    )
    assert error.field == "region"


# ---------------------------------------------------------------------------- issuing, closing


def test_issuing_notifies_each_inspector_once_after_commit(
    coordinator_wenchang: User,
    version: ChecklistVersion,
    three: list[Institution],
    django_capture_on_commit_callbacks: Any,
) -> None:
    round_ = _open(coordinator_wenchang, version)
    services.task_sweep_add(
        actor=coordinator_wenchang,
        round_=round_,
        inspector=_user("inspector2"),
        region=factories.wenchang(),
        instructions="沿体育路步行排查",
    )
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        services.round_issue(actor=coordinator_wenchang, round_=round_)
    assert not Notification.objects.filter(key=f"round.issued:{round_.pk}").exists()
    for callback in callbacks:
        callback()
    notes = Notification.objects.filter(key=f"round.issued:{round_.pk}")
    assert sorted(n.user.username for n in notes) == ["inspector2", "yangtiezhu"]
    table = Task.objects.get(round=round_, inspector__username="inspector2", kind="institutions")
    note = notes.get(user__username="inspector2")
    assert note.url.endswith(f"/tasks/{table.pk}/")
    round_.refresh_from_db()
    assert round_.issued_by == coordinator_wenchang and round_.issued_at is not None


def test_an_emptied_table_tells_its_inspector_nothing(
    coordinator_wenchang: User,
    version: ChecklistVersion,
    three: list[Institution],
    django_capture_on_commit_callbacks: Any,
) -> None:
    round_ = _open(coordinator_wenchang, version)
    yang = _user("yangtiezhu")
    for item in round_.items.exclude(task__inspector=yang):
        services.task_item_move(actor=coordinator_wenchang, item=item, inspector=yang)
    with django_capture_on_commit_callbacks(execute=True):
        services.round_issue(actor=coordinator_wenchang, round_=round_)
    notes = Notification.objects.filter(key=f"round.issued:{round_.pk}")
    assert [n.user.username for n in notes] == ["yangtiezhu"]


def test_issuing_twice_is_refused(
    coordinator_wenchang: User, version: ChecklistVersion, three: list[Institution]
) -> None:
    round_ = _open(coordinator_wenchang, version)
    services.round_issue(actor=coordinator_wenchang, round_=round_)
    _refused(lambda: services.round_issue(actor=coordinator_wenchang, round_=round_))


def test_a_round_with_nothing_to_do_is_not_issued(
    coordinator_wenchang: User, version: ChecklistVersion
) -> None:
    round_ = _open(coordinator_wenchang, version)
    _refused(lambda: services.round_issue(actor=coordinator_wenchang, round_=round_))


@pytest.mark.parametrize("persona", ["inspector_wenchang", "coordinator_huaiyin", "admin_system"])
def test_only_the_rounds_managers_issue(
    persona: str,
    request: pytest.FixtureRequest,
    coordinator_wenchang: User,
    version: ChecklistVersion,
    three: list[Institution],
) -> None:
    round_ = _open(coordinator_wenchang, version)
    actor = request.getfixturevalue(persona)
    _refused(lambda: services.round_issue(actor=actor, round_=round_), NotAllowed)
    _refused(lambda: services.round_close(actor=actor, round_=round_), NotAllowed)


def test_closing_ends_the_round_and_is_final(
    coordinator_wenchang: User, version: ChecklistVersion, three: list[Institution]
) -> None:
    round_ = _open(coordinator_wenchang, version)
    services.round_issue(actor=coordinator_wenchang, round_=round_)
    services.round_close(actor=coordinator_wenchang, round_=round_)
    round_.refresh_from_db()
    assert round_.status == RoundStatus.CLOSED and round_.closed_at is not None
    _refused(lambda: services.round_close(actor=coordinator_wenchang, round_=round_))
    assert Event.objects.filter(verb="round.closed", object_id=str(round_.pk)).count() == 1


def test_the_next_round_rotates_the_inspectors(
    coordinator_wenchang: User, version: ChecklistVersion, three: list[Institution]
) -> None:
    first = _open(coordinator_wenchang, version)
    services.round_issue(actor=coordinator_wenchang, round_=first)
    services.round_close(actor=coordinator_wenchang, round_=first)
    second = _open(coordinator_wenchang, version)
    before = dict(first.items.values_list("institution_id", "task__inspector_id"))
    after = dict(second.items.values_list("institution_id", "task__inspector_id"))
    # Two inspectors, three institutions: swapping the 2 + 1 split gives everyone someone new.
    assert all(before[i] != after[i] for i in after)
    assert second.summary["repeats"] == 0


# ---------------------------------------------------------------------------- the demo round


def test_demo_round_gives_the_volunteer_the_three_institutions_and_is_idempotent(
    demo_city: dict[str, int],
) -> None:
    from bihuan.leads.demo import load_demo_leads
    from bihuan.registry.demo import load_demo_registry
    from bihuan.screening.demo import SWEEP, demo_period, load_demo_screening

    load_demo_registry()
    load_demo_leads()
    created = load_demo_screening()
    round_ = Round.objects.get(name=demo_period(timezone.localdate())[0])
    assert created["rounds"] == 1
    assert round_.status == RoundStatus.ISSUED and round_.checklist.template.code == "default"
    tables = list(
        Task.objects.filter(
            round=round_, kind=TaskKind.INSTITUTIONS, items__isnull=False
        ).distinct()
    )
    assert [t.inspector.username for t in tables] == ["yangtiezhu"]
    table = tables[0]
    assert sorted(table.items.values_list("institution__name", flat=True)) == sorted(
        ["孝南区启明学科辅导中心", "孝南区墨韵书画艺术培训学校", "孝南区飞扬体育俱乐部"]
    )
    sweep = Task.objects.get(round=round_, kind=TaskKind.SWEEP)
    assert sweep.inspector.username == "inspector2" and sweep.instructions == SWEEP
    before = _state()
    assert load_demo_screening() == {"rounds": 0, "items": 0, "sweeps": 0}
    assert _state() == before
