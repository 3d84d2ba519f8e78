"""Byte ranges of one stored object, coalesced: the machinery behind ``Store.get_ranges``.

Shard readers ask for many small pieces of one file (index entries, minishard indices, chunk
data; precomputed-format.md §5). Pieces closer together than a store's ``range_gap`` are read
as one and sliced apart again, so a round trip (or a syscall) is paid per neighbourhood, not
per piece. Pure planning here; the stores do the reading.
"""

from __future__ import annotations

import operator
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from ..exceptions import IntegrityError, InvalidRangeError, UnsupportedFeatureError

if TYPE_CHECKING:
    from .base import Store

Range = tuple[int, int]
#: (start, stop, indices of the ranges it serves), one per read actually issued
Span = tuple[int, int, list[int]]


def check_ranges(ranges: Any) -> list[Range]:
    """Validate ``(start, stop)`` pairs (ints or numpy integers, ``0 <= start <= stop``)."""
    try:
        items = list(ranges)
    except TypeError:
        raise InvalidRangeError(f"ranges must be a sequence of (start, stop) pairs, got {type(ranges).__name__}") from None
    out: list[Range] = []
    for item in items:
        try:
            start, stop = item
            if isinstance(start, bool) or isinstance(stop, bool):
                raise TypeError
            start, stop = operator.index(start), operator.index(stop)
        except (TypeError, ValueError):
            raise InvalidRangeError(f"byte range {item!r} is not a (start, stop) pair of integers") from None
        if start < 0 or stop < start:
            raise InvalidRangeError(f"byte range {item!r} must satisfy 0 <= start <= stop (half-open, absolute)")
        out.append((start, stop))
    return out


def plan_reads(ranges: Sequence[Range], gap: int, cap: int) -> list[Span]:
    """Merge the non-empty ``ranges`` into reads sorted by offset.

    A range joins the read before it when it starts at most ``gap`` bytes after that read's
    end and the read stays within ``cap`` bytes; a single range longer than ``cap`` is read
    whole. Empty ranges need no bytes and are in no read.

    >>> plan_reads([(100, 200), (0, 10), (20, 30), (5, 5)], gap=16, cap=1 << 20)
    [(0, 30, [1, 2]), (100, 200, [0])]
    """
    order = sorted((i for i, (start, stop) in enumerate(ranges) if stop > start), key=ranges.__getitem__)
    spans: list[Span] = []
    for i in order:
        start, stop = ranges[i]
        if spans:
            s0, s1, members = spans[-1]
            if start <= s1 + gap and max(s1, stop) - s0 <= cap:
                spans[-1] = (s0, max(s1, stop), members)
                members.append(i)
                continue
        spans.append((start, stop, [i]))
    return spans


def slice_back(ranges: Sequence[Range], spans: Sequence[Span], datas: Sequence[bytes]) -> list[bytes]:
    """Each range's bytes, in the caller's order, cut out of the reads that served them."""
    out = [b""] * len(ranges)
    for (s0, _, members), data in zip(spans, datas):
        for i in members:
            start, stop = ranges[i]
            out[i] = bytes(data[start - s0 : stop - s0])  # a full-span slice of bytes is not copied
    return out


def past_end_error(where: str, ranges: Sequence[Range], size: int) -> IntegrityError:
    """The error for ``ranges`` of an object of ``size`` bytes that came back short."""
    bad = next(((a, b) for a, b in ranges if b > size), None)
    if bad is None:  # every range fits now: the object was replaced while we read it
        return IntegrityError(f"{where}: the object ({size} bytes now) changed while its byte ranges were read")
    return IntegrityError(
        f"{where}: byte range [{bad[0]}, {bad[1]}) reaches past the end of the object ({size} bytes); "
        "whatever pointed there (a shard or minishard index) is corrupt, so no short bytes are returned"
    )


def encoded_error(where: str, encoding: str, spelling: str | None = None) -> UnsupportedFeatureError:
    stored = f" (stored as {spelling})" if spelling else ""
    return UnsupportedFeatureError(
        f"{where} is stored with Content-Encoding {encoding}{stored}: byte ranges would be ranges of "
        "the compressed stream, not of the object. Objects read by range (shards) must be stored "
        "without a transport encoding; rewrite it with content_encoding=None"
    )


class _Mixed:
    """The version of ranges read from different versions of one object: equal to nothing."""

    def __eq__(self, other: object) -> bool:
        return False

    __hash__ = object.__hash__

    def __repr__(self) -> str:
        return "MIXED"


MIXED = _Mixed()


def one_version(versions: list[object | None]) -> object | None:
    """The version of bytes read in several requests: None if any is unknown, MIXED if they differ."""
    if not versions or any(v is None for v in versions):
        return None
    first = versions[0]
    return first if all(v == first for v in versions[1:]) else MIXED


async def ranges_via_get(store: "Store", key: str, ranges: Any) -> tuple[list[bytes], object | None] | None:
    """``get_ranges`` for stores with ranged ``get`` (the network stores): one ranged ``get``
    per merged read, concurrent up to the store's limit, each with ``get``'s retries and checks.

    ``get`` clips at the end of the object, so a read that comes back short proves a range
    reaches past it. An empty range ``(s, s)`` with ``s > 0`` reads byte ``s - 1`` (usually
    merged with a neighbour) to prove that ``s`` lies within the object.
    """
    from .base import bounded_map

    wanted = check_ranges(ranges)
    needs = [(s - 1, s) if s == e and s > 0 else (s, e) for s, e in wanted]
    spans = plan_reads(needs, store.range_gap, store.max_coalesced)
    where = f"{store.url}/{key}"
    if not spans:  # only (0, 0) ranges, or none: existence and encoding are all there is to know
        blob = await store.get(key, (0, 0))
        if blob is None:
            return None
        if blob.encoding is not None:
            raise encoded_error(where, blob.encoding)
        return [b""] * len(wanted), blob.version

    async def read(span: Span) -> Any:
        return await store.get(key, (span[0], span[1]))

    blobs = await bounded_map(read, spans, store._limit())
    if any(blob is None for blob in blobs):
        return None  # missing (or deleted while we read it)
    for blob in blobs:
        if blob.encoding is not None:
            raise encoded_error(where, blob.encoding)
    if any(len(blob.data) < s1 - s0 for (s0, s1, _), blob in zip(spans, blobs)):
        size = await store.size(key)
        if size is None:
            return None
        raise past_end_error(where, wanted, size)
    return slice_back(wanted, spans, [blob.data for blob in blobs]), one_version([b.version for b in blobs])
