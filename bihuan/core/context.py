"""Who is acting, from where: carried through a request so that services can record it.

Services take the actor explicitly; only the client address travels implicitly, because every
write path would otherwise have to thread the request through layers that have no other use for it.
"""

from __future__ import annotations

from contextvars import ContextVar

client_ip: ContextVar[str | None] = ContextVar("client_ip", default=None)


def current_ip() -> str | None:
    """The address of the client of the request being served, if any."""
    return client_ip.get()
