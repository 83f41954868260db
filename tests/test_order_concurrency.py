"""Two officers of one department act on the same work order at the same moment.

Each service locks the lead, then the order, and checks the move on the row it locked, so the
second officer waits for the first and then sees what the first did: a clear ServiceError ("reload
the page"), never a database error, and never two events for one move. On SQLite the write lock
is taken at BEGIN (IMMEDIATE) and the second writer queues; on PostgreSQL SELECT … FOR UPDATE
makes it wait and re-read the committed row.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import pytest
from django.db import connection

from bihuan.accounts.models import Department, Role, User
from bihuan.accounts.services import assignment_grant, user_create
from bihuan.audit.models import Event
from bihuan.core.errors import ServiceError
from bihuan.demo.data import DEMO_PASSWORD, XIAONAN
from bihuan.leads import services
from bihuan.leads.integrity import loop_problems
from bihuan.leads.models import ViolationType, WorkOrder
from bihuan.leads.workflow import LeadSource, OrderStatus
from bihuan.territory.models import Region, Sentinel

Outcome = BaseException | None


def race(*calls: Callable[[], Any]) -> list[Outcome]:
    """Run the calls in threads released together; each outcome is None or what it raised."""
    start = threading.Barrier(len(calls))
    outcomes: list[Outcome] = [None] * len(calls)

    def run(index: int, call: Callable[[], Any]) -> None:
        try:
            start.wait(timeout=30)
            call()
        except BaseException as exc:  # whatever it was, the test inspects it
            outcomes[index] = exc
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(i, call)) for i, call in enumerate(calls)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not [t for t in threads if t.is_alive()], "a thread is still waiting"
    return outcomes


def assert_refused_clearly(outcome: Outcome) -> None:
    """The loser of the race gets a message for the user, not a database error."""
    assert isinstance(outcome, ServiceError), repr(outcome)
    assert "Reload" in outcome.message or "刷新" in outcome.message, outcome.message


def events(verb: str, order: WorkOrder) -> int:
    return Event.objects.filter(
        verb=verb, object_type="leads.workorder", object_id=str(order.pk)
    ).count()


@pytest.fixture
def market_order(live_db: None, demo_city: dict[str, int]) -> WorkOrder:
    """The Xiaonan market bureau's (assisting) order on the school's lead, awaiting signature."""
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
    return WorkOrder.objects.get(lead=lead, department__short_name="孝南区市场监管局")


@pytest.fixture
def two_officers(market_order: WorkOrder) -> tuple[User, User]:
    """郭强 (xnmarket) and a colleague of the same department, both in Xiaonan."""
    colleague = user_create(
        actor=None,
        username="xnmarket2",
        password=DEMO_PASSWORD,
        display_name="周文",
        is_demo=True,
        is_synthetic=True,
    )
    assignment_grant(
        actor=None,
        user=colleague,
        role=Role.OFFICER,
        region=Region.objects.get(code=XIAONAN),
        department=Department.objects.get(short_name="孝南区市场监管局"),
    )
    return User.objects.get(username="xnmarket"), colleague


def test_two_officers_signing_at_once_sign_it_once(
    market_order: WorkOrder, two_officers: tuple[User, User]
) -> None:
    first, second = two_officers
    outcomes = race(
        lambda: services.work_order_sign(actor=first, order=market_order),
        lambda: services.work_order_sign(actor=second, order=market_order),
    )

    assert outcomes.count(None) == 1, outcomes
    assert_refused_clearly(next(o for o in outcomes if o is not None))
    assert events("work_order.signed", market_order) == 1
    market_order.refresh_from_db()
    winner = two_officers[outcomes.index(None)]
    assert (market_order.status, market_order.signed_by_id) == (OrderStatus.SIGNED, winner.pk)
    assert loop_problems() == []


def test_signing_and_returning_at_once_end_as_if_one_came_first(
    market_order: WorkOrder, two_officers: tuple[User, User]
) -> None:
    signer, returner = two_officers
    police = Department.objects.get(short_name="市公安局")
    outcomes = race(
        lambda: services.work_order_sign(actor=signer, order=market_order),
        lambda: services.work_order_return(
            actor=returner,
            order=market_order,
            proposed_department=police,
            reason="上门教学应由公安部门协查。",
        ),
    )

    signed, returned = outcomes
    # A return is allowed before or after a signature; a signature after a return is not: the
    # bureau decides a returned order, and nobody signs it in between.
    assert returned is None, repr(returned)
    market_order.refresh_from_db()
    assert market_order.status == OrderStatus.RETURN_REQUESTED
    assert events("work_order.return_requested", market_order) == 1
    if signed is None:
        assert events("work_order.signed", market_order) == 1
    else:
        assert_refused_clearly(signed)
        assert events("work_order.signed", market_order) == 0
    assert loop_problems() == []


def test_two_replies_at_once_record_one_reply(
    market_order: WorkOrder, two_officers: tuple[User, User]
) -> None:
    first, second = two_officers
    services.work_order_sign(actor=first, order=market_order)
    outcomes = race(
        lambda: services.work_order_reply(actor=first, order=market_order, reply="已约谈举办者。"),
        lambda: services.work_order_reply(actor=second, order=market_order, reply="已现场核查。"),
    )

    assert outcomes.count(None) == 1, outcomes
    assert_refused_clearly(next(o for o in outcomes if o is not None))
    assert events("work_order.replied", market_order) == 1
    market_order.refresh_from_db()
    winner_reply = ["已约谈举办者。", "已现场核查。"][outcomes.index(None)]
    assert (market_order.status, market_order.reply) == (OrderStatus.REPLIED, winner_reply)
    assert loop_problems() == []
