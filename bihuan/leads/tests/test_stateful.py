"""Random people make random service calls on random leads and orders; the loop must hold.

A hypothesis state machine over the demo city. Each step picks an actor (usually the right one,
so that leads get far along the loop; sometimes anyone, or the system clock), a lead or work
order, and arguments that are sometimes wrong. A refused call (ServiceError, NotAllowed) must
leave the records exactly as they were; after every step ``loop_problems()`` must be empty and the
statuses recorded in the event log must follow the allowed moves of ``workflow``. Any other
exception is a bug in the services and fails the test with the shrunk sequence of calls.

Each example runs inside a savepoint that is rolled back at its end, so every example starts
from the demo city as the fixture loaded it.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from itertools import pairwise
from typing import Any

from django.db import transaction
from django.db.models import Count, Q
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    rule,
    run_state_machine_as_test,
)

from bihuan.accounts.models import Department, User
from bihuan.audit.models import Event
from bihuan.core.errors import ServiceError
from bihuan.demo.data import HUAIYIN, WENCHANG, XIAONAN
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
    max_examples=12,
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

actors = st.sampled_from([RIGHT, RIGHT, RIGHT, RIGHT, *PERSONAS, None])
picks = st.integers(min_value=0, max_value=999)
# Mostly a record in a state where the call makes sense, so that leads travel the whole loop.
fitting = st.sampled_from([True, True, True, False])
reasons = st.sampled_from(["情况属实，请处理。", "已核实。", "请补充材料。", "", "   ", "x" * 501])
replies = st.sampled_from(["已责令停止培训并立案。", "现场核查无此情况。", "", "x" * 4001])
_some_types = st.lists(
    st.integers(min_value=0, max_value=len(TYPE_CODES) - 1), min_size=1, max_size=2
)
type_picks = st.one_of(_some_types, _some_types, _some_types, st.just([]))


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

    @initialize()
    def school_reports(self) -> None:
        assert self.attempt(
            services.lead_create,
            actor=self.users["school"],
            source=LeadSource.SCHOOL,
            description="学生反映有老师在家中开设一对一数学辅导。",
            sentinel=self.sentinel,
            place_name="文昌社区某住宅",
        )

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
        self.attempt(
            services.lead_merge,
            actor=self._bureau_actor(actor, target),
            lead=target,
            into=self._lead(into, fits, *LEAD_OPEN),
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
            histories[(object_type, object_id)].append(after["status"])
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


def test_random_service_calls_keep_the_loop_whole(demo_city: dict[str, int]) -> None:
    run_state_machine_as_test(LoopMachine, settings=SETTINGS)
