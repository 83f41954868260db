"""Two workers claiming one delivery: committed rows, real threads, one request received."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest
from django.db import connection
from django.test import override_settings

from bihuan.accounts.models import User
from bihuan.webhooks import services
from bihuan.webhooks.models import DeliveryStatus, Subscription
from bihuan.webhooks.tests.receiver import Receiver, running_receiver

ROUNDS = 8


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with running_receiver() as state:
        yield state


@override_settings(WEBHOOKS_ALLOW_LOOPBACK=True)
def test_two_workers_claiming_one_delivery_send_it_once(live_db: None, receiver: Receiver) -> None:
    owner = User.objects.create_user(username="hooks-owner", password="x")
    sub = Subscription.objects.create(
        url=receiver.url, kinds=["lead.created"], secret="s" * 64, created_by=owner
    )
    # A race is a matter of timing: run it a few times, each with a fresh delivery.
    for _ in range(ROUNDS):
        (delivery,) = services.emit("lead.created", None, {"lead": 1})
        assert delivery.subscription_id == sub.pk
        start = threading.Barrier(2)
        results: list[bool | None] = []

        def worker(
            pk: object = delivery.pk,
            start: threading.Barrier = start,
            results: list[bool | None] = results,
        ) -> None:
            try:
                start.wait()
                results.append(services.delivery_send(pk))
            finally:
                connection.close()

        threads = [threading.Thread(target=worker) for _ in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)

        assert sorted(results, key=str) == [None, True]
        delivery.refresh_from_db()
        assert delivery.status == DeliveryStatus.DELIVERED and delivery.attempts == 1
    assert len(receiver.requests) == ROUNDS
    assert len({r.headers["X-Bihuan-Delivery"] for r in receiver.requests}) == ROUNDS
