"""Administrative division codes (GB/T 2260 and the statistical 12-digit codes): pure checks.

A code is 6 digits for province, city and district (county-level) and 12 digits for street
(township) and community (village). Digits 1-2 name the province, 3-4 the city, 5-6 the district,
7-9 the street and 10-12 the community; a child's code repeats its parent's digits.
"""

from __future__ import annotations

import re

from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

PROVINCE, CITY, DISTRICT, STREET, COMMUNITY = "province", "city", "district", "street", "community"
LEVELS = (PROVINCE, CITY, DISTRICT, STREET, COMMUNITY)
PARENT_LEVEL = {CITY: PROVINCE, DISTRICT: CITY, STREET: DISTRICT, COMMUNITY: STREET}
LEVEL_LABELS = {
    PROVINCE: gettext_lazy("province"),
    CITY: gettext_lazy("city"),
    DISTRICT: gettext_lazy("district"),
    STREET: gettext_lazy("street"),
    COMMUNITY: gettext_lazy("community"),
}
# ASCII digits only: \d would accept full-width and other Unicode digits the database refuses.
_SIX = re.compile(r"[0-9]{6}")
_TWELVE = re.compile(r"[0-9]{12}")


class CodeError(ValueError):
    """A division code that does not fit its level or its parent."""


def code_length(level: str) -> int:
    """6 for province, city, district; 12 for street and community."""
    return 6 if level in (PROVINCE, CITY, DISTRICT) else 12


def check_code(code: str, level: str) -> None:
    """Raise CodeError when the code's shape does not fit the level."""
    if level not in LEVELS:
        raise CodeError(_("Unknown level “%(level)s”.") % {"level": level})
    pattern = _SIX if code_length(level) == 6 else _TWELVE
    if not pattern.fullmatch(code):
        raise CodeError(
            _("A %(level)s code has %(length)d digits; “%(code)s” does not.")
            % {"level": LEVEL_LABELS[level], "length": code_length(level), "code": code}
        )
    if level == PROVINCE and code[2:] != "0000":
        raise CodeError(_("A province code ends in 0000; “%(code)s” does not.") % {"code": code})
    if level == CITY and (code[4:] != "00" or code[2:4] == "00"):
        raise CodeError(_("A city code ends in 00; “%(code)s” does not.") % {"code": code})
    if level == DISTRICT and code[4:] == "00":
        raise CodeError(_("A district code does not end in 00; “%(code)s” does.") % {"code": code})
    if level == STREET and (code[9:] != "000" or code[6:9] == "000"):
        raise CodeError(
            _("A street code has a non-zero street part and ends in 000; “%(code)s” does not.")
            % {"code": code}
        )
    if level == COMMUNITY and code[9:] == "000":
        raise CodeError(
            _("A community code does not end in 000; “%(code)s” does.") % {"code": code}
        )


_SIGNIFICANT = {PROVINCE: 2, CITY: 4, DISTRICT: 6, STREET: 9, COMMUNITY: 12}


def expected_prefix(parent_code: str, parent_level: str) -> str:
    """The digits a child's code must start with."""
    return parent_code[: _SIGNIFICANT[parent_level]]


def check_parent(code: str, level: str, parent_code: str | None, parent_level: str | None) -> None:
    """Raise CodeError when the parent is missing, of another level, or not the code's prefix."""
    if level == PROVINCE:
        if parent_code:
            raise CodeError(_("A province has no parent."))
        return
    if not parent_code or not parent_level:
        raise CodeError(_("A %(level)s needs a parent.") % {"level": LEVEL_LABELS[level]})
    if parent_level != PARENT_LEVEL[level]:
        raise CodeError(
            _("The parent of a %(level)s must be a %(expected)s, not a %(actual)s.")
            % {
                "level": LEVEL_LABELS[level],
                "expected": LEVEL_LABELS[PARENT_LEVEL[level]],
                "actual": LEVEL_LABELS.get(parent_level, parent_level),
            }
        )
    prefix = expected_prefix(parent_code, parent_level)
    if not code.startswith(prefix):
        raise CodeError(
            _("Code “%(code)s” does not start with its parent's digits “%(prefix)s”.")
            % {"code": code, "prefix": prefix}
        )


def ancestor_paths(path: str) -> list[str]:
    """The tree path of every region from the root down to and including the one at ``path``."""
    parts = [p for p in path.split("/") if p]
    return ["/".join(parts[:i]) + "/" for i in range(1, len(parts) + 1)]
