"""Inspection photos: check that an upload is a real photo, then re-encode it without metadata.

Phones put the owner's position, the device's serial number and more into EXIF; a photo of a
tutoring institution must carry none of that. So every photo is decoded by Pillow (a file that
only looks like a JPEG fails here), turned upright, scaled down, and written again as a plain
JPEG whose only metadata is the capture time (EXIF DateTimeOriginal, Asia/Shanghai wall time).
"""

from __future__ import annotations

import datetime
import hashlib
import io
import warnings
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

from django.conf import settings
from django.utils import timezone
from django.utils.translation import gettext as _
from PIL import ExifTags, Image, ImageOps, UnidentifiedImageError

from bihuan.core.errors import ServiceError

ACCEPTED_FORMATS = frozenset({"JPEG", "PNG", "WEBP"})
MAX_SIDE = 2560
JPEG_QUALITY = 85
# Wall-clock times without an offset are taken to be local: phones here are on China time.
LOCAL_ZONE = ZoneInfo("Asia/Shanghai")
# A phone's file time is believed only if it is no older than this (and not in the future).
HINT_MAX_AGE = datetime.timedelta(days=365)
HINT_CLOCK_SKEW = datetime.timedelta(minutes=5)
EXIF_TIME_FORMAT = "%Y:%m:%d %H:%M:%S"


@dataclass(frozen=True)
class ProcessedPhoto:
    """A photo ready to store: JPEG bytes and the facts recorded beside it."""

    data: bytes
    content_type: str
    width: int
    height: int
    captured_at: datetime.datetime | None
    sha256: str


def _refuse(message: str) -> ServiceError:
    return ServiceError(message, field="photo")


def _read(upload: Any, limit: int) -> bytes:
    too_big = _("The photo is larger than %(mb)d MB.") % {"mb": max(1, limit // (1024 * 1024))}
    size = getattr(upload, "size", None)
    if size is not None and size > limit:
        raise _refuse(too_big)
    if hasattr(upload, "seek"):
        upload.seek(0)
    data = upload.read(limit + 1)
    if len(data) > limit:
        raise _refuse(too_big)
    if not data:
        raise _refuse(_("The photo is empty."))
    return bytes(data)


def _decode(data: bytes) -> Image.Image:
    """The decoded image, or ServiceError for anything that is not a whole JPEG, PNG or WebP."""
    not_a_photo = _("This file is not a JPEG, PNG or WebP photo, or it is damaged.")
    try:
        # A decompression-bomb warning (over MAX_IMAGE_PIXELS) is refused like the error (twice
        # that): neither is a photo a phone takes.
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as probe:
                if probe.format not in ACCEPTED_FORMATS:
                    raise _refuse(not_a_photo)
                probe.verify()
            image = Image.open(io.BytesIO(data))
            if image.format == "JPEG":
                # Decode at a reduced scale where JPEG allows it: a 50-megapixel photo needs
                # a quarter of the memory, and the result is scaled down anyway.
                image.draft("RGB", (MAX_SIDE, MAX_SIDE))
            image.load()
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise _refuse(_("The photo has too many pixels.")) from None
    except ServiceError:
        raise
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, EOFError):
        raise _refuse(not_a_photo) from None
    return image


def _exif_time(image: Image.Image) -> datetime.datetime | None:
    """DateTimeOriginal (with OffsetTimeOriginal when the camera wrote one) as an aware time."""
    try:
        ifd = image.getexif().get_ifd(ExifTags.IFD.Exif)
    except Exception:  # a malformed EXIF block is no reason to refuse the photo itself
        return None
    raw = ifd.get(ExifTags.Base.DateTimeOriginal)
    if not isinstance(raw, str):
        return None
    try:
        moment = datetime.datetime.strptime(raw.strip("\x00 ").strip(), EXIF_TIME_FORMAT)
    except ValueError:
        return None
    offset = ifd.get(ExifTags.Base.OffsetTimeOriginal)
    zone: datetime.tzinfo = LOCAL_ZONE
    if isinstance(offset, str):
        try:
            parsed = datetime.datetime.strptime(offset.strip("\x00 ").strip(), "%z")
            zone = parsed.tzinfo or LOCAL_ZONE
        except ValueError:
            pass
    return moment.replace(tzinfo=zone)


def _hint_time(hint: Any, now: datetime.datetime) -> datetime.datetime | None:
    """The phone's file time (milliseconds since 1970, as File.lastModified), if plausible."""
    if hint in (None, ""):
        return None
    try:
        millis = float(hint)
        moment = datetime.datetime.fromtimestamp(millis / 1000, tz=datetime.UTC)
    except (TypeError, ValueError, OverflowError, OSError):
        return None
    if moment > now + HINT_CLOCK_SKEW or moment < now - HINT_MAX_AGE:
        return None
    return moment


def _plain_rgb(image: Image.Image) -> Image.Image:
    """RGB pixels; transparency is laid on white (JPEG has none)."""
    if image.mode in ("RGBA", "LA") or (image.mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        canvas = Image.new("RGB", rgba.size, (255, 255, 255))
        canvas.paste(rgba, mask=rgba.getchannel("A"))
        return canvas
    return image.convert("RGB")


def process_photo(upload: Any, *, captured_hint: Any = None) -> ProcessedPhoto:
    """Check an uploaded photo and re-encode it as JPEG with only its capture time kept."""
    data = _read(upload, settings.SCREENING_PHOTO_MAX_BYTES)
    image = _decode(data)
    captured_at = _exif_time(image) or _hint_time(captured_hint, timezone.now())
    upright = ImageOps.exif_transpose(image) or image
    picture = _plain_rgb(upright)
    picture.thumbnail((MAX_SIDE, MAX_SIDE), Image.Resampling.LANCZOS)
    # Pillow carries a decoded JPEG's comment (COM segment) over to the copy it saves, and a
    # comment can hold a whole web page: the picture keeps its pixels and nothing else.
    picture.info = {}
    options: dict[str, Any] = {"quality": JPEG_QUALITY, "optimize": True}
    if captured_at is not None:
        exif = Image.Exif()
        local = captured_at.astimezone(LOCAL_ZONE)
        exif.get_ifd(ExifTags.IFD.Exif)[ExifTags.Base.DateTimeOriginal] = local.strftime(
            EXIF_TIME_FORMAT
        )
        options["exif"] = exif.tobytes()
    out = io.BytesIO()
    # No icc_profile, no comment, no XMP: with info emptied, Pillow writes only what it is given.
    picture.save(out, format="JPEG", **options)
    encoded = out.getvalue()
    return ProcessedPhoto(
        data=encoded,
        content_type="image/jpeg",
        width=picture.width,
        height=picture.height,
        captured_at=captured_at.astimezone(datetime.UTC) if captured_at else None,
        sha256=hashlib.sha256(encoded).hexdigest(),
    )
