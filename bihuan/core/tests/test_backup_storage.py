"""Backups read and write uploaded files through the storage API: here an S3-compatible bucket.

moto's S3 server on loopback (a real HTTP server speaking the S3 protocol) holds two buckets, one
the site's, the other a new empty one to restore into, configured as production would be through
``FILE_STORAGE=s3`` and the ``S3_*`` settings.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import Storage, storages
from moto.server import ThreadedMotoServer

from bihuan.core import backup
from bihuan.core.env import env_storage

FILES = {
    "evidence/2026/11/scene.jpg": b"\xff\xd8" + b"j" * 5000,
    "inspections/2026/11/facade.jpg": b"\xff\xd8" + b"f" * 3000,
    "imports/institutions/2026/11/list.xlsx": b"PK\x03\x04" + b"x" * 700,
}


@pytest.fixture
def buckets() -> Iterator[tuple[Storage, Storage, Any, list[str]]]:
    """The site's bucket with three files, an empty bucket, a client to read them, their names."""
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        # moto keeps buckets in one in-process backend across servers: fresh names per test.
        names = [f"bihuan-{kind}-{uuid.uuid4().hex[:8]}" for kind in ("site", "restored")]
        made = []
        for bucket in names:
            environ = {
                "FILE_STORAGE": "s3",
                "S3_BUCKET": bucket,
                "S3_ENDPOINT_URL": f"http://{host}:{port}",
                "S3_REGION": "us-east-1",
                "S3_ACCESS_KEY_ID": "bihuan",
                "S3_SECRET_ACCESS_KEY": "bihuan-secret",
            }
            made.append(storages.create_storage(env_storage(environ=environ)))
        client = boto3.client(
            "s3",
            endpoint_url=f"http://{host}:{port}",
            region_name="us-east-1",
            aws_access_key_id="bihuan",
            aws_secret_access_key="bihuan-secret",
        )
        for bucket in names:
            client.create_bucket(Bucket=bucket)
        for name, data in FILES.items():
            made[0].save(name, ContentFile(data))
        yield made[0], made[1], client, names
    finally:
        server.stop()


def _objects(client: Any, bucket: str) -> dict[str, str]:
    listed = client.list_objects_v2(Bucket=bucket).get("Contents", [])
    return {
        item["Key"]: hashlib.sha256(
            client.get_object(Bucket=bucket, Key=item["Key"])["Body"].read()
        ).hexdigest()
        for item in listed
    }


def test_media_names_walk_a_bucket_through_the_storage_api(buckets: Any) -> None:
    site, restored, _client, _names = buckets
    assert sorted(backup.media_names(site)) == sorted(FILES)
    assert list(backup.media_names(restored)) == []


@pytest.mark.django_db
def test_a_buckets_files_go_into_the_archive_and_back_into_an_empty_bucket(
    buckets: Any, tmp_path: Path
) -> None:
    site, restored, client, names = buckets
    report = backup.backup_make(directory=tmp_path, site="s3", storage=site)
    listed = {e["name"]: e["sha256"] for e in report.manifest["files"][1:]}
    assert listed == {f"media/{n}": hashlib.sha256(d).hexdigest() for n, d in FILES.items()}
    manifest = backup.archive_open(report.path, tmp_path / "unpacked")
    assert backup.files_restore(restored, tmp_path / "unpacked", manifest["files"]) == (3, 0)
    assert _objects(client, names[1]) == _objects(client, names[0])
    # A second pass finds every file already there and writes nothing.
    assert backup.files_restore(restored, tmp_path / "unpacked", manifest["files"]) == (0, 3)
