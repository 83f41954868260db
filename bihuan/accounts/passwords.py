"""Password rules of the 等保 level-3 policy: character classes, no username, no recent reuse."""

from __future__ import annotations

import string
from typing import Any

from django.contrib.auth.hashers import check_password
from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _
from django.utils.translation import ngettext


def character_classes(password: str) -> int:
    """How many of lower case, upper case, digits and other characters the password uses."""
    classes = [
        any(c in string.ascii_lowercase for c in password),
        any(c in string.ascii_uppercase for c in password),
        any(c.isdigit() for c in password),
        any(not c.isalnum() for c in password),
    ]
    return sum(classes)


class CharacterClassValidator:
    """At least ``min_classes`` of: lower case, upper case, digits, other characters."""

    def __init__(self, min_classes: int = 3) -> None:
        self.min_classes = min_classes

    def validate(self, password: str, user: Any = None) -> None:
        if character_classes(password) < self.min_classes:
            raise ValidationError(
                _(
                    "The password must mix at least %(n)d of: lower-case letters, upper-case "
                    "letters, digits, other characters."
                )
                % {"n": self.min_classes},
                code="password_too_simple",
            )

    def get_help_text(self) -> str:
        return _(
            "Use at least %(n)d of: lower-case letters, upper-case letters, digits, "
            "other characters."
        ) % {"n": self.min_classes}


class NotContainingUsernameValidator:
    """The password must not contain the username, in any case."""

    def validate(self, password: str, user: Any = None) -> None:
        username = getattr(user, "username", "") or ""
        if username and username.lower() in password.lower():
            raise ValidationError(
                _("The password must not contain the username."), code="password_has_username"
            )

    def get_help_text(self) -> str:
        return _("The password must not contain your username.")


class PasswordHistoryValidator:
    """The new password is none of the user's last ``count`` passwords (the current one included).

    Django calls ``password_changed`` whenever a user is saved after ``set_password`` (the pages,
    the services, ``manage.py changepassword``), which is where the new hash is remembered.
    """

    def __init__(self, count: int = 5) -> None:
        self.count = count

    def _recent_hashes(self, user: Any) -> list[str]:
        from bihuan.accounts.models import PasswordHistory

        hashes: list[str] = []
        if user.pk is not None:
            hashes = list(
                PasswordHistory.objects.filter(user=user)
                .order_by("-created_at", "-pk")
                .values_list("password", flat=True)[: self.count]
            )
        # A password set before the history was kept is not in it, but it is still the last one.
        if user.password and user.password not in hashes:
            hashes = [user.password, *hashes][: self.count]
        return hashes

    def validate(self, password: str, user: Any = None) -> None:
        if user is None or self.count == 0:
            return
        if any(check_password(password, encoded) for encoded in self._recent_hashes(user)):
            raise ValidationError(
                ngettext(
                    "The password must differ from your last password.",
                    "The password must differ from your last %(n)d passwords.",
                    self.count,
                )
                % {"n": self.count},
                code="password_reused",
            )

    def password_changed(self, password: str, user: Any = None) -> None:
        from bihuan.accounts.models import PasswordHistory

        if user is None or user.pk is None or not user.password or self.count == 0:
            return
        PasswordHistory.objects.create(user=user, password=user.password)

    def get_help_text(self) -> str:
        return ngettext(
            "Your password must differ from your last password.",
            "Your password must differ from your last %(n)d passwords.",
            self.count,
        ) % {"n": self.count}
