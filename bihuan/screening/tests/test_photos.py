"""Photo checks and re-encoding: real images made in memory with Pillow, and files that pretend.

No database: ``process_photo`` is a pure function of the upload (and the clock for the hint).
"""

from __future__ import annotations

import datetime
import hashlib
import io
from collections.abc import Iterator
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import override_settings
from django.utils import timezone, translation
from PIL import ExifTags, Image

from bihuan.core.errors import ServiceError
from bihuan.screening.photos import MAX_SIDE, process_photo


@pytest.fixture(autouse=True)
def _in_english() -> Iterator[None]:
    # The refusals are matched by their English text; the interface defaults to Chinese.
    with translation.override("en"):
        yield


SHANGHAI = datetime.timezone(datetime.timedelta(hours=8))


def encode(image: Image.Image, fmt: str = "JPEG", **options: Any) -> bytes:
    out = io.BytesIO()
    image.save(out, format=fmt, **options)
    return out.getvalue()


def upload(data: bytes, name: str = "photo.jpg") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, data, content_type="image/jpeg")


def phone_exif(taken: str = "2026:11:20 10:30:00", offset: str | None = None) -> Image.Exif:
    """What a phone writes: maker, model, orientation, capture time and a GPS position."""
    exif = Image.Exif()
    exif[ExifTags.Base.Make] = "HUAWEI"
    exif[ExifTags.Base.Model] = "P60"
    exif[ExifTags.Base.Software] = "HarmonyOS"
    exif[ExifTags.Base.Orientation] = 6  # the camera was held upright: rotate 90° clockwise
    sub = exif.get_ifd(ExifTags.IFD.Exif)
    sub[ExifTags.Base.DateTimeOriginal] = taken
    sub[ExifTags.Base.BodySerialNumber] = "SN123456"
    if offset:
        sub[ExifTags.Base.OffsetTimeOriginal] = offset
    gps = exif.get_ifd(ExifTags.IFD.GPSInfo)
    gps[ExifTags.GPS.GPSLatitudeRef] = "N"
    gps[ExifTags.GPS.GPSLatitude] = (30.0, 55.0, 4.8)
    gps[ExifTags.GPS.GPSLongitudeRef] = "E"
    gps[ExifTags.GPS.GPSLongitude] = (113.0, 54.0, 46.8)
    return exif


def test_output_keeps_only_the_capture_time_of_a_phone_photo() -> None:
    source = encode(Image.new("RGB", (400, 300), (200, 20, 20)), exif=phone_exif().tobytes())
    done = process_photo(upload(source))

    out = Image.open(io.BytesIO(done.data))
    exif = out.getexif()
    assert out.format == "JPEG" and done.content_type == "image/jpeg"
    assert dict(exif.get_ifd(ExifTags.IFD.Exif)) == {
        ExifTags.Base.DateTimeOriginal: "2026:11:20 10:30:00"
    }
    assert set(exif) == {ExifTags.Base.ExifOffset}  # only the pointer to that one tag
    assert exif.get_ifd(ExifTags.IFD.GPSInfo) == {}
    assert b"HUAWEI" not in done.data and b"SN123456" not in done.data
    assert "icc_profile" not in out.info and "comment" not in out.info
    # Taken at 10:30 in Shanghai (no offset written): 02:30 UTC.
    assert done.captured_at == datetime.datetime(2026, 11, 20, 2, 30, tzinfo=datetime.UTC)


def test_exif_orientation_is_applied_to_the_pixels() -> None:
    source = encode(Image.new("RGB", (400, 300), (0, 0, 0)), exif=phone_exif().tobytes())
    done = process_photo(upload(source))
    assert (done.width, done.height) == (300, 400)
    assert Image.open(io.BytesIO(done.data)).size == (300, 400)


def test_offset_time_original_is_honoured() -> None:
    exif = phone_exif("2026:11:20 10:30:00", offset="+02:00")
    done = process_photo(upload(encode(Image.new("RGB", (40, 30)), exif=exif.tobytes())))
    assert done.captured_at == datetime.datetime(2026, 11, 20, 8, 30, tzinfo=datetime.UTC)
    written = Image.open(io.BytesIO(done.data)).getexif().get_ifd(ExifTags.IFD.Exif)
    assert written[ExifTags.Base.DateTimeOriginal] == "2026:11:20 16:30:00"  # Shanghai wall time


def test_large_photo_is_scaled_down_to_the_longest_side() -> None:
    done = process_photo(upload(encode(Image.new("RGB", (4000, 3000), (9, 9, 9)))))
    assert max(done.width, done.height) == MAX_SIDE
    assert (done.width, done.height) == (MAX_SIDE, 1920)


def test_png_with_transparency_becomes_a_jpeg_on_white() -> None:
    image = Image.new("RGBA", (20, 10), (0, 0, 0, 0))
    done = process_photo(upload(encode(image, "PNG"), "screen.png"))
    out = Image.open(io.BytesIO(done.data))
    assert out.format == "JPEG"
    pixel = out.convert("RGB").getpixel((5, 5))
    assert isinstance(pixel, tuple) and min(pixel) >= 240
    assert done.captured_at is None
    assert b"Exif" not in done.data


def test_webp_is_accepted() -> None:
    done = process_photo(upload(encode(Image.new("RGB", (30, 20)), "WEBP"), "p.webp"))
    assert (done.width, done.height) == (30, 20)


def test_hint_from_the_phone_is_used_when_there_is_no_exif_time() -> None:
    taken = timezone.now() - datetime.timedelta(hours=2)
    millis = int(taken.timestamp() * 1000)
    done = process_photo(upload(encode(Image.new("RGB", (30, 20)))), captured_hint=str(millis))
    assert done.captured_at is not None
    assert abs((done.captured_at - taken).total_seconds()) < 1
    written = Image.open(io.BytesIO(done.data)).getexif().get_ifd(ExifTags.IFD.Exif)
    expected = taken.astimezone(SHANGHAI).strftime("%Y:%m:%d %H:%M:%S")
    assert written[ExifTags.Base.DateTimeOriginal] == expected


@pytest.mark.parametrize(
    "offset",
    [datetime.timedelta(days=1), -datetime.timedelta(days=400)],
    ids=["in the future", "over a year old"],
)
def test_implausible_hint_is_ignored(offset: datetime.timedelta) -> None:
    millis = int((timezone.now() + offset).timestamp() * 1000)
    done = process_photo(upload(encode(Image.new("RGB", (30, 20)))), captured_hint=millis)
    assert done.captured_at is None


def test_exif_time_wins_over_the_hint() -> None:
    millis = int((timezone.now() - datetime.timedelta(hours=1)).timestamp() * 1000)
    source = encode(Image.new("RGB", (40, 30)), exif=phone_exif().tobytes())
    done = process_photo(upload(source), captured_hint=millis)
    assert done.captured_at == datetime.datetime(2026, 11, 20, 2, 30, tzinfo=datetime.UTC)


def test_digest_is_of_the_stored_bytes() -> None:
    done = process_photo(upload(encode(Image.new("RGB", (30, 20)))))
    assert done.sha256 == hashlib.sha256(done.data).hexdigest()


@override_settings(SCREENING_PHOTO_MAX_BYTES=2048)
def test_photo_over_the_limit_is_refused() -> None:
    noisy = Image.effect_noise((200, 200), 100).convert("RGB")
    data = encode(noisy, quality=95)
    assert len(data) > 2048
    with pytest.raises(ServiceError, match="larger than"):
        process_photo(upload(data))


@override_settings(SCREENING_PHOTO_MAX_BYTES=2048)
def test_photo_over_the_limit_is_refused_even_when_its_size_is_not_told() -> None:
    data = encode(Image.effect_noise((200, 200), 100).convert("RGB"), quality=95)

    class Stream(io.BytesIO):
        size = None

    with pytest.raises(ServiceError, match="larger than"):
        process_photo(Stream(data))


def test_file_with_only_a_jpeg_header_is_refused() -> None:
    fake = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + b"\x00" * 200
    with pytest.raises(ServiceError, match="not a JPEG"):
        process_photo(upload(fake))


def test_truncated_jpeg_is_refused() -> None:
    data = encode(Image.effect_noise((300, 300), 80).convert("RGB"))
    with pytest.raises(ServiceError, match="not a JPEG"):
        process_photo(upload(data[: len(data) // 2]))


def test_other_image_formats_are_refused() -> None:
    with pytest.raises(ServiceError, match="not a JPEG"):
        process_photo(upload(encode(Image.new("RGB", (10, 10)), "GIF"), "a.gif"))


def test_text_and_empty_files_are_refused() -> None:
    with pytest.raises(ServiceError):
        process_photo(upload(b"<?php echo 1; ?>", "a.jpg"))
    with pytest.raises(ServiceError):
        process_photo(upload(b"", "a.jpg"))


@pytest.mark.parametrize("side", [120, 150], ids=["over the limit", "over twice the limit"])
def test_decompression_bomb_is_refused(side: int, monkeypatch: pytest.MonkeyPatch) -> None:
    # A small PNG with more pixels than Pillow's limit (lowered so the test stays small): Pillow
    # warns above the limit and raises above twice it; both are refused.
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 100 * 100)
    data = encode(Image.new("L", (side, side)), "PNG")
    with pytest.raises(ServiceError, match="too many pixels"):
        process_photo(upload(data, "bomb.png"))
