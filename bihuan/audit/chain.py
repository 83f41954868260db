"""The hash chain over the event log: sealing committed events, and checking the chain.

Each event gets one ``Seal`` after its transaction commits: ``hash = HMAC-SHA256(key, prev_hash ||
canonical JSON of the event and its position)``. Sealing after commit, not inside the writing
transaction, because PostgreSQL commits ids out of order and a chain lock held from a
transaction's first event to its commit would serialise every write (and deadlock with row locks).
The key is a secret of the application, not of the database, so someone with database access
alone can neither rewrite an event nor recompute the chain after doing so.

Written here rather than taken from a library: the audit-log packages for Django (auditlog,
simple-history, pghistory) record changes but none chains them with a keyed hash.
"""

from __future__ import annotations

import datetime
import hashlib
import hmac
import json
import logging
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Exists, Max, OuterRef, Q
from django.utils import timezone

from bihuan.audit.models import Event, Seal

logger = logging.getLogger(__name__)

GENESIS = "0" * 64
# The fields of an event that its hash covers: all of them.
FIELDS = (
    "id",
    "at",
    "actor_id",
    "actor_label",
    "verb",
    "object_type",
    "object_id",
    "object_repr",
    "before",
    "after",
    "ip",
)
BATCH = 2000
# A sealing pass after a commit looks back this far for events committed out of id order
# (PostgreSQL hands out ids at insert, not at commit); the scheduled pass looks back further.
AFTER_COMMIT_LOOKBACK = datetime.timedelta(minutes=10)
SCHEDULED_LOOKBACK = datetime.timedelta(days=1)
# Work done right after a request's commit is bounded; the scheduled pass does the rest.
AFTER_COMMIT_LIMIT = 10_000
# pg_try_advisory_xact_lock key of the sealer: any fixed 64-bit number unique in the project.
SEALER_LOCK = 0x62696875616E01  # "bihuan" + 1

_KEY_LABEL = b"bihuan.audit.chain.v1"


# --- the key -----------------------------------------------------------------------------------


def _derive(secret: str) -> bytes:
    # A key of its own, so that the chain key is not the session-signing key itself.
    return hmac.new(secret.encode(), _KEY_LABEL, hashlib.sha256).digest()


def key_fingerprint(key: bytes) -> str:
    """A short public name of a key: tells a key change apart from tampering."""
    return hmac.new(key, b"key-id", hashlib.sha256).hexdigest()[:16]


def chain_key() -> tuple[str, bytes]:
    """The current sealing key and its fingerprint: AUDIT_CHAIN_KEY, or derived from SECRET_KEY."""
    secret = getattr(settings, "AUDIT_CHAIN_KEY", "") or settings.SECRET_KEY
    key = _derive(secret)
    return key_fingerprint(key), key


def chain_keys() -> dict[str, bytes]:
    """Every key a seal may have been made with: the current one and AUDIT_CHAIN_PREVIOUS_KEYS."""
    keys = dict([chain_key()])
    for secret in getattr(settings, "AUDIT_CHAIN_PREVIOUS_KEYS", []):
        key = _derive(secret)
        keys.setdefault(key_fingerprint(key), key)
    return keys


# --- the hash ----------------------------------------------------------------------------------


def _canonical_value(value: Any) -> Any:
    # PostgreSQL's jsonb returns 1e20 as an int where SQLite returns a float: integral floats
    # become ints, so the same row gives the same bytes on both.
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, dict):
        return {str(k): _canonical_value(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_canonical_value(v) for v in value]
    return value


def canonical(seq: int, row: tuple[Any, ...]) -> bytes:
    """The bytes an event's hash covers: its fields (in FIELDS order) and its chain position.

    Sorted keys, no spaces, UTF-8; the time in UTC ISO 8601 with microseconds.
    """
    values = dict(zip(FIELDS, row, strict=True))
    at: datetime.datetime = values["at"]
    values["at"] = at.astimezone(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    values["before"] = _canonical_value(values["before"])
    values["after"] = _canonical_value(values["after"])
    values["seq"] = seq
    return json.dumps(
        values, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    ).encode()


def link_hash(key: bytes, prev_hash: str, seq: int, row: tuple[Any, ...]) -> str:
    """The hash of a seal: HMAC-SHA256(key, prev_hash || canonical(seq, event))."""
    message = prev_hash.encode("ascii") + canonical(seq, row)
    return hmac.new(key, message, hashlib.sha256).hexdigest()


# --- sealing -----------------------------------------------------------------------------------


def _sealer_lock() -> bool:
    """Take the sealer's lock for this transaction; False if another sealer holds it."""
    if connection.vendor != "postgresql":
        return True  # SQLite: the IMMEDIATE write transaction already excludes other sealers
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_xact_lock(%s)", [SEALER_LOCK])
        return bool(cursor.fetchone()[0])


_INSERT_SEAL = (
    "INSERT INTO audit_seal (seq, event_id, prev_hash, hash, key_id, sealed_at)"
    " VALUES (%s, %s, %s, %s, %s, %s)"
)


def _unsealed_after(after: int) -> Q:
    """Events with no seal, among those with an id above ``after``.

    The bound is repeated inside the subquery on purpose: without it PostgreSQL's merge anti-join
    reads the seal index from its start on every batch (1 s per batch at a million seals; 1 ms
    with it).
    """
    seals = Seal.objects.filter(event_id=OuterRef("pk"), event_id__gt=after)
    return Q(pk__gt=after) & ~Q(Exists(seals))


def seal_pending(
    *,
    lookback: datetime.timedelta | None = SCHEDULED_LOOKBACK,
    limit: int | None = None,
    batch: int = BATCH,
) -> int:
    """Seal committed events that have no seal yet, in id order; returns how many were sealed.

    ``lookback`` bounds the search for events that committed behind newer, already sealed ones
    (None: search the whole log). Each batch is its own short transaction under the sealer lock;
    if another sealer holds it, this one leaves the work to it.
    """
    key_id, key = chain_key()
    sealed, after = 0, 0
    while limit is None or sealed < limit:
        size = batch if limit is None else min(batch, limit - sealed)
        with transaction.atomic():
            if not _sealer_lock():
                break
            last = Seal.objects.order_by("-seq").values_list("seq", "hash").first()
            seq, prev = last if last else (0, GENESIS)
            rows = Event.objects.filter(_unsealed_after(after))
            if lookback is not None:
                newest = Seal.objects.aggregate(newest=Max("event_id"))["newest"] or 0
                since = timezone.now() - lookback
                rows = rows.filter(Q(pk__gt=newest) | Q(at__gte=since))
            found = list(rows.order_by("pk").values_list(*FIELDS)[:size])
            now = connection.ops.adapt_datetimefield_value(timezone.now())
            seals = []
            for row in found:
                seq += 1
                digest = link_hash(key, prev, seq, row)
                seals.append((seq, row[0], prev, digest, key_id, now))
                prev = digest
            if seals:
                # executemany, not bulk_create: the ORM's per-value preparation took half the time.
                with connection.cursor() as cursor:
                    cursor.executemany(_INSERT_SEAL, seals)
        sealed += len(found)
        if len(found) < size:
            break
        after = found[-1][0]
    return sealed


def seal_after_commit() -> None:
    """Schedule one bounded sealing pass after the current transaction commits (once per one)."""
    if connection.in_atomic_block and any(
        entry[1] is _seal_recent for entry in connection.run_on_commit
    ):
        return
    # robust: the change is committed by then; a failed pass is retried by the scheduled job.
    transaction.on_commit(_seal_recent, robust=True)


def _seal_recent() -> None:
    seal_pending(lookback=AFTER_COMMIT_LOOKBACK, limit=AFTER_COMMIT_LIMIT)


# --- verifying ---------------------------------------------------------------------------------

ALTERED, REMOVED, REORDERED, UNSEALED, UNKNOWN_KEY = (
    "altered",
    "removed",
    "reordered",
    "unsealed",
    "unknown_key",
)
KINDS = (ALTERED, REMOVED, REORDERED, UNSEALED, UNKNOWN_KEY)


@dataclass(frozen=True)
class Failure:
    """One break of the chain: its kind, the seal (if any) and the event concerned."""

    kind: str
    seq: int | None
    event_id: int | None


@dataclass
class ChainCheck:
    """A verification of the chain; ``failures()`` streams the breaks and fills in the counts.

    ``since``: check only seals made since then (trusting the stored hash of the seal before)
    and unsealed events written since then. ``grace``: an event younger than this may not be
    sealed yet and is not reported.
    """

    since: datetime.datetime | None = None
    grace: datetime.timedelta = datetime.timedelta(hours=1)
    chunk: int = BATCH
    seals: int = 0
    events: int = 0
    first_seq: int | None = None
    last_seq: int | None = None
    head_hash: str = ""
    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(KINDS, 0))

    @property
    def ok(self) -> bool:
        return not any(self.counts.values())

    def failures(self) -> Iterator[Failure]:
        """Walk the seals in order, then look for old events without a seal."""
        for failure in self._walk():
            self.counts[failure.kind] += 1
            yield failure
        for failure in self._unsealed():
            self.counts[failure.kind] += 1
            yield failure

    def summary(self) -> dict[str, Any]:
        """The counts, as JSON-ready values (for --json and the audit page)."""
        return {
            "ok": self.ok,
            "seals": self.seals,
            "events": self.events,
            "first_seq": self.first_seq,
            "last_seq": self.last_seq,
            "head_hash": self.head_hash,
            "failures": dict(self.counts),
            "since": self.since.isoformat() if self.since else None,
        }

    def _chunks(self) -> Iterator[list[tuple[int, int, str, str, str]]]:
        seals = Seal.objects.order_by("seq")
        if self.since is not None:
            seals = seals.filter(sealed_at__gte=self.since)
        fields = ("seq", "event_id", "prev_hash", "hash", "key_id")
        after = 0
        while True:
            chunk = list(seals.filter(seq__gt=after).values_list(*fields)[: self.chunk])
            if not chunk:
                return
            yield chunk
            after = chunk[-1][0]

    def _walk(self) -> Iterator[Failure]:
        keys = chain_keys()
        expected, prev = None, None
        for chunk in self._chunks():
            rows = {
                row[0]: row
                for row in Event.objects.filter(pk__in=[s[1] for s in chunk]).values_list(*FIELDS)
            }
            for seq, event_id, prev_hash, digest, key_id in chunk:
                if expected is None:
                    self.first_seq = seq
                    expected, prev = self._start(seq)
                if seq != expected or prev_hash != prev:
                    yield Failure(REORDERED, seq, event_id)
                row = rows.get(event_id)
                if row is None:
                    yield Failure(REMOVED, seq, event_id)
                elif key_id not in keys:
                    yield Failure(UNKNOWN_KEY, seq, event_id)
                else:
                    self.events += 1
                    # From the seal's own prev_hash: one broken link is reported once, not as
                    # every later event altered.
                    recomputed = link_hash(keys[key_id], prev_hash, seq, row)
                    if not hmac.compare_digest(recomputed, digest):
                        yield Failure(ALTERED, seq, event_id)
                self.seals += 1
                self.last_seq, self.head_hash = seq, digest
                expected, prev = seq + 1, digest

    def _start(self, seq: int) -> tuple[int, str]:
        """Where the walk should begin: seq 1 from genesis, or the stored seal before ``since``."""
        if self.since is None:
            return 1, GENESIS
        before = Seal.objects.filter(seq__lt=seq).order_by("-seq").values_list("seq", "hash")
        last = before.first()
        return (last[0] + 1, last[1]) if last else (1, GENESIS)

    def _unsealed(self) -> Iterator[Failure]:
        rows = Event.objects.filter(at__lt=timezone.now() - self.grace)
        if self.since is not None:
            rows = rows.filter(at__gte=self.since)
        after = 0
        while True:
            page = rows.filter(_unsealed_after(after)).order_by("pk").values_list("pk", flat=True)
            ids = list(page[: self.chunk])
            yield from (Failure(UNSEALED, None, pk) for pk in ids)
            if len(ids) < self.chunk:
                return
            after = ids[-1]


def chain_head() -> dict[str, Any]:
    """The chain's last seal and how many events wait for one (for the audit page)."""
    last = Seal.objects.order_by("-seq").values("seq", "hash", "sealed_at").first()
    return {
        "seq": last["seq"] if last else 0,
        "hash": last["hash"] if last else GENESIS,
        "sealed_at": last["sealed_at"] if last else None,
    }
