"""Background jobs of the audit log: seal what the after-commit passes left, verify the chain."""

from __future__ import annotations

import logging
from typing import Any

from django_tasks import task

from bihuan.accounts.models import User
from bihuan.audit import chain
from bihuan.audit.services import audit_chain_verify

logger = logging.getLogger(__name__)


@task()
def seal_events(slot: str = "") -> int:
    """Seal events still waiting (committed out of order, or after a failed pass); log the head."""
    sealed = chain.seal_pending(lookback=chain.SCHEDULED_LOOKBACK)
    head = chain.chain_head()
    # The head in the application log too: a copy outside the database to compare against.
    logger.info("audit chain head: seal %s, hash %s (%s sealed)", head["seq"], head["hash"], sealed)
    return sealed


@task()
def verify_chain(actor_id: int | None = None) -> dict[str, Any]:
    """Verify the whole chain and record the outcome (the audit page's "verify now")."""
    actor = User.objects.filter(pk=actor_id).first() if actor_id is not None else None
    return audit_chain_verify(actor=actor).summary()
