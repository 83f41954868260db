"""check_loop: silent after the demo story told through the services, loud after each corruption.

The corruptions are raw ``.update()`` calls: they bypass the services and write no event, as a
restore or a hand-made fix would. Where the database itself refuses the corrupt row (a CHECK or a
partial unique index), the test lifts that one rule inside its own transaction first: the command
must find the problem even where the database would not have let it in.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.db import connection
from django.utils import timezone

from bihuan.accounts.models import Department, User
from bihuan.audit.models import Event
from bihuan.audit.services import event_record
from bihuan.leads import services
from bihuan.leads.integrity import CHECKS, loop_problems
from bihuan.leads.models import JointOperation, Lead, ViolationType, WorkOrder
from bihuan.leads.workflow import (
    ClosureReason,
    JointStatus,
    LeadSource,
    LeadStatus,
    OrderRole,
    OrderStatus,
)
from bihuan.territory.models import Sentinel


@dataclass
class Story:
    lead: Lead
    education: WorkOrder
    market: WorkOrder
    police: WorkOrder
    bureau: Department


def _department(short_name: str) -> Department:
    return Department.objects.get(short_name=short_name)


def school_report(school: User, *, description: str = "") -> Lead:
    """体育路学校 reports a home-based one-on-one class in 文昌社区."""
    return services.lead_create(
        actor=school,
        source=LeadSource.SCHOOL,
        description=description or "学生反映有老师在家中开设一对一数学辅导，按课时收费。",
        sentinel=Sentinel.objects.get(name="体育路学校"),
        place_name="文昌社区某住宅",
        address="文昌社区3栋2单元",
    )


def tell_the_story(users: dict[str, User]) -> Story:
    """The demo story, report to close, through the services only."""
    lead = school_report(users["school"])
    supervisor = users["supervisor"]
    b3 = ViolationType.objects.get(code="B3")
    services.lead_accept(actor=supervisor, lead=lead, violation_types=[b3])
    services.lead_dispatch(actor=supervisor, lead=lead)
    education = WorkOrder.objects.get(lead=lead, department=_department("孝南区教育局"))
    market = WorkOrder.objects.get(lead=lead, department=_department("孝南区市场监管局"))
    assert education.role == OrderRole.LEAD
    assert market.role == OrderRole.ASSIST
    services.work_order_return(
        actor=users["xnmarket"],
        order=market,
        proposed_department=_department("市公安局"),
        reason="上门一对一教学不属于市场主体经营，应由公安部门协查。",
    )
    police = services.work_order_reassign(
        actor=supervisor, order=market, department=_department("市公安局"), note="同意退单。"
    )
    services.work_order_sign(actor=users["xnjiaoyu"], order=education)
    services.work_order_sign(actor=users["gongan"], order=police)
    services.work_order_reply(actor=users["xnjiaoyu"], order=education, reply="已责令停止培训。")
    services.work_order_reply(actor=users["gongan"], order=police, reply="已配合核查身份。")
    services.work_order_accept(actor=supervisor, order=education)
    services.work_order_accept(actor=supervisor, order=police)
    operation = JointOperation.objects.get(leads=lead, status=JointStatus.PROPOSED)
    services.joint_confirm(
        actor=supervisor,
        operation=operation,
        planned_for=timezone.localdate(),
        departments=[_department("孝南区教育局"), _department("市公安局")],
        team=[users["xnjiaoyu"], users["gongan"]],
    )
    services.joint_record(actor=supervisor, operation=operation, outcome="现场核查，已停止培训。")
    services.lead_close(actor=supervisor, lead=lead, reason=ClosureReason.RECTIFIED, note="已整改")
    education.refresh_from_db()
    market.refresh_from_db()
    police.refresh_from_db()
    lead.refresh_from_db()
    return Story(lead, education, market, police, _department("市教育局"))


@pytest.fixture
def story(demo_city: dict[str, int]) -> Story:
    names = ["school", "supervisor", "xnjiaoyu", "xnmarket", "gongan"]
    return tell_the_story({u.username: u for u in User.objects.filter(username__in=names)})


def run_check_loop(*args: str) -> tuple[int, list[str]]:
    out = io.StringIO()
    try:
        call_command("check_loop", *args, stdout=out)
    except SystemExit as exc:
        status = int(exc.code or 0)
    else:
        status = 0
    return status, out.getvalue().splitlines()


@contextmanager
def rule_lifted(table: str, name: str, *, index: bool = False) -> Iterator[None]:
    """Let one database rule (a CHECK, or a partial unique index) be broken, for this test only."""
    with connection.cursor() as cursor:
        if index:
            cursor.execute(f'DROP INDEX "{name}"')  # DDL is transactional: the test rolls it back
            yield
        elif connection.vendor == "sqlite":
            cursor.execute("PRAGMA ignore_check_constraints = ON")
            try:
                yield
            finally:
                cursor.execute("PRAGMA ignore_check_constraints = OFF")
        else:
            # PostgreSQL alters no table with deferred foreign-key checks pending: run them now.
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
            cursor.execute(f'ALTER TABLE "{table}" DROP CONSTRAINT "{name}"')
            cursor.execute("SET CONSTRAINTS ALL DEFERRED")
            yield


LEADS = Lead._meta.db_table
ORDERS = WorkOrder._meta.db_table


def test_the_told_story_leaves_the_loop_whole(story: Story) -> None:
    assert story.lead.status == LeadStatus.CLOSED
    assert story.market.status == OrderStatus.REASSIGNED
    assert story.market.reassigned_to_id == story.police.pk
    assert {story.education.status, story.police.status} == {OrderStatus.ACCEPTED}
    assert loop_problems() == []
    status, lines = run_check_loop()
    assert status == 0
    assert lines[-1] == "The loop holds: no problems found."


def test_the_loop_holds_at_every_step_of_the_story(demo_city: dict[str, int]) -> None:
    lead = school_report(User.objects.get(username="school"))
    assert loop_problems() == []
    services.lead_accept(
        actor=User.objects.get(username="xiaonan"),
        lead=lead,
        violation_types=[ViolationType.objects.get(code="B3")],
    )
    assert loop_problems() == []
    services.lead_dispatch(actor=User.objects.get(username="xiaonan"), lead=lead)
    assert loop_problems() == []
    order = WorkOrder.objects.get(lead=lead, role=OrderRole.LEAD)
    services.work_order_sign(actor=User.objects.get(username="xnjiaoyu"), order=order)
    assert loop_problems() == []


def _corrupt_open_lead_without_owner(s: Story) -> None:
    fresh = school_report(User.objects.get(username="school"), description="另一条线索")
    with rule_lifted(LEADS, "lead_open_has_owner_and_deadline"):
        Lead.objects.filter(pk=fresh.pk).update(owner_department=None)


def _corrupt_closed_lead_with_deadline(s: Story) -> None:
    Lead.objects.filter(pk=s.lead.pk).update(due_at=timezone.now() + timedelta(days=3))


def _corrupt_return_without_department(s: Story) -> None:
    with rule_lifted(ORDERS, "work_order_return_names_department_and_reason"):
        WorkOrder.objects.filter(pk=s.police.pk).update(
            status=OrderStatus.RETURN_REQUESTED, proposed_department=None, return_reason="x"
        )


def _corrupt_signed_without_reply_deadline(s: Story) -> None:
    with rule_lifted(ORDERS, "work_order_signed_has_reply_deadline"):
        WorkOrder.objects.filter(pk=s.police.pk).update(status=OrderStatus.SIGNED, reply_due=None)


def _corrupt_replied_without_reply(s: Story) -> None:
    with rule_lifted(ORDERS, "work_order_replied_has_reply"):
        WorkOrder.objects.filter(pk=s.police.pk).update(status=OrderStatus.REPLIED, reply="")


def _corrupt_reassigned_without_successor(s: Story) -> None:
    with rule_lifted(ORDERS, "work_order_reassigned_names_successor"):
        WorkOrder.objects.filter(pk=s.market.pk).update(reassigned_to=None)


def _corrupt_live_order_on_accepted_lead(s: Story) -> None:
    Lead.objects.filter(pk=s.lead.pk).update(
        status=LeadStatus.ACCEPTED, owner_department=s.bureau, due_at=timezone.now()
    )


def _corrupt_no_lead_department(s: Story) -> None:
    WorkOrder.objects.filter(pk=s.education.pk).update(role=OrderRole.ASSIST)


def _corrupt_department_twice(s: Story) -> None:
    with rule_lifted(ORDERS, "work_order_one_live_per_department", index=True):
        WorkOrder.objects.filter(pk=s.market.pk).update(
            department=s.police.department, status=OrderStatus.ACCEPTED
        )


def _corrupt_lead_status_against_orders(s: Story) -> None:
    Lead.objects.filter(pk=s.lead.pk).update(
        status=LeadStatus.DISPATCHED, owner_department=s.bureau, due_at=timezone.now()
    )


def _corrupt_closed_lead_with_replied_order(s: Story) -> None:
    WorkOrder.objects.filter(pk=s.police.pk).update(status=OrderStatus.REPLIED)


def _corrupt_order_status_behind_the_log(s: Story) -> None:
    WorkOrder.objects.filter(pk=s.market.pk).update(status=OrderStatus.WITHDRAWN)


def _corrupt_lead_status_behind_the_log(s: Story) -> None:
    fresh = school_report(User.objects.get(username="school"), description="另一条线索")
    Lead.objects.filter(pk=fresh.pk).update(status=LeadStatus.ACCEPTED)


def _corrupt_order_without_event(s: Story) -> None:
    WorkOrder.objects.create(
        lead=s.lead,
        department=_department("市市场监管局"),
        role=OrderRole.ASSIST,
        status=OrderStatus.WITHDRAWN,
        sign_due=timezone.now(),
    )


def _corrupt_lead_without_event(s: Story) -> None:
    Lead.objects.create(
        reference="XS-RESTORED-1",
        source=LeadSource.BUREAU,
        description="restored from a backup",
        place_name="某处",
        region=s.lead.region,
        status=LeadStatus.DISMISSED,
        dismiss_reason="restored",
    )


def _corrupt_order_with_events_but_no_status(s: Story) -> None:
    order = WorkOrder.objects.create(
        lead=s.lead,
        department=_department("市市场监管局"),
        role=OrderRole.ASSIST,
        status=OrderStatus.WITHDRAWN,
        sign_due=timezone.now(),
    )
    event_record(actor=None, verb="work_order.noted", obj=order, after={"note": "no status"})


CORRUPTIONS: list[tuple[str, Callable[[Story], None]]] = [
    ("open_lead_unowned", _corrupt_open_lead_without_owner),
    ("terminal_lead_owned", _corrupt_closed_lead_with_deadline),
    ("return_incomplete", _corrupt_return_without_department),
    ("signed_incomplete", _corrupt_signed_without_reply_deadline),
    ("reply_missing", _corrupt_replied_without_reply),
    ("reassigned_nowhere", _corrupt_reassigned_without_successor),
    ("live_order_on_undispatched_lead", _corrupt_live_order_on_accepted_lead),
    ("no_lead_department", _corrupt_no_lead_department),
    ("department_twice", _corrupt_department_twice),
    ("lead_status_mismatch", _corrupt_lead_status_against_orders),
    ("closed_lead_open_order", _corrupt_closed_lead_with_replied_order),
    ("event_status_mismatch", _corrupt_order_status_behind_the_log),
    ("event_status_mismatch", _corrupt_lead_status_behind_the_log),
    ("no_event", _corrupt_order_without_event),
    ("no_event", _corrupt_lead_without_event),
    ("event_without_status", _corrupt_order_with_events_but_no_status),
]


@pytest.mark.parametrize(
    ("kind", "corrupt"), CORRUPTIONS, ids=[fn.__name__[9:] for _, fn in CORRUPTIONS]
)
def test_check_loop_reports_each_corruption_and_fails(
    story: Story, kind: str, corrupt: Callable[[Story], None]
) -> None:
    events_before = Event.objects.count()
    corrupt(story)
    problems = loop_problems()
    assert kind in {p.kind for p in problems}, problems
    status, lines = run_check_loop()
    assert status == 1
    assert any(line.startswith(f"[{kind}] ") for line in lines)
    assert lines[-1] == f"{len(problems)} problem(s) found."
    assert Event.objects.count() >= events_before  # the check itself writes nothing


def test_the_problem_names_the_record_and_what_is_wrong(story: Story) -> None:
    _corrupt_replied_without_reply(story)
    problem = next(p for p in loop_problems() if p.kind == "reply_missing")
    assert problem.label == f"work order #{story.police.pk} ({story.lead.reference}·市公安局)"
    assert "without a reply" in problem.detail


def test_limit_caps_the_printed_problems_but_not_the_count(story: Story) -> None:
    _corrupt_lead_status_against_orders(story)
    _corrupt_replied_without_reply(story)
    total = len(loop_problems())
    assert total >= 3
    status, lines = run_check_loop("--limit", "1")
    assert status == 1
    assert len([line for line in lines if line.startswith("[")]) == 1
    assert lines[-2] == f"… {total - 1} more not shown."
    assert lines[-1] == f"{total} problem(s) found."


def test_check_loop_explains_itself_in_help() -> None:
    from bihuan.leads.management.commands.check_loop import Command

    parser = Command().create_parser("manage.py", "check_loop")
    text = parser.format_help()
    assert "owner and a deadline" in text
    assert "--limit" in text


def test_the_number_of_queries_does_not_grow_with_the_leads(
    story: Story, django_assert_max_num_queries: Callable[..., AbstractContextManager[object]]
) -> None:
    school = User.objects.get(username="school")
    for n in range(5):
        school_report(school, description=f"线索 {n}")
    # One query per check, five for the order states: not one per lead or order.
    with django_assert_max_num_queries(len(CHECKS) + 4):
        assert loop_problems() == []


def test_a_lead_moved_by_its_orders_records_its_new_status(demo_city: dict[str, int]) -> None:
    # Replying to every order makes the lead "replied": that change needs a lead event too.
    supervisor = User.objects.get(username="xiaonan")
    lead = school_report(User.objects.get(username="school"))
    services.lead_accept(
        actor=supervisor, lead=lead, violation_types=[ViolationType.objects.get(code="B3")]
    )
    services.lead_dispatch(actor=supervisor, lead=lead)
    officers = {OrderRole.LEAD: "xnjiaoyu", OrderRole.ASSIST: "xnmarket"}
    for order in WorkOrder.objects.filter(lead=lead):
        officer = User.objects.get(username=officers[OrderRole(order.role)])
        services.work_order_sign(actor=officer, order=order)
        services.work_order_reply(actor=officer, order=order, reply="已处理。")
    lead.refresh_from_db()
    assert lead.status == LeadStatus.REPLIED
    assert loop_problems() == []
