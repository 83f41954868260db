"""Evidence files: what is accepted (photos and PDFs, sniffed by content) and how it is stored."""

from __future__ import annotations

import hashlib
import io
import warnings
from typing import Any

from django.conf import settings
from django.core.files.base import ContentFile
from django.utils.translation import gettext as _
from PIL import Image, UnidentifiedImageError

from bihuan.core.errors import ServiceError
from bihuan.leads.models import Attachment, Lead, WorkOrder

# The first bytes of each accepted kind; the name's extension is never trusted.
_SIGNATURES: list[tuple[bytes, int, str, str]] = [
    (b"\xff\xd8\xff", 0, "image/jpeg", ".jpg"),
    (b"\x89PNG\r\n\x1a\n", 0, "image/png", ".png"),
    (b"%PDF-", 0, "application/pdf", ".pdf"),
    (b"WEBP", 8, "image/webp", ".webp"),
]
MAX_FILES = 10


def sniff(head: bytes) -> tuple[str, str] | None:
    """The content type and extension of a file from its first bytes, if it is accepted."""
    for signature, offset, content_type, ext in _SIGNATURES:
        if head[offset : offset + len(signature)] == signature:
            if content_type == "image/webp" and not head.startswith(b"RIFF"):
                continue
            return content_type, ext
    return None


def _opens_as_image(data: bytes, name: str) -> bool:
    """Does Pillow read the image's header and structure? A page behind a JPEG's first bytes fails.

    A picture over Pillow's pixel limit is refused too: nobody needs a 400-megapixel photo as
    evidence, and opening one in a viewer would stall it.
    """
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as image:
                image.verify()
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise ServiceError(
            _("“%(name)s” has too many pixels.") % {"name": name}, field="files"
        ) from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, EOFError):
        return False
    return True


def check_files(files: list[Any]) -> list[tuple[Any, bytes, str, str]]:
    """Read and check every upload before anything is written; refuse the lot on one bad file."""
    if len(files) > MAX_FILES:
        raise ServiceError(_("Attach at most %(n)d files.") % {"n": MAX_FILES}, field="files")
    limit = settings.EVIDENCE_MAX_BYTES
    checked = []
    for upload in files:
        name = (getattr(upload, "name", "") or "file")[-200:]
        if upload.size is not None and upload.size > limit:
            raise ServiceError(
                _("“%(name)s” is larger than %(mb)d MB.")
                % {"name": name, "mb": limit // (1024 * 1024)},
                field="files",
            )
        data = upload.read(limit + 1)
        if len(data) > limit:
            raise ServiceError(
                _("“%(name)s” is larger than %(mb)d MB.")
                % {"name": name, "mb": limit // (1024 * 1024)},
                field="files",
            )
        kind = sniff(data[:16])
        if kind is None or (kind[0].startswith("image/") and not _opens_as_image(data, name)):
            raise ServiceError(
                _("“%(name)s” is not a JPEG, PNG or WebP photo or a PDF file.") % {"name": name},
                field="files",
            )
        checked.append((upload, data, kind[0], kind[1]))
    return checked


def store(
    checked: list[tuple[Any, bytes, str, str]],
    *,
    lead: Lead,
    actor: Any,
    work_order: WorkOrder | None = None,
) -> list[Attachment]:
    """Save checked files as attachments of the lead (and of a work order's reply)."""
    saved = []
    uploader = actor if getattr(actor, "is_authenticated", False) else None
    for upload, data, content_type, ext in checked:
        digest = hashlib.sha256(data).hexdigest()
        attachment = Attachment(
            lead=lead,
            work_order=work_order,
            original_name=(getattr(upload, "name", "") or "file")[-200:],
            content_type=content_type,
            size=len(data),
            sha256=digest,
            uploaded_by=uploader,
        )
        # The stored name is the digest: no user-controlled path ever reaches the disk.
        attachment.file.save(f"{digest}{ext}", ContentFile(data), save=False)
        attachment.save()
        saved.append(attachment)
    return saved
