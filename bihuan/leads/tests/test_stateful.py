"""Random people make random service calls on random leads and orders; the loop must hold.

A hypothesis state machine over the demo city. Each step picks an actor (usually the right one,
so that leads get far along the loop; sometimes anyone, or the system clock), a lead or work
order, and arguments that are sometimes wrong. A refused call (ServiceError, NotAllowed) must
leave the records exactly as they were; after every step ``loop_problems()`` must be empty and the
statuses recorded in the event log must follow the allowed moves of ``workflow``. Any other
exception is a bug in the services and fails the test with the shrunk sequence of calls.

Each example runs inside a savepoint that is rolled back at its end, so every example starts
from the same place: the demo city and a few leads seeded at each point of the loop.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from itertools import pairwise
from typing import Any

import pytest
from django.db import transaction
from django.db.models import Count, Q
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    invariant,
    rule,
    run_state_machine_as_test,
)

from bihuan.accounts.models import Department, User
from bihuan.audit.models import Event
from bihuan.core.errors import ServiceError
from bihuan.demo.data import HUAIYIN, QIANKUN, WENCHANG, XIAONAN
from bihuan.leads import services
from bihuan.leads.integrity import LEAD_EVENT_TYPE, ORDER_EVENT_TYPE, loop_problems
from bihuan.leads.models import ExtensionRequest, Lead, Reminder, ViolationType, WorkOrder
from bihuan.leads.workflow import (
    LEAD_MOVES,
    LEAD_OPEN,
    ORDER_LIVE,
    ORDER_MOVES,
    ClosureReason,
    ExtensionStatus,
    LeadSource,
    LeadStatus,
    OrderStatus,
)
from bihuan.territory.models import Region, Sentinel

SETTINGS = settings(
    max_examples=15,
    stateful_step_count=30,
    deadline=None,
    database=None,  # nothing written into the working tree
    suppress_health_check=[HealthCheck.too_slow],
)

# "@" is the right person for the call (the bureau of the place, the order's department).
RIGHT = "@"
PERSONAS = [
    "supervisor",
    "xiaonan",
    "xnjiaoyu",
    "xnmarket",
    "gongan",
    "market",
    "school",
    "wenchang",
    "yangtiezhu",
]
OFFICER_OF = {
    "孝南区教育局": "xnjiaoyu",
    "孝南区市场监管局": "xnmarket",
    "市公安局": "gongan",
    "市市场监管局": "market",
}
TYPE_CODES = ["B3", "B2", "A1", "F3", "B8", "D3"]
PLACES = [WENCHANG, HUAIYIN, XIAONAN, "420921"]

# The right person most of the time, so that leads travel the loop; anyone else, or the clock.
actors = st.one_of(st.just(RIGHT), st.just(RIGHT), st.sampled_from([*PERSONAS, None]))
picks = st.integers(min_value=0, max_value=999)
# Mostly a record in a state where the call makes sense, so that leads travel the whole loop.
fitting = st.sampled_from([True, True, True, False])
# Mostly valid text; sometimes empty or too long (the services must refuse those cleanly).
_good_reasons = st.sampled_from(["情况属实，请处理。", "已核实。", "请补充材料。", "依规处理。"])
reasons = st.one_of(_good_reasons, _good_reasons, st.sampled_from(["", "   ", "x" * 501]))
_good_replies = st.sampled_from(["已责令停止培训并立案。", "现场核查无此情况。", "已约谈举办者。"])
replies = st.one_of(_good_replies, _good_replies, st.sampled_from(["", "x" * 4001]))
_some_types = st.lists(
    st.integers(min_value=0, max_value=len(TYPE_CODES) - 1), min_size=1, max_size=2
)
type_picks: st.SearchStrategy[list[int]] = st.one_of(
    _some_types, _some_types, _some_types, st.just([])
)


def fingerprint() -> tuple[Any, ...]:
    """What a refused call must not change: statuses, owners and deadlines, and the log's size."""
    return (
        list(
            Lead.objects.order_by("pk").values_list(
                "pk", "status", "owner_department_id", "due_at", "merged_into_id", "reopen_count"
            )
        ),
        list(
            WorkOrder.objects.order_by("pk").values_list(
                "pk",
                "status",
                "department_id",
                "sign_due",
                "reply_due",
                "urge_count",
                "escalation_level",
                "redo_count",
            )
        ),
        list(ExtensionRequest.objects.order_by("pk").values_list("pk", "status", "new_due")),
        list(Reminder.objects.order_by("pk").values_list("pk", "kind")),
        Event.objects.count(),
    )


def _nth(queryset: Any, index: int) -> Any:
    rows = list(queryset.order_by("pk"))
    return rows[index % len(rows)] if rows else None


class LoopMachine(RuleBasedStateMachine):
    """The bureau, the departments, the school and the clock, acting at random."""

    def __init__(self) -> None:
        super().__init__()
        # Rolled back in teardown: the next example starts from the demo city again.
        self._example = transaction.atomic()
        self._example.__enter__()
        self.users = {u.username: u for u in User.objects.filter(username__in=PERSONAS)}
        self.departments = list(Department.objects.order_by("pk"))
        self.types = {t.code: t for t in ViolationType.objects.filter(code__in=TYPE_CODES)}
        self.places = list(Region.objects.filter(code__in=PLACES).order_by("code"))
        self.sentinel = Sentinel.objects.get(name="体育路学校")
        self.xiaonan_path = Region.objects.get(code=XIAONAN).path
        # A refused call changed nothing (``attempt`` checks it), so the invariants can rest.
        self.changed = True

    def teardown(self) -> None:
        transaction.set_rollback(True)
        self._example.__exit__(None, None, None)

    # ------------------------------------------------------------------ choosing

    def _user(self, name: str | None) -> User | None:
        return None if name is None else self.users[name]

    def _bureau_actor(self, choice: str | None, lead: Lead) -> User | None:
        if choice != RIGHT:
            return self._user(choice)
        inside_xiaonan = lead.region.path.startswith(self.xiaonan_path)
        return self.users["xiaonan" if inside_xiaonan and lead.pk % 2 else "supervisor"]

    def _officer(self, choice: str | None, order: WorkOrder) -> User | None:
        if choice != RIGHT:
            return self._user(choice)
        return self._user(OFFICER_OF.get(order.department.short_name))

    def _types(self, picked: list[int]) -> list[ViolationType]:
        return [self.types[TYPE_CODES[i]] for i in picked]

    def _department(self, index: int | None) -> Department | None:
        return None if index is None else self.departments[index % len(self.departments)]

    def _lead(self, index: int, fits: bool, *statuses: str) -> Lead:
        leads = Lead.objects.select_related("region")
        if fits and leads.filter(status__in=statuses).exists():
            leads = leads.filter(status__in=statuses)
        lead = _nth(leads, index)
        assert lead is not None  # initialize() reported one
        return lead

    def _order(self, index: int, fits: bool, *statuses: str) -> WorkOrder | None:
        orders = WorkOrder.objects.select_related("lead__region", "department")
        if fits and orders.filter(status__in=statuses).exists():
            orders = orders.filter(status__in=statuses)
        return _nth(orders, index)

    def attempt(self, call: Callable[..., Any], **kwargs: Any) -> bool:
        """Call a service; a refusal must leave every record as it was."""
        before = fingerprint()
        try:
            call(**kwargs)
        except ServiceError as exc:
            after = fingerprint()
            assert after == before, f"{call.__name__} refused ({exc.message}) but changed records"
            self.changed = False
            return False
        self.changed = True
        return True

    # ------------------------------------------------------------------ leads

    @rule(actor=actors, place=picks, by_school=st.booleans(), description=reasons, types=type_picks)
    def create(
        self, actor: str | None, place: int, by_school: bool, description: str, types: list[int]
    ) -> None:
        if actor == RIGHT:
            actor = "school" if by_school else "supervisor"
        self.attempt(
            services.lead_create,
            actor=self._user(actor),
            source=LeadSource.SCHOOL if by_school else LeadSource.BUREAU,
            description=description,
            region=None if by_school else self.places[place % len(self.places)],
            sentinel=self.sentinel if by_school else None,
            place_name=f"某培训点{place}",
            violation_types=self._types(types),
        )

    @rule(actor=actors, lead=picks, fits=fitting, types=type_picks)
    def accept(self, actor: str | None, lead: int, fits: bool, types: list[int]) -> None:
        target = self._lead(lead, fits, LeadStatus.NEW)
        self.attempt(
            services.lead_accept,
            actor=self._bureau_actor(actor, target),
            lead=target,
            violation_types=self._types(types),
        )

    @rule(actor=actors, lead=picks, fits=fitting, reason=reasons)
    def dismiss(self, actor: str | None, lead: int, fits: bool, reason: str) -> None:
        target = self._lead(lead, fits, LeadStatus.NEW, LeadStatus.ACCEPTED)
        self.attempt(
            services.lead_dismiss,
            actor=self._bureau_actor(actor, target),
            lead=target,
            reason=reason,
        )

    @rule(actor=actors, lead=picks, into=picks, fits=fitting)
    def merge(self, actor: str | None, lead: int, into: int, fits: bool) -> None:
        target = self._lead(lead, fits, LeadStatus.NEW, LeadStatus.ACCEPTED)
        others = Lead.objects.filter(status__in=LEAD_OPEN).exclude(pk=target.pk)
        self.attempt(
            services.lead_merge,
            actor=self._bureau_actor(actor, target),
            lead=target,
            into=_nth(others, into) if fits and others.exists() else self._lead(into, False),
        )

    @rule(actor=actors, lead=picks, fits=fitting)
    def dispatch(self, actor: str | None, lead: int, fits: bool) -> None:
        target = self._lead(lead, fits, LeadStatus.ACCEPTED)
        self.attempt(services.lead_dispatch, actor=self._bureau_actor(actor, target), lead=target)

    @rule(
        actor=actors,
        lead=picks,
        fits=fitting,
        reason=st.sampled_from([*ClosureReason.values, "bogus"]),
        note=reasons,
    )
    def close(self, actor: str | None, lead: int, fits: bool, reason: str, note: str) -> None:
        target = self._lead(lead, fits, LeadStatus.VERIFIED)
        self.attempt(
            services.lead_close,
            actor=self._bureau_actor(actor, target),
            lead=target,
            reason=reason,
            note=note,
        )

    @rule(actor=actors, lead=picks, fits=fitting, reason=reasons)
    def reopen(self, actor: str | None, lead: int, fits: bool, reason: str) -> None:
        target = self._lead(lead, fits, LeadStatus.CLOSED, LeadStatus.DISMISSED)
        self.attempt(
            services.lead_reopen,
            actor=self._bureau_actor(actor, target),
            lead=target,
            reason=reason,
        )

    # ------------------------------------------------------------------ work orders

    @rule(actor=actors, order=picks, fits=fitting)
    def sign(self, actor: str | None, order: int, fits: bool) -> None:
        target = self._order(order, fits, OrderStatus.AWAITING)
        if target is not None:
            self.attempt(services.work_order_sign, actor=self._officer(actor, target), order=target)

    @rule(actor=actors, order=picks, fits=fitting, reply=replies)
    def reply(self, actor: str | None, order: int, fits: bool, reply: str) -> None:
        target = self._order(order, fits, OrderStatus.SIGNED)
        if target is not None:
            self.attempt(
                services.work_order_reply,
                actor=self._officer(actor, target),
                order=target,
                reply=reply,
            )

    @rule(
        actor=actors,
        order=picks,
        fits=fitting,
        department=st.one_of(st.none(), picks),
        reason=reasons,
    )
    def return_(
        self, actor: str | None, order: int, fits: bool, department: int | None, reason: str
    ) -> None:
        target = self._order(order, fits, OrderStatus.AWAITING, OrderStatus.SIGNED)
        if target is not None:
            self.attempt(
                services.work_order_return,
                actor=self._officer(actor, target),
                order=target,
                proposed_department=self._department(department),
                reason=reason,
            )

    @rule(actor=actors, order=picks, fits=fitting, note=reasons)
    def refuse_return(self, actor: str | None, order: int, fits: bool, note: str) -> None:
        target = self._order(order, fits, OrderStatus.RETURN_REQUESTED)
        if target is not None:
            self.attempt(
                services.work_order_refuse_return,
                actor=self._bureau_actor(actor, target.lead),
                order=target,
                note=note,
            )

    @rule(
        actor=actors,
        order=picks,
        fits=fitting,
        department=picks,
        as_proposed=st.booleans(),
        note=reasons,
    )
    def reassign(
        self,
        actor: str | None,
        order: int,
        fits: bool,
        department: int,
        as_proposed: bool,
        note: str,
    ) -> None:
        target = self._order(order, fits, OrderStatus.RETURN_REQUESTED, OrderStatus.AWAITING)
        if target is not None:
            chosen = target.proposed_department if as_proposed else None
            self.attempt(
                services.work_order_reassign,
                actor=self._bureau_actor(actor, target.lead),
                order=target,
                department=chosen or self._department(department),
                note=note,
            )

    @rule(actor=actors, order=picks, fits=fitting)
    def accept_reply(self, actor: str | None, order: int, fits: bool) -> None:
        target = self._order(order, fits, OrderStatus.REPLIED)
        if target is not None:
            self.attempt(
                services.work_order_accept,
                actor=self._bureau_actor(actor, target.lead),
                order=target,
            )

    @rule(actor=actors, order=picks, fits=fitting, reason=reasons)
    def redo(self, actor: str | None, order: int, fits: bool, reason: str) -> None:
        target = self._order(order, fits, OrderStatus.REPLIED)
        if target is not None:
            self.attempt(
                services.work_order_redo,
                actor=self._bureau_actor(actor, target.lead),
                order=target,
                reason=reason,
            )

    @rule(actor=actors, order=picks, fits=fitting, note=reasons)
    def urge(self, actor: str | None, order: int, fits: bool, note: str) -> None:
        target = self._order(order, fits, OrderStatus.AWAITING, OrderStatus.SIGNED)
        if target is not None:
            self.attempt(
                services.work_order_urge,
                actor=self._bureau_actor(actor, target.lead),
                order=target,
                note=note,
            )

    @rule(actor=actors, order=picks, fits=fitting, note=reasons)
    def supervise(self, actor: str | None, order: int, fits: bool, note: str) -> None:
        target = self._order(order, fits, OrderStatus.AWAITING, OrderStatus.SIGNED)
        if target is not None:
            self.attempt(
                services.work_order_supervise,
                actor=self._bureau_actor(actor, target.lead),
                order=target,
                note=note,
            )

    @rule(
        actor=actors,
        order=picks,
        fits=fitting,
        days=st.integers(min_value=-1, max_value=32),
        reason=reasons,
    )
    def extension_request(
        self, actor: str | None, order: int, fits: bool, days: int, reason: str
    ) -> None:
        target = self._order(order, fits, OrderStatus.SIGNED)
        if target is not None:
            self.attempt(
                services.extension_request,
                actor=self._officer(actor, target),
                order=target,
                days=days,
                reason=reason,
            )

    @rule(actor=actors, request=picks, fits=fitting, approve=st.booleans(), note=reasons)
    def extension_decide(
        self, actor: str | None, request: int, fits: bool, approve: bool, note: str
    ) -> None:
        requests = ExtensionRequest.objects.select_related("work_order__lead__region")
        if fits and requests.filter(status=ExtensionStatus.PENDING).exists():
            requests = requests.filter(status=ExtensionStatus.PENDING)
        target = _nth(requests, request)
        if target is not None:
            self.attempt(
                services.extension_decide,
                actor=self._bureau_actor(actor, target.work_order.lead),
                request=target,
                approve=approve,
                note=note,
            )

    # ------------------------------------------------------------------ invariants

    @invariant()
    def the_loop_holds(self) -> None:
        if self.changed:
            assert loop_problems() == []

    @invariant()
    def every_open_lead_has_an_owner_and_a_deadline(self) -> None:
        if self.changed:
            unowned = Lead.objects.filter(status__in=LEAD_OPEN).filter(
                Q(owner_department__isnull=True) | Q(due_at__isnull=True)
            )
            assert not unowned.exists()

    @invariant()
    def no_department_holds_a_lead_twice(self) -> None:
        if self.changed:
            twice = (
                WorkOrder.objects.filter(status__in=ORDER_LIVE)
                .values("lead", "department")
                .annotate(n=Count("pk"))
                .filter(n__gt=1)
            )
            assert not twice.exists()

    @invariant()
    def the_log_follows_the_allowed_moves(self) -> None:
        if not self.changed:
            return
        histories: dict[tuple[str, str], list[str]] = defaultdict(list)
        events = Event.objects.filter(
            object_type__in=[LEAD_EVENT_TYPE, ORDER_EVENT_TYPE], after__has_key="status"
        ).order_by("id")
        for object_type, object_id, after in events.values_list(
            "object_type", "object_id", "after"
        ):
            histories[(object_type, object_id)].append((after or {})["status"])
        for (object_type, object_id), statuses in histories.items():
            is_lead = object_type == LEAD_EVENT_TYPE
            moves = LEAD_MOVES if is_lead else ORDER_MOVES
            first = LeadStatus.NEW if is_lead else OrderStatus.AWAITING
            assert statuses[0] == first, (object_type, object_id, statuses)
            for current, target in pairwise(statuses):
                assert current == target or target in moves[current], (
                    object_type,
                    object_id,
                    statuses,
                )


def seed_the_loop() -> None:
    """Leads at every point of the loop, so that each example starts with work to do."""
    users = {u.username: u for u in User.objects.filter(username__in=PERSONAS)}
    types = {t.code: t for t in ViolationType.objects.filter(code__in=TYPE_CODES)}
    supervisor = users["supervisor"]
    services.lead_create(
        actor=users["school"],
        source=LeadSource.SCHOOL,
        description="学生反映有老师在家中开设一对一数学辅导。",
        sentinel=Sentinel.objects.get(name="体育路学校"),
        place_name="文昌社区某住宅",
    )
    # (place, type, how far along the loop)
    for place, code, stage in [
        ("420921", "B8", "accepted"),
        (WENCHANG, "B3", "dispatched"),
        (HUAIYIN, "B2", "one reply"),
        (QIANKUN, "B8", "verified"),
        (WENCHANG, "B8", "closed"),
    ]:
        lead = services.lead_create(
            actor=supervisor,
            source=LeadSource.BUREAU,
            description=f"{code} 线索",
            region=Region.objects.get(code=place),
            place_name=f"{code} 培训点 {stage}",
        )
        services.lead_accept(actor=supervisor, lead=lead, violation_types=[types[code]])
        if stage == "accepted":
            continue
        services.lead_dispatch(actor=supervisor, lead=lead)
        if stage == "dispatched":
            continue
        order = WorkOrder.objects.get(lead=lead, department__short_name="孝南区教育局")
        services.work_order_sign(actor=users["xnjiaoyu"], order=order)
        services.work_order_reply(actor=users["xnjiaoyu"], order=order, reply="已查处。")
        if stage == "one reply":
            continue
        services.work_order_accept(actor=supervisor, order=order)
        if stage == "closed":
            services.lead_close(actor=supervisor, lead=lead, reason=ClosureReason.RECTIFIED)
    assert loop_problems() == []


def test_random_service_calls_keep_the_loop_whole(demo_city: dict[str, int]) -> None:
    seed_the_loop()
    run_state_machine_as_test(LoopMachine, settings=SETTINGS)


# ---------------------------------------------------------------------------- found by the machine
# Each was first a failing sequence of the machine above; kept here as a plain example.


def _dispatched_lead() -> tuple[Lead, WorkOrder, WorkOrder]:
    """A B3 lead in 文昌社区, dispatched: the education order (主办) and the market order (协办)."""
    supervisor = User.objects.get(username="supervisor")
    lead = services.lead_create(
        actor=User.objects.get(username="school"),
        source=LeadSource.SCHOOL,
        description="学生反映有老师在家中开设一对一数学辅导。",
        sentinel=Sentinel.objects.get(name="体育路学校"),
        place_name="文昌社区某住宅",
    )
    services.lead_accept(
        actor=supervisor, lead=lead, violation_types=[ViolationType.objects.get(code="B3")]
    )
    services.lead_dispatch(actor=supervisor, lead=lead)
    education = WorkOrder.objects.get(lead=lead, department__short_name="孝南区教育局")
    market = WorkOrder.objects.get(lead=lead, department__short_name="孝南区市场监管局")
    return lead, education, market


def test_a_dispatched_lead_is_not_dispatched_again(demo_city: dict[str, int]) -> None:
    lead, _education, _market = _dispatched_lead()
    with pytest.raises(ServiceError):
        services.lead_dispatch(actor=User.objects.get(username="supervisor"), lead=lead)
    assert WorkOrder.objects.filter(lead=lead).count() == 2


def test_a_returned_order_is_not_signed_before_the_bureau_decides(
    demo_city: dict[str, int],
) -> None:
    _lead, _education, market = _dispatched_lead()
    officer = User.objects.get(username="xnmarket")
    services.work_order_return(
        actor=officer,
        order=market,
        proposed_department=Department.objects.get(short_name="市公安局"),
        reason="应由公安部门协查。",
    )
    with pytest.raises(ServiceError):
        services.work_order_sign(actor=officer, order=market)
    market.refresh_from_db()
    assert market.status == OrderStatus.RETURN_REQUESTED


def test_a_replied_order_is_not_signed_back_by_its_department(demo_city: dict[str, int]) -> None:
    _lead, _education, market = _dispatched_lead()
    officer = User.objects.get(username="xnmarket")
    services.work_order_sign(actor=officer, order=market)
    services.work_order_reply(actor=officer, order=market, reply="已约谈举办者。")
    with pytest.raises(ServiceError):
        services.work_order_sign(actor=officer, order=market)
    market.refresh_from_db()
    assert market.status == OrderStatus.REPLIED


def test_an_accepted_order_of_a_closed_lead_is_not_signed_again(
    demo_city: dict[str, int],
) -> None:
    supervisor = User.objects.get(username="supervisor")
    lead = services.lead_create(
        actor=supervisor,
        source=LeadSource.BUREAU,
        description="B8 线索",
        region=Region.objects.get(code=WENCHANG),
        place_name="B8 培训点",
    )
    services.lead_accept(
        actor=supervisor, lead=lead, violation_types=[ViolationType.objects.get(code="B8")]
    )
    services.lead_dispatch(actor=supervisor, lead=lead)
    order = WorkOrder.objects.get(lead=lead)
    officer = User.objects.get(username="xnjiaoyu")
    services.work_order_sign(actor=officer, order=order)
    services.work_order_reply(actor=officer, order=order, reply="已查处。")
    services.work_order_accept(actor=supervisor, order=order)
    services.lead_close(actor=supervisor, lead=lead, reason=ClosureReason.RECTIFIED)
    with pytest.raises(ServiceError):
        services.work_order_sign(actor=officer, order=order)
    order.refresh_from_db()
    assert order.status == OrderStatus.ACCEPTED
