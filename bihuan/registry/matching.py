"""The matcher: is this record an institution the registry already holds?

One matcher serves imports, field finds and tips. ``score_pair`` is pure and explains itself: the
score (0–100) is the sum of the ``reasons``, clamped. ``find_matches`` narrows the candidates in
SQL first and scores the few that remain; ``queue_candidate`` puts an undecided pair in the review
queue.

How a pair is scored:

* ``name``: rapidfuzz on the core names (``normalize.core_name``: Simplified, half-width, without
  spaces, punctuation, bracketed branch notes and legal-form suffixes). The plain ratio, or, when
  one name contains most of the other ("孝感市小天才教育" / "小天才教育"), the partial ratio less a
  penalty for the part left over, so a bare "小天才" is not taken for "小天才艺术培训".
* ``phone``, ``community``, ``address``: the same phone, the same community and a similar address
  add a little; two different known communities take some away.
* ``branch``: two different bracketed branch notes ("（孝南分校）" / "（孝昌分校）") are different
  branches, hence different institutions, whatever their names say.
* ``licence_number``: two different licence numbers take a lot away.
* ``credit_code``: the same valid credit code is the same institution (100); two different ones
  never are (the score is 0), because a credit code names one legal person for good.

Thresholds: at ``AUTO_LINK`` or above a pair is linked without asking; from ``REVIEW`` up to it, a
person decides (a MatchCandidate row). A pair whose names agree less than ``NAME_FLOOR``, or whose
branch notes differ, never links automatically, however much its phone and address agree: two
institutions of one operator in one building ("小天才教育" / "小天才艺术") share both.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from typing import Any

from django.db.models import Q, QuerySet
from rapidfuzz import fuzz
from stdnum.cn import uscc

from bihuan.audit.services import event_record
from bihuan.core.crypto import blind_index
from bihuan.registry.models import Institution, MatchCandidate
from bihuan.registry.normalize import (
    core_name,
    normalize_address,
    normalize_name,
    normalize_phone,
    pinyin_forms,
)

# Linked without asking at this score or above (an identical core name alone reaches 100).
AUTO_LINK = 92.0
# Sent to the review queue at this score or above, below AUTO_LINK.
REVIEW = 75.0
# Names must agree at least this well for a pair to be linked without asking.
NAME_FLOOR = 88.0

PHONE_BOOST = 8.0
COMMUNITY_BOOST = 5.0
COMMUNITY_CONFLICT = -10.0
ADDRESS_BOOST = 5.0
ADDRESS_SIMILAR = 85.0  # rapidfuzz ratio of normalised addresses counted as "similar"
BRANCH_CONFLICT = -25.0
LICENCE_CONFLICT = -25.0
# Per character of the longer name left over when one name contains the other.
CONTAINED_PENALTY = 25.0
# How many rows the SQL narrowing may hand to the scorer.
CANDIDATE_CAP = 300

_BRACKETED = re.compile(r"[(（\[【](.*?)[)）\]】]")


@dataclass(frozen=True)
class MatchInput:
    """What the matcher compares of a record: normal forms only, so comparing is cheap."""

    name: str  # core name
    name_normalized: str = ""
    branch: str = ""  # normalised bracketed notes, e.g. "孝南分校"
    initials: str = ""
    community_id: int | None = None
    phone: str = ""
    address: str = ""
    credit_code: str = ""
    licence_number: str = ""
    pk: int | None = None

    @classmethod
    def from_fields(
        cls,
        name: str,
        *,
        community_id: int | None = None,
        phone: str = "",
        address: str = "",
        credit_code: str = "",
        licence_number: str = "",
        initials: str | None = None,
        pk: int | None = None,
    ) -> MatchInput:
        """Normalise raw values as a user typed them (field find, tip, import row)."""
        return cls(
            name=core_name(name),
            name_normalized=normalize_name(name),
            branch=branch_note(name),
            initials=pinyin_forms(name)[1] if initials is None else initials,
            community_id=community_id,
            phone=normalize_phone(phone),
            address=normalize_address(address),
            credit_code=_valid_credit_code(credit_code),
            licence_number=(licence_number or "").strip(),
            pk=pk,
        )

    @classmethod
    def from_institution(cls, institution: Institution) -> MatchInput:
        """The stored record's normal forms."""
        return cls(
            name=core_name(institution.name),
            name_normalized=institution.name_normalized or normalize_name(institution.name),
            branch=branch_note(institution.name),
            initials=institution.name_initials,
            community_id=institution.community_id,
            phone=normalize_phone(institution.contact_phone),
            address=normalize_address(institution.address),
            credit_code=institution.credit_code,
            licence_number=institution.licence_number,
            pk=institution.pk,
        )


@dataclass(frozen=True)
class MatchScore:
    """How alike two records are (0–100) and why: the reasons add up to the score."""

    score: float
    reasons: dict[str, float] = field(default_factory=dict)

    @property
    def is_auto_link(self) -> bool:
        return self.score >= AUTO_LINK

    @property
    def needs_review(self) -> bool:
        return REVIEW <= self.score < AUTO_LINK


def _valid_credit_code(value: str) -> str:
    # An invalid code says nothing about identity; only valid ones may veto a match.
    code = unicodedata.normalize("NFKC", value or "").strip().upper()
    return code if uscc.is_valid(code) else ""


def branch_note(name: str) -> str:
    """The bracketed notes of a name, normalised ("（孝南分校）" → "孝南分校")."""
    notes = _BRACKETED.findall(unicodedata.normalize("NFKC", name or ""))
    return normalize_name("".join(notes))


def name_similarity(a: str, b: str) -> float:
    """Similarity of two core names (0–100)."""
    if not a or not b:
        return 0.0
    if a == b:
        return 100.0
    ratio = fuzz.ratio(a, b)
    short, long = sorted((a, b), key=len)
    if len(short) < len(long) and len(short) >= 2:
        contained = fuzz.partial_ratio(short, long) - CONTAINED_PENALTY * (
            1 - len(short) / len(long)
        )
        ratio = max(ratio, contained)
    return float(ratio)


def score_pair(a: MatchInput, b: MatchInput) -> MatchScore:
    """Score two records; pure, symmetric, and explained by its reasons."""
    if a.credit_code and b.credit_code:
        if a.credit_code == b.credit_code:
            return MatchScore(100.0, {"credit_code": 100.0})
        return MatchScore(0.0, {"credit_code": -100.0})
    if a.licence_number and a.licence_number == b.licence_number:
        return MatchScore(100.0, {"licence_number": 100.0})
    name = round(name_similarity(a.name, b.name), 1)
    reasons: dict[str, float] = {"name": name}
    if a.phone and a.phone == b.phone:
        reasons["phone"] = PHONE_BOOST
    if a.community_id is not None and b.community_id is not None:
        same = a.community_id == b.community_id
        reasons["community"] = COMMUNITY_BOOST if same else COMMUNITY_CONFLICT
    if a.address and b.address and fuzz.ratio(a.address, b.address) >= ADDRESS_SIMILAR:
        reasons["address"] = ADDRESS_BOOST
    if a.branch and b.branch and a.branch != b.branch:
        reasons["branch"] = BRANCH_CONFLICT
    if a.licence_number and b.licence_number:
        reasons["licence_number"] = LICENCE_CONFLICT
    score = min(100.0, max(0.0, sum(reasons.values())))
    if name < NAME_FLOOR or "branch" in reasons:
        score = min(score, AUTO_LINK - 0.1)
    return MatchScore(round(score, 1), reasons)


def _narrowing(inp: MatchInput) -> Q:
    """Cheap SQL filters that any plausible match passes; each one can use an index.

    Exact keys, the exact normal form of the name, the same pinyin initials, and, within the same
    community, a name sharing its first two characters or the same phone. Outside a known
    community, names that differ in more than script, width, spacing or punctuation are not
    looked for: that would read every institution of the candidates once per lookup.
    """
    probes = Q(pk__in=[])
    if inp.credit_code:
        probes |= Q(credit_code=inp.credit_code)
    if inp.licence_number:
        probes |= Q(licence_number=inp.licence_number)
    if inp.name_normalized:
        probes |= Q(name_normalized=inp.name_normalized)
    if len(inp.initials) >= 2:
        probes |= Q(name_initials=inp.initials)
    if inp.community_id is not None:
        nearby = Q(name_normalized__contains=inp.name[:2]) if inp.name else Q(pk__in=[])
        if inp.phone:
            # The phone is encrypted: the same number is found through its keyed hash.
            nearby |= Q(contact_phone_hash=blind_index(inp.phone, "phone"))
        probes |= Q(community_id=inp.community_id) & nearby
    return probes


def find_matches(
    inp: MatchInput,
    candidates: QuerySet[Institution],
    limit: int = 5,
    *,
    minimum: float = REVIEW,
) -> list[tuple[Institution, MatchScore]]:
    """The best-scoring current institutions among ``candidates`` (at least ``minimum``).

    Records merged into another are never offered; ``inp.pk`` (the record itself) is left out.
    """
    if not (inp.name or inp.credit_code or inp.licence_number):
        return []
    # The probes alone in a subquery, so that the planner answers them from their indexes
    # rather than through the index on merged_into, which every current record shares.
    probed = Institution.objects.filter(_narrowing(inp)).order_by().values("pk")[:CANDIDATE_CAP]
    narrowed = candidates.filter(pk__in=probed, merged_into__isnull=True)
    if inp.pk is not None:
        narrowed = narrowed.exclude(pk=inp.pk)
    rows = narrowed.order_by("pk")
    scored = [(row, score_pair(inp, MatchInput.from_institution(row))) for row in rows]
    kept = [(row, score) for row, score in scored if score.score >= minimum]
    kept.sort(key=lambda pair: (-pair[1].score, pair[0].pk))
    return kept[:limit]


def queue_candidate(
    a: Institution, b: Institution, score: MatchScore, *, actor: Any = None
) -> MatchCandidate:
    """Put a pair in the review queue once (ordered by id); a pair already decided stays so."""
    if a.pk is None or b.pk is None or a.pk == b.pk:
        raise ValueError("A match candidate needs two different saved institutions.")
    first, second = (a, b) if a.pk < b.pk else (b, a)
    candidate, created = MatchCandidate.objects.get_or_create(
        institution=first,
        candidate=second,
        defaults={"score": score.score, "reasons": score.reasons},
    )
    if created:
        event_record(
            actor=actor,
            verb="match_candidate.queued",
            obj=candidate,
            after={
                "institution": first.pk,
                "candidate": second.pk,
                "score": score.score,
                "reasons": score.reasons,
            },
        )
    return candidate
