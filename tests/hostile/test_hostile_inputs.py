"""Hostile inputs at every entry point: a clear refusal, nothing changed, nothing echoed raw.

Each test feeds one input from the corpus (``corpus/`` and ``payloads.py``; see README.md) to one
entry point, as the outside world would send it (multipart uploads, JSON bodies, query strings,
headers), and checks three things:

- the answer is a refusal the user can read (a 4xx, or the form again with the message in the
  user's language), never a 500;
- nothing changed: the rows of the models the entry point writes, the audit events and the files
  under MEDIA_ROOT are as before;
- nothing comes back raw: a page that echoes the input shows it escaped.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.apps import apps
from django.conf import settings
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, reverse
from django.utils import translation
from django.utils.html import escape
from rest_framework.test import APIClient

from bihuan.accounts.models import User
from bihuan.api.services import api_token_create, api_token_revoke
from bihuan.demo import data
from bihuan.intake.models import PublicTip
from bihuan.leads.tests import factories as lead_factories
from bihuan.open311.services import api_client_create, api_client_revoke
from bihuan.registry import services as registry_services
from bihuan.screening import inspection_services as screening_services
from bihuan.screening.models import ChecklistVersion, Inspection
from bihuan.screening.tests import factories as screening_factories
from bihuan.territory.models import Region
from tests.hostile import payloads

pytestmark = pytest.mark.django_db

CORPUS = Path(__file__).resolve().parent / "corpus"
# What every entry point here may write: if any of these moves, the input changed something.
WATCHED = [
    "audit.Event",
    "territory.Region",
    "territory.RegionImport",
    "registry.Institution",
    "registry.InstitutionImport",
    "screening.ChecklistTemplate",
    "screening.ChecklistVersion",
    "screening.InspectionPhoto",
    "leads.Lead",
    "leads.Attachment",
    "leads.WorkOrder",
    "intake.PublicTip",
    "webhooks.Subscription",
    "api.IdempotencyKey",
    "accounts.User",
]


def corpus(name: str) -> bytes:
    return (CORPUS / name).read_bytes()


@pytest.fixture(scope="module", autouse=True)
def _city(django_db_setup: None, django_db_blocker: Any) -> Iterator[None]:
    with lead_factories.city_for_module(django_db_blocker):
        yield


@pytest.fixture
def demo_city(db: None) -> dict[str, int]:
    return {}


@pytest.fixture(autouse=True)
def _media(settings: Any, tmp_path: Path) -> None:
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.LANGUAGE_CODE = "zh-hans"


def footprint() -> dict[str, Any]:
    """Row counts of the watched models, the latest event, and the files in MEDIA_ROOT."""
    counts: dict[str, Any] = {label: apps.get_model(label).objects.count() for label in WATCHED}
    counts["last event"] = (
        apps.get_model("audit.Event").objects.order_by("-pk").values_list("pk", flat=True).first()
    )
    root = Path(settings.MEDIA_ROOT)
    counts["files"] = (
        sorted(str(p) for p in root.rglob("*") if p.is_file()) if root.exists() else []
    )
    return counts


def tr(msgid: str, **params: Any) -> str:
    """``msgid`` as the user reads it: in the site's language (Chinese by default)."""
    with translation.override(settings.LANGUAGE_CODE):
        text = translation.gettext(msgid)
    return text % params if params else text


def assert_refused(response: Any, *messages: str) -> None:
    """A 4xx, or the form again (200) saying one of ``messages``; never a 500, never a raw echo."""
    assert response.status_code < 500, response.content[:500]
    assert response.status_code == 200 or 400 <= response.status_code < 500, response.status_code
    page = response.content.decode()
    if messages:
        assert any(escape(m) in page for m in messages), page[:3000]
    else:
        assert 'role="alert"' in page or response.status_code >= 400
    assert not payloads.is_raw(response.content)


def login(client: Client, username: str) -> Client:
    client.force_login(User.objects.get(username=username))
    return client


# ---------------------------------------------------------------------------- workbooks

NOT_READABLE = "The file is not a readable XLSX workbook."
UNPACKS = (
    "The workbook would unpack to more than %(mb)d MB. Copy the rows you need into a new "
    "workbook and upload that."
)
NOT_AN_EXCEL = (
    "“%(name)s” is not an Excel workbook (.xlsx). Text and CSV files, in GBK or any other "
    "encoding, cannot be imported: open the file in Excel and save it as .xlsx."
)
WORKBOOKS = {
    "xlsx_bomb_1gib.xlsx": UNPACKS,
    "xlsx_bomb_declared_4gib.xlsx": UNPACKS,
    "xlsx_billion_laughs.xlsx": NOT_READABLE,
    "xlsx_external_entity.xlsx": NOT_READABLE,
    "xlsx_html_page.xlsx": NOT_READABLE,
    "xlsx_zip_no_workbook.xlsx": NOT_READABLE,
}


def _message(msgid: str, name: str) -> str:
    return tr(msgid).replace("%(mb)d", "256").replace("%(name)s", name)


def _post_workbook(client: Client, entry: str, name: str, content: bytes) -> Any:
    upload = SimpleUploadedFile(name, content)
    if entry == "territory":
        return login(client, "admin").post("/territory/import/", {"file": upload})
    if entry == "registry":
        xiaonan = Region.objects.get(code=data.XIAONAN)
        return login(client, "xiaonan").post(
            "/registry/import/", {"file": upload, "region": xiaonan.pk}
        )
    version = ChecklistVersion.objects.get(template__code="default", number=1)
    return login(client, "admin").post(
        reverse("screening:checklist_import", kwargs={"pk": version.template_id}),
        {"file": upload},
    )


@pytest.mark.parametrize("entry", ["territory", "registry", "checklist"])
@pytest.mark.parametrize("name", sorted(WORKBOOKS))
def test_hostile_workbook_is_refused_before_it_is_parsed_or_kept(
    client: Client, entry: str, name: str
) -> None:
    before = footprint()
    response = _post_workbook(client, entry, name, corpus(name))
    expected = WORKBOOKS[name]
    if entry == "checklist" and name == "xlsx_html_page.xlsx":
        expected = NOT_AN_EXCEL  # the checklist import tells a text file from a broken workbook
    assert response.status_code == 200
    assert escape(_message(expected, name)) in response.content.decode()
    assert not payloads.is_raw(response.content)
    assert footprint() == before


def test_openpyxl_parses_with_defusedxml() -> None:
    """openpyxl forbids DTDs (entity bombs, external entities) only when defusedxml is installed."""
    from openpyxl.xml import DEFUSEDXML

    assert DEFUSEDXML


# ---------------------------------------------------------------------------- text files

TEXT_FILES = {
    "malformed_utf8": (
        payloads.NEITHER_UTF8_NOR_GBK,
        "The file is neither UTF-8 nor GBK text; save it as UTF-8 CSV or XLSX.",
    ),
    "empty": (b"", None),
    "nul_bytes": (b"code,name\x00\x00\n\x00420902,\x00\n", None),
}


@pytest.mark.parametrize("entry", ["territory", "registry"])
@pytest.mark.parametrize("kind", sorted(TEXT_FILES))
def test_undecodable_csv_is_refused_and_nothing_kept(client: Client, entry: str, kind: str) -> None:
    content, msgid = TEXT_FILES[kind]
    before = footprint()
    response = _post_workbook(client, entry, f"{kind}.csv", content)
    assert_refused(response, *([tr(msgid)] if msgid and entry == "territory" else []))
    assert 'role="alert"' in response.content.decode()
    assert footprint() == before


@pytest.mark.parametrize("payload", payloads.XSS + payloads.SQL[:2])
def test_region_import_report_echoes_cell_payloads_escaped_and_writes_no_region(
    client: Client, payload: str
) -> None:
    """A GBK file whose cells carry markup or SQL: the dry run lists them, escaped; no region."""
    regions = Region.objects.count()
    content = payloads.gbk_csv([("420902005009", payload, "420902005000", payload)])
    response = _post_workbook(client, "territory", "regions.csv", content)
    assert response.status_code == 302
    page = client.get(response["Location"])
    assert page.status_code == 200
    assert not payloads.is_raw(page.content)
    assert Region.objects.count() == regions


@pytest.mark.parametrize("payload", payloads.XSS[:3] + payloads.SQL[:3])
def test_registry_import_report_echoes_cell_payloads_escaped_and_writes_no_institution(
    client: Client, payload: str
) -> None:
    institutions = apps.get_model("registry.Institution").objects.count()
    text = f"机构名称,地址\n{payload},{payload}\n"
    response = _post_workbook(client, "registry", "registry.csv", text.encode("gbk", "replace"))
    assert response.status_code in (200, 302)
    page = client.get(response["Location"]) if response.status_code == 302 else response
    assert page.status_code == 200
    assert not payloads.is_raw(page.content)
    assert apps.get_model("registry.Institution").objects.count() == institutions


@pytest.mark.parametrize("name", payloads.TRAVERSAL_NAMES)
def test_traversal_file_name_never_leaves_media_root(client: Client, name: str) -> None:
    content = payloads.gbk_csv([("420902005009", "新建社区", "420902005000", "community")])
    response = _post_workbook(client, "territory", name + ".csv", content)
    assert response.status_code in (200, 302)
    root = Path(settings.MEDIA_ROOT).resolve()
    for path in root.rglob("*"):
        assert path.resolve().is_relative_to(root)
        assert ".." not in path.name and "\x00" not in path.name
    assert list(root.parent.iterdir()) == [root] or not root.exists()
    if response.status_code == 302:
        assert not payloads.is_raw(client.get(response["Location"]).content)


# ---------------------------------------------------------------------------- images

REFUSED_IMAGES = [
    "img_png_bomb_400mpx.png",
    "img_jpeg_header_65500px.jpg",
    "img_fake_jpeg_html.jpg",
    "img_svg_script.png",
    "img_gif_js_polyglot.gif",
]
# Real pictures with a page inside: kept only as re-encoded pixels (photos) or as a download.
DEFANGED_IMAGES = ["img_polyglot_jpeg_html.jpg", "img_png_text_xss.png"]


@pytest.fixture
def draft_inspection() -> Inspection:
    inspector = User.objects.get(username="yangtiezhu")
    place = registry_services.institution_create(
        actor=None,
        name="文昌启明学科辅导中心",
        region=screening_factories.wenchang(),
        source="import",
    )
    round_ = screening_factories.issued_round(inspector, [place])
    item = round_.items.order_by("position").first()
    assert item is not None
    return screening_services.inspection_start(actor=inspector, client_id=uuid.uuid4(), item=item)


def _post_photo(client: Client, inspection: Inspection, name: str, content: bytes) -> Any:
    login(client, "yangtiezhu")
    return client.post(
        reverse("screening:inspection_photo", args=[inspection.pk]),
        {"client_id": str(uuid.uuid4()), "photo": SimpleUploadedFile(name, content)},
        HTTP_ACCEPT="application/json",
    )


def _report_token(client: Client) -> str:
    html = client.get("/leads/new/").content.decode()
    found = re.search(r'name="token" value="([0-9a-f]+)"', html)
    assert found is not None
    return found.group(1)


def _post_evidence(client: Client, name: str, content: bytes, description: str = "现场") -> Any:
    login(client, "supervisor")
    return client.post(
        "/leads/new/",
        {
            "token": _report_token(client),
            "source": "bureau",
            "description": description,
            "place_name": "某小区",
            "region": data.WENCHANG,
            "evidence": [SimpleUploadedFile(name, content)],
        },
    )


def _post_tip(client: Client, files: list[Any] | None = None, **fields: str) -> Any:
    body: dict[str, Any] = {
        "category": "housekeeping_tutor",
        "description": "小区里有人以住家阿姨名义给孩子补数学。",
        "place_name": "某小区5栋",
        "address": "文昌社区体育路9号",
        "phone": "13912345678",
        "form_token": uuid.uuid4().hex,
        "photos": files or [],
    }
    body.update(fields)
    return client.post("/tip/", body, REMOTE_ADDR="203.0.113.9")


@pytest.mark.parametrize("name", REFUSED_IMAGES)
def test_hostile_image_is_refused_as_inspection_photo(
    client: Client, draft_inspection: Inspection, name: str
) -> None:
    before = footprint()
    response = _post_photo(client, draft_inspection, name, corpus(name))
    assert response.status_code == 400
    error = response.json()["error"]
    assert error in {
        _message("This file is not a JPEG, PNG or WebP photo, or it is damaged.", name),
        _message("The photo has too many pixels.", name),
    }
    assert footprint() == before


@pytest.mark.parametrize("name", REFUSED_IMAGES)
def test_hostile_image_is_refused_as_a_public_tip_photo(client: Client, name: str) -> None:
    before = footprint()
    response = _post_tip(client, [SimpleUploadedFile(name, corpus(name))])
    assert_refused(
        response,
        tr("“%(name)s” is not a JPEG, PNG or WebP photo or a PDF file.", name=name),
        tr("“%(name)s” has too many pixels.", name=name),
    )
    assert footprint() == before


@pytest.mark.parametrize("name", REFUSED_IMAGES)
def test_hostile_image_is_refused_as_lead_evidence(client: Client, name: str) -> None:
    before = footprint()
    response = _post_evidence(client, name, corpus(name))
    assert response.status_code == 200
    assert_refused(
        response,
        tr("“%(name)s” is not a JPEG, PNG or WebP photo or a PDF file.", name=name),
        tr("“%(name)s” has too many pixels.", name=name),
    )
    assert footprint() == before


@pytest.mark.parametrize("name", DEFANGED_IMAGES)
def test_polyglot_photo_is_kept_only_as_reencoded_pixels(
    client: Client, draft_inspection: Inspection, name: str
) -> None:
    response = _post_photo(client, draft_inspection, name, corpus(name))
    assert response.status_code == 200
    served = login(client, "yangtiezhu").get(response.json()["url"])
    body = b"".join(served.streaming_content)  # type: ignore[attr-defined]
    assert served["Content-Type"] == "image/jpeg" and served["X-Content-Type-Options"] == "nosniff"
    assert b"<script" not in body and b"<html" not in body and b"onerror" not in body


@pytest.mark.parametrize("name", [*DEFANGED_IMAGES, "img_pdf_html.pdf"])
def test_polyglot_evidence_is_served_only_as_a_download(client: Client, name: str) -> None:
    response = _post_evidence(client, name, corpus(name), description=f"多态文件 {name}")
    assert response.status_code == 302
    attachment = apps.get_model("leads.Attachment").objects.get(lead__description__endswith=name)
    served = client.get(f"/leads/attachments/{attachment.pk}/")
    assert served.status_code == 200
    assert served["Content-Disposition"].startswith("attachment;")
    assert served["X-Content-Type-Options"] == "nosniff"
    assert served["Content-Type"] in {"image/jpeg", "image/png", "application/pdf"}
    assert "html" not in served["Content-Type"]


def test_oversized_photo_is_refused_before_it_is_decoded(
    client: Client, draft_inspection: Inspection, settings: Any
) -> None:
    settings.SCREENING_PHOTO_MAX_BYTES = 1024 * 1024
    before = footprint()
    big = corpus("img_polyglot_jpeg_html.jpg") + b"\x00" * (1024 * 1024)
    response = _post_photo(client, draft_inspection, "big.jpg", big)
    assert response.status_code == 400
    assert response.json()["error"] == tr("The photo is larger than %(mb)d MB.", mb=1)
    assert footprint() == before


# ---------------------------------------------------------------------------- text payloads


@pytest.mark.parametrize("payload", payloads.XSS)
def test_tip_with_markup_is_shown_escaped_to_the_bureau_and_the_parent(
    client: Client, payload: str
) -> None:
    response = _post_tip(client, description=payload, place_name=payload[:200])
    assert response.status_code == 302, response.content.decode()[:2000]
    tip = PublicTip.objects.latest("pk")
    status_page = client.get(f"/tip/status/{tip.tracking_code}/")
    assert status_page.status_code == 200 and not payloads.is_raw(status_page.content)
    lead = tip.lead
    for url in (f"/leads/{lead.pk}/", "/leads/", f"/leads/?q={payload}"):
        page = login(Client(), "supervisor").get(url)
        assert page.status_code == 200, url
        assert not payloads.is_raw(page.content), url


@pytest.mark.parametrize("payload", payloads.XSS[:3] + payloads.SQL[:3])
def test_login_with_hostile_username_is_refused_and_echoed_escaped(
    client: Client, payload: str
) -> None:
    sessions = apps.get_model("sessions.Session").objects.count()
    response = client.post("/login/", {"username": payload, "password": payload})
    assert response.status_code == 200
    assert "_auth_user_id" not in client.session
    assert not payloads.is_raw(response.content)
    assert apps.get_model("sessions.Session").objects.count() <= sessions + 1


LIST_PAGES = [
    ("supervisor", "/leads/"),
    ("supervisor", "/leads/orders/"),
    ("supervisor", "/leads/joint/"),
    ("supervisor", "/registry/institutions/"),
    ("supervisor", "/cases/"),
    ("supervisor", "/screening/rounds/"),
    ("supervisor", "/screening/review/"),
    ("supervisor", "/reports/"),
    ("admin", "/users/"),
    ("admin", "/territory/regions/"),
    ("admin", "/territory/sentinels/"),
    ("admin", "/taxonomy/"),
    ("auditor", "/audit/events/"),
    ("supervisor", "/leads/new/institutions/"),
    ("supervisor", "/api/v1/institutions/"),
    ("supervisor", "/api/v1/leads/"),
]
QUERY_KEYS = ["q", "status", "region", "sort", "page", "period", "kind", "ordering", "search"]


@pytest.mark.parametrize("payload", payloads.XSS[:2] + payloads.SQL[:2])
@pytest.mark.parametrize(("who", "url"), LIST_PAGES)
def test_list_page_takes_hostile_query_strings_without_error_or_raw_echo(
    client: Client, who: str, url: str, payload: str
) -> None:
    login(client, who)
    before = footprint()
    response = client.get(url, {key: payload for key in QUERY_KEYS})
    assert response.status_code in (200, 400, 404), (url, response.status_code)
    if response["Content-Type"].startswith("text/html"):
        assert not payloads.is_raw(response.content)
    else:
        assert response["Content-Type"].startswith("application/json")
    after = footprint()
    assert after == before


# ---------------------------------------------------------------------------- API bodies


@pytest.fixture
def order_and_officer() -> tuple[Any, User]:
    supervisor = User.objects.get(username="supervisor")
    lead = lead_factories.lead_dispatched(supervisor)
    return lead_factories.order_of(lead, lead_factories.MARKET_XIAONAN), User.objects.get(
        username="xnmarket"
    )


def _token_client(user: User) -> APIClient:
    _token, key = api_token_create(actor=user, name="hostile")
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    return api


API_BODIES = {
    "malformed json": b'{"reply": "<script>alert(1)</script>",',
    "malformed utf-8": b'{"reply": "\xff\xfe\xc0\xaf"}',
    "gbk bytes": '{"reply": "整改完毕"}'.encode("gbk"),
    "deep nesting": payloads.deep_json(),
    "huge json": payloads.huge_json(),
    "xss fields": json.dumps({"reply": payloads.XSS[0], "department": payloads.XSS[1]}).encode(),
    "sql fields": json.dumps({"department": payloads.SQL[0], "reason": payloads.SQL[2]}).encode(),
    "wrong types": b'{"department": [1, {"a": null}], "reason": 1e309}',
}


@pytest.mark.parametrize("body", sorted(API_BODIES))
def test_api_action_with_hostile_json_is_a_400_and_changes_nothing(
    order_and_officer: tuple[Any, User], body: str
) -> None:
    order, officer = order_and_officer
    api = _token_client(officer)
    etag = api.get(f"/api/v1/work-orders/{order.pk}/")["ETag"]
    before = footprint()
    response = api.generic(
        "POST",
        f"/api/v1/work-orders/{order.pk}/return/",
        API_BODIES[body],
        content_type="application/json",
        HTTP_IF_MATCH=etag,
    )
    assert response.status_code in (400, 413), (response.status_code, response.content[:300])
    assert response["Content-Type"].startswith("application/json")
    assert isinstance(response.json(), dict)
    assert footprint() == before


# ------------------------------------------------------------------------ tokens, sessions, CSRF


@pytest.mark.parametrize("forgery", ["revoked", "one character changed", "empty", "other scheme"])
def test_forged_or_revoked_api_token_is_refused_and_acts_on_nothing(
    order_and_officer: tuple[Any, User], forgery: str
) -> None:
    order, officer = order_and_officer
    token, key = api_token_create(actor=officer, name="to forge")
    header = f"Token {key}"
    if forgery == "revoked":
        api_token_revoke(actor=officer, token=token)
    elif forgery == "one character changed":
        header = f"Token {key[:-1]}{'A' if key[-1] != 'A' else 'B'}"
    elif forgery == "empty":
        header = "Token "
    else:
        header = f"Bearer {key}"
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=header)
    before = footprint()
    response = api.post(f"/api/v1/work-orders/{order.pk}/sign/", {}, format="json")
    assert response.status_code in (401, 403)
    assert api.get("/api/v1/leads/").status_code in (401, 403)
    assert footprint() == before


def test_idempotency_key_reused_with_another_body_is_refused(
    order_and_officer: tuple[Any, User],
) -> None:
    order, officer = order_and_officer
    api = _token_client(officer)
    etag = api.get(f"/api/v1/work-orders/{order.pk}/")["ETag"]
    first = api.post(
        f"/api/v1/work-orders/{order.pk}/sign/",
        {},
        format="json",
        HTTP_IF_MATCH=etag,
        HTTP_IDEMPOTENCY_KEY="hostile-1",
    )
    assert first.status_code == 200, first.content
    before = footprint()
    second = api.post(
        f"/api/v1/work-orders/{order.pk}/sign/",
        {"note": payloads.XSS[0]},
        format="json",
        HTTP_IF_MATCH=first["ETag"],
        HTTP_IDEMPOTENCY_KEY="hostile-1",
    )
    assert second.status_code == 422
    assert footprint() == before


def test_session_cookie_after_logout_opens_nothing(client: Client) -> None:
    login(client, "admin")
    stolen = client.cookies[settings.SESSION_COOKIE_NAME].value
    assert client.get("/webhooks/").status_code == 200
    client.post("/logout/")
    replay = Client()
    replay.cookies[settings.SESSION_COOKIE_NAME] = stolen
    before = footprint()
    page = replay.get("/webhooks/")
    assert page.status_code == 302 and page["Location"].startswith("/login/")
    posted = replay.post("/webhooks/new/", {"url": "https://example.com/hook", "kinds": ["lead"]})
    assert posted.status_code == 302 and posted["Location"].startswith("/login/")
    assert footprint() == before


@pytest.mark.parametrize("forgery", ["revoked", "one character changed"])
def test_forged_or_revoked_open311_key_is_refused(client: Client, forgery: str) -> None:
    admin = User.objects.get(username="admin")
    api_client, key = api_client_create(actor=admin, name="hostile partner")
    if forgery == "revoked":
        api_client_revoke(actor=admin, client=api_client)
    else:
        key = key[:-1] + ("A" if key[-1] != "A" else "B")
    before = footprint()
    response = client.post(
        "/open311/v2/requests.json",
        {"api_key": key, "service_code": "housekeeping_tutor", "address_string": "某处"},
    )
    assert response.status_code == 403
    assert footprint() == before


OPEN311_BODIES = {
    "sql service code": {"service_code": payloads.SQL[1], "address_string": "某处"},
    "xss service code": {"service_code": payloads.XSS[0], "address_string": "某处"},
    "huge description": {
        "service_code": "housekeeping_tutor",
        "address_string": "某处",
        "description": "长" * 5000,
    },
    "out of range": {"service_code": "housekeeping_tutor", "lat": "1e400", "long": "NaN"},
}


@pytest.mark.parametrize("body", sorted(OPEN311_BODIES))
def test_open311_post_with_hostile_fields_is_a_400_in_both_formats(
    client: Client, body: str
) -> None:
    admin = User.objects.get(username="admin")
    _client, key = api_client_create(actor=admin, name="partner")
    before = footprint()
    for fmt in ("json", "xml"):
        response = client.post(
            f"/open311/v2/requests.{fmt}", {"api_key": key, **OPEN311_BODIES[body]}
        )
        assert response.status_code in (400, 404), response.content[:300]
        assert response["X-Content-Type-Options"] == "nosniff"
        if fmt == "xml":
            # JSON carries text as text (never read as a page, given nosniff); XML must escape.
            assert not payloads.is_raw(response.content)
    assert footprint() == before


def test_open311_post_bigger_than_the_upload_limit_is_a_400(client: Client) -> None:
    before = footprint()
    response = client.post(
        "/open311/v2/requests.json",
        payloads.huge_json(),
        content_type="application/x-www-form-urlencoded",
    )
    assert response.status_code == 400
    assert footprint() == before


def test_open311_xss_description_comes_back_escaped_in_xml(client: Client) -> None:
    admin = User.objects.get(username="admin")
    _client, key = api_client_create(actor=admin, name="partner")
    created = client.post(
        "/open311/v2/requests.xml",
        {
            "api_key": key,
            "service_code": "housekeeping_tutor",
            "address_string": payloads.XSS[1],
            "description": payloads.XSS[0],
        },
    )
    assert created.status_code == 201
    assert b"<script>" not in created.content


def _patterns(
    patterns: list[Any], prefix: str = "", namespace: str = ""
) -> Iterator[tuple[str, URLPattern]]:
    for entry in patterns:
        if isinstance(entry, URLResolver):
            space = f"{namespace}:{entry.namespace}" if entry.namespace else namespace
            yield from _patterns(entry.url_patterns, prefix + str(entry.pattern), space)
        elif entry.name:
            yield (f"{namespace}:{entry.name}".lstrip(":"), entry)


_SAMPLE = {
    "int": 1,
    "str": "x",
    "slug": "x",
    "uuid": uuid.UUID(int=1),
    "fmt": "json",
    "format": "json",
    "drf_format_suffix": "json",
}


def _sample_url(name: str, pattern: URLPattern) -> str | None:
    kwargs: dict[str, Any] = {}
    route = pattern.pattern
    converters = getattr(route, "converters", {})
    groups = list(route.regex.groupindex)
    for group in groups:
        converter = type(converters[group]).__name__.lower() if group in converters else ""
        if group in ("fmt", "format"):
            kwargs[group] = "json"
        elif "int" in converter:
            kwargs[group] = 1
        elif "uuid" in converter:
            kwargs[group] = uuid.UUID(int=1)
        elif group == "day":
            kwargs[group] = "2026-01-01"
        else:
            kwargs[group] = "x1"
    try:
        return reverse(name, kwargs=kwargs)
    except Exception:
        return None


# Open311's create is a machine API authenticated by the api_key in the body (GeoReport v2).
CSRF_EXEMPT = {"open311:requests"}


def _every_url() -> list[tuple[str, str]]:
    seen: dict[str, str] = {}
    for name, pattern in _patterns(get_resolver().url_patterns):
        if {"format", "drf_format_suffix"} & set(pattern.pattern.regex.groupindex):
            continue  # DRF's ".json" twins of the routes already listed
        url = _sample_url(name, pattern)
        if url is not None and url not in seen.values():
            seen[name] = url
    return sorted(seen.items())


@pytest.mark.parametrize(("name", "url"), _every_url())
def test_post_without_csrf_token_is_refused_on_every_page(name: str, url: str) -> None:
    browser = Client(enforce_csrf_checks=True)
    login(browser, "admin")
    before = footprint()
    response = browser.post(url, {"url": "https://example.com/", "username": "admin"})
    if name in CSRF_EXEMPT:
        assert response.status_code in (400, 403), (name, url, response.status_code)
    else:
        assert response.status_code == 403, (name, url, response.status_code)
    assert footprint() == before


# ---------------------------------------------------------------------------- SSRF

SSRF_URLS = [
    "file:///etc/passwd",
    "gopher://127.0.0.1:6379/_FLUSHALL",
    "ftp://example.com/",
    "javascript:alert('bihuan-xss')",
    "http://169.254.169.254/latest/meta-data/",
    "https://169.254.169.254/latest/meta-data/",
    "https://localhost/hook",
    "https://127.0.0.1/hook",
    "https://127.1/hook",
    "https://2130706433/hook",
    "https://0x7f000001/hook",
    "https://[::1]/hook",
    "https://[::ffff:127.0.0.1]/hook",
    "https://0.0.0.0/hook",
    "https://10.0.0.1/hook",
    "https://192.168.1.1/hook",
    "https://[fd00::1]/hook",
    "https://user:pass@127.0.0.1/hook",
    "http://example.com/hook",
]


@pytest.mark.parametrize("url", SSRF_URLS)
def test_webhook_to_a_local_address_or_other_scheme_is_refused(client: Client, url: str) -> None:
    login(client, "admin")
    before = footprint()
    response = client.post("/webhooks/new/", {"url": url, "kinds": ["lead.created"]})
    assert_refused(
        response,
        tr("Give an https:// address."),
        tr("Private, loopback and link-local addresses are refused."),
        tr("This host name does not resolve."),
        tr("Enter a valid URL."),
    )
    assert footprint() == before
