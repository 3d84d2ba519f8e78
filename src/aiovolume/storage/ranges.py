"""Many byte ranges of one object (``Store.get_ranges``): validation, coalescing, slicing back.

Sharded layers read a shard's index, then minishard indexes, then chunk data, each as a set
of ranges of one file; nearby ranges are merged into one read (remote: one GET of a few extra
KiB costs far less than a round trip; file: fewer syscalls), then sliced back in request order.
"""

from __future__ import annotations

from typing import Sequence

from ..exceptions import IntegrityError, InvalidRangeError, UnsupportedFeatureError

Range = tuple[int, int]


def check_ranges(ranges: Sequence[Range]) -> list[Range]:
    """The ranges as ``(start, stop)`` int pairs with ``0 <= start <= stop``, else InvalidRangeError."""
    out = []
    for r in ranges:
        try:
            start, stop = r
        except (TypeError, ValueError):
            raise InvalidRangeError(f"a byte range is a (start, stop) pair, got {r!r}") from None
        if type(start) is not int or type(stop) is not int:  # bool is no offset, nor is 1.0
            raise InvalidRangeError(f"byte range {r!r}: start and stop must be ints")
        if not 0 <= start <= stop:
            raise InvalidRangeError(f"byte range {r!r}: needs 0 <= start <= stop")
        out.append((start, stop))
    return out


def coalesce(ranges: Sequence[Range], gap: int, max_bytes: int) -> list[Range]:
    """Non-empty ranges merged where they overlap or lie within ``gap`` bytes of each other, as
    long as a merged read stays within ``max_bytes`` (a single range larger than that stays whole)."""
    merged: list[list[int]] = []
    for start, stop in sorted(r for r in ranges if r[1] > r[0]):
        if merged and start <= merged[-1][1] + gap and max(stop, merged[-1][1]) - merged[-1][0] <= max_bytes:
            merged[-1][1] = max(merged[-1][1], stop)
        else:
            merged.append([start, stop])
    return [(a, b) for a, b in merged]


def slice_back(ranges: Sequence[Range], merged: Sequence[Range], data: Sequence[bytes]) -> list[bytes]:
    """Each requested range cut from the merged read that holds it."""
    out = []
    for start, stop in ranges:
        if start == stop:
            out.append(b"")
            continue
        for (m0, m1), buf in zip(merged, data):  # few merged reads per call: a scan is fine
            if m0 <= start and stop <= m1:
                out.append(bytes(memoryview(buf)[start - m0 : stop - m0]))
                break
    return out


def past_end(where: str, rng: Range, size: int | None) -> IntegrityError:
    known = f"the object is {size} bytes" if size is not None else "the object is shorter"
    return IntegrityError(f"{where}: byte range [{rng[0]}, {rng[1]}) reaches past its end ({known}); "
                          "a sharded file whose index points past its end is corrupt")


def encoded(where: str, encoding: str) -> UnsupportedFeatureError:
    return UnsupportedFeatureError(
        f"{where} is stored with transport encoding {encoding!r}: byte ranges of it are not ranges of the "
        "object (shard files are stored without one); store it uncompressed"
    )


def first_past(ranges: Sequence[Range], size: int) -> Range | None:
    """The first non-empty requested range reaching past an object of ``size`` bytes, or None
    (an empty range reads nothing, wherever it is)."""
    return next((r for r in ranges if r[1] > size and r[1] > r[0]), None)
