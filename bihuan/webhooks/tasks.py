"""Background jobs of the webhooks: send one delivery, and retry those whose backoff ran out."""

from __future__ import annotations

from django_tasks import task

from bihuan.webhooks import services


@task()
def deliver(delivery_id: str) -> bool | None:
    """Send one delivery (a no-op if another worker took it, or it is not due)."""
    return services.delivery_send(delivery_id)


@task()
def retry_due(slot: str = "") -> int:
    """Send every delivery whose next attempt is due."""
    return services.deliveries_retry_due()
