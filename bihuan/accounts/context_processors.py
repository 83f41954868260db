"""Navigation entries for the signed-in user, decided by their capabilities."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from django.urls import reverse
from django.utils.translation import gettext_lazy as _

from bihuan.accounts.policies import Capability, capabilities_of
from bihuan.accounts.scope import scope_of

_ENTRIES = [
    ("accounts:home", _("Home"), None),
    ("territory:regions", _("Territory"), Capability.TERRITORY_READ),
    ("territory:areas", _("Areas"), Capability.TERRITORY_READ),
    ("territory:sentinels", _("Sentinels"), Capability.TERRITORY_READ),
    ("accounts:departments", _("Departments"), Capability.TERRITORY_READ),
    ("registry:institutions", _("Institutions"), Capability.REGISTRY_READ),
    ("registry:map", _("Map"), Capability.REGISTRY_READ),
    ("registry:review", _("Possible duplicates"), Capability.REGISTRY_MANAGE),
    ("registry:import_upload", _("Import institutions"), Capability.REGISTRY_MANAGE),
    ("registry:boundaries", _("Boundaries"), Capability.TERRITORY_MANAGE),
    ("screening:my_tasks", _("My tasks"), Capability.INSPECT),
    ("screening:rounds", _("Screening rounds"), Capability.ROUND_MANAGE),
    ("screening:review_queue", _("Review inspections"), Capability.ROUND_MANAGE),
    ("leads:inbox", _("Work orders"), Capability.ORDER_HANDLE),
    ("leads:queue", _("Leads"), Capability.LEAD_TRIAGE),
    ("leads:joint_list", _("Joint operations"), Capability.LEAD_TRIAGE),
    ("leads:report", _("Report a lead"), Capability.LEAD_REPORT),
    ("cases:list", _("Cases"), Capability.CASE_RECORD),
    ("reports:dashboard", _("Dashboard"), Capability.FIGURES_READ),
    ("reports:figures", _("Figures"), Capability.FIGURES_READ),
    ("reports:health", _("Loop health"), Capability.FIGURES_READ),
    ("accounts:users", _("Users"), Capability.USER_READ),
    ("open311:clients", _("API keys (Open311)"), Capability.DEPARTMENT_MANAGE),
    ("webhooks:list", _("Webhooks"), Capability.DEPARTMENT_MANAGE),
    ("api:tokens", _("API tokens"), None),
    ("accounts:second_factor", _("Two-factor sign-in"), None),
    ("accounts:my_sessions", _("My sessions"), None),
    ("accounts:sessions", _("Active sessions"), Capability.SESSION_MANAGE),
    ("territory:import", _("Import regions"), Capability.TERRITORY_MANAGE),
    ("territory:responsible_kinds", _("Party kinds"), Capability.TERRITORY_MANAGE),
    ("calendar:year", _("Holiday calendar"), Capability.CALENDAR_MANAGE),
    ("taxonomy:types", _("Violation taxonomy"), Capability.TAXONOMY_MANAGE),
    ("screening:checklists", _("Checklists"), Capability.CHECKLIST_MANAGE),
    ("audit:events", _("Audit log"), Capability.AUDIT_READ),
]


def navigation(request: HttpRequest) -> dict[str, Any]:
    """The menu the user may see, and their roles for the header."""
    user = request.user
    if not user.is_authenticated:
        return {}
    capabilities = capabilities_of(user)
    entries = [
        {"url": reverse(name), "label": label, "active": request.path == reverse(name)}
        for name, label, capability in _ENTRIES
        if capability is None or capability in capabilities
    ]
    return {"nav_entries": entries, "user_roles": sorted(scope_of(user).roles)}
