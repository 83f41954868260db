"""The API's JSON parser: DRF's, with every malformed body a 400 in the user's language.

DRF turns a syntax error into a ParseError with Python's English message, and lets a body nested
deeper than the interpreter's recursion limit escape as RecursionError (a 500). Both become a
ParseError here, so the API's one error shape answers them.
"""

from __future__ import annotations

from typing import Any

from django.utils.translation import gettext as _
from rest_framework import parsers
from rest_framework.exceptions import ParseError


class JSONParser(parsers.JSONParser):
    """DRF's JSONParser (DRF reads the body through Django, so its size limit holds)."""

    def parse(self, stream: Any, media_type: str | None = None, parser_context: Any = None) -> Any:
        try:
            return super().parse(stream, media_type, parser_context)
        except ParseError:
            raise ParseError(_("The request body is not valid JSON.")) from None
        except RecursionError:
            raise ParseError(_("The JSON body is nested too deeply.")) from None
