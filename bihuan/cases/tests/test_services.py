"""Case and refund services: each change, each refusal (which writes nothing), and who may act."""

from __future__ import annotations

import datetime
from collections.abc import Callable
from typing import Any

import pytest
from django.utils import timezone
from django.utils.translation import gettext

from bihuan.accounts.models import User
from bihuan.audit.models import Event
from bihuan.cases import services
from bihuan.cases.models import Case, CaseStatus, Refund, RefundStatus, ReinspectionResult
from bihuan.cases.tests import factories
from bihuan.core.errors import NotAllowed, ServiceError
from bihuan.leads.workflow import LeadStatus, OrderStatus
from bihuan.registry.models import Institution

TOMORROW = datetime.timedelta(days=1)


def _state() -> tuple[Any, ...]:
    return (
        list(Case.objects.order_by("pk").values()),
        list(Refund.objects.order_by("pk").values()),
        list(Institution.objects.order_by("pk").values("pk", "is_blacklisted", "blacklist_reason")),
        Event.objects.count(),
    )


def _refused(call: Callable[[], Any], error: type[ServiceError] = ServiceError) -> ServiceError:
    before = _state()
    with pytest.raises(error) as refused:
        call()
    assert _state() == before
    return refused.value


def _events(verb: str) -> list[Event]:
    return list(Event.objects.filter(verb=verb).order_by("pk"))


def _due() -> datetime.date:
    return timezone.localdate() + TOMORROW


def _rectify(actor: User, case: Case) -> Case:
    return services.case_record_rectification(actor=actor, case=case, order_text="整改", due=_due())


# Opening a case.


def test_supervisor_opens_a_case_handled_by_the_lead_department(supervisor_city: User) -> None:
    institution = factories.institution_make()
    lead = factories.dispatched_lead(institution=institution)
    case = services.case_open(actor=supervisor_city, lead=lead)
    assert case.department.short_name == factories.MARKET
    assert case.institution == institution
    assert case.region == lead.region
    assert case.status == CaseStatus.OPEN
    assert case.opened_by == supervisor_city
    (event,) = _events("case.opened")
    assert event.actor == supervisor_city
    assert event.object_id == str(case.pk)
    assert event.after is not None and event.after["department"] == case.department_id


def test_officer_opens_a_case_for_their_own_department(officer_market: User) -> None:
    lead = factories.lead_make()
    factories.order_make(lead, short_name=factories.BUREAU)
    factories.order_make(lead, role="assist")
    case = services.case_open(actor=officer_market, lead=lead)
    assert case.department.short_name == factories.MARKET


@pytest.mark.parametrize(
    "status", [LeadStatus.DISPATCHED, LeadStatus.REPLIED, LeadStatus.VERIFIED, LeadStatus.CLOSED]
)
def test_case_opens_on_a_lead_that_was_dispatched(supervisor_city: User, status: str) -> None:
    lead = factories.dispatched_lead(status=status)
    assert services.case_open(actor=supervisor_city, lead=lead).lead == lead


@pytest.mark.parametrize("status", [LeadStatus.NEW, LeadStatus.ACCEPTED, LeadStatus.DISMISSED])
def test_case_is_refused_on_a_lead_never_dispatched(supervisor_city: User, status: str) -> None:
    lead = factories.lead_make(status=status)
    factories.order_make(lead)
    error = _refused(lambda: services.case_open(actor=supervisor_city, lead=lead))
    assert error.message == gettext("A case can be opened only on a lead that was dispatched.")


def test_a_lead_has_one_case(supervisor_city: User, officer_market: User) -> None:
    lead = factories.dispatched_lead()
    services.case_open(actor=supervisor_city, lead=lead)
    error = _refused(lambda: services.case_open(actor=officer_market, lead=lead))
    assert error.message == gettext("This lead already has a case.")


@pytest.mark.parametrize("status", [OrderStatus.REASSIGNED, OrderStatus.WITHDRAWN])
def test_officer_whose_order_is_no_longer_live_may_not_act(
    officer_market: User, supervisor_city: User, status: str
) -> None:
    lead = factories.lead_make()
    order = factories.order_make(lead, status=OrderStatus.AWAITING)
    case = services.case_open(actor=supervisor_city, lead=lead)
    order.status = OrderStatus.WITHDRAWN
    order.save()
    replacement = factories.order_make(lead, short_name=factories.BUREAU)
    if status == OrderStatus.REASSIGNED:
        order.status = status
        order.reassigned_to = replacement
        order.save()
    _refused(lambda: services.case_open(actor=officer_market, lead=lead), NotAllowed)
    _refused(
        lambda: services.case_order_closure(actor=officer_market, case=case, note=""), NotAllowed
    )


def test_supervisor_of_another_district_may_not_act(supervisor_xiaonan: User) -> None:
    lead = factories.dispatched_lead(region_code="420921")  # 孝昌县
    _refused(lambda: services.case_open(actor=supervisor_xiaonan, lead=lead), NotAllowed)


# Outcomes.


def test_rectification_order_awaits_reinspection(officer_market: User) -> None:
    case = factories.case_make()
    case = services.case_record_rectification(
        actor=officer_market, case=case, order_text=" 停止学科类培训 ", due=_due()
    )
    assert case.rectification_order == "停止学科类培训"
    assert case.rectification_due == _due()
    assert case.reinspection == ReinspectionResult.PENDING
    (event,) = _events("case.rectification_ordered")
    assert event.before is not None and event.before["rectification_order"] == ""
    assert event.after is not None and event.after["reinspection"] == "pending"


@pytest.mark.parametrize(
    ("text", "days", "field"),
    [
        ("停止培训", -1, "due"),
        ("", 1, "order_text"),
        ("  ", 1, "order_text"),
        ("x" * 501, 1, "order_text"),
    ],
)
def test_rectification_needs_text_and_a_date_not_past(
    officer_market: User, text: str, days: int, field: str
) -> None:
    case = factories.case_make()
    due = timezone.localdate() + datetime.timedelta(days=days)
    error = _refused(
        lambda: services.case_record_rectification(
            actor=officer_market, case=case, order_text=text, due=due
        )
    )
    assert error.field == field


def test_rectification_due_today_is_accepted(officer_market: User) -> None:
    case = factories.case_make()
    today = timezone.localdate()
    case = services.case_record_rectification(
        actor=officer_market, case=case, order_text="整改", due=today
    )
    assert case.rectification_due == today


def test_reinspection_needs_a_rectification_order(officer_market: User) -> None:
    case = factories.case_make()
    error = _refused(
        lambda: services.case_record_reinspection(actor=officer_market, case=case, passed=True)
    )
    assert error.message == gettext(
        "A re-inspection follows a rectification order; record that first."
    )


@pytest.mark.parametrize(
    ("passed", "result"), [(True, ReinspectionResult.PASSED), (False, ReinspectionResult.FAILED)]
)
def test_reinspection_records_its_result_once(
    officer_market: User, passed: bool, result: str
) -> None:
    case = factories.case_make()
    services.case_record_rectification(
        actor=officer_market, case=case, order_text="整改", due=_due()
    )
    case = services.case_record_reinspection(
        actor=officer_market, case=case, passed=passed, note="复查"
    )
    assert case.reinspection == result
    assert case.reinspected_at is not None
    (event,) = _events("case.reinspected")
    assert event.after is not None and event.after["note"] == "复查"
    _refused(
        lambda: services.case_record_reinspection(actor=officer_market, case=case, passed=True)
    )


def test_new_rectification_after_failed_reinspection_awaits_another(
    officer_market: User,
) -> None:
    case = factories.case_make()
    services.case_record_rectification(
        actor=officer_market, case=case, order_text="整改", due=_due()
    )
    services.case_record_reinspection(actor=officer_market, case=case, passed=False)
    case = services.case_record_rectification(
        actor=officer_market, case=case, order_text="再次整改", due=_due()
    )
    assert case.reinspection == ReinspectionResult.PENDING
    assert case.reinspected_at is None


def test_penalty_is_recorded_in_fen_with_its_basis(supervisor_city: User) -> None:
    case = factories.case_make()
    case = services.case_record_penalty(
        actor=supervisor_city,
        case=case,
        amount_fen=5_000_000,
        basis="第十八条",
        document="孝教罚〔2026〕1号",
    )
    assert (case.penalty_fen, case.penalty_basis, case.penalty_document) == (
        5_000_000,
        "第十八条",
        "孝教罚〔2026〕1号",
    )
    (event,) = _events("case.penalised")
    assert event.before is not None and event.before["penalty_fen"] is None
    assert event.after is not None and event.after["penalty_fen"] == 5_000_000


@pytest.mark.parametrize(
    ("amount", "basis", "field"),
    [
        (0, "第十八条", "amount"),
        (-100, "第十八条", "amount"),
        (10**12 + 1, "第十八条", "amount"),
        (True, "第十八条", "amount"),
        (12.5, "第十八条", "amount"),
        ("100", "第十八条", "amount"),
        (100, "", "basis"),
        (100, "   ", "basis"),
    ],
)
def test_penalty_refuses_bad_amounts_and_a_missing_basis(
    supervisor_city: User, amount: Any, basis: str, field: str
) -> None:
    case = factories.case_make()
    error = _refused(
        lambda: services.case_record_penalty(
            actor=supervisor_city, case=case, amount_fen=amount, basis=basis
        )
    )
    assert error.field == field


def test_penalty_bounds_are_accepted(supervisor_city: User) -> None:
    case = factories.case_make()
    for amount in (1, 10**12):
        case = services.case_record_penalty(
            actor=supervisor_city, case=case, amount_fen=amount, basis="第十八条"
        )
        assert case.penalty_fen == amount


def test_closure_is_ordered_once(officer_market: User) -> None:
    case = factories.case_make()
    case = services.case_order_closure(actor=officer_market, case=case, note="取缔")
    assert case.closure_ordered
    (event,) = _events("case.closure_ordered")
    assert event.after is not None and event.after["note"] == "取缔"
    error = _refused(lambda: services.case_order_closure(actor=officer_market, case=case))
    assert error.message == gettext("Closure was already ordered in this case.")


def test_blacklisting_reaches_the_registry_and_names_the_officer(officer_market: User) -> None:
    institution = factories.institution_make()
    case = factories.case_make(factories.dispatched_lead(institution=institution))
    case = services.case_blacklist(actor=officer_market, case=case, reason="拒不整改")
    institution.refresh_from_db()
    assert institution.is_blacklisted
    assert institution.blacklist_reason == "拒不整改"
    assert case.blacklisted
    (own,) = _events("case.blacklisted")
    assert own.actor == officer_market
    assert own.after is not None and own.after["reason"] == "拒不整改"
    (registry,) = _events("institution.blacklisted")
    assert registry.object_id == str(institution.pk)


def test_blacklisting_needs_an_institution_and_a_reason(officer_market: User) -> None:
    case = factories.case_make()
    error = _refused(lambda: services.case_blacklist(actor=officer_market, case=case, reason="x"))
    assert error.message == gettext("This lead names no registered institution to blacklist.")
    with_place = factories.case_make(
        factories.dispatched_lead(institution=factories.institution_make())
    )
    error = _refused(
        lambda: services.case_blacklist(actor=officer_market, case=with_place, reason=" ")
    )
    assert error.field == "reason"


def test_blacklisting_keeps_an_earlier_registry_reason(
    officer_market: User, supervisor_city: User
) -> None:
    institution = factories.institution_make()
    case = factories.case_make(factories.dispatched_lead(institution=institution))
    from bihuan.registry.services import institution_set_blacklist

    institution_set_blacklist(
        actor=supervisor_city, institution=institution, blacklisted=True, reason="早先的原因"
    )
    services.case_blacklist(actor=officer_market, case=case, reason="拒不整改")
    institution.refresh_from_db()
    assert institution.blacklist_reason == "早先的原因"


# Conclusion.


def test_conclusion_needs_an_outcome(supervisor_city: User) -> None:
    case = factories.case_make()
    error = _refused(
        lambda: services.case_conclude(actor=supervisor_city, case=case, summary="已处理")
    )
    assert error.message == gettext(
        "Record at least one outcome (rectification, penalty, closure or blacklisting)."
    )


def test_conclusion_needs_a_summary(supervisor_city: User) -> None:
    case = factories.case_make(closure_ordered=True)
    error = _refused(lambda: services.case_conclude(actor=supervisor_city, case=case, summary=""))
    assert error.field == "summary"


@pytest.mark.parametrize(
    ("codes", "disguised"), [(("B1", "A2"), True), (("A2",), False), ((), False)]
)
def test_conclusion_fixes_whether_the_case_is_disguised_tutoring(
    supervisor_city: User, codes: tuple[str, ...], disguised: bool
) -> None:
    case = factories.case_make(factories.dispatched_lead(violation_codes=codes))
    services.case_record_penalty(actor=supervisor_city, case=case, amount_fen=100, basis="依据")
    case = services.case_conclude(actor=supervisor_city, case=case, summary="已处理")
    assert case.status == CaseStatus.CONCLUDED
    assert case.concluded_at is not None
    assert case.is_disguised is disguised
    (event,) = _events("case.concluded")
    assert event.after is not None and event.after["is_disguised"] is disguised


def test_disguised_flag_survives_a_later_taxonomy_edit(supervisor_city: User) -> None:
    case = factories.case_make(factories.dispatched_lead(violation_codes=("B1",)))
    services.case_order_closure(actor=supervisor_city, case=case)
    services.case_conclude(actor=supervisor_city, case=case, summary="已处理")
    case.lead.violation_types.update(is_disguised=False)
    case.refresh_from_db()
    assert case.is_disguised


@pytest.mark.parametrize(
    "call",
    ["rectification", "reinspection", "penalty", "closure", "blacklist", "conclude"],
)
def test_concluded_case_refuses_further_changes(supervisor_city: User, call: str) -> None:
    institution = factories.institution_make()
    case = factories.case_make(factories.dispatched_lead(institution=institution))
    services.case_record_rectification(
        actor=supervisor_city, case=case, order_text="整改", due=_due()
    )
    services.case_conclude(actor=supervisor_city, case=case, summary="已处理")
    calls: dict[str, Callable[[], Any]] = {
        "rectification": lambda: services.case_record_rectification(
            actor=supervisor_city, case=case, order_text="整改", due=_due()
        ),
        "reinspection": lambda: services.case_record_reinspection(
            actor=supervisor_city, case=case, passed=True
        ),
        "penalty": lambda: services.case_record_penalty(
            actor=supervisor_city, case=case, amount_fen=100, basis="依据"
        ),
        "closure": lambda: services.case_order_closure(actor=supervisor_city, case=case),
        "blacklist": lambda: services.case_blacklist(actor=supervisor_city, case=case, reason="r"),
        "conclude": lambda: services.case_conclude(actor=supervisor_city, case=case, summary="s"),
    }
    error = _refused(calls[call])
    assert error.message == gettext("This case is concluded; only refunds may still be reported.")


# Refunds.


def test_refund_is_reported_on_a_concluded_case(officer_market: User) -> None:
    case = factories.case_make(closure_ordered=True)
    services.case_conclude(actor=officer_market, case=case, summary="已处理")
    refund = services.refund_report(
        actor=officer_market, case=case, amount_fen=170_000_000, families=85, note="清退"
    )
    assert (refund.amount_fen, refund.families, refund.status) == (
        170_000_000,
        85,
        RefundStatus.REPORTED,
    )
    assert refund.reported_by == officer_market
    (event,) = _events("refund.reported")
    assert event.after is not None and event.after["amount_fen"] == 170_000_000


@pytest.mark.parametrize(
    ("amount", "families", "field"),
    [
        (0, 1, "amount"),
        (-1, 1, "amount"),
        (10**12 + 1, 1, "amount"),
        (1.5, 1, "amount"),
        (100, 0, "families"),
        (100, -3, "families"),
        (100, False, "families"),
        (100, 1_000_001, "families"),
    ],
)
def test_refund_needs_positive_whole_numbers(
    officer_market: User, amount: Any, families: Any, field: str
) -> None:
    case = factories.case_make()
    error = _refused(
        lambda: services.refund_report(
            actor=officer_market, case=case, amount_fen=amount, families=families
        )
    )
    assert error.field == field


def test_bureau_verifies_a_refund(officer_market: User, supervisor_city: User) -> None:
    case = factories.case_make()
    refund = services.refund_report(actor=officer_market, case=case, amount_fen=100, families=1)
    refund = services.refund_verify(actor=supervisor_city, refund=refund)
    assert refund.status == RefundStatus.VERIFIED
    assert refund.verified_by == supervisor_city
    assert refund.verified_at is not None
    (event,) = _events("refund.verified")
    assert event.before is not None and event.before["status"] == "reported"
    assert event.after is not None and event.after["status"] == "verified"


def test_double_verification_is_refused_clearly(
    officer_market: User, supervisor_city: User
) -> None:
    case = factories.case_make()
    refund = services.refund_report(actor=officer_market, case=case, amount_fen=100, families=1)
    services.refund_verify(actor=supervisor_city, refund=refund)
    error = _refused(lambda: services.refund_verify(actor=supervisor_city, refund=refund))
    assert error.message == gettext("This refund was already verified.")


def test_bureau_rejects_a_refund_with_a_reason(
    officer_market: User, supervisor_xiaonan: User
) -> None:
    case = factories.case_make()
    refund = services.refund_report(actor=officer_market, case=case, amount_fen=100, families=1)
    error = _refused(
        lambda: services.refund_reject(actor=supervisor_xiaonan, refund=refund, reason=" ")
    )
    assert error.field == "reason"
    refund = services.refund_reject(actor=supervisor_xiaonan, refund=refund, reason="凭证不全")
    assert refund.status == RefundStatus.REJECTED
    assert refund.rejection_reason == "凭证不全"
    assert len(_events("refund.rejected")) == 1
    error = _refused(lambda: services.refund_verify(actor=supervisor_xiaonan, refund=refund))
    assert error.message == gettext("This refund was rejected; it cannot be verified.")
    _refused(lambda: services.refund_reject(actor=supervisor_xiaonan, refund=refund, reason="x"))


def test_verified_refund_cannot_be_rejected(officer_market: User, supervisor_city: User) -> None:
    case = factories.case_make()
    refund = services.refund_report(actor=officer_market, case=case, amount_fen=100, families=1)
    services.refund_verify(actor=supervisor_city, refund=refund)
    _refused(lambda: services.refund_reject(actor=supervisor_city, refund=refund, reason="x"))


def test_officer_may_not_verify_a_refund(officer_market: User) -> None:
    case = factories.case_make()
    refund = services.refund_report(actor=officer_market, case=case, amount_fen=100, families=1)
    _refused(lambda: services.refund_verify(actor=officer_market, refund=refund), NotAllowed)


def test_refund_decision_tells_the_reporter_after_commit(
    officer_market: User, supervisor_city: User, django_capture_on_commit_callbacks: Any
) -> None:
    from bihuan.notifications.models import Notification

    case = factories.case_make()
    refund = services.refund_report(actor=officer_market, case=case, amount_fen=12_345, families=2)
    with django_capture_on_commit_callbacks(execute=True):
        services.refund_verify(actor=supervisor_city, refund=refund)
    (note,) = Notification.objects.filter(user=officer_market)
    assert note.url == f"/cases/{case.pk}/"
    assert "123.45" in note.title


# The permission matrix: persona × action; a refused action changes nothing.

PERSONAS = [
    "supervisor_city",
    "supervisor_xiaonan",
    "officer_market",
    "coordinator_wenchang",
    "school_tiyulu",
    "inspector_wenchang",
    "area_guangchang",
    "admin_system",
    "admin_audit",
]
RECORDERS = {"supervisor_city", "supervisor_xiaonan", "officer_market"}
VERIFIERS = {"supervisor_city", "supervisor_xiaonan"}
ACTIONS = [
    "open",
    "rectification",
    "reinspection",
    "penalty",
    "closure",
    "blacklist",
    "conclude",
    "refund",
    "verify",
    "reject",
]


@pytest.fixture
def world(supervisor_city: User, school_tiyulu: User) -> dict[str, Any]:
    """A lead in 文昌社区 reported by the school sentinel, with its case and a reported refund."""
    institution = factories.institution_make()
    lead = factories.dispatched_lead(institution=institution, reporter=school_tiyulu)
    case = factories.case_make(
        factories.dispatched_lead(institution=institution, reporter=school_tiyulu)
    )
    services.case_record_rectification(
        actor=supervisor_city, case=case, order_text="整改", due=_due()
    )
    refund = services.refund_report(actor=supervisor_city, case=case, amount_fen=100, families=1)
    return {"lead": lead, "case": case, "refund": refund}


def _call(action: str, actor: User, world: dict[str, Any]) -> Any:
    case, refund = world["case"], world["refund"]
    calls: dict[str, Callable[[], Any]] = {
        "open": lambda: services.case_open(actor=actor, lead=world["lead"]),
        "rectification": lambda: services.case_record_rectification(
            actor=actor, case=case, order_text="整改", due=_due()
        ),
        "reinspection": lambda: services.case_record_reinspection(
            actor=actor, case=case, passed=True
        ),
        "penalty": lambda: services.case_record_penalty(
            actor=actor, case=case, amount_fen=100, basis="依据"
        ),
        "closure": lambda: services.case_order_closure(actor=actor, case=case),
        "blacklist": lambda: services.case_blacklist(actor=actor, case=case, reason="拒不整改"),
        "conclude": lambda: services.case_conclude(actor=actor, case=case, summary="已处理"),
        "refund": lambda: services.refund_report(
            actor=actor, case=case, amount_fen=100, families=1
        ),
        "verify": lambda: services.refund_verify(actor=actor, refund=refund),
        "reject": lambda: services.refund_reject(actor=actor, refund=refund, reason="凭证不全"),
    }
    return calls[action]()


@pytest.mark.parametrize("action", ACTIONS)
@pytest.mark.parametrize("persona", PERSONAS)
def test_permission_matrix(
    request: pytest.FixtureRequest, world: dict[str, Any], persona: str, action: str
) -> None:
    actor: User = request.getfixturevalue(persona)
    allowed = VERIFIERS if action in ("verify", "reject") else RECORDERS
    if persona in allowed:
        before = Event.objects.count()
        _call(action, actor, world)
        assert Event.objects.count() > before
        assert Event.objects.order_by("-pk").filter(actor=actor).exists()
    else:
        _refused(lambda: _call(action, actor, world), NotAllowed)
