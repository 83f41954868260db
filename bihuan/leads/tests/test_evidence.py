"""Evidence files: accepted by their content, never by their name, and stored under their digest."""

from __future__ import annotations

import hashlib
import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.test import override_settings

from bihuan.accounts.models import User
from bihuan.core.errors import ServiceError
from bihuan.leads import evidence
from bihuan.leads.tests import factories as f

WEBP = b"RIFF\x24\x00\x00\x00WEBPVP8 " + b"\x00" * 32


@pytest.mark.parametrize(
    ("head", "kind"),
    [
        (f.JPEG, ("image/jpeg", ".jpg")),
        (f.PNG, ("image/png", ".png")),
        (f.PDF, ("application/pdf", ".pdf")),
        (WEBP, ("image/webp", ".webp")),
    ],
    ids=["jpeg", "png", "pdf", "webp"],
)
def test_accepted_kinds_are_recognised_by_their_first_bytes(
    head: bytes, kind: tuple[str, str]
) -> None:
    assert evidence.sniff(head[:16]) == kind


@pytest.mark.parametrize(
    "head",
    [b"just some text", b"GIF89a\x00\x00", b"XXXX\x24\x00\x00\x00WEBPVP8 ", b"", b"PK\x03\x04"],
    ids=["text", "gif", "webp-without-riff", "empty", "zip"],
)
def test_other_content_is_not_recognised(head: bytes) -> None:
    assert evidence.sniff(head) is None


def test_check_reads_every_file_and_returns_its_kind() -> None:
    checked = evidence.check_files([f.upload(f.JPEG, "a.jpg"), f.upload(f.PDF, "b.pdf")])
    assert [(data, content_type, ext) for _u, data, content_type, ext in checked] == [
        (f.JPEG, "image/jpeg", ".jpg"),
        (f.PDF, "application/pdf", ".pdf"),
    ]


def test_name_is_never_trusted() -> None:
    checked = evidence.check_files([f.upload(f.PNG, "photo.pdf")])
    assert checked[0][2:] == ("image/png", ".png")


def test_one_bad_file_refuses_the_lot() -> None:
    with pytest.raises(ServiceError) as refused:
        evidence.check_files([f.upload(), f.upload(b"<script>", "x.jpg")])
    assert refused.value.field == "files"
    assert "x.jpg" in refused.value.message


def test_too_many_files_are_refused() -> None:
    with pytest.raises(ServiceError):
        evidence.check_files([f.upload() for _ in range(evidence.MAX_FILES + 1)])


@override_settings(EVIDENCE_MAX_BYTES=1024)
def test_declared_size_over_the_limit_is_refused() -> None:
    with pytest.raises(ServiceError) as refused:
        evidence.check_files([f.upload(f.JPEG + b"\x00" * 1024, "big.jpg")])
    assert refused.value.field == "files"


class _Unsized(io.BytesIO):
    """An upload that does not say its size (a stream): only reading finds it too big."""

    name = "stream.jpg"
    size = None


@override_settings(EVIDENCE_MAX_BYTES=1024)
def test_undeclared_size_over_the_limit_is_refused_by_reading() -> None:
    with pytest.raises(ServiceError):
        evidence.check_files([_Unsized(f.JPEG + b"\x00" * 1024)])


@override_settings(EVIDENCE_MAX_BYTES=1024)
def test_file_exactly_at_the_limit_is_accepted() -> None:
    content = f.JPEG + b"\x00" * (1024 - len(f.JPEG))
    assert len(evidence.check_files([f.upload(content)])) == 1


# ---------------------------------------------------------------------------- storing


@pytest.fixture(scope="module")
def _city(django_db_setup: None, django_db_blocker: Any) -> Iterator[None]:
    # Only the database tests ask for it: the pure ones may run after a committed-database test
    # has emptied the tables (pytest-django orders tests without a database last).
    with f.city_for_module(django_db_blocker):
        yield


@pytest.fixture
def demo_city(_city: None, db: None) -> dict[str, int]:
    return {}


@pytest.fixture(autouse=True)
def _media(settings: Any, tmp_path: Path) -> None:
    settings.MEDIA_ROOT = tmp_path


@pytest.mark.django_db
def test_stored_file_is_named_by_its_digest(school_tiyulu: User, tmp_path: Path) -> None:
    lead = f.lead_report(school_tiyulu)
    checked = evidence.check_files([f.upload(f.JPEG, "现场 照片(1).jpg")])
    (attachment,) = evidence.store(checked, lead=lead, actor=school_tiyulu)
    digest = hashlib.sha256(f.JPEG).hexdigest()
    assert attachment.sha256 == digest
    assert Path(attachment.file.name).name == f"{digest}.jpg"
    assert attachment.original_name == "现场 照片(1).jpg"
    assert (tmp_path / attachment.file.name).read_bytes() == f.JPEG


@pytest.mark.django_db
def test_anonymous_upload_has_no_uploader(school_tiyulu: User) -> None:
    lead = f.lead_report(school_tiyulu)
    (attachment,) = evidence.store(evidence.check_files([f.upload()]), lead=lead, actor=None)
    assert attachment.uploaded_by is None
