"""The shared pager keeps a list's filters when it moves to another page."""

from __future__ import annotations

from django.contrib.auth.models import AnonymousUser
from django.core.paginator import Paginator
from django.template.loader import render_to_string
from django.test import RequestFactory


def test_the_next_and_previous_links_keep_every_filter() -> None:
    request = RequestFactory().get("/screening/review/", {"round": "7", "place": "12", "page": "2"})
    request.user = AnonymousUser()
    page = Paginator(list(range(90)), 30).page(2)
    html = render_to_string("pager.html", {"page": page}, request=request)
    assert 'href="?round=7&amp;place=12&amp;page=1"' in html
    assert 'href="?round=7&amp;place=12&amp;page=3"' in html
