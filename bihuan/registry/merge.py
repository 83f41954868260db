"""Merging duplicate institutions, deciding the review queue, and deduplicating a region.

A merge never deletes: the duplicate stays, pointing at the survivor through ``merged_into``,
with its own history, and every record that referred to it is moved to the survivor. References
are found through the model relations pointing to Institution, so the leads, inspections and
cases that later apps attach to institutions are moved without this module knowing them.

Locking: both institutions are locked in id order (``select_for_update``), so two merges that
share a record wait for each other instead of deadlocking; the pending pairs involving the
duplicate are locked before they are resolved.
"""

from __future__ import annotations

from typing import Any

from django.db import models, transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext as _

from bihuan.audit.services import event_record, snapshot
from bihuan.core.errors import ServiceError
from bihuan.registry import matching
from bihuan.registry.models import Category, Institution, MatchCandidate, MatchStatus
from bihuan.registry.services import FIELDS, require_manage
from bihuan.territory.models import Region

# Text and number fields the survivor takes from the duplicate when it has none of its own.
FILLABLE = [
    "credit_code",
    "licence_number",
    "operator_name",
    "contact_phone",
    "address",
    "capacity",
]
# Fields that only make sense together: taken as a group, or not at all.
POSITION = ["latitude", "longitude", "source_datum"]
PLACEMENT = ["region", "community", "area"]


def _reference_relations() -> list[tuple[type[models.Model], models.ForeignObjectRel]]:
    """(model, relation) of each relation to Institution, hidden ones (related_name="+") too.

    ``merged_into`` is left out (merged records are re-pointed on their own) and so are the
    review-queue pairs, which are resolved rather than moved.
    """
    relations = []
    for field in Institution._meta.get_fields(include_hidden=True):
        if not (field.auto_created and not field.concrete and field.is_relation):
            continue
        assert isinstance(field, models.ForeignObjectRel)
        model = field.related_model
        assert isinstance(model, type)
        if model is Institution or model is MatchCandidate:
            continue
        if isinstance(field, models.ManyToManyRel):
            through = field.through
            if through is not None and not through._meta.auto_created:
                continue  # a declared through model is moved through its own foreign key
        if not field.many_to_many and model._meta.auto_created:
            continue  # the foreign key of an automatic through table: moved with its M2M
        relations.append((model, field))
    return relations


def _move_references(duplicate: Institution, survivor: Institution) -> dict[str, int]:
    """Point every reference to the duplicate at the survivor; counts by relation."""
    moved: dict[str, int] = {}
    for model, relation in _reference_relations():
        name = relation.field.name
        if relation.many_to_many:
            count = _move_many_to_many(relation, duplicate, survivor)
        elif relation.one_to_one and model._base_manager.filter(**{name: survivor}).exists():
            count = 0  # the survivor has its own: the duplicate keeps this one
        else:
            count = model._base_manager.filter(**{name: duplicate}).update(**{name: survivor})
        if count:
            moved[f"{model._meta.label_lower}.{name}"] = count
    count = Institution.objects.filter(merged_into=duplicate).update(merged_into=survivor)
    if count:
        moved["registry.institution.merged_into"] = count
    return moved


def _move_many_to_many(
    relation: models.ForeignObjectRel, duplicate: Institution, survivor: Institution
) -> int:
    field = relation.field
    assert isinstance(field, models.ManyToManyField)
    through = field.remote_field.through
    ours, theirs = field.m2m_reverse_field_name(), field.m2m_field_name()
    linked = through._base_manager.filter(**{ours: survivor}).values(theirs)
    # Links the survivor already has stay with the duplicate rather than being doubled.
    return int(
        through._base_manager.filter(**{ours: duplicate})
        .exclude(**{f"{theirs}__in": linked})
        .update(**{ours: survivor})
    )


def _fill_from(survivor: Institution, duplicate: Institution) -> list[str]:
    """Give the survivor what it lacks and the duplicate knows; the names of the fields filled."""
    filled = []
    for name in FILLABLE:
        if getattr(survivor, name) in ("", None) and getattr(duplicate, name) not in ("", None):
            setattr(survivor, name, getattr(duplicate, name))
            filled.append(name)
    if survivor.category == Category.NONE and duplicate.category != Category.NONE:
        survivor.category = duplicate.category
        filled.append("category")
    if survivor.latitude is None and duplicate.latitude is not None:
        for name in POSITION:
            setattr(survivor, name, getattr(duplicate, name))
        filled += POSITION
    if survivor.community_id is None and duplicate.community_id is not None:
        for name in PLACEMENT:
            setattr(survivor, f"{name}_id", getattr(duplicate, f"{name}_id"))
        filled += PLACEMENT
    if duplicate.is_blacklisted and not survivor.is_blacklisted:
        # A blacklisted institution must not come off the list by being merged into a twin.
        survivor.is_blacklisted = True
        survivor.blacklist_reason = duplicate.blacklist_reason
        filled += ["is_blacklisted", "blacklist_reason"]
    return filled


def _resolve_candidates(
    actor: Any, survivor: Institution, duplicate: Institution
) -> dict[str, list[int]]:
    """Settle the pending pairs that involve the duplicate.

    The pair with the survivor is confirmed. A pair with a third record moves to the survivor,
    still pending; if the survivor already has a pair with that record, the moved one would only
    repeat it and is closed, pointing at the pair that stays (``reasons["superseded_by"]``).
    """
    now = timezone.now()
    decided_by = actor if getattr(actor, "is_authenticated", False) else None
    outcome: dict[str, list[int]] = {"confirmed": [], "moved": [], "superseded": []}
    rows = MatchCandidate.objects.select_for_update().filter(
        Q(institution=duplicate) | Q(candidate=duplicate), status=MatchStatus.PENDING
    )
    for row in rows.order_by("pk"):
        other = row.candidate_id if row.institution_id == duplicate.pk else row.institution_id
        if other == survivor.pk:
            row.status = MatchStatus.CONFIRMED
            row.decided_by, row.decided_at = decided_by, now
            row.save(update_fields=["status", "decided_by", "decided_at"])
            outcome["confirmed"].append(row.pk)
            continue
        low, high = sorted((survivor.pk, other))
        kept = MatchCandidate.objects.filter(institution_id=low, candidate_id=high).first()
        if kept is None:
            row.institution_id, row.candidate_id = low, high
            row.save(update_fields=["institution", "candidate"])
            outcome["moved"].append(row.pk)
        else:
            row.status = kept.status if kept.status != MatchStatus.PENDING else MatchStatus.REJECTED
            row.reasons = {**row.reasons, "superseded_by": kept.pk}
            row.decided_by, row.decided_at = decided_by, now
            row.save(update_fields=["status", "reasons", "decided_by", "decided_at"])
            outcome["superseded"].append(row.pk)
    return outcome


def _merge(
    *, actor: Any, survivor: Institution, duplicate: Institution, note: dict[str, Any]
) -> Institution:
    require_manage(actor)
    if survivor.pk == duplicate.pk:
        raise ServiceError(_("An institution cannot be merged into itself."))
    locked = {
        i.pk: i
        for i in Institution.objects.select_for_update()
        .filter(pk__in=[survivor.pk, duplicate.pk])
        .order_by("pk")
    }
    survivor, duplicate = locked[survivor.pk], locked[duplicate.pk]
    if survivor.is_merged:
        raise ServiceError(
            _("“%(name)s” was itself merged into another record; merge into that one.")
            % {"name": survivor.name}
        )
    if duplicate.is_merged:
        raise ServiceError(_("“%(name)s” was already merged.") % {"name": duplicate.name})
    if (
        survivor.credit_code
        and duplicate.credit_code
        and (survivor.credit_code != duplicate.credit_code)
    ):
        raise ServiceError(
            _("The two records have different credit codes: they are different institutions.")
        )
    before_survivor = snapshot(survivor, FIELDS)
    before_duplicate = snapshot(duplicate, FIELDS)

    moved = _move_references(duplicate, survivor)
    filled = _fill_from(survivor, duplicate)
    pairs = _resolve_candidates(actor, survivor, duplicate)
    # The duplicate leaves the unique credit code and licence first, so the survivor may take them.
    duplicate.merged_into = survivor
    duplicate.save(update_fields=["merged_into", "updated_at"])
    if filled:
        survivor.save()

    common = {**note, "moved": moved, "pairs": pairs}
    event_record(
        actor=actor,
        verb="institution.merged",
        obj=survivor,
        before=before_survivor,
        after=snapshot(survivor, FIELDS)
        | common
        | {"duplicate": duplicate.pk, "duplicate_name": duplicate.name, "filled": filled},
    )
    event_record(
        actor=actor,
        verb="institution.merged_into",
        obj=duplicate,
        before=before_duplicate,
        after=snapshot(duplicate, FIELDS)
        | common
        | {"survivor": survivor.pk, "survivor_name": survivor.name},
    )
    return survivor


@transaction.atomic
def institutions_merge(*, actor: Any, survivor: Institution, duplicate: Institution) -> Institution:
    """Merge ``duplicate`` into ``survivor``: references move, the duplicate stays, marked."""
    return _merge(actor=actor, survivor=survivor, duplicate=duplicate, note={})


def survivor_of(first: Institution, second: Institution) -> tuple[Institution, Institution]:
    """(survivor, duplicate) of a pair: the one with a credit code, else the older record."""
    if bool(first.credit_code) != bool(second.credit_code):
        return (first, second) if first.credit_code else (second, first)
    if (first.created_at, first.pk) <= (second.created_at, second.pk):
        return first, second
    return second, first


@transaction.atomic
def review_decide(*, actor: Any, candidate: MatchCandidate, same: bool) -> MatchCandidate:
    """Decide a pair of the review queue: the same institution (merged) or two different ones."""
    require_manage(actor)
    candidate = MatchCandidate.objects.select_for_update().get(pk=candidate.pk)
    if candidate.status != MatchStatus.PENDING:
        raise ServiceError(_("This pair was already decided."))
    first = Institution.objects.get(pk=candidate.institution_id)
    second = Institution.objects.get(pk=candidate.candidate_id)
    note = {"candidate": candidate.pk, "score": candidate.score}
    if same:
        survivor, duplicate = survivor_of(first, second)
        _merge(actor=actor, survivor=survivor, duplicate=duplicate, note=note)
        candidate.refresh_from_db()
        return candidate
    candidate.status = MatchStatus.REJECTED
    candidate.decided_by = actor if getattr(actor, "is_authenticated", False) else None
    candidate.decided_at = timezone.now()
    candidate.save(update_fields=["status", "decided_by", "decided_at"])
    for this, other in ((first, second), (second, first)):
        event_record(
            actor=actor,
            verb="institution.match_rejected",
            obj=this,
            after=note | {"other": other.pk, "other_name": other.name},
        )
    return candidate


def registry_dedupe(*, actor: Any, within: Region) -> dict[str, int]:
    """Run the matcher over the current institutions of a region; merge sure pairs, queue the rest.

    Each merge is its own transaction, so a long run keeps what it has done if stopped. Pairs are
    taken oldest record first, and a record merged away during the run is not looked at again.
    """
    require_manage(actor)
    counts = {"scanned": 0, "merged": 0, "queued": 0, "refused": 0}
    current = Institution.objects.filter(within.subtree_q("region"), merged_into__isnull=True)
    seen: set[tuple[int, int]] = set()
    for pk in list(current.order_by("created_at", "pk").values_list("pk", flat=True)):
        institution = current.select_related("region").filter(pk=pk).first()
        if institution is None:
            continue  # merged into another earlier in this run
        counts["scanned"] += 1
        found = matching.find_matches(
            matching.MatchInput.from_institution(institution), current, limit=10
        )
        for other, score in found:
            pair = (min(pk, other.pk), max(pk, other.pk))
            if pair in seen:
                continue
            seen.add(pair)
            if score.is_auto_link:
                survivor, duplicate = survivor_of(institution, other)
                try:
                    institutions_merge(actor=actor, survivor=survivor, duplicate=duplicate)
                except ServiceError:
                    counts["refused"] += 1
                    continue
                counts["merged"] += 1
                if duplicate.pk == pk:
                    break  # this record is gone; its other matches are the survivor's now
            elif score.needs_review:
                with transaction.atomic():
                    known = MatchCandidate.objects.filter(
                        institution_id=pair[0], candidate_id=pair[1]
                    ).exists()
                    matching.queue_candidate(institution, other, score, actor=actor)
                counts["queued"] += not known
    event_record(actor=actor, verb="registry.deduplicated", obj=within, after=counts)
    return counts
