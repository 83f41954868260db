"""The move tables: closed over known statuses, terminal states final, lead status from orders."""

from __future__ import annotations

import pytest

from bihuan.leads.workflow import (
    JOINT_MOVES,
    LEAD_MOVES,
    LEAD_OPEN,
    LEAD_TERMINAL,
    ORDER_LIVE,
    ORDER_MOVES,
    ORDER_OPEN,
    ORDER_TERMINAL,
    JointStatus,
    LeadStatus,
    OrderStatus,
    lead_may_move,
    lead_status_for_orders,
    order_may_move,
)

# The only ways out of a terminal lead status: reopening (documented in LEAD_MOVES).
REOPEN: dict[str, set[str]] = {
    LeadStatus.CLOSED: {LeadStatus.DISPATCHED},
    LeadStatus.DISMISSED: {LeadStatus.ACCEPTED},
    LeadStatus.MERGED: set(),
}


@pytest.mark.parametrize(
    ("moves", "statuses"),
    [(LEAD_MOVES, LeadStatus), (ORDER_MOVES, OrderStatus), (JOINT_MOVES, JointStatus)],
    ids=["lead", "order", "joint"],
)
def test_every_status_has_a_row_of_moves(moves: dict[str, frozenset[str]], statuses: type) -> None:
    assert set(moves) == set(statuses.values)  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("moves", "statuses"),
    [(LEAD_MOVES, LeadStatus), (ORDER_MOVES, OrderStatus), (JOINT_MOVES, JointStatus)],
    ids=["lead", "order", "joint"],
)
def test_every_move_targets_a_known_status(
    moves: dict[str, frozenset[str]], statuses: type
) -> None:
    known = set(statuses.values)  # type: ignore[attr-defined]
    assert {target for targets in moves.values() for target in targets} <= known


@pytest.mark.parametrize(
    "moves", [LEAD_MOVES, ORDER_MOVES, JOINT_MOVES], ids=["lead", "order", "joint"]
)
def test_no_status_moves_to_itself(moves: dict[str, frozenset[str]]) -> None:
    assert [status for status, targets in moves.items() if status in targets] == []


def test_open_and_terminal_lead_statuses_split_every_status() -> None:
    assert set(LeadStatus.values) == LEAD_OPEN | LEAD_TERMINAL
    assert not LEAD_OPEN & LEAD_TERMINAL


@pytest.mark.parametrize("status", sorted(LEAD_TERMINAL))
def test_terminal_lead_leaves_only_by_reopening(status: str) -> None:
    assert set(LEAD_MOVES[status]) == REOPEN[status]


def test_merged_lead_is_final() -> None:
    assert LEAD_MOVES[LeadStatus.MERGED] == frozenset()


@pytest.mark.parametrize("status", sorted(ORDER_TERMINAL))
def test_terminal_order_has_no_moves(status: str) -> None:
    assert ORDER_MOVES[status] == frozenset()


@pytest.mark.parametrize("status", [JointStatus.DECLINED, JointStatus.RECORDED])
def test_finished_joint_operation_has_no_moves(status: str) -> None:
    assert JOINT_MOVES[status] == frozenset()


def test_open_orders_are_live_and_terminal_ones_are_not() -> None:
    assert ORDER_OPEN <= ORDER_LIVE
    assert not ORDER_LIVE & ORDER_TERMINAL
    assert set(OrderStatus.values) == ORDER_LIVE | ORDER_TERMINAL


def test_every_open_lead_can_still_reach_closed_or_dismissed() -> None:
    def reachable(start: str) -> set[str]:
        seen, todo = {start}, [start]
        while todo:
            for target in LEAD_MOVES[todo.pop()]:
                if target not in seen:
                    seen.add(target)
                    todo.append(target)
        return seen

    for status in LEAD_OPEN:
        assert reachable(status) & {LeadStatus.CLOSED, LeadStatus.DISMISSED, LeadStatus.MERGED}


@pytest.mark.parametrize(
    ("current", "target", "allowed"),
    [
        (LeadStatus.NEW, LeadStatus.ACCEPTED, True),
        (LeadStatus.NEW, LeadStatus.DISPATCHED, False),
        (LeadStatus.DISPATCHED, LeadStatus.DISMISSED, False),
        (LeadStatus.VERIFIED, LeadStatus.CLOSED, True),
        (LeadStatus.CLOSED, LeadStatus.DISPATCHED, True),
        (LeadStatus.MERGED, LeadStatus.ACCEPTED, False),
        ("unknown", LeadStatus.ACCEPTED, False),
    ],
)
def test_lead_may_move(current: str, target: str, allowed: bool) -> None:
    assert lead_may_move(current, target) is allowed


@pytest.mark.parametrize(
    ("current", "target", "allowed"),
    [
        (OrderStatus.AWAITING, OrderStatus.SIGNED, True),
        (OrderStatus.AWAITING, OrderStatus.REPLIED, False),
        (OrderStatus.SIGNED, OrderStatus.ACCEPTED, False),
        (OrderStatus.REPLIED, OrderStatus.SIGNED, True),
        (OrderStatus.REPLIED, OrderStatus.RETURN_REQUESTED, False),
        (OrderStatus.RETURN_REQUESTED, OrderStatus.AWAITING, True),
        (OrderStatus.REASSIGNED, OrderStatus.AWAITING, False),
        ("unknown", OrderStatus.SIGNED, False),
    ],
)
def test_order_may_move(current: str, target: str, allowed: bool) -> None:
    assert order_may_move(current, target) is allowed


A, S, R, C = OrderStatus.AWAITING, OrderStatus.SIGNED, OrderStatus.REPLIED, OrderStatus.ACCEPTED
RQ, RA, W = OrderStatus.RETURN_REQUESTED, OrderStatus.REASSIGNED, OrderStatus.WITHDRAWN


@pytest.mark.parametrize(
    ("orders", "lead_status"),
    [
        ([], LeadStatus.ACCEPTED),
        ([RA, W], LeadStatus.ACCEPTED),
        ([A], LeadStatus.DISPATCHED),
        ([S, R], LeadStatus.DISPATCHED),
        ([RQ, C], LeadStatus.DISPATCHED),
        ([R], LeadStatus.REPLIED),
        ([R, C], LeadStatus.REPLIED),
        ([R, C, RA], LeadStatus.REPLIED),
        ([C], LeadStatus.VERIFIED),
        ([C, C, RA, W], LeadStatus.VERIFIED),
        ([RA, A], LeadStatus.DISPATCHED),
    ],
)
def test_lead_status_for_orders(orders: list[str], lead_status: str) -> None:
    assert lead_status_for_orders(orders) == lead_status
