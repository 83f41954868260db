"""Tokens, ETag/If-Match and Idempotency-Key on the work-order actions."""

from __future__ import annotations

import datetime
from typing import Any

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from bihuan.accounts.models import User
from bihuan.api.models import ApiToken, IdempotencyKey, hash_key
from bihuan.api.services import api_token_create, api_token_revoke
from bihuan.api.tests.conftest import token_client
from bihuan.audit.models import Event
from bihuan.leads.models import WorkOrder
from bihuan.leads.tests import factories as lead_factories

pytestmark = pytest.mark.usefixtures("city")


def _awaiting_order() -> tuple[WorkOrder, User]:
    """A fresh lead's order awaiting the Xiaonan market regulator's signature, and its officer."""
    supervisor = User.objects.get(username="supervisor")
    lead = lead_factories.lead_dispatched(supervisor)
    return lead_factories.order_of(lead, lead_factories.MARKET_XIAONAN), User.objects.get(
        username="xnmarket"
    )


def _etag(client: APIClient, order: WorkOrder) -> str:
    response = client.get(f"/api/v1/work-orders/{order.pk}/")
    assert response.status_code == 200
    return str(response["ETag"])


# ---------------------------------------------------------------------------- tokens


def test_token_is_stored_hashed_and_works(db: None) -> None:
    user = User.objects.get(username="supervisor")
    token, key = api_token_create(actor=user, name="12345 platform")
    assert token.key_hash == hash_key(key) and key not in token.key_hash
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    assert client.get("/api/v1/regions/").status_code == 200


def test_revoked_token_is_refused_at_once(db: None) -> None:
    user = User.objects.get(username="supervisor")
    token, key = api_token_create(actor=user, name="old")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    assert client.get("/api/v1/regions/").status_code == 200
    api_token_revoke(actor=user, token=token)
    assert client.get("/api/v1/regions/").status_code == 401


def test_unknown_token_and_no_token_are_refused(db: None) -> None:
    client = APIClient()
    assert client.get("/api/v1/regions/").status_code == 401
    client.credentials(HTTP_AUTHORIZATION="Token not-a-key")
    assert client.get("/api/v1/regions/").status_code == 401


@pytest.mark.parametrize("change", ["inactive", "locked"])
def test_token_of_locked_or_inactive_user_is_refused(db: None, change: str) -> None:
    user = User.objects.get(username="supervisor")
    client = token_client(user)
    if change == "inactive":
        user.is_active = False
    else:
        user.locked_until = timezone.now() + datetime.timedelta(hours=1)
    user.save()
    assert client.get("/api/v1/regions/").status_code == 401


def test_token_page_shows_the_key_once_and_revokes(client: Any) -> None:
    user = User.objects.get(username="supervisor")
    client.force_login(user)
    response = client.post("/api/v1/tokens/", {"name": "省平台"})
    token = ApiToken.objects.get(user=user, name="省平台")
    key = response.context["new_key"]
    assert key and token.key_hash == hash_key(key)
    assert key not in client.get("/api/v1/tokens/").content.decode()
    client.post(f"/api/v1/tokens/{token.pk}/revoke/")
    token.refresh_from_db()
    assert token.revoked_at is not None
    verbs = set(Event.objects.filter(object_id=str(token.pk)).values_list("verb", flat=True))
    assert {"api_token.created", "api_token.revoked"} <= verbs


def test_another_users_token_cannot_be_revoked(client: Any) -> None:
    owner = User.objects.get(username="supervisor")
    token, _key = api_token_create(actor=owner, name="mine")
    client.force_login(User.objects.get(username="xiaonan"))
    assert client.post(f"/api/v1/tokens/{token.pk}/revoke/").status_code == 404
    token.refresh_from_db()
    assert token.revoked_at is None


# ---------------------------------------------------------------------------- ETag / If-Match


def test_action_without_if_match_is_428_and_changes_nothing(db: None) -> None:
    order, officer = _awaiting_order()
    response = token_client(officer).post(f"/api/v1/work-orders/{order.pk}/sign/")
    assert response.status_code == 428
    order.refresh_from_db()
    assert order.status == "awaiting"


def test_action_with_stale_etag_is_412_and_changes_nothing(db: None) -> None:
    order, officer = _awaiting_order()
    client = token_client(officer)
    stale = _etag(client, order)
    WorkOrder.objects.filter(pk=order.pk).update(updated_at=timezone.now() + datetime.timedelta(1))
    response = client.post(f"/api/v1/work-orders/{order.pk}/sign/", HTTP_IF_MATCH=stale)
    assert response.status_code == 412
    order.refresh_from_db()
    assert order.status == "awaiting"


def test_action_with_current_etag_signs_and_returns_a_new_etag(db: None) -> None:
    order, officer = _awaiting_order()
    client = token_client(officer)
    tag = _etag(client, order)
    response = client.post(f"/api/v1/work-orders/{order.pk}/sign/", HTTP_IF_MATCH=tag)
    assert response.status_code == 200, response.content
    assert response.json()["status"] == "signed"
    assert response["ETag"] != tag
    order.refresh_from_db()
    assert order.status == "signed" and order.signed_by == officer


def test_refused_move_is_400_with_the_services_message(db: None) -> None:
    order, officer = _awaiting_order()
    client = token_client(officer)
    tag = _etag(client, order)
    response = client.post(
        f"/api/v1/work-orders/{order.pk}/extension/",
        {"days": 3, "reason": "需要更多时间"},
        HTTP_IF_MATCH=tag,
        format="json",
    )
    assert response.status_code == 400
    assert response.json()["detail"]


def test_officer_of_another_department_gets_404_on_action(db: None) -> None:
    order, _officer = _awaiting_order()
    stranger = User.objects.get(username="gongan")
    response = token_client(stranger).post(
        f"/api/v1/work-orders/{order.pk}/sign/", HTTP_IF_MATCH="*"
    )
    assert response.status_code == 404
    order.refresh_from_db()
    assert order.status == "awaiting"


def test_supervisor_urges_an_open_order(db: None) -> None:
    order, _officer = _awaiting_order()
    client = token_client(User.objects.get(username="supervisor"))
    tag = _etag(client, order)
    response = client.post(
        f"/api/v1/work-orders/{order.pk}/urge/",
        {"note": "请尽快签收"},
        HTTP_IF_MATCH=tag,
        format="json",
    )
    assert response.status_code == 200, response.content
    order.refresh_from_db()
    assert order.urge_count == 1


# ---------------------------------------------------------------------------- Idempotency-Key


def test_same_idempotency_key_and_body_replays_without_acting_twice(db: None) -> None:
    order, _officer = _awaiting_order()
    client = token_client(User.objects.get(username="supervisor"))
    tag = _etag(client, order)
    url = f"/api/v1/work-orders/{order.pk}/urge/"
    first = client.post(
        url, {"note": "催"}, HTTP_IF_MATCH=tag, HTTP_IDEMPOTENCY_KEY="k-1", format="json"
    )
    again = client.post(
        url, {"note": "催"}, HTTP_IF_MATCH=tag, HTTP_IDEMPOTENCY_KEY="k-1", format="json"
    )
    assert first.status_code == again.status_code == 200
    assert again.json() == first.json() and again["Idempotent-Replayed"] == "true"
    order.refresh_from_db()
    assert order.urge_count == 1


def test_same_idempotency_key_with_another_body_is_422(db: None) -> None:
    order, _officer = _awaiting_order()
    client = token_client(User.objects.get(username="supervisor"))
    tag = _etag(client, order)
    url = f"/api/v1/work-orders/{order.pk}/urge/"
    client.post(url, {"note": "催"}, HTTP_IF_MATCH=tag, HTTP_IDEMPOTENCY_KEY="k-2", format="json")
    other = client.post(
        url, {"note": "再催"}, HTTP_IF_MATCH="*", HTTP_IDEMPOTENCY_KEY="k-2", format="json"
    )
    assert other.status_code == 422
    order.refresh_from_db()
    assert order.urge_count == 1


def test_idempotency_key_older_than_a_day_is_forgotten(db: None) -> None:
    order, _officer = _awaiting_order()
    client = token_client(User.objects.get(username="supervisor"))
    url = f"/api/v1/work-orders/{order.pk}/urge/"
    client.post(url, {"note": "催"}, HTTP_IF_MATCH="*", HTTP_IDEMPOTENCY_KEY="k-3", format="json")
    IdempotencyKey.objects.filter(key="k-3").update(
        created_at=timezone.now() - datetime.timedelta(hours=25)
    )
    client.post(url, {"note": "催"}, HTTP_IF_MATCH="*", HTTP_IDEMPOTENCY_KEY="k-3", format="json")
    order.refresh_from_db()
    assert order.urge_count == 2


def test_idempotency_keys_are_per_user(db: None) -> None:
    order, _officer = _awaiting_order()
    url = f"/api/v1/work-orders/{order.pk}/urge/"
    for name in ("supervisor", "xiaonan"):
        client = token_client(User.objects.get(username=name))
        response = client.post(
            url, {"note": "催"}, HTTP_IF_MATCH="*", HTTP_IDEMPOTENCY_KEY="shared", format="json"
        )
        assert response.status_code == 200
    order.refresh_from_db()
    assert order.urge_count == 2


# ---------------------------------------------------------------------------- figures, docs


def test_figures_answer_for_the_users_scope_and_refuse_others(db: None) -> None:
    client = token_client(User.objects.get(username="wenchang"))
    body = client.get("/api/v1/figures/?start=2026-01-01&end=2026-12-31").json()
    assert body["scope"].startswith("region:") and "leads" in body
    city = User.objects.get(username="supervisor")
    from bihuan.reports.scope import default_scope

    outside = default_scope(city).key
    assert client.get(f"/api/v1/figures/?scope={outside}").status_code == 404


def test_docs_page_and_schema_list_every_endpoint(client: Any) -> None:
    client.force_login(User.objects.get(username="supervisor"))
    docs = client.get("/api/v1/docs/")
    assert docs.status_code == 200 and b"cdn" not in docs.content.lower()
    assert b"/static/drf_spectacular_sidecar/swagger-ui-dist/" in docs.content
    schema = client.get("/api/v1/schema/", HTTP_ACCEPT="application/json").json()
    for resource in (
        "regions",
        "institutions",
        "rounds",
        "tasks",
        "inspections",
        "leads",
        "work-orders",
        "joint-operations",
        "cases",
        "figures",
    ):
        assert f"/api/v1/{resource}/" in schema["paths"]
    assert "/api/v1/work-orders/{id}/sign/" in schema["paths"]


# ---------------------------------------------------------------------------- lead actions


def _lead_etag(client: APIClient, pk: int) -> str:
    response = client.get(f"/api/v1/leads/{pk}/")
    assert response.status_code == 200
    return str(response["ETag"])


def test_supervisor_accepts_then_dispatches_a_tip(db: None) -> None:
    lead = lead_factories.lead_tip()
    client = token_client(User.objects.get(username="supervisor"))
    accepted = client.post(
        f"/api/v1/leads/{lead.pk}/accept/",
        {"violation_types": ["B3"]},
        HTTP_IF_MATCH=_lead_etag(client, lead.pk),
        format="json",
    )
    assert accepted.status_code == 200, accepted.content
    assert accepted.json()["status"] == "accepted"
    dispatched = client.post(
        f"/api/v1/leads/{lead.pk}/dispatch/", HTTP_IF_MATCH=accepted["ETag"], format="json"
    )
    assert dispatched.status_code == 200, dispatched.content
    assert dispatched.json()["status"] == "dispatched"
    assert lead.work_orders.count() > 0


def test_coordinator_cannot_accept_a_lead_it_may_see(db: None) -> None:
    lead = lead_factories.lead_tip()
    client = token_client(User.objects.get(username="wenchang"))
    assert client.get(f"/api/v1/leads/{lead.pk}/").status_code == 200
    response = client.post(
        f"/api/v1/leads/{lead.pk}/accept/",
        {"violation_types": ["B3"]},
        HTTP_IF_MATCH="*",
        format="json",
    )
    assert response.status_code == 404
    lead.refresh_from_db()
    assert lead.status == "new"
