"""No personal data or secrets in logs: a filter that redacts each record before it is written.

Masks mainland mobile numbers (138****1234) and 18-character ID numbers (4201**********1234), and
replaces with ``[redacted]`` the values of Authorization headers, API tokens and keys, session and
CSRF cookies and passwords, wherever they appear: in the message, its arguments (the record is
rendered once, then its arguments dropped) and the formatted traceback. The filter changes the
record itself, so every handler after it, whatever it writes to, sees only the redacted text.

Written here rather than taken from a library: the packages that scrub logs know Western card and
social-security numbers, not Chinese phones and ID numbers, and the patterns are a dozen lines.
"""

from __future__ import annotations

import logging
import re

from bihuan.core.masking import mask_id_number, mask_phone

REDACTED = "[redacted]"

# A mobile number, alone or with +86 and spaces or dashes: never inside a longer run of digits.
_PHONE = re.compile(
    r"(?<![\d])(?:(?:\+|00)?86[\s\-]?)?(1[3-9]\d)[\s\-]?(\d{4})[\s\-]?(\d{4})(?!\d)"
)
# An 18-character resident ID number (GB 11643): 17 digits and a digit or X.
_ID_NUMBER = re.compile(r"(?<![0-9A-Za-z])(\d{17}[\dXx])(?![0-9A-Za-z])")
# Header lines, form fields, query parameters, cookies, JSON or repr'd dict items whose value is a
# secret: Authorization: Token abc / password=... / 'sessionid': '...' / "api_key": "...".
_SECRET_NAMES = (
    r"authorization|proxy-authorization|http_authorization|x-api-key|api[_-]?key|api[_-]?token"  # noqa: S105
    r"|access[_-]?token|refresh[_-]?token|token|secret|sessionid|session[_-]?key|csrftoken"
    r"|csrfmiddlewaretoken|password\w*|passwd|pwd|old_password|new_password\d?"
)
_SECRET_VALUE = re.compile(
    rf"""(?ix)
    (?P<name>["']?\b(?:{_SECRET_NAMES})\b["']?)
    (?P<sep>\s*[:=]\s*)
    (?P<value>
        "(?:[^"\\]|\\.)*"            # a double-quoted value
      | '(?:[^'\\]|\\.)*'            # a single-quoted value
      | (?:(?:Token|Bearer|Basic|Digest)\s+)?[^\s&;,'"}}\])]+   # a bare value, scheme included
    )
    """
)


def _phone(match: re.Match[str]) -> str:
    return mask_phone("".join(match.groups()))


def _secret(match: re.Match[str]) -> str:
    return f"{match.group('name')}{match.group('sep')}{REDACTED}"


def redact(text: str) -> str:
    """The text with secrets replaced and phone and ID numbers masked."""
    text = _SECRET_VALUE.sub(_secret, text)
    text = _ID_NUMBER.sub(lambda m: mask_id_number(m.group(1)), text)
    return _PHONE.sub(_phone, text)


class RedactPersonalData(logging.Filter):
    """A logging filter (LOGGING["filters"]) that redacts the record in place and keeps it."""

    _formatter = logging.Formatter()

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a malformed call still gets logged, as the message alone
            message = str(record.msg)
        record.msg = redact(message)
        record.args = None
        if record.exc_info and not record.exc_text:
            record.exc_text = self._formatter.formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        return True
