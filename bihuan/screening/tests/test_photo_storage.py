"""Inspection photos go through Django's storage API: here into an S3-compatible bucket.

The bucket is served by moto's S3 server on loopback (a real HTTP server speaking the S3 protocol),
configured exactly as production would be, through ``FILE_STORAGE=s3`` and the ``S3_*`` settings.
"""

from __future__ import annotations

import io
import uuid
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from moto.server import ThreadedMotoServer
from PIL import Image

from bihuan.accounts.models import User
from bihuan.core.env import env_storage
from bihuan.registry import services as registry_services
from bihuan.registry.models import Source
from bihuan.screening import inspection_services as services
from bihuan.screening.models import InspectionPhoto
from bihuan.screening.tests import factories as f

BUCKET = "bihuan-test-photos"


@pytest.fixture
def bucket(settings: Any) -> Iterator[Any]:
    """An S3-compatible server on loopback with an empty bucket, set as the default storage."""
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        environ = {
            "FILE_STORAGE": "s3",
            "S3_BUCKET": BUCKET,
            "S3_ENDPOINT_URL": f"http://{host}:{port}",
            "S3_REGION": "us-east-1",
            "S3_ACCESS_KEY_ID": "bihuan",
            "S3_SECRET_ACCESS_KEY": "bihuan-secret",
        }
        client = boto3.client(
            "s3",
            endpoint_url=environ["S3_ENDPOINT_URL"],
            region_name="us-east-1",
            aws_access_key_id="bihuan",
            aws_secret_access_key="bihuan-secret",
        )
        client.create_bucket(Bucket=BUCKET)
        settings.STORAGES = {**settings.STORAGES, "default": env_storage(environ=environ)}
        yield client
    finally:
        server.stop()


def _photo_with_gps() -> SimpleUploadedFile:
    image = Image.new("RGB", (640, 480), (30, 120, 200))
    exif = Image.Exif()
    exif[0x8825] = {1: "N", 2: (30.0, 55.0, 36.0)}  # GPS: must not survive
    exif[0x0132] = "2026:11:27 09:30:00"
    out = io.BytesIO()
    image.save(out, format="JPEG", exif=exif)
    return SimpleUploadedFile("IMG_0001.jpg", out.getvalue(), content_type="image/jpeg")


def test_a_photo_is_stored_in_the_bucket_and_served_only_through_the_scoped_view(
    bucket: Any, inspector_wenchang: User, coordinator_huaiyin: User
) -> None:
    institution = registry_services.institution_create(
        actor=None, name="文昌启明学科辅导中心", region=f.wenchang(), source=Source.IMPORT
    )
    item = f.issued_round(inspector_wenchang, [institution]).items.get()
    inspection = services.inspection_start(
        actor=inspector_wenchang, client_id=uuid.uuid4(), item=item
    )
    photo = services.photo_add(
        actor=inspector_wenchang,
        inspection=inspection,
        client_id=uuid.uuid4(),
        question="",
        upload=_photo_with_gps(),
    )

    keys = [o["Key"] for o in bucket.list_objects_v2(Bucket=BUCKET).get("Contents", [])]
    assert keys == [photo.file.name]
    stored = bucket.get_object(Bucket=BUCKET, Key=photo.file.name)["Body"].read()
    assert Image.open(io.BytesIO(stored)).getexif().get_ifd(0x8825) == {}
    assert InspectionPhoto.objects.get(pk=photo.pk).sha256 == photo.sha256

    client = Client()
    client.force_login(inspector_wenchang)
    response = client.get(f"/screening/photos/{photo.pk}/")
    assert response.status_code == 200
    body = getattr(response, "streaming_content", None) or [response.content]
    assert b"".join(body) == stored
    client.force_login(coordinator_huaiyin)
    assert client.get(f"/screening/photos/{photo.pk}/").status_code == 404
