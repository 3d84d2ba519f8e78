"""The pipeline's vocabulary: one :class:`ChunkTask` per chunk a request touches, and what became of it.

Plain, picklable values (they cross into worker processes); no I/O here.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import NamedTuple

Ranges = tuple[tuple[int, int], tuple[int, int], tuple[int, int]]
Position = tuple[int, int, int]


class ChunkTask(NamedTuple):
    """One stored chunk and how it maps onto a request's region.

    A NamedTuple, not a dataclass: a 1000-cutout run builds thousands of these, and a tuple is
    the cheapest typed record to build and to pickle.
    """

    position: Position  # grid position (chunk index along x, y, z)
    key: str  # the source's name for the chunk: in messages, ``exists`` and the decoded-chunk LRU
    shape: tuple[int, int, int]  # stored (edge-clipped) chunk shape
    in_chunk: Ranges  # the part of the chunk the region covers, relative to the chunk
    in_region: Ranges  # the same voxels, relative to the region's minpt
    full: bool  # the region covers the whole chunk


@dataclass(frozen=True, slots=True)
class ChunkPlan:
    """Every chunk of a source meeting a region (clipped to the volume), x fastest."""

    tasks: list[ChunkTask]
    covers: bool  # the chunks tile the whole region (it lies inside the volume)

    def __len__(self) -> int:
        return len(self.tasks)

    @property
    def keys(self) -> list[str]:
        return [t.key for t in self.tasks]


class Outcome(enum.Enum):
    """What happened to one chunk of a read."""

    DONE = "done"  # its voxels are in the output
    MISSING = "missing"  # the source has no such chunk
    CORRUPT = "corrupt"  # its bytes did not decode (``detail`` says why): fetch it again
    DEFERRED = "deferred"  # not read: it would have waited for a disk, or the time budget ran out
    COMPRESSED = "compressed"  # not decoded: real decoding work, which belongs in a codec thread


class ChunkResult(NamedTuple):
    outcome: Outcome
    detail: str = ""


DONE = ChunkResult(Outcome.DONE)
MISSING = ChunkResult(Outcome.MISSING)
DEFERRED = ChunkResult(Outcome.DEFERRED)
COMPRESSED = ChunkResult(Outcome.COMPRESSED)


def corrupt(key: str, why: object) -> ChunkResult:
    return ChunkResult(Outcome.CORRUPT, f"chunk {key}: {why}")
