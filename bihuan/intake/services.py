"""Public tips in, public replies out: the only writes of the intake app.

Rate-limit counters are the tips themselves (and StatusLookupMiss rows) in the database, not
Django's cache: the cache is per process here (no CACHES configured, so each worker would count on
its own) and a restart would reset it, while the database is shared and already indexed for this.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import unicodedata
from collections.abc import Sequence
from datetime import date, timedelta
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from bihuan.accounts.policies import Capability, can
from bihuan.audit.services import event_record
from bihuan.core.crypto import blind_index, normalize_phone
from bihuan.core.errors import NotAllowed, ServiceError
from bihuan.intake.categories import category as find_category
from bihuan.intake.models import Channel, PublicReply, PublicTip, StatusLookupMiss
from bihuan.leads.models import Lead
from bihuan.leads.selectors import leads_triaged_by
from bihuan.leads.services import lead_create
from bihuan.leads.workflow import LeadSource
from bihuan.registry.placement import community_at, community_in_address
from bihuan.territory.models import Level, Region

# Unambiguous: no 0/O, 1/I/L. 31**12 ≈ 8e17 codes, drawn with secrets: not guessable.
CODE_ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"
CODE_LENGTH = 12
PHONE_RE = re.compile(r"^1[3-9]\d{9}$")
# What a typed number may hold besides digits: spaces, dashes, brackets, a leading +.
PHONE_TEXT_RE = re.compile(r"^\+?[\d\s\-()]+$")
# Past this many tips in an hour from one address or phone, the form asks for a captcha.
CAPTCHA_AFTER_PER_HOUR = 3
# Past this many in a day, no more tips from that address or phone until tomorrow.
HARD_LIMIT_PER_DAY = 10
# Wrong tracking codes per address per hour before the status page stops answering.
LOOKUP_MISSES_PER_HOUR = 20


def ip_hash(client_ip: str) -> str:
    """A keyed hash of the client's address (never stored raw); empty for no address."""
    if not client_ip:
        return ""
    key = settings.SECRET_KEY.encode()
    return hmac.new(key, b"intake-ip:" + client_ip.encode(), hashlib.sha256).hexdigest()


def normalise_phone(phone: str) -> str:
    """The mainland mobile number without spaces, dashes or +86; ServiceError if it is not one.

    The digits are those the search hash is taken of (``core.crypto.normalize_phone``), so the
    rate limits count "138 1234 1234" and "+86 13812341234" as one number.
    """
    text = unicodedata.normalize("NFKC", phone or "").strip()
    digits = normalize_phone(text)
    if not PHONE_TEXT_RE.match(text) or not PHONE_RE.match(digits):
        raise ServiceError(_("Enter an 11-digit mobile number, e.g. 13812341234."), field="phone")
    return digits


def normalise_code(code: str) -> str:
    """A tracking code as typed (lower case, spaces, dashes) in its stored form."""
    return re.sub(r"[\s\-]", "", code or "").upper()[:32]


def _new_code() -> str:
    return "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))


def _count_recent(*, ip: str, phone: str, since_hours: int) -> int:
    """Tips from this address or this phone in the last hours (the larger of the two counts)."""
    since = timezone.now() - timedelta(hours=since_hours)
    counts = [0]
    if ip:
        counts.append(PublicTip.objects.filter(ip_hash=ip, created_at__gte=since).count())
    if phone:
        # Counted by the keyed hash: the number itself is stored encrypted.
        digest = blind_index(phone, "phone")
        counts.append(PublicTip.objects.filter(phone_hash=digest, created_at__gte=since).count())
    return max(counts)


def captcha_needed(*, client_ip: str, phone: str = "") -> bool:
    """Has this address or phone sent more than CAPTCHA_AFTER_PER_HOUR tips in the last hour?"""
    return (
        _count_recent(ip=ip_hash(client_ip), phone=phone, since_hours=1) >= CAPTCHA_AFTER_PER_HOUR
    )


def _check_limits(ip: str, phone: str) -> None:
    if _count_recent(ip=ip, phone=phone, since_hours=24) >= HARD_LIMIT_PER_DAY:
        raise ServiceError(
            _(
                "Too many tips from this phone or network today. Please try again tomorrow, "
                "or call the 12345 hotline."
            ),
            field="__all__",
        )


def home_region() -> Region:
    """Where a tip with no usable place goes: the configured region, else the city at the top."""
    code = getattr(settings, "TIP_REGION_CODE", "")
    if code:
        return Region.objects.get(code=code)
    city = Region.objects.filter(level=Level.CITY, is_active=True).order_by("depth", "path").first()
    if city is not None:
        return city
    top = Region.objects.filter(is_active=True).order_by("depth", "path").first()
    if top is None:
        raise ServiceError(_("The service is not set up yet; please call the 12345 hotline."))
    return top


def _place(latitude: Any, longitude: Any, address: str) -> Region:
    """The community under the pin, else the one named in the address, else the home region."""
    home = home_region()
    if latitude not in (None, "") and longitude not in (None, ""):
        try:
            found = community_at(float(latitude), float(longitude))
        except (TypeError, ValueError):
            found = None
        # A pin outside our territory is a slip of the finger: fall back to the address.
        if found is not None and found.path.startswith(home.path):
            return found
    return community_in_address(address, home) or home


def tip_create(
    *,
    category: str,
    description: str,
    place_name: str = "",
    address: str = "",
    latitude: Any = None,
    longitude: Any = None,
    happened_on: date | None = None,
    phone: str = "",
    is_anonymous: bool,
    files: Sequence[Any] = (),
    channel: str = "web",
    client_ip: str = "",
    form_token: str = "",
) -> PublicTip:
    """A lead in the bureau's triage queue from a member of the public, with a tracking code."""
    if form_token:
        earlier = PublicTip.objects.filter(form_token=form_token).first()
        if earlier is not None:
            return earlier
    try:
        return _tip_create(
            category=category,
            description=description,
            place_name=place_name,
            address=address,
            latitude=latitude,
            longitude=longitude,
            happened_on=happened_on,
            phone=phone,
            is_anonymous=is_anonymous,
            files=files,
            channel=channel,
            client_ip=client_ip,
            form_token=form_token,
        )
    except IntegrityError:
        # Two taps raced past the check above: the first one won, hand back its tip.
        if form_token:
            earlier = PublicTip.objects.filter(form_token=form_token).first()
            if earlier is not None:
                return earlier
        raise


@transaction.atomic
def _tip_create(
    *,
    category: str,
    description: str,
    place_name: str,
    address: str,
    latitude: Any,
    longitude: Any,
    happened_on: date | None,
    phone: str,
    is_anonymous: bool,
    files: Sequence[Any],
    channel: str,
    client_ip: str,
    form_token: str,
) -> PublicTip:
    try:
        kind = find_category(category)
    except KeyError:
        raise ServiceError(_("Choose what is happening."), field="category") from None
    if channel not in Channel.values:
        raise ServiceError(_("Unknown channel."), field="channel")
    if is_anonymous:
        phone = ""
    elif phone:
        phone = normalise_phone(phone)
    else:
        raise ServiceError(_("Give a mobile number, or choose to stay anonymous."), field="phone")
    if happened_on is not None and happened_on > timezone.localdate():
        raise ServiceError(_("The date cannot be in the future."), field="happened_on")
    if not (description or "").strip():
        raise ServiceError(_("Describe what you saw."), field="description")
    ip = ip_hash(client_ip)
    # Open311 clients are keyed platforms (the 12345 hotline): their limits are the API key's.
    if channel == Channel.WEB:
        _check_limits(ip, phone)
    text = (description or "").strip()
    if happened_on is not None:
        text = _("%(text)s\n\n(Happened on %(date)s.)") % {
            "text": text,
            "date": happened_on.isoformat(),
        }
    lead = lead_create(
        actor=None,
        source=LeadSource.TIP,
        description=text,
        region=_place(latitude, longitude, address),
        place_name=place_name,
        address=address,
        latitude=latitude,
        longitude=longitude,
        reporter_phone=phone,
        is_anonymous=is_anonymous,
        violation_types=list(kind.violation_types()),
        files=files,
    )
    code = _new_code()
    while PublicTip.objects.filter(tracking_code=code).exists():
        code = _new_code()
    return PublicTip.objects.create(
        lead=lead,
        tracking_code=code,
        phone=phone,
        channel=channel,
        category=kind.code,
        ip_hash=ip,
        form_token=form_token or None,
    )


def lookup_allowed(client_ip: str) -> bool:
    """May this address try another tracking code (fewer than LOOKUP_MISSES_PER_HOUR misses)?"""
    since = timezone.now() - timedelta(hours=1)
    misses = StatusLookupMiss.objects.filter(ip_hash=ip_hash(client_ip), created_at__gte=since)
    return misses.count() < LOOKUP_MISSES_PER_HOUR


def lookup_miss_record(client_ip: str) -> None:
    """Count one wrong tracking code against the address."""
    StatusLookupMiss.objects.create(ip_hash=ip_hash(client_ip))


@transaction.atomic
def public_reply_add(*, actor: Any, lead: Lead, text: str) -> PublicReply:
    """A reply the parent reads on the status page, written by the bureau of the lead's place."""
    if (
        not can(actor, Capability.LEAD_TRIAGE)
        or not leads_triaged_by(actor).filter(pk=lead.pk).exists()
    ):
        raise NotAllowed(_("Only the bureau of this lead's place may do this."))
    if not PublicTip.objects.filter(lead=lead).exists():
        raise ServiceError(
            _("This lead did not come from the public; there is no one to reply to.")
        )
    text = (text or "").strip()
    if not text:
        raise ServiceError(_("Write the reply."), field="text")
    if len(text) > 2000:
        raise ServiceError(_("At most %(n)d characters, please.") % {"n": 2000}, field="text")
    reply = PublicReply.objects.create(lead=lead, text=text, author=actor)
    event_record(actor=actor, verb="lead.public_reply", obj=lead, after={"reply": reply.pk})
    return reply
