"""Ids and the clock: sortable unique ids (ULID layout: 48-bit milliseconds + 80 random bits, Crockford base32).

The random part needs uniqueness, not secrecy, so it comes from ``random`` (seeded from the
operating system at start), which is far cheaper than ``os.urandom`` for thousands of runs.
"""

from __future__ import annotations

import getpass
import os
import random
import socket
import time
from datetime import UTC, datetime

_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
_PAIRS = [first + second for first in _ALPHABET for second in _ALPHABET]
_PAIR_SHIFTS = tuple(range(120, -1, -10))


def new_id() -> str:
    """26 characters, two (10 bits) at a time: a third of the cost of one at a time, for every run and score."""
    value = (time.time_ns() // 1_000_000) << 80 | random.getrandbits(80)
    return "".join([_PAIRS[(value >> shift) & 1023] for shift in _PAIR_SHIFTS])


def utcnow() -> datetime:
    """Now in UTC, without a time zone: the store keeps naive UTC times on both backends."""
    return datetime.now(UTC).replace(tzinfo=None)


def this_session() -> str:
    """Who works on the store, for claims and label moves: ``user@host (PID n)``."""
    try:
        user = f"{getpass.getuser()}@"
    except (KeyError, OSError):
        user = ""
    return f"{user}{socket.gethostname()} (PID {os.getpid()})"
