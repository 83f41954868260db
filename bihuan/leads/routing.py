"""Where a lead goes: violation types × licence category × place → departments. Pure, no database.

The service gathers the taxonomy, the active rules and the departments as plain values and calls
``route``; the result says, for each department, why it was chosen, and that explanation is stored
with the dispatch.

Choosing, in order:
1. For each violation type, the most specific active rule (a rule for a region nearer the lead beats
   one for a region further up, which beats a rule for everywhere; with the same region a rule for
   the lead's licence category beats one for any category); without a rule, the taxonomy's default.
2. The lead department (主办) is the lead department of the most severe type (ties: lowest code).
   Every other department named, as lead of another type or as assisting, assists (协办).
3. "competent" is the department that licenses the institution's category (subject → education,
   arts and sports → culture and tourism, science and technology → science and technology; no or
   unknown licence → education, which is responsible for unlicensed subject tutoring).
4. A kind is served by the active department of that kind whose jurisdiction contains the lead's
   region and is nearest to it. A lead department with no such department falls back to the
   education bureau (the bureau never drops a lead); an assisting one is left out and said so.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

COMPETENT = "competent"
EDUCATION = "education"

COMPETENT_BY_CATEGORY = {
    "subject": "education",
    "arts": "culture_tourism",
    "sports": "culture_tourism",
    "science_tech": "science_tech",
    "other": "education",
    "none": "education",
}


@dataclass(frozen=True)
class TypeSpec:
    code: str
    lead_kind: str
    assisting_kinds: tuple[str, ...]
    severity: int


@dataclass(frozen=True)
class RuleSpec:
    rule_id: int
    type_code: str
    category: str  # "" = any
    region_path: str  # "" = everywhere
    lead_kind: str
    assisting_kinds: tuple[str, ...]


@dataclass(frozen=True)
class DepartmentSpec:
    department_id: int
    kind: str
    jurisdiction_path: str


@dataclass(frozen=True)
class Why:
    """One reason a department was chosen (or left out)."""

    basis: str  # "rule", "default", "fallback", "missing"
    type_code: str
    kind: str
    rule_id: int | None = None
    as_lead_of_type: bool = False


@dataclass(frozen=True)
class Routed:
    department_id: int
    kind: str
    role: str  # "lead" or "assist"
    why: tuple[Why, ...]


@dataclass
class Routing:
    lead: Routed | None
    assisting: list[Routed] = field(default_factory=list)
    left_out: list[Why] = field(default_factory=list)

    @property
    def all(self) -> list[Routed]:
        return [*([self.lead] if self.lead else []), *self.assisting]


def _code_key(code: str) -> tuple[str, int, str]:
    """B9 before B10: the letter, then the number, then the text for anything else."""
    number = code[1:]
    return (code[:1], int(number) if number.isdigit() else 0, code)


def resolve_kind(kind: str, category: str) -> str:
    """A department kind, with "competent" replaced by the category's licensing department."""
    if kind == COMPETENT:
        return COMPETENT_BY_CATEGORY.get(category, EDUCATION)
    return kind


def rule_for(
    type_code: str, rules: Iterable[RuleSpec], *, category: str, region_path: str
) -> RuleSpec | None:
    """The most specific active rule for a type at this place and category, if any."""
    best: RuleSpec | None = None
    best_key: tuple[int, int] = (-1, -1)
    for rule in rules:
        if rule.type_code != type_code:
            continue
        if rule.category and rule.category != category:
            continue
        if rule.region_path and not region_path.startswith(rule.region_path):
            continue
        key = (len(rule.region_path), 1 if rule.category else 0)
        if key > best_key:
            best, best_key = rule, key
    return best


def department_for(
    kind: str, departments: Iterable[DepartmentSpec], region_path: str
) -> DepartmentSpec | None:
    """The department of this kind whose jurisdiction holds the place and lies nearest to it."""
    best: DepartmentSpec | None = None
    for dept in departments:
        if dept.kind != kind or not region_path.startswith(dept.jurisdiction_path):
            continue
        if best is None or len(dept.jurisdiction_path) > len(best.jurisdiction_path):
            best = dept
    return best


def route(
    types: Sequence[TypeSpec],
    rules: Sequence[RuleSpec],
    departments: Sequence[DepartmentSpec],
    *,
    category: str,
    region_path: str,
) -> Routing:
    """Route a lead with these violation types; see the module docstring for the order."""
    if not types:
        raise ValueError("a lead is routed by its violation types; it has none")
    ordered = sorted(types, key=lambda t: (-t.severity, _code_key(t.code)))
    # kind → reasons, in the order first met; the first type decides the lead kind.
    wanted: dict[str, list[Why]] = {}
    lead_kind = ""
    for index, spec in enumerate(ordered):
        rule = rule_for(spec.code, rules, category=category, region_path=region_path)
        basis = "rule" if rule else "default"
        rule_id = rule.rule_id if rule else None
        t_lead = resolve_kind(rule.lead_kind if rule else spec.lead_kind, category)
        t_assist = rule.assisting_kinds if rule else spec.assisting_kinds
        if index == 0:
            lead_kind = t_lead
        wanted.setdefault(t_lead, []).append(
            Why(basis, spec.code, t_lead, rule_id, as_lead_of_type=True)
        )
        for kind in t_assist:
            kind = resolve_kind(kind, category)
            wanted.setdefault(kind, []).append(Why(basis, spec.code, kind, rule_id))

    routing = Routing(lead=None)
    lead_dept = department_for(lead_kind, departments, region_path)
    lead_why = tuple(wanted.pop(lead_kind))
    if lead_dept is None:
        routing.left_out.append(Why("missing", ordered[0].code, lead_kind))
        lead_dept = department_for(EDUCATION, departments, region_path)
        if lead_dept is None:
            return routing  # nobody at all: the service refuses to dispatch
        # Education may also be wanted as assisting: keep those reasons on the lead.
        lead_why = (
            *lead_why,
            Why("fallback", ordered[0].code, EDUCATION),
            *wanted.pop(EDUCATION, ()),
        )
    routing.lead = Routed(lead_dept.department_id, lead_dept.kind, "lead", lead_why)
    for kind, whys in wanted.items():
        dept = department_for(kind, departments, region_path)
        if dept is None:
            routing.left_out.extend(Why("missing", w.type_code, kind) for w in whys[:1])
            continue
        if dept.department_id == lead_dept.department_id:
            continue
        routing.assisting.append(Routed(dept.department_id, dept.kind, "assist", tuple(whys)))
    return routing
