"""Two requests with one Idempotency-Key at the same moment: the action happens once.

The action and its key commit in one transaction; the request whose key lands second rolls its
own action back and answers with the first one's response.
"""

from __future__ import annotations

from typing import Any

import pytest

from bihuan.accounts.models import User
from bihuan.api.models import IdempotencyKey
from bihuan.api.tests.conftest import token_client
from bihuan.leads.models import WorkOrder
from bihuan.leads.tests import factories as f
from tests.test_order_concurrency import race


@pytest.fixture
def open_order(live_db: None, demo_city: dict[str, int]) -> WorkOrder:
    lead = f.lead_dispatched(User.objects.get(username="supervisor"))
    return f.order_of(lead, f.MARKET_XIAONAN)


def test_one_key_posted_twice_at_once_urges_once(open_order: WorkOrder) -> None:
    supervisor = User.objects.get(username="supervisor")
    clients = [token_client(supervisor), token_client(supervisor)]
    answers: list[Any] = [None, None]
    url = f"/api/v1/work-orders/{open_order.pk}/urge/"

    def post(index: int) -> None:
        answers[index] = clients[index].post(
            url, {"note": "催"}, HTTP_IF_MATCH="*", HTTP_IDEMPOTENCY_KEY="race", format="json"
        )

    outcomes = race(lambda: post(0), lambda: post(1))
    assert outcomes == [None, None]
    assert [a.status_code for a in answers] == [200, 200]
    assert answers[0].json() == answers[1].json()
    open_order.refresh_from_db()
    assert open_order.urge_count == 1
    assert IdempotencyKey.objects.filter(user=supervisor, key="race").count() == 1
