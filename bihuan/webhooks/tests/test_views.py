"""The webhook pages: who sees them, the secret shown once, pause, rotate, delete, send again."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from django.test import Client, override_settings
from django.urls import reverse

from bihuan.accounts.models import User
from bihuan.leads.tests import factories as f
from bihuan.webhooks import services
from bihuan.webhooks.models import Delivery, DeliveryStatus, Subscription

pytestmark = pytest.mark.django_db

URL = "http://127.0.0.1:9/hook"  # never contacted: nothing here sends


@pytest.fixture(scope="module", autouse=True)
def _city(django_db_setup: None, django_db_blocker: Any) -> Iterator[None]:
    with f.city_for_module(django_db_blocker):
        yield


@pytest.fixture
def demo_city(db: None) -> dict[str, int]:
    return {}


@pytest.fixture(autouse=True)
def _loopback() -> Iterator[None]:
    with override_settings(WEBHOOKS_ALLOW_LOOPBACK=True):
        yield


@pytest.fixture
def subscription(admin_system: User) -> Subscription:
    sub, _secret = services.subscription_create(
        actor=admin_system, url=URL, kinds=["lead.created"], region=None
    )
    return sub


def _client(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


def _pages(sub: Subscription) -> list[tuple[str, str, dict[str, str]]]:
    delivery = services.emit("lead.created", None, {"lead": 1})[0]
    Delivery.objects.filter(pk=delivery.pk).update(status=DeliveryStatus.FAILED)
    return [
        ("get", reverse("webhooks:list"), {}),
        ("get", reverse("webhooks:create"), {}),
        ("post", reverse("webhooks:create"), {"url": URL, "kinds": "lead.closed"}),
        ("get", reverse("webhooks:detail", args=[sub.pk]), {}),
        ("post", reverse("webhooks:pause", args=[sub.pk]), {"paused": "1"}),
        ("post", reverse("webhooks:rotate", args=[sub.pk]), {}),
        ("post", reverse("webhooks:delete", args=[sub.pk]), {}),
        ("post", reverse("webhooks:resend", args=[sub.pk, delivery.pk]), {}),
    ]


@pytest.mark.parametrize(
    "persona",
    [
        "admin_security",
        "admin_audit",
        "supervisor_city",
        "coordinator_wenchang",
        "officer_market",
        "school_tiyulu",
    ],
)
def test_everyone_but_configuration_administrators_gets_404_and_changes_nothing(
    persona: str, request: pytest.FixtureRequest, subscription: Subscription
) -> None:
    client = _client(request.getfixturevalue(persona))
    pages = _pages(subscription)
    before = f.fingerprint("webhooks", "audit")

    for method, url, data in pages:
        assert getattr(client, method)(url, data).status_code == 404, url

    assert f.fingerprint("webhooks", "audit") == before


def test_anonymous_visitors_are_sent_to_log_in(subscription: Subscription) -> None:
    response = Client().get(reverse("webhooks:detail", args=[subscription.pk]))
    assert response.status_code == 302 and "login" in response["Location"]


def test_creating_shows_the_secret_once_and_never_again(admin_system: User) -> None:
    client = _client(admin_system)

    response = client.post(
        reverse("webhooks:create"),
        {"url": URL, "kinds": ["lead.created", "lead.closed"], "description": "12345 平台"},
    )

    sub = Subscription.objects.get()
    assert response.status_code == 200
    assert sub.secret in response.content.decode()
    assert "no-store" in response["Cache-Control"]
    assert sub.kinds == ["lead.closed", "lead.created"]
    assert sub.secret not in client.get(reverse("webhooks:detail", args=[sub.pk])).content.decode()
    assert sub.secret not in client.get(reverse("webhooks:list")).content.decode()


def test_a_private_address_is_refused_on_the_form(admin_system: User) -> None:
    with override_settings(WEBHOOKS_ALLOW_LOOPBACK=False):
        response = _client(admin_system).post(
            reverse("webhooks:create"), {"url": "https://10.1.2.3/x", "kinds": ["lead.created"]}
        )
    assert response.status_code == 200
    assert response.context["form"].errors["url"]
    assert not Subscription.objects.exists()


def test_pause_resume_rotate_and_delete_from_the_page(
    admin_system: User, subscription: Subscription
) -> None:
    client = _client(admin_system)
    old = subscription.secret

    client.post(reverse("webhooks:pause", args=[subscription.pk]), {"paused": "1"})
    subscription.refresh_from_db()
    assert subscription.is_paused
    client.post(reverse("webhooks:pause", args=[subscription.pk]), {"paused": "0"})
    subscription.refresh_from_db()
    assert not subscription.is_paused

    response = client.post(reverse("webhooks:rotate", args=[subscription.pk]))
    subscription.refresh_from_db()
    assert subscription.secret != old and subscription.secret in response.content.decode()

    client.post(reverse("webhooks:delete", args=[subscription.pk]))
    subscription.refresh_from_db()
    assert not subscription.is_active
    assert client.get(reverse("webhooks:detail", args=[subscription.pk])).status_code == 200


def test_send_again_queues_a_failed_delivery(
    admin_system: User, subscription: Subscription
) -> None:
    (delivery,) = services.emit("lead.created", None, {"lead": 1})
    Delivery.objects.filter(pk=delivery.pk).update(status=DeliveryStatus.FAILED)

    response = _client(admin_system).post(
        reverse("webhooks:resend", args=[subscription.pk, delivery.pk])
    )

    delivery.refresh_from_db()
    assert response.status_code == 302
    assert delivery.status == DeliveryStatus.PENDING


def test_the_delivery_log_lists_attempts_in_few_queries(
    admin_system: User, subscription: Subscription, django_assert_max_num_queries: Any
) -> None:
    for n in range(15):
        (delivery,) = services.emit("lead.created", None, {"lead": n})
        delivery.attempt_log.create(status_code=500, response_body="oops", duration_ms=12)
    client = _client(admin_system)

    with django_assert_max_num_queries(12):
        response = client.get(reverse("webhooks:detail", args=[subscription.pk]))

    assert response.status_code == 200
    assert response.content.decode().count("HTTP 500") == 15


def test_the_list_shows_every_subscription_in_few_queries(
    admin_system: User, django_assert_max_num_queries: Any
) -> None:
    for n in range(10):
        services.subscription_create(
            actor=admin_system, url=f"{URL}{n}", kinds=["lead.created"], region=f.region()
        )
    client = _client(admin_system)

    with django_assert_max_num_queries(10):
        response = client.get(reverse("webhooks:list"))

    assert response.content.decode().count(URL) == 10
