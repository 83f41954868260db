"""A client on the wire: urllib against a live server, as an Open311 client library would.

PyPI's "open311" 1.1 does not import on Python 3 (implicit relative imports: `from api import
API`), posts a str body to urlopen and asks for `service/<code>` instead of `services/<code>`;
so this test speaks HTTP itself, the way such a client does: form-encoded POST, XML and JSON GETs.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request
import xml.etree.ElementTree as ET
from typing import Any

import pytest
from pytest_django.live_server_helper import LiveServer

from bihuan.accounts.models import User
from bihuan.intake.models import PublicTip
from bihuan.leads.selectors import leads_triaged_by
from bihuan.open311 import services


def _open(request: str | urllib.request.Request, data: bytes | None = None) -> Any:
    # Always the live server's own http:// address, never a scheme from outside.
    return urllib.request.urlopen(request, data=data, timeout=10)  # noqa: S310


def _parse(content: bytes) -> ET.Element:
    # Our own server's output in a test, not untrusted input.
    return ET.fromstring(content)  # noqa: S314


def _get(url: str) -> bytes:
    with _open(url) as response:
        return bytes(response.read())


def test_a_client_lists_services_posts_and_follows_a_request(
    live_db: None, live_server: LiveServer, admin_system: User, supervisor_city: User
) -> None:
    key = services.api_client_create(actor=admin_system, name="12345 热线")[1]
    base = f"{live_server.url}/open311/v2"
    discovery = json.loads(_get(f"{base}/discovery.json"))
    assert discovery["endpoints"][0]["url"] == f"{base}/"
    codes = [s.findtext("service_code") for s in _parse(_get(f"{base}/services.xml"))]
    assert "home_class" in codes
    body = urllib.parse.urlencode(
        {
            "api_key": key,
            "service_code": "home_class",
            "address_string": "文昌社区体育路某小区3栋501室",
            "description": "周末在居民楼里上数学课",
            "attribute[place_name]": "某辅导班",
        }
    ).encode()
    posted = urllib.request.Request(  # noqa: S310 (the live server's http:// address)
        f"{base}/requests.xml",
        data=body,
        headers={"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"},
    )
    with _open(posted) as response:
        assert response.status == 201
        reply = _parse(response.read())
    code = reply.findtext("request/service_request_id")
    assert code
    tip = PublicTip.objects.get(tracking_code=code)
    assert leads_triaged_by(supervisor_city).filter(pk=tip.lead_id).exists()
    followed = json.loads(_get(f"{base}/requests/{code}.json"))
    assert followed[0]["status"] == "open"
    assert followed[0]["service_code"] == "home_class"


def test_a_client_with_a_bad_key_gets_the_403_error_document(
    live_db: None, live_server: LiveServer, demo_city: dict[str, int]
) -> None:
    body = urllib.parse.urlencode(
        {"api_key": "wrong", "service_code": "home_class", "address_string": "x"}
    ).encode()
    with pytest.raises(urllib.error.HTTPError) as refused:
        _open(f"{live_server.url}/open311/v2/requests.json", data=body)
    assert refused.value.code == 403
    assert json.loads(refused.value.read())[0]["code"] == 403
    assert not PublicTip.objects.exists()
