"""Copy a region of one scale into another layer's scale: ``Volume.transfer_to``'s algorithm.

Always in bounded hops, never the region in memory: at most ``HOPS`` groups of about
``BLOCK_BYTES`` decoded, or ``SHARD_HOPS`` shards, are held at once; local to local (file://) each
chunk is read, converted and written before the next is read. Which way depends on the two scales:

- **whole shard files**: both sharded with the same spec, grid and codec: a shard the region
  covers entirely is one GET and one PUT, its bytes untouched;
- **chunk by chunk** (same chunk grid): each hop fetches a group of stored chunks (a destination
  shard's worth when the destination is sharded, so each shard is written once; a source shard's
  worth when only the source is, so each is read once) and stores them in the destination: *as
  stored* when both codecs match (transport compression converted only where it differs), else
  decoded and re-encoded, one codec-thread hop per group;
- **by blocks** (different chunk grids): a destination-aligned block is read with the read
  algorithm and written with the write algorithm (which merges partly covered edge chunks).

Missing source chunks are skipped (the destination chunk stays missing, read as background with
``fill_missing``) when ``fill_missing``; otherwise EmptyVolumeException before that hop stores.
"""

from __future__ import annotations

import asyncio
import math
from dataclasses import dataclass
from typing import Callable, Sequence

from ..codecs import ChunkFormat, decode_chunk, encode_chunk
from ..codecs.compression import compress as compress_bytes, decompress
from ..exceptions import AiovolumeError, EmptyVolumeException
from ..geometry import Bbox
from ..options import Options
from ..storage.base import ENCODINGS, Blob
from .executor import thread_pool
from .fanout import map_bounded
from .read import read_region
from .sharded import ShardedSource
from .source import WAIT, ChunkSource
from .tasks import ChunkTask
from .write import write_region

#: decoded bytes per hop (unsharded groups; a shard is one hop whatever its size)
BLOCK_BYTES = 8 << 20
#: hops in flight: enough to overlap fetches with stores, few enough to bound memory
HOPS = 4
#: shard-sized hops in flight (a shard can be far larger than BLOCK_BYTES)
SHARD_HOPS = 2
#: ``compress`` meaning: chunks copied as stored keep their transport compression
KEEP = "keep"


@dataclass(frozen=True)
class Side:
    """One end of a transfer: a scale's chunks and their codec."""

    source: ChunkSource
    fmt: ChunkFormat


@dataclass(frozen=True)
class Settings:
    """``compress``: transport compression of the chunks written (``KEEP``: chunks copied as stored
    keep theirs; re-encoded ones then get ``default_compress``). ``block_chunks``: chunks per hop
    (CloudVolume's ``block_size``), None: about ``BLOCK_BYTES``."""

    compress: str | None
    default_compress: str | None
    compress_level: int | None
    block_chunks: int | None
    fill_missing: bool
    background: float
    cache_control: str | None
    options: Options


Progress = Callable[[int], None] | None


def same_grid(a: ChunkSource, b: ChunkSource) -> bool:
    sa, sb = a.scale, b.scale
    return (tuple(sa.chunk_size), tuple(sa.voxel_offset), tuple(sa.size)) == \
        (tuple(sb.chunk_size), tuple(sb.voxel_offset), tuple(sb.size))


def method(src: Side, dst: Side) -> str:
    """How a transfer between these scales copies: ``"shards"``, ``"bytes"``, ``"transcode"`` or ``"blocks"``."""
    if not same_grid(src.source, dst.source):
        return "blocks"
    if src.fmt != dst.fmt:
        return "transcode"
    if isinstance(src.source, ShardedSource) and isinstance(dst.source, ShardedSource) \
            and src.source.spec == dst.source.spec:
        return "shards"
    return "bytes"


def chunks_to_write(dst: Side, region: Bbox) -> int:
    """How many destination chunks a transfer of ``region`` writes (a progress bar's total)."""
    return len(dst.source.plan(region).tasks)


async def transfer(src: Side, dst: Side, region: Bbox, settings: Settings, on_progress: Progress = None) -> None:
    """Copy ``region`` (inside both scales' bounds) from ``src`` to ``dst``; see the module docstring."""
    how = method(src, dst)
    if how == "blocks":
        await _by_blocks(src, dst, region, settings, on_progress)
        return
    src_tasks, dst_tasks = src.source.plan(region).tasks, dst.source.plan(region).tasks
    pairs = dict(zip((t.position for t in dst_tasks), src_tasks))  # same grid: same positions
    if how == "shards":
        dst_tasks = await _whole_shards(src.source, dst.source, dst_tasks, settings, on_progress)  # type: ignore[arg-type]
    groups = _groups(src, dst, dst_tasks, pairs, settings)
    reencode = how == "transcode"

    async def hop(group: Sequence[ChunkTask]) -> None:
        await _copy_group(src, dst, group, pairs, reencode, settings)
        if on_progress is not None:
            on_progress(len(group))

    shards = isinstance(src.source, ShardedSource) or isinstance(dst.source, ShardedSource)
    await map_bounded(hop, groups, SHARD_HOPS if shards else HOPS)


def _groups(src: Side, dst: Side, tasks: list[ChunkTask], pairs: dict, settings: Settings) -> list[Sequence[ChunkTask]]:
    if not tasks:
        return []
    if isinstance(dst.source, ShardedSource):
        return dst.source.groups(tasks)
    if isinstance(src.source, ShardedSource):  # each source shard read once (whole)
        by_src = src.source.groups([pairs[t.position] for t in tasks])
        mine = {t.position: t for t in tasks}
        return [[mine[t.position] for t in g] for g in by_src]
    n = settings.block_chunks or max(1, BLOCK_BYTES // max(1, _chunk_bytes(dst)))
    return [tasks[i:i + n] for i in range(0, len(tasks), n)]


def _chunk_bytes(side: Side) -> int:
    itemsize = side.fmt.np_dtype.itemsize
    return math.prod(int(c) for c in side.source.scale.chunk_size) * itemsize * side.fmt.num_channels


async def _whole_shards(src: ShardedSource, dst: ShardedSource, tasks: list[ChunkTask], settings: Settings,
                        on_progress: Progress) -> list[ChunkTask]:
    """Copy every shard file the tasks cover entirely as is; return the tasks left (partial shards)."""
    whole, rest = dst.whole_shards(tasks)

    async def copy(item: tuple[str, list[ChunkTask]]) -> None:
        name, shard_tasks = item
        data = await src.get_shard(name)
        if data is None:
            _missing(src, shard_tasks[0], settings, f"shard {name}")
        else:
            await dst.put_shard(name, data, settings.cache_control)
            del data
        if on_progress is not None:
            on_progress(len(shard_tasks))

    await map_bounded(copy, whole, SHARD_HOPS)
    return rest


def _missing(source: ChunkSource, task: ChunkTask, settings: Settings, what: str | None = None) -> None:
    if not settings.fill_missing:
        raise EmptyVolumeException(
            f"{what or 'chunk ' + task.key} is missing in {source.url}; nothing was written for it. "
            "Pass fill_missing=True to skip missing chunks (they stay missing in the destination)")


async def _copy_group(src: Side, dst: Side, group: Sequence[ChunkTask], pairs: dict, reencode: bool,
                      settings: Settings) -> None:
    target = dst.source.chunk_compression(settings.compress if settings.compress != KEEP
                                          else settings.default_compress)
    keep = settings.compress == KEEP and not isinstance(dst.source, ShardedSource) and not dst.source.fixed_transport
    loop = asyncio.get_running_loop()
    store_now = dst.source.store_now() if src.source.reads_blocking else None
    if store_now is not None:  # local to local: read, convert and write each chunk in one thread hop
        mine = {t.position: t for t in group}  # same grid: source and destination positions agree
        left = await loop.run_in_executor(thread_pool(), _copy_here, src, [pairs[t.position] for t in group], mine,
                                          src.fmt if reencode else None, dst.fmt, target, keep, store_now, settings)
        if not left:
            return
        group = [mine[t.position] for t in left]
    blobs = await src.source.fetch_many([pairs[t.position] for t in group])
    found: list[tuple[ChunkTask, ChunkTask, Blob]] = []
    for task in group:
        blob = blobs.get(pairs[task.position].position)
        if blob is None:
            _missing(src.source, pairs[task.position], settings)
        else:
            found.append((task, pairs[task.position], blob))
    del blobs
    if not found:
        return
    batches = await loop.run_in_executor(thread_pool(), _convert, found, src.fmt if reencode else None, dst.fmt,
                                         target, keep, settings.compress_level)
    del found
    for encoding, items in batches.items():
        await dst.source.store_many(items, content_encoding=encoding, cache_control=settings.cache_control)


def _copy_here(src: Side, src_tasks: list[ChunkTask], mine: dict, src_fmt: ChunkFormat | None, dst_fmt: ChunkFormat,
               target: str | None, keep: bool, store: Callable, settings: Settings) -> list[ChunkTask]:
    """Blocking: each source chunk read, converted and written before the next is read (its bytes
    are a view of a per-thread buffer); return the source tasks left unread."""

    def consume(task: ChunkTask, blob: Blob | None) -> bool:
        if blob is None:
            _missing(src.source, task, settings)
            return True
        batches = _convert([(mine[task.position], task, blob)], src_fmt, dst_fmt, target, keep,
                           settings.compress_level)
        for encoding, items in batches.items():
            store(items, encoding, settings.cache_control)
        return True

    return src.source.fetch_now(src_tasks, WAIT, consume)


def _convert(found: list[tuple[ChunkTask, ChunkTask, Blob]], src_fmt: ChunkFormat | None, dst_fmt: ChunkFormat,
             target: str | None, keep: bool, level: int | None) -> dict[str | None, list[tuple[ChunkTask, bytes]]]:
    """Each chunk's bytes for the destination, by transport encoding (one ``store_many`` each).

    ``src_fmt`` None: the codecs match, the payload is copied as is (``keep``: with its stored
    transport compression; else converted to ``target`` where it differs). Otherwise decoded
    with ``src_fmt`` and encoded with ``dst_fmt``.
    """
    out: dict[str | None, list[tuple[ChunkTask, bytes]]] = {}
    for dst_task, src_task, blob in found:
        try:
            if src_fmt is None:
                # a transport only its source speaks (BOSS's blosc) is not kept
                encoding = blob.encoding if keep and (blob.encoding is None or blob.encoding in ENCODINGS) else target
                data = blob.data if blob.encoding == encoding else \
                    compress_bytes(bytes(decompress(blob.data, blob.encoding)), encoding, level)
            else:
                array = decode_chunk(decompress(blob.data, blob.encoding), src_fmt, src_task.shape)  # type: ignore[arg-type]
                if not array.flags.writeable:  # a view of the stored bytes; some encoders write to it
                    array = array.copy(order="A")
                encoding, data = target, compress_bytes(encode_chunk(array, dst_fmt), target, level)
        except AiovolumeError as exc:
            raise type(exc)(f"{src_task.key}: {exc}") from None
        out.setdefault(encoding, []).append((dst_task, data))
    return out


# -- different chunk grids: read and write blocks ------------------------------------------------
def blocks(region: Bbox, dst: Side, block_chunks: int | None) -> list[Bbox]:
    """``region`` cut into disjoint boxes on the destination's chunk grid, each at most about
    ``BLOCK_BYTES`` decoded (or ``block_chunks`` chunks): x rows first, then y, then z."""
    scale = dst.source.scale
    chunk = [int(c) for c in scale.chunk_size]
    origin = [int(o) for o in scale.voxel_offset]
    lo, hi = [int(v) for v in region.minpt.tolist()], [int(v) for v in region.maxpt.tolist()]
    first = [origin[a] + (lo[a] - origin[a]) // chunk[a] * chunk[a] for a in range(3)]
    counts = [-(-(hi[a] - first[a]) // chunk[a]) for a in range(3)]
    budget = block_chunks or max(1, BLOCK_BYTES // max(1, _chunk_bytes(dst)))
    step = [min(counts[0], budget), 1, 1]
    step[1] = min(counts[1], max(1, budget // (step[0] * step[2])))
    if step[0] == counts[0] and step[1] == counts[1]:
        step[2] = min(counts[2], max(1, budget // (step[0] * step[1])))
    out = []
    for gz in range(0, counts[2], step[2]):
        for gy in range(0, counts[1], step[1]):
            for gx in range(0, counts[0], step[0]):
                g = (gx, gy, gz)
                a = [max(lo[i], first[i] + g[i] * chunk[i]) for i in range(3)]
                b = [min(hi[i], first[i] + (g[i] + step[i]) * chunk[i]) for i in range(3)]
                out.append(Bbox(a, b))
    return out


async def _by_blocks(src: Side, dst: Side, region: Bbox, settings: Settings, on_progress: Progress) -> None:
    compress = settings.default_compress if settings.compress == KEEP else settings.compress

    async def hop(box: Bbox) -> None:
        data = await read_region(src.source, src.fmt, box, fill_missing=settings.fill_missing,
                                 background=settings.background, options=settings.options)
        await write_region(dst.source, dst.fmt, box, data, compress=dst.source.chunk_compression(compress),
                           compress_level=settings.compress_level, background=settings.background,
                           cache_control=settings.cache_control, options=settings.options,
                           on_progress=on_progress)

    await map_bounded(hop, blocks(region, dst, settings.block_chunks), 2)
