"""Which trigrams the texts of each block of data rows hold, so that a search reads only the blocks that
can hold its text.

A block is ``BLOCK_ROWS`` consecutive data rows of an experiment. For the texts its runs show (outputs
and errors) and, apart, for its data, the store keeps a bitset of ``GRAM_BITS`` bits: the hash of each
three-byte window of the lowered UTF-8 text sets a bit (and of each four-byte window, in a block of short
texts). A text holds a term only if its block has the bit of every window of the term, so a block
missing one is skipped. Bitsets only gain bits (a run deleted or replaced leaves its bits behind), so a
skipped block never holds the text.

The search lowers its term in Python and each text in the store (``lower`` in SQL), which differ for a
few characters outside ASCII, so only a term's windows of ASCII bytes are looked up. A text's windows
are taken from ``_lowered``, whose ASCII is what the store's ``lower`` gives: besides A-Z only U+0130
and U+212A (Kelvin) lower to ASCII there, and U+0130 lowers to ``i`` plus a combining dot in Python.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from itertools import product
from typing import Any

import numpy as np
import orjson
from sqlalchemy import Connection, delete, func, insert, select, text

from promptlab_nb.core.ids import new_id
from promptlab_nb.store.models import ExperimentRow, IndexedTexts, Run, StoredExperiment, TextBlock

BLOCK_ROWS = 1_024
GRAM_BITS = 1 << 16
BITSET_BYTES = GRAM_BITS // 8
SHOWN = "shown"
INPUTS = "inputs"
BLOCKS_AT_ONCE = 64
"""Blocks whose bitsets are computed together (64 x 64 Kbit flags: 4 MB)."""

BlockTexts = Mapping[tuple[str, int], Sequence[str]]
"""Texts by (experiment id, block)."""


def _lowered(shown: str) -> str:
    return shown.lower() if shown.isascii() else shown.replace("\u0130", "i").lower()


FOUR_GRAMS_UP_TO = 65_536
"""A block whose texts in one write take at most this many bytes also sets the bits of their windows of four
bytes, and is marked so: short texts, such as most data columns, then tell blocks apart by longer pieces
(``question 4242`` from ``topic 42`` and ``question 4124``); longer texts would fill the bitset."""

HASH_FACTORS = {3: np.uint32(0x9E3779B1), 4: np.uint32(0x85EBCA6B)}


def _window_hashes(data: np.ndarray, size: int) -> np.ndarray:
    """The bit of each window of ``size`` (3 or 4) bytes of ``data`` (uint8): a multiplicative hash to 16 bits."""
    count = max(0, len(data) - size + 1)
    windows = data[:count].astype(np.uint32)
    for offset in range(1, size):
        windows <<= 8
        windows |= data[offset : offset + count]
    windows *= HASH_FACTORS[size]
    windows >>= 16
    return windows


def bitsets(texts_by_block: Sequence[Sequence[str]]) -> tuple[np.ndarray, np.ndarray]:
    """One bitset (``BITSET_BYTES`` uint8) per block of texts, in that order, and whether it has the bits of
    the windows of four bytes too."""
    found = np.zeros((len(texts_by_block), BITSET_BYTES), dtype=np.uint8)
    four_grams = np.zeros(len(texts_by_block), dtype=bool)
    for start in range(0, len(texts_by_block), BLOCKS_AT_ONCE):
        within = slice(start, start + BLOCKS_AT_ONCE)
        found[within], four_grams[within] = _bitsets_of(texts_by_block[within])
    return found, four_grams


def _bitsets_of(texts_by_block: Sequence[Sequence[str]]) -> tuple[np.ndarray, np.ndarray]:
    """The texts of each block, lowered and encoded, end to end (each followed by a zero byte) and hashed
    at once; the windows that start in a block's bytes set its bits. Windows of four bytes too in a block
    of at most ``FOUR_GRAMS_UP_TO`` bytes whose texts do not end with ``NUMBER_WINDOWS``."""
    encoded = [
        b"\0".join(_lowered(item).encode("utf-8", "surrogatepass") for item in texts) + b"\0"
        for texts in texts_by_block
    ]
    data = np.frombuffer(b"".join(encoded), dtype=np.uint8)
    four_grams = np.array(
        [
            len(block) <= FOUR_GRAMS_UP_TO and not (texts and texts[-1] is NUMBER_WINDOWS)
            for block, texts in zip(encoded, texts_by_block, strict=True)
        ]
    )
    three = _window_hashes(data, 3)
    four = _window_hashes(data, 4) if four_grams.any() else three
    flags = np.zeros((len(encoded), GRAM_BITS), dtype=bool)
    start = 0
    for block, block_data in enumerate(encoded):
        window = slice(start, start + len(block_data))
        flags[block][three[window]] = True
        if four_grams[block]:
            flags[block][four[window]] = True
        start += len(block_data)
    return np.packbits(flags, axis=1, bitorder="little"), four_grams


def term_bits(term: str, size: int = 3) -> np.ndarray:
    """The bits a block must have to hold ``term`` (lowered as the search lowers it): those of its windows
    of ``size`` ASCII bytes; none when it has no such window."""
    data = np.frombuffer(term.lower().encode("utf-8", "surrogatepass"), dtype=np.uint8)
    if len(data) < size:
        return np.empty(0, dtype=np.uint32)
    ascii_bytes, count = data < 0x80, len(data) - size + 1
    ascii_windows = np.logical_and.reduce([ascii_bytes[offset : offset + count] for offset in range(size)])
    return np.unique(_window_hashes(data, size)[ascii_windows])


def run_texts(runs: Iterable[Any]) -> dict[tuple[str, int], list[str]]:
    """The texts runs show (output and error), by (experiment id, block)."""
    texts: defaultdict[tuple[str, int], list[str]] = defaultdict(list)
    for run in runs:
        shown = texts[(run.experiment_id, run.row_index // BLOCK_ROWS)]
        if run.output:
            shown.append(run.output)
        if run.error:
            shown.append(run.error)
    return texts


NUMBER_CHARACTERS = "0123456789.eE+-"
NUMBER_WINDOWS = "".join(map("".join, product(NUMBER_CHARACTERS, repeat=3)))
"""Every window of three characters a number can be written with: a store reads a number back in its own
form (DuckDB reads ``1e5`` as ``100000.0``), so a block with a number, or a nested value holding one,
gets the bits of all of them, and keeps windows of three bytes only (those of four would fill its bitset)."""


def input_texts(experiment_id: str, rows: Iterable[tuple[int, Any]]) -> dict[tuple[str, int], list[str]]:
    """The texts of data rows ``(row_index, inputs)``, by (experiment id, block): each string value; each
    other value as JSON both compact and spaced (as a store reads a nested value back), and
    ``NUMBER_WINDOWS`` last in a block with any value that is not a string."""
    texts: defaultdict[tuple[str, int], list[str]] = defaultdict(list)
    not_strings = set()
    for row_index, inputs in rows:
        values = inputs.values() if isinstance(inputs, dict) else [inputs]
        key = (experiment_id, row_index // BLOCK_ROWS)
        block = texts[key]
        for value in values:
            if isinstance(value, str):
                block.append(value)
            elif value is not None:
                block.extend(_json_forms(value))
                not_strings.add(key)
    for key in not_strings:
        texts[key].append(NUMBER_WINDOWS)
    return texts


def _json_forms(value: Any) -> list[str]:
    spaced = json.dumps(value, ensure_ascii=False, default=str)
    try:
        return [spaced, orjson.dumps(value).decode()]
    except (orjson.JSONEncodeError, TypeError):
        return [spaced]


def add_texts(connection: Connection, kind: str, texts: BlockTexts) -> None:
    """Add the bits of ``texts`` to their blocks' bitsets of ``kind``: each block's stored bitsets are
    merged with the new bits into one."""
    keys = [key for key, block_texts in texts.items() if block_texts]
    if not keys:
        return
    bits, four_grams = bitsets([texts[key] for key in keys])
    merged = {key: [bits[index], bool(four_grams[index])] for index, key in enumerate(keys)}
    stored_ids = []
    for experiment_id in {experiment_id for experiment_id, _ in keys}:
        blocks = [block for owner, block in keys if owner == experiment_id]
        for id_, block, grams, stored_four_grams in connection.execute(
            select(TextBlock.id, TextBlock.block, TextBlock.grams, TextBlock.four_grams).where(
                TextBlock.experiment_id == experiment_id, TextBlock.kind == kind, TextBlock.block.in_(blocks)
            )
        ):
            block_bits = merged[(experiment_id, block)]
            block_bits[0] = block_bits[0] | np.frombuffer(grams, dtype=np.uint8)
            block_bits[1] = block_bits[1] and stored_four_grams
            stored_ids.append(id_)
    if stored_ids:
        connection.execute(delete(TextBlock).where(TextBlock.id.in_(stored_ids)))
    connection.execute(
        insert(TextBlock),
        [
            {
                "id": new_id(),
                "experiment_id": experiment_id,
                "kind": kind,
                "block": block,
                "grams": block_bits.tobytes(),
                "four_grams": block_four_grams,
            }
            for (experiment_id, block), (block_bits, block_four_grams) in merged.items()
        ],
    )


@dataclass(frozen=True)
class _StoredBitsets:
    """An experiment's bitsets as read from the store, with the digest of its blocks' ids: any write
    replaces the blocks it merges into, so a new digest means new bits."""

    key: tuple[str, str, str]
    kinds: np.ndarray
    blocks: np.ndarray
    four_grams: np.ndarray
    grams: np.ndarray


_LAST_READ: dict[str, _StoredBitsets] = {}
"""The bitsets read last (one experiment: 8 MB at a million runs), kept while their digest holds."""

_DIGEST = text(
    "select count(*), md5(string_agg(id, ',' order by id)), "
    "(select count(*) from indexed_texts where experiment_id = :experiment_id) "
    "from text_block where experiment_id = :experiment_id"
)
"""How many blocks, the digest of their ids, and whether the experiment is indexed; without a join, which
PostgreSQL would plan as a nested loop, disabled for the grid's queries (then JIT-compiled: 50-120 ms)."""


def _stored_bitsets(connection: Connection, experiment_id: str) -> _StoredBitsets | None:
    """The bitsets of an indexed experiment (None when it is not indexed, or has no text), read again only
    when its blocks changed."""
    count, digest, indexed = connection.execute(_DIGEST, {"experiment_id": experiment_id}).one()
    if not (count and indexed):
        return None
    key = (str(connection.engine.url), experiment_id, digest)
    if (last := _LAST_READ.get("bitsets")) is not None and last.key == key:
        return last
    rows = connection.execute(
        select(TextBlock.kind, TextBlock.block, TextBlock.four_grams, TextBlock.grams).where(
            TextBlock.experiment_id == experiment_id
        )
    ).all()
    read = _StoredBitsets(
        key,
        np.array([row.kind for row in rows]),
        np.array([row.block for row in rows], dtype=np.int64),
        np.array([row.four_grams for row in rows], dtype=bool),
        np.frombuffer(b"".join(row.grams for row in rows), dtype=np.uint8).reshape(len(rows), BITSET_BYTES),
    )
    _LAST_READ["bitsets"] = read
    return read


def candidate_blocks(connection: Connection, experiment_id: str, term: str) -> dict[str, np.ndarray] | None:
    """By kind (``SHOWN``, ``INPUTS``), the blocks whose texts may hold ``term``, sorted; a kind every block
    of which may hold it is left out. None when the blocks cannot tell (an experiment stored before its
    texts were indexed, or without any text, or a term without three ASCII bytes in a row). A block may
    hold the term when it has all of its bits (of its windows of four bytes too, where kept)."""
    wanted = term_bits(term)
    if not len(wanted) or (stored := _stored_bitsets(connection, experiment_id)) is None:
        return None
    holds = _have_bits(stored.grams, wanted)
    if len(four := term_bits(term, 4)):
        holds &= _have_bits(stored.grams, four) | ~stored.four_grams
    found = {}
    for kind in (SHOWN, INPUTS):
        of_kind = stored.kinds == kind
        holding = np.unique(stored.blocks[of_kind & holds])
        if len(holding) < len(np.unique(stored.blocks[of_kind])):
            found[kind] = holding
    return found


def _have_bits(grams: np.ndarray, bits: np.ndarray) -> np.ndarray:
    """Which bitsets (rows of ``grams``, packed as ``bitsets`` packs them) have every one of ``bits``."""
    masks = (np.uint8(1) << (bits & 7).astype(np.uint8)).astype(np.uint8)
    return ((grams[:, bits >> 3] & masks) == masks).all(axis=1)


def block_ranges(blocks: np.ndarray) -> list[tuple[int, int]]:
    """Consecutive blocks as ranges of row indexes (first, last)."""
    if not len(blocks):
        return []
    consecutive = np.split(blocks, np.flatnonzero(np.diff(blocks) != 1) + 1)
    return [(int(run[0]) * BLOCK_ROWS, (int(run[-1]) + 1) * BLOCK_ROWS - 1) for run in consecutive]


def index_experiment(connection: Connection, experiment_id: str) -> None:
    """Index the texts of an experiment stored before its texts were indexed: its bitsets are written again
    from every stored run and data row, ``BLOCKS_AT_ONCE`` blocks at a time."""
    connection.execute(delete(TextBlock).where(TextBlock.experiment_id == experiment_id))
    last_row = connection.scalar(select(func.max(Run.row_index)).where(Run.experiment_id == experiment_id))
    last_input = connection.scalar(
        select(func.max(ExperimentRow.row_index)).where(ExperimentRow.experiment_id == experiment_id)
    )
    last = max(-1 if last_row is None else last_row, -1 if last_input is None else last_input)
    rows_at_once = BLOCK_ROWS * BLOCKS_AT_ONCE
    for first in range(0, last + 1, rows_at_once):
        within = (first, first + rows_at_once - 1)
        runs = connection.execute(
            select(Run.experiment_id, Run.row_index, Run.output, Run.error).where(
                Run.experiment_id == experiment_id, Run.row_index.between(*within)
            )
        )
        add_texts(connection, SHOWN, run_texts(runs))
        rows = connection.execute(
            select(ExperimentRow.row_index, ExperimentRow.inputs).where(
                ExperimentRow.experiment_id == experiment_id, ExperimentRow.row_index.between(*within)
            )
        )
        add_texts(connection, INPUTS, input_texts(experiment_id, ((index, inputs) for index, inputs in rows)))
    connection.execute(delete(IndexedTexts).where(IndexedTexts.experiment_id == experiment_id))
    connection.execute(insert(IndexedTexts).values(experiment_id=experiment_id))


def unindexed_experiments(connection: Connection) -> list[str]:
    """Experiments stored before their texts were indexed."""
    indexed = select(IndexedTexts.experiment_id)
    return list(connection.scalars(select(StoredExperiment.id).where(StoredExperiment.id.not_in(indexed))))
