"""Finding institutions by what people type: a name in Simplified or Traditional characters,
pinyin or its initials, a credit code, a licence number, part of an address or a whole phone
number (phones are encrypted, so part of one cannot match).

The search only narrows a queryset it is given, so the caller's scope (``institutions_current``)
always applies: the region filter picks the rows and these conditions are tested on them alone.
"""

from __future__ import annotations

import re

from django.db.models import Case, IntegerField, Q, QuerySet, Value, When

from bihuan.core.crypto import phone_query_hash
from bihuan.core.text import normalize_query
from bihuan.registry.models import Institution
from bihuan.registry.normalize import normalize_name

_LETTERS = re.compile(r"^[a-z]+$")
# Credit codes and licence numbers are compared whole, without separators, in upper case.
_CODE = re.compile(r"^[0-9A-Z]{6,}$")
# Rank of a match, best first: the same name, a name or initials that start with the query.
EXACT, PREFIX, OTHER = 0, 1, 2
_ORDER = ("name_normalized", "pk")
# Initials this long may match in the middle of a name's initials, not only at its start.
INITIALS_ANYWHERE = 4


def search_institutions(qs: QuerySet[Institution], query: str) -> QuerySet[Institution]:
    """The institutions of ``qs`` matching the query, exact and prefix matches first."""
    text = normalize_query(query or "")
    name = normalize_name(text)
    if not name:
        return qs
    # normalize_name dropped spaces and punctuation: "x t c" and "XTC" both become "xtc".
    letters = name if _LETTERS.match(name) else ""
    code = re.sub(r"[\s-]+", "", text).upper()

    matches = Q(name_normalized__contains=name)
    if letters:
        matches |= Q(name_initials__startswith=letters) | Q(name_pinyin__contains=letters)
        if len(letters) >= INITIALS_ANYWHERE:
            # Long enough to be specific: lets "qhjy" find 孝南区启航教育… past the place name.
            matches |= Q(name_initials__contains=letters)
    if _CODE.match(code):
        matches |= Q(credit_code=code) | Q(licence_number=code)
    else:
        # Licence numbers often hold characters (教民…号): compare them as typed, too.
        matches |= Q(licence_number=text)
    matches |= Q(address__contains=text)
    phone = phone_query_hash(text)
    if phone is not None:
        # The phone is encrypted: only the whole number matches, through its keyed hash.
        matches |= Q(contact_phone_hash=phone)

    exact = Q(name_normalized=name)
    prefix = Q(name_normalized__startswith=name)
    if letters:
        exact |= Q(name_initials=letters)
        prefix |= Q(name_initials__startswith=letters) | Q(name_pinyin__startswith=letters)
    if _CODE.match(code):
        exact |= Q(credit_code=code) | Q(licence_number=code)
    if phone is not None:
        exact |= Q(contact_phone_hash=phone)
    rank = Case(
        When(exact, then=Value(EXACT)),
        When(prefix, then=Value(PREFIX)),
        default=Value(OTHER),
        output_field=IntegerField(),
    )
    return qs.filter(matches).annotate(search_rank=rank).order_by("search_rank", *_ORDER)
