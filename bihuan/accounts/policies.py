"""Which role may do what: capabilities as data, checked by views and services alike."""

from __future__ import annotations

from enum import StrEnum

from bihuan.accounts.models import Role
from bihuan.accounts.scope import scope_of


class Capability(StrEnum):
    TERRITORY_MANAGE = "territory.manage"  # regions, areas, sentinels, party kinds
    DEPARTMENT_MANAGE = "department.manage"
    USER_MANAGE = "user.manage"  # create, deactivate, reset password
    ASSIGNMENT_MANAGE = "assignment.manage"  # grant and end roles (authorisation)
    ACCOUNT_UNLOCK = "account.unlock"
    SESSION_MANAGE = "session.manage"  # see and end other people's signed-in sessions
    AUDIT_READ = "audit.read"
    TERRITORY_READ = "territory.read"
    USER_READ = "user.read"
    AREA_RESPONSIBLES_MANAGE = "area.responsibles.manage"
    REGISTRY_READ = "registry.read"
    REGISTRY_MANAGE = "registry.manage"  # import, edit, approve field finds, merge
    INSTITUTION_CONTACT_READ = "registry.contact.read"  # unmasked operator phone
    CALENDAR_MANAGE = "calendar.manage"  # holidays and make-up working days
    TAXONOMY_MANAGE = "taxonomy.manage"  # violation types, groups' deadlines, routing rules
    LEAD_REPORT = "lead.report"  # enter or report a lead
    LEAD_TRIAGE = "lead.triage"  # accept, classify, dispatch, verify, close, urge, joint operations
    ORDER_HANDLE = "order.handle"  # sign, reply, return, ask for an extension
    CASE_RECORD = "case.record"  # record enforcement outcomes and refunds
    CHECKLIST_MANAGE = "checklist.manage"  # author, import and publish checklist templates
    ROUND_MANAGE = "round.manage"  # open, adjust and issue rounds; review inspections, field finds
    INSPECT = "inspect"  # fill in inspections of one's own tasks, report field finds
    FIGURES_READ = "figures.read"  # figures, dashboards, the loop's health, reports of one's slice


_READ_PLACES = {Capability.TERRITORY_READ, Capability.REGISTRY_READ}

CAPABILITIES: dict[str, frozenset[Capability]] = {
    # 三员: configuration / authorisation and security / audit, with no overlap.
    Role.SYSTEM_ADMIN: frozenset(
        {
            Capability.TERRITORY_MANAGE,
            Capability.DEPARTMENT_MANAGE,
            Capability.USER_MANAGE,
            Capability.TERRITORY_READ,
            Capability.USER_READ,
            Capability.REGISTRY_READ,
            Capability.CALENDAR_MANAGE,
            Capability.TAXONOMY_MANAGE,
            Capability.CHECKLIST_MANAGE,
        }
    ),
    Role.SECURITY_ADMIN: frozenset(
        {
            Capability.ASSIGNMENT_MANAGE,
            Capability.ACCOUNT_UNLOCK,
            Capability.SESSION_MANAGE,
            Capability.TERRITORY_READ,
            Capability.USER_READ,
        }
    ),
    Role.AUDIT_ADMIN: frozenset({Capability.AUDIT_READ}),
    Role.SUPERVISOR: frozenset(
        {
            Capability.TERRITORY_READ,
            Capability.USER_READ,
            Capability.AREA_RESPONSIBLES_MANAGE,
            Capability.REGISTRY_READ,
            Capability.REGISTRY_MANAGE,
            Capability.INSTITUTION_CONTACT_READ,
            Capability.LEAD_REPORT,
            Capability.LEAD_TRIAGE,
            Capability.CASE_RECORD,
            Capability.ROUND_MANAGE,
            Capability.FIGURES_READ,
        }
    ),
    Role.COORDINATOR: frozenset(
        {
            Capability.TERRITORY_READ,
            Capability.USER_READ,
            Capability.REGISTRY_READ,
            Capability.INSTITUTION_CONTACT_READ,
            Capability.LEAD_REPORT,
            Capability.ROUND_MANAGE,
            Capability.INSPECT,
            Capability.FIGURES_READ,
        }
    ),
    Role.INSPECTOR: frozenset(_READ_PLACES | {Capability.INSPECT}),
    Role.SCHOOL_SENTINEL: frozenset(_READ_PLACES | {Capability.LEAD_REPORT}),
    Role.OFFICER: frozenset(
        _READ_PLACES
        | {
            Capability.INSTITUTION_CONTACT_READ,
            Capability.ORDER_HANDLE,
            Capability.CASE_RECORD,
            Capability.FIGURES_READ,
        }
    ),
    Role.AREA_RESPONSIBLE: frozenset(_READ_PLACES | {Capability.FIGURES_READ}),
}


def capabilities_of(user: object) -> frozenset[Capability]:
    """Everything the user's active roles allow."""
    result: set[Capability] = set()
    for role in scope_of(user).roles:
        result |= CAPABILITIES.get(role, frozenset())
    return frozenset(result)


def can(user: object, capability: Capability) -> bool:
    """May the user do this kind of thing at all? (Where is decided by the selectors.)"""
    return capability in capabilities_of(user)
