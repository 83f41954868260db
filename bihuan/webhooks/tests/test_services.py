"""Subscriptions, signing, sending, retries and the SSRF guard, against a real local receiver."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from django.test import override_settings
from django.utils import timezone
from django.utils.translation import gettext

from bihuan.accounts.models import User
from bihuan.audit.models import Event
from bihuan.core.errors import NotAllowed, ServiceError
from bihuan.leads import clock
from bihuan.leads.tests import factories as f
from bihuan.webhooks import services, signing
from bihuan.webhooks.models import Delivery, DeliveryStatus, Subscription
from bihuan.webhooks.tests.receiver import Receiver, running_receiver

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("_loopback")]


@pytest.fixture(scope="module", autouse=True)
def _city(django_db_setup: None, django_db_blocker: Any) -> Iterator[None]:
    with f.city_for_module(django_db_blocker):
        yield


@pytest.fixture
def demo_city(db: None) -> dict[str, int]:
    return {}


@pytest.fixture
def _loopback() -> Iterator[None]:
    with override_settings(WEBHOOKS_ALLOW_LOOPBACK=True):
        yield


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with running_receiver() as state:
        yield state


def _subscribe(
    admin: User, receiver: Receiver, kinds: tuple[str, ...] = ("lead.created",), **extra: Any
) -> tuple[Subscription, str]:
    return services.subscription_create(
        actor=admin, url=receiver.url, kinds=list(kinds), region=None, **extra
    )


def _emit(kind: str = "lead.created") -> list[Delivery]:
    return services.emit(kind, None, {"lead": 1, "reference": "XS1", "region": "420902"})


def test_delivery_is_signed_with_the_secret_and_carries_its_headers(
    admin_system: User, receiver: Receiver
) -> None:
    _sub, secret = _subscribe(admin_system, receiver)
    (delivery,) = _emit()

    assert services.delivery_send(delivery.pk) is True

    (got,) = receiver.requests
    assert got.headers["X-Bihuan-Event"] == "lead.created"
    assert got.headers["X-Bihuan-Delivery"] == str(delivery.pk)
    timestamp = got.headers["X-Bihuan-Timestamp"]
    assert signing.verify(secret, timestamp, got.body, got.headers["X-Bihuan-Signature"])
    assert not signing.verify(
        "another secret", timestamp, got.body, got.headers["X-Bihuan-Signature"]
    )
    body = json.loads(got.body)
    assert set(body) == {"id", "kind", "created_at", "data"}
    assert body["id"] == str(delivery.pk) and body["data"]["reference"] == "XS1"
    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.DELIVERED
    (attempt,) = delivery.attempt_log.all()
    assert attempt.status_code == 200 and attempt.response_body == "answer 200"


def test_a_500_is_retried_with_backoff_then_delivered(
    admin_system: User, receiver: Receiver
) -> None:
    _subscribe(admin_system, receiver)
    (delivery,) = _emit()
    receiver.answers = [500, 500]
    before = timezone.now()

    assert services.delivery_send(delivery.pk) is False
    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.PENDING and delivery.attempts == 1
    assert delivery.next_attempt_at is not None
    assert delivery.next_attempt_at >= before + timedelta(minutes=1)
    # Not due yet: the scheduler's pass leaves it alone.
    assert services.deliveries_retry_due() == 0

    assert services.deliveries_retry_due(now=delivery.next_attempt_at) == 1
    delivery.refresh_from_db()
    assert delivery.attempts == 2
    assert delivery.next_attempt_at >= before + timedelta(minutes=5)

    assert services.deliveries_retry_due(now=delivery.next_attempt_at) == 1
    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.DELIVERED and delivery.attempts == 3
    assert [a.status_code for a in delivery.attempt_log.all()] == [500, 500, 200]
    assert len({r.headers["X-Bihuan-Delivery"] for r in receiver.requests}) == 1


def test_a_delivery_fails_after_the_last_backoff(admin_system: User, receiver: Receiver) -> None:
    _subscribe(admin_system, receiver)
    (delivery,) = _emit()
    receiver.default = 503
    far = timezone.now() + timedelta(days=2)

    services.delivery_send(delivery.pk)
    for _ in services.BACKOFF:
        services.deliveries_retry_due(now=far)

    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.FAILED
    assert delivery.attempts == len(services.BACKOFF) + 1
    assert delivery.next_attempt_at is None


def test_a_slow_receiver_times_out_and_the_attempt_is_logged(
    admin_system: User, receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(services, "TIMEOUT_SECONDS", 0.3)
    receiver.answers = ["slow"]
    receiver.slow_seconds = 1.0
    _subscribe(admin_system, receiver)
    (delivery,) = _emit()

    assert services.delivery_send(delivery.pk) is False

    delivery.refresh_from_db()
    (attempt,) = delivery.attempt_log.all()
    assert attempt.status_code is None and "Timeout" in attempt.error
    assert attempt.duration_ms < 1000
    assert delivery.status == DeliveryStatus.PENDING


def test_a_paused_subscription_gets_nothing(admin_system: User, receiver: Receiver) -> None:
    sub, _secret = _subscribe(admin_system, receiver)
    (queued,) = _emit()
    services.subscription_set_paused(actor=admin_system, subscription=sub, paused=True)

    assert _emit() == []
    assert services.delivery_send(queued.pk) is None
    assert receiver.requests == []


def test_a_subscription_hears_only_of_its_kinds_and_region(
    admin_system: User, receiver: Receiver
) -> None:
    services.subscription_create(
        actor=admin_system,
        url=receiver.url,
        kinds=["lead.closed"],
        region=f.region(f.data.HUAIYIN),
    )
    inside = f.lead_tip(region=f.region(f.data.HUAIYIN))
    outside = f.lead_tip(region=f.region(f.data.WENCHANG))

    assert services.emit("lead.created", inside, {}) == []
    assert services.emit("lead.closed", outside, {}) == []
    assert len(services.emit("lead.closed", inside, {})) == 1


def test_creating_a_lead_queues_one_delivery_to_a_subscriber_without_personal_data(
    admin_system: User, receiver: Receiver, django_capture_on_commit_callbacks: Any
) -> None:
    _subscribe(admin_system, receiver)
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        lead = f.lead_tip()

    (delivery,) = Delivery.objects.all()
    assert callbacks
    assert delivery.kind == "lead.created"
    data = json.loads(delivery.body)["data"]
    assert data["lead"] == lead.pk and data["reference"] == lead.reference
    assert data["region"] == lead.region.code
    assert "张女士" not in delivery.body and "13812345678" not in delivery.body
    assert services.delivery_send(delivery.pk) is True
    assert len(receiver.requests) == 1


def test_the_loop_emits_dispatch_reply_and_close(
    admin_system: User,
    receiver: Receiver,
    supervisor_city: User,
    officer_education_xiaonan: User,
    officer_market_xiaonan: User,
) -> None:
    _subscribe(
        admin_system,
        receiver,
        kinds=("lead.dispatched", "work_order.replied", "lead.closed"),
    )
    f.lead_closed(supervisor_city, officer_education_xiaonan, officer_market_xiaonan)

    kinds = sorted(Delivery.objects.values_list("kind", flat=True))
    assert kinds == ["lead.closed", "lead.dispatched", "work_order.replied", "work_order.replied"]
    reply = Delivery.objects.filter(kind="work_order.replied").first()
    assert reply is not None and "已上门核查" not in reply.body


@pytest.mark.parametrize(
    "url",
    [
        "http://10.0.0.5/hook",
        "https://192.168.1.10/hook",
        "https://169.254.169.254/latest/meta-data",
        "https://[::1]/hook",
        "https://[fe80::1]/hook",
        "https://localhost/hook",
        "ftp://example.com/hook",
        "https://0.0.0.0/hook",
    ],
)
def test_private_local_and_non_http_endpoints_are_refused(admin_system: User, url: str) -> None:
    with override_settings(WEBHOOKS_ALLOW_LOOPBACK=False), pytest.raises(ServiceError):
        services.subscription_create(
            actor=admin_system, url=url, kinds=["lead.created"], region=None
        )
    assert not Subscription.objects.exists()


def test_plain_http_is_refused_for_a_public_address(admin_system: User) -> None:
    with pytest.raises(ServiceError):
        services.subscription_create(
            actor=admin_system, url="http://93.184.216.34/hook", kinds=["lead.created"], region=None
        )


def test_loopback_http_is_refused_outside_tests_and_debug(admin_system: User) -> None:
    with override_settings(WEBHOOKS_ALLOW_LOOPBACK=False), pytest.raises(ServiceError):
        services.subscription_create(
            actor=admin_system, url="http://127.0.0.1:8/hook", kinds=["lead.created"], region=None
        )


def test_a_send_rechecks_the_address(admin_system: User, receiver: Receiver) -> None:
    _subscribe(admin_system, receiver)
    (delivery,) = _emit()

    with override_settings(WEBHOOKS_ALLOW_LOOPBACK=False):
        assert services.delivery_send(delivery.pk) is False

    assert receiver.requests == []
    assert delivery.attempt_log.get().error == gettext(
        "Private, loopback and link-local addresses are refused."
    )


def test_rotating_the_secret_signs_with_the_new_one(admin_system: User, receiver: Receiver) -> None:
    sub, old = _subscribe(admin_system, receiver)
    _sub, new = services.subscription_rotate_secret(actor=admin_system, subscription=sub)
    (delivery,) = _emit()

    services.delivery_send(delivery.pk)

    got = receiver.requests[0]
    ts, sig = got.headers["X-Bihuan-Timestamp"], got.headers["X-Bihuan-Signature"]
    assert new != old
    assert signing.verify(new, ts, got.body, sig) and not signing.verify(old, ts, got.body, sig)


def test_deleting_keeps_the_row_and_fails_what_was_pending(
    admin_system: User, receiver: Receiver
) -> None:
    sub, _secret = _subscribe(admin_system, receiver)
    (delivery,) = _emit()

    services.subscription_deactivate(actor=admin_system, subscription=sub)

    sub.refresh_from_db()
    delivery.refresh_from_db()
    assert not sub.is_active and delivery.status == DeliveryStatus.FAILED
    assert _emit() == []
    with pytest.raises(ServiceError):
        services.subscription_set_paused(actor=admin_system, subscription=sub, paused=False)


def test_send_again_reuses_the_id_and_body(admin_system: User, receiver: Receiver) -> None:
    _subscribe(admin_system, receiver)
    (delivery,) = _emit()
    services.delivery_send(delivery.pk)

    services.delivery_resend(actor=admin_system, delivery=delivery)
    services.delivery_send(delivery.pk)

    first, second = receiver.requests
    assert first.body == second.body
    assert first.headers["X-Bihuan-Delivery"] == second.headers["X-Bihuan-Delivery"]
    with pytest.raises(ServiceError):
        delivery.refresh_from_db()
        services.delivery_resend(actor=admin_system, delivery=Delivery.objects.get(pk=delivery.pk))
        services.delivery_resend(actor=admin_system, delivery=delivery)


def test_every_change_writes_an_event(admin_system: User, receiver: Receiver) -> None:
    sub, _secret = _subscribe(admin_system, receiver)
    services.subscription_set_paused(actor=admin_system, subscription=sub, paused=True)
    services.subscription_set_paused(actor=admin_system, subscription=sub, paused=False)
    services.subscription_rotate_secret(actor=admin_system, subscription=sub)
    services.subscription_deactivate(actor=admin_system, subscription=sub)

    verbs = list(
        Event.objects.filter(object_id=str(sub.pk), verb__startswith="webhook.")
        .order_by("pk")
        .values_list("verb", flat=True)
    )
    assert verbs == [
        "webhook.created",
        "webhook.paused",
        "webhook.resumed",
        "webhook.secret_rotated",
        "webhook.deactivated",
    ]
    assert all(
        sub.secret not in str(e.after) for e in Event.objects.filter(verb__startswith="webhook.")
    )


@pytest.mark.parametrize(
    "persona", ["admin_security", "admin_audit", "supervisor_city", "officer_market"]
)
def test_only_configuration_administrators_subscribe(
    persona: str, request: pytest.FixtureRequest, receiver: Receiver
) -> None:
    user = request.getfixturevalue(persona)
    with pytest.raises(NotAllowed):
        services.subscription_create(
            actor=user, url=receiver.url, kinds=["lead.created"], region=None
        )
    assert not Subscription.objects.exists()


def test_the_overdue_scan_emits_once_per_overdue_deadline(
    admin_system: User, receiver: Receiver, supervisor_city: User
) -> None:
    _subscribe(admin_system, receiver, kinds=("work_order.overdue",))
    lead = f.lead_dispatched(supervisor_city)
    order = f.order_of(lead, f.EDUCATION_XIAONAN)
    past = timezone.now() - timedelta(days=1)
    type(order).objects.filter(pk=order.pk).update(sign_due=past)

    clock.overdue_scan()
    clock.overdue_scan()

    (delivery,) = Delivery.objects.filter(kind="work_order.overdue")
    data = json.loads(delivery.body)["data"]
    assert data["work_order"] == order.pk and data["status"] == "awaiting"


def test_a_delivery_left_sending_by_a_dead_worker_is_taken_over_after_its_lease(
    admin_system: User, receiver: Receiver
) -> None:
    _subscribe(admin_system, receiver)
    (delivery,) = _emit()
    now = timezone.now()
    assert services._claim(delivery.pk, now)  # a worker took it, then died

    assert services.deliveries_retry_due(now=now) == 0
    assert services.deliveries_retry_due(now=now + services.LEASE) == 1

    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.DELIVERED and len(receiver.requests) == 1


def test_paused_deliveries_do_not_hold_up_the_retry_pass(
    admin_system: User, receiver: Receiver
) -> None:
    paused, _secret = _subscribe(admin_system, receiver)
    _emit()
    services.subscription_set_paused(actor=admin_system, subscription=paused, paused=True)
    _subscribe(admin_system, receiver)
    (active,) = _emit()

    assert services.deliveries_retry_due() == 1

    active.refresh_from_db()
    assert active.status == DeliveryStatus.DELIVERED and len(receiver.requests) == 1
