"""manage.py rotate_field_keys: move every encrypted personal number to the newest key."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError

from bihuan.core import crypto
from bihuan.core.crypto_services import (
    BATCH_SIZE,
    encrypted_models,
    field_keys_rotate,
    stale_count,
)


class Command(BaseCommand):
    help = (
        "Re-encrypt every encrypted field (phones and other personal numbers) under the newest "
        "key of FIELD_ENCRYPTION_KEYS, in batches, each under a row lock, and recompute their "
        "search hashes; values written before encryption are encrypted too. To rotate: put a new "
        "key first in FIELD_ENCRYPTION_KEYS, keep the old ones after it, restart, run this "
        "command, then remove the old keys once --check reports nothing left. Safe to run again "
        "or to interrupt: only values not yet under the newest key are rewritten. Records one "
        "audit event with the counts per model."
    )

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument(
            "--check",
            action="store_true",
            help=(
                "Only count the rows per model still holding a value under an old key (or not "
                "encrypted); exit status 1 if there are any, 0 if none. Changes nothing."
            ),
        )
        parser.add_argument(
            "--all",
            action="store_true",
            dest="everything",
            help=(
                "Rewrite every value, even those already under the newest key: run this after "
                "changing FIELD_HASH_KEY, so that every search hash is computed with the new key."
            ),
        )
        parser.add_argument(
            "--batch-size",
            type=int,
            default=BATCH_SIZE,
            metavar="N",
            help=f"Rows re-encrypted per transaction (default {BATCH_SIZE}).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if options["batch_size"] < 1:
            raise CommandError("--batch-size must be at least 1.")
        current = crypto.keyring().current_id
        if options["check"]:
            counts = {m._meta.label_lower: stale_count(m) for m in encrypted_models()}
            for label, count in counts.items():
                self.stdout.write(f"{label}: {count} row(s) not under key {current}")
            total = sum(counts.values())
            self.stdout.write(f"Total: {total} row(s) to rotate.")
            if total:
                raise SystemExit(1)
            return
        counts = field_keys_rotate(
            actor=None, batch_size=options["batch_size"], everything=options["everything"]
        )
        for label, count in counts.items():
            self.stdout.write(f"{label}: {count} row(s) re-encrypted under key {current}")
        self.stdout.write(f"Total: {sum(counts.values())} row(s) re-encrypted.")
