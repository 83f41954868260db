"""No phone or ID numbers, tokens, session ids or passwords in logs (bihuan.core.log_redaction)."""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator

import pytest
from django.db import connection
from django.http import HttpRequest, HttpResponse
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import path, reverse
from django.views.decorators.csrf import csrf_exempt

from bihuan.core.log_redaction import REDACTED, RedactPersonalData, redact

PHONE = "13812345678"
MASKED = "138****5678"
ID_NUMBER = "42090219800101123X"
TOKEN = "q2B7x9LmN4pR8sT1vW3yZ5aC6dE0fG2hJ4kL6mN8pQ0"


@csrf_exempt
def _boom(request: HttpRequest) -> HttpResponse:
    raise ValueError(f"cannot place the tip of {request.POST['phone']}")


urlpatterns = [path("boom/", _boom)]


@pytest.fixture
def console() -> Iterator[io.StringIO]:
    """What the configured handler writes, whatever the test's other handlers see."""
    handler = next(
        h
        for h in logging.getLogger().handlers
        if any(isinstance(f, RedactPersonalData) for f in h.filters)
    )
    assert isinstance(handler, logging.StreamHandler)
    stream = io.StringIO()
    previous = handler.setStream(stream)
    yield stream
    handler.setStream(previous)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (f"tip from {PHONE}", f"tip from {MASKED}"),
        ("call +86 138-1234-5678 now", f"call {MASKED} now"),
        ("call 138 1234 5678", f"call {MASKED}"),
        (f"GET /users/?q={PHONE}&page=2", f"GET /users/?q={MASKED}&page=2"),
        (f"id {ID_NUMBER}.", "id 4209**********123X."),
        (f"Authorization: Token {TOKEN}", f"Authorization: {REDACTED}"),
        (f"{{'HTTP_AUTHORIZATION': 'Bearer {TOKEN}'}}", f"{{'HTTP_AUTHORIZATION': {REDACTED}}}"),
        (
            f"/open311/requests.json?api_key={TOKEN}&x=1",
            f"/open311/requests.json?api_key={REDACTED}&x=1",
        ),
        (
            f"Cookie: sessionid={TOKEN}; csrftoken=abc",
            f"Cookie: sessionid={REDACTED}; csrftoken={REDACTED}",
        ),
        (
            '{"username": "li", "password": "Bihuan@2026"}',
            f'{{"username": "li", "password": {REDACTED}}}',
        ),
        ("password=Bihuan@2026&next=/", f"password={REDACTED}&next=/"),
    ],
)
def test_redact_masks_numbers_and_removes_secrets(text: str, expected: str) -> None:
    assert redact(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "order 20261127000123456789 done",  # a longer run of digits is not a phone
        "took 1381234567 ms",  # ten digits
        "credit code 91420900MA4F2K3L6Q",
        "Invalid or revoked token.",
    ],
)
def test_redact_leaves_other_text_alone(text: str) -> None:
    assert redact(text) == text


def test_every_django_logger_goes_through_the_filtered_handler() -> None:
    for name in ("django", "django.server", "django.request"):
        logger = logging.getLogger(name)
        assert logger.handlers == []
        assert logger.propagate


def test_a_request_line_with_a_phone_and_a_token_is_redacted(
    console: io.StringIO, caplog: pytest.LogCaptureFixture
) -> None:
    # What runserver writes for each request (django.core.servers.basehttp.log_message).
    logging.getLogger("django.server").info(
        '"%s" %s %s', f"GET /accounts/users/?q={PHONE}&api_key={TOKEN} HTTP/1.1", "200", "5120"
    )
    for text in (console.getvalue(), caplog.text):
        assert "/accounts/users/?q=" in text
        assert PHONE not in text
        assert TOKEN not in text
        assert MASKED in text


def test_a_traceback_is_redacted(console: io.StringIO, caplog: pytest.LogCaptureFixture) -> None:
    try:
        raise RuntimeError(f"duplicate {PHONE} for {ID_NUMBER}")
    except RuntimeError:
        logging.getLogger("bihuan.test").exception("import failed")
    for text in (console.getvalue(), caplog.text):
        assert "RuntimeError: duplicate" in text
        assert PHONE not in text
        assert ID_NUMBER not in text


@pytest.mark.urls("bihuan.core.tests.test_log_redaction")
def test_a_server_error_with_a_phone_in_the_post_logs_no_phone(
    db: None, console: io.StringIO, caplog: pytest.LogCaptureFixture
) -> None:
    client = Client(raise_request_exception=False, HTTP_AUTHORIZATION=f"Token {TOKEN}")
    response = client.post("/boom/", {"phone": PHONE, "password": "Bihuan@2026"})
    assert response.status_code == 500
    for text in (console.getvalue(), caplog.text):
        assert "Internal Server Error: /boom/" in text
        assert "ValueError: cannot place the tip of" in text
        assert PHONE not in text
        assert TOKEN not in text
        assert "Bihuan@2026" not in text


def test_a_failed_login_with_a_phone_as_username_logs_no_phone(
    demo_city: dict[str, int], client: Client, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="django.db.backends")
    with CaptureQueriesContext(connection):  # logs every query with its parameters
        response = client.post(
            reverse("accounts:login"), {"username": PHONE, "password": "Wrong@2026"}
        )
    assert response.status_code == 200
    assert "accounts_user" in caplog.text  # the queries were logged, with the username
    assert PHONE not in caplog.text
    assert MASKED in caplog.text
    assert "Wrong@2026" not in caplog.text


def test_a_tip_with_a_phone_logs_no_phone(
    demo_city: dict[str, int], client: Client, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="django.db.backends")
    with CaptureQueriesContext(connection) as queries:
        response = client.post(
            reverse("intake:tip_new"),
            {
                "category": "housekeeping_tutor",
                "description": "小区里有人以住家阿姨名义给孩子补数学。",
                "place_name": "某小区5栋",
                "address": "文昌社区体育路9号",
                "phone": PHONE,
                "form_token": "t1",
            },
        )
    assert response.status_code == 302, response.content.decode()[:2000]
    assert any("intake_publictip" in q["sql"] for q in queries.captured_queries)
    assert "intake_publictip" in caplog.text
    assert PHONE not in caplog.text


@pytest.mark.parametrize(
    ("url", "data", "hidden"),
    [
        ("intake:tip_new", {"phone": PHONE, "category": "other"}, "phone"),
        ("accounts:login", {"username": PHONE, "password": "Wrong@2026"}, "password"),
    ],
)
def test_error_reports_hide_the_posted_phone_and_password(
    demo_city: dict[str, int], client: Client, url: str, data: dict[str, str], hidden: str
) -> None:
    from django.views.debug import SafeExceptionReporterFilter

    request = client.post(reverse(url), data).wsgi_request
    shown = SafeExceptionReporterFilter().get_post_parameters(request)
    assert shown[hidden] == SafeExceptionReporterFilter.cleansed_substitute
