"""What part of the territory a user's assignments cover: the one place scope is worked out.

Every selector builds its filter from ``scope_of(user)``; nothing else reads assignments to decide
visibility. A grant on a region covers its whole subtree (Wagtail/oscar-style tree grants).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

from django.db.models import Q

from bihuan.accounts.models import ADMIN_ROLES, PLACE_ROLES, Assignment, Role, User

_CACHE_ATTR = "_bihuan_scope"


@dataclass(frozen=True)
class Scope:
    """The active assignments of one user, reduced to what filters need."""

    roles: frozenset[str] = frozenset()
    # Region paths granted by place roles; a path covers its subtree.
    paths: tuple[str, ...] = ()
    department_ids: frozenset[int] = frozenset()
    sentinel_ids: frozenset[int] = frozenset()
    area_ids: frozenset[int] = frozenset()
    paths_by_role: dict[str, tuple[str, ...]] = field(default_factory=dict)

    @property
    def is_admin(self) -> bool:
        return bool(self.roles & ADMIN_ROLES)

    def has(self, role: str) -> bool:
        return role in self.roles

    def ancestor_paths(self) -> set[str]:
        """Every path above or equal to a granted path (for things that cover the user's place)."""
        result: set[str] = set()
        for path in self.paths:
            parts = [p for p in path.split("/") if p]
            for i in range(1, len(parts) + 1):
                result.add("/".join(parts[:i]) + "/")
        return result

    def region_q(self, field: str = "", roles: frozenset[str] | None = None) -> Q:
        """Q matching records whose region (reached through ``field``) lies in the scope."""
        paths = self.paths
        if roles is not None:
            paths = tuple(p for role in roles for p in self.paths_by_role.get(role, ()))
        if not paths:
            return Q(pk__in=[])
        prefix = f"{field}__" if field else ""
        q = Q()
        for path in _minimal(paths):
            q |= Q(**{f"{prefix}path__startswith": path})
        return q


def _minimal(paths: tuple[str, ...]) -> list[str]:
    """Drop paths already covered by a shorter one, so filters stay small."""
    result: list[str] = []
    for path in sorted(set(paths), key=len):
        if not any(path.startswith(kept) for kept in result):
            result.append(path)
    return result


# Scopes worked out in this process, by user id, with the scope stamp they were worked out under.
# Used only when the caller loaded the user together with its current stamp (``STAMP_ATTR``): a
# stamp the database bumps on every change of assignments or region paths (scope_triggers.py).
STAMP_ATTR = "_bihuan_scope_stamp"
_BY_STAMP: dict[int, tuple[int, Scope]] = {}
_BY_STAMP_MAX = 50_000
_BY_STAMP_LOCK = threading.Lock()


def scope_of(user: User | object) -> Scope:
    """The user's scope, computed once per request (cached on the user object).

    When the user object carries its scope stamp, a scope this process worked out under the same
    stamp is reused without reading the assignments again.
    """
    if not getattr(user, "is_authenticated", False) or not getattr(user, "is_active", False):
        return Scope()
    cached = getattr(user, _CACHE_ATTR, None)
    if cached is not None:
        return cached
    user_id = int(getattr(user, "pk", 0))
    stamp = getattr(user, STAMP_ATTR, None)
    if stamp is not None:
        known = _BY_STAMP.get(user_id)
        if known is not None and known[0] == stamp:
            setattr(user, _CACHE_ATTR, known[1])
            return known[1]
    scope = _scope_read(user_id)
    if stamp is not None:
        with _BY_STAMP_LOCK:
            if len(_BY_STAMP) >= _BY_STAMP_MAX:
                _BY_STAMP.clear()
            _BY_STAMP[user_id] = (stamp, scope)
    setattr(user, _CACHE_ATTR, scope)
    return scope


def _scope_read(user_id: int) -> Scope:
    """The user's scope from their active assignments."""
    rows = Assignment.objects.filter(user_id=user_id, is_active=True).values_list(
        "role", "region__path", "department_id", "sentinel_id", "area_id"
    )
    roles: set[str] = set()
    by_role: dict[str, list[str]] = {}
    departments: set[int] = set()
    sentinels: set[int] = set()
    areas: set[int] = set()
    for role, path, department_id, sentinel_id, area_id in rows:
        roles.add(role)
        if role in PLACE_ROLES:
            by_role.setdefault(role, []).append(path)
        if department_id:
            departments.add(department_id)
        if sentinel_id:
            sentinels.add(sentinel_id)
        if area_id:
            areas.add(area_id)
    scope = Scope(
        roles=frozenset(roles),
        paths=tuple(p for paths in by_role.values() for p in paths),
        department_ids=frozenset(departments),
        sentinel_ids=frozenset(sentinels),
        area_ids=frozenset(areas),
        paths_by_role={role: tuple(paths) for role, paths in by_role.items()},
    )
    return scope


def forget_scope(user: User) -> None:
    """Drop the cached scope after the user's assignments changed."""
    if hasattr(user, _CACHE_ATTR):
        delattr(user, _CACHE_ATTR)
    if hasattr(user, STAMP_ATTR):
        delattr(user, STAMP_ATTR)


__all__ = ["Role", "Scope", "forget_scope", "scope_of"]
