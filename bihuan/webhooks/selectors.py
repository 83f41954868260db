"""Reads of the webhooks; only configuration administrators see any, others get an empty set."""

from __future__ import annotations

from django.db.models import QuerySet

from bihuan.accounts.policies import can
from bihuan.webhooks.models import Delivery, Subscription
from bihuan.webhooks.services import CAPABILITY


def subscriptions_visible_to(user: object) -> QuerySet[Subscription]:
    """Every subscription, deleted ones too, for administrators; none for anyone else."""
    if not can(user, CAPABILITY):
        return Subscription.objects.none()
    return Subscription.objects.select_related("region", "created_by")


def deliveries_of(subscription: Subscription) -> QuerySet[Delivery]:
    """The delivery log of one (already visible) subscription, newest first, with attempts."""
    return subscription.deliveries.prefetch_related("attempt_log").order_by("-created_at")
