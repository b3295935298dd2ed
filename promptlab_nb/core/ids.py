"""Ids and the clock: sortable unique ids (ULID layout: 48-bit milliseconds + 80 random bits, Crockford base32).

The random part needs uniqueness, not secrecy, so it comes from ``random`` (seeded from the
operating system at start), which is far cheaper than ``os.urandom`` for thousands of runs.
"""

from __future__ import annotations

import random
import time
from datetime import UTC, datetime

_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


def new_id() -> str:
    value = (time.time_ns() // 1_000_000) << 80 | random.getrandbits(80)
    chars = []
    for _ in range(26):
        value, index = divmod(value, 32)
        chars.append(_ALPHABET[index])
    return "".join(reversed(chars))


def utcnow() -> datetime:
    """Now in UTC, without a time zone: the store keeps naive UTC times on both backends."""
    return datetime.now(UTC).replace(tzinfo=None)
