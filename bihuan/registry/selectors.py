"""Scoped reads of the registry."""

from __future__ import annotations

from django.db.models import Q, QuerySet

from bihuan.accounts.models import Role
from bihuan.accounts.policies import Capability, can
from bihuan.accounts.scope import scope_of
from bihuan.registry.models import Institution, InstitutionImport, MatchCandidate

_WHOLE_REGISTRY = frozenset({Role.SYSTEM_ADMIN})


def institutions_visible_to(user: object) -> QuerySet[Institution]:
    """Institutions in the subtrees of the user's places (merged-away records included)."""
    scope = scope_of(user)
    if scope.roles & _WHOLE_REGISTRY:
        return Institution.objects.all()
    if not scope.paths:
        return Institution.objects.none()
    return Institution.objects.filter(scope.region_q("region"))


def institutions_current(user: object) -> QuerySet[Institution]:
    """The visible institutions that were not merged into another record."""
    return institutions_visible_to(user).filter(merged_into__isnull=True)


def match_candidates_visible_to(user: object) -> QuerySet[MatchCandidate]:
    """Pairs in the review queue where the user may see both institutions."""
    visible = institutions_visible_to(user)
    return MatchCandidate.objects.filter(
        Q(institution__in=visible) & Q(candidate__in=visible)
    ).select_related("institution", "candidate")


def institution_imports_visible_to(user: object) -> QuerySet[InstitutionImport]:
    """A registry manager's own imports."""
    if not can(user, Capability.REGISTRY_MANAGE):
        return InstitutionImport.objects.none()
    return InstitutionImport.objects.filter(uploaded_by_id=getattr(user, "pk", None))
