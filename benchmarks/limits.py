"""The machine's limit for each scenario, measured in the same run (field-notes.md, "Performance
anchors"):

    limit_s = max((cpu_1core + disk_1core + server_1core) / cores, server_1core) + latency
    limit_s = max(limit_s, n_requests * latency / concurrency)        # latency-bound term

* cpu_1core: the best single-core decoder over the chunks the read touches (every chunk
  counted as often as the read touches it) + assembling the requested voxels into a fresh
  array (allocate, copy every chunk's part in). Writes: cutting the array into chunks + the
  encoder at aiovolume's default gzip level (and at level 9 with cloud-volume's encoder).
* disk_1core: page-cache read (writes: page-cache write of new files) of the stored bytes,
  one thread. Over HTTP the server reads the files, so it is inside server_1core instead.
* server_1core: CPU seconds of the latency server process (from /proc/PID/stat) for one
  whole read: the least observed over the clients' calls and a minimal aiohttp fetch of
  every chunk. One Python process cannot use more than one core.
* latency: one round trip (median of sequential keep-alive GETs of ``info``).

Per-chunk times are the best of 3 passes (passes over all chunks, then the minimum per chunk),
summed with multiplicity; whole-pass figures (assembling, memcpy, disk) are the best of 3.
"""

from __future__ import annotations

import os
import shutil
import time
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

from datasets import Box, Layer, box_shape, chunks_of

PASSES = 3
AIOVOLUME_DEFAULT = "aiovolume default"


def memcpy_gib_s(nbytes: int = 256 << 20) -> float:
    src = np.ones(nbytes, np.uint8)
    dst = np.zeros(nbytes, np.uint8)  # pre-faulted
    best = min(_timed(lambda: np.copyto(dst, src)) for _ in range(PASSES))
    return nbytes / 2**30 / best


def _timed(fn: Callable[[], Any]) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def _gzip_body(blob: bytes) -> memoryview:
    """The raw DEFLATE stream inside a gzip member (header fields skipped, trailer dropped)."""
    flg, pos = blob[3], 10
    if flg & 4:
        pos += 2 + int.from_bytes(blob[pos:pos + 2], "little")
    for bit in (8, 16):
        if flg & bit:
            pos = blob.index(0, pos) + 1
    if flg & 2:
        pos += 2
    return memoryview(blob)[pos:-8]


def decoders(layer: Layer) -> dict[str, Callable[[bytes, int], Any]]:
    """Single-threaded decoders of one stored chunk (bytes, decoded nbytes) -> anything."""
    import imagecodecs

    if layer.encoding == "compressed_segmentation":
        import compressed_segmentation as cseg

        dtype = np.dtype(layer.dtype)

        def cseg_decode(b: bytes, n: int) -> Any:
            raw = imagecodecs.gzip_decode(b) if layer.compression == "gzip" else b
            return cseg.decompress(raw, layer.chunk, dtype, order="F")

        out = {"cseg.decompress" + (" (after gunzip)" if layer.compression else ""): cseg_decode}
        try:  # aiovolume's compiled decoder (numba, nogil), if this aiovolume has it: the same job
            from aiovolume.codecs import cseg_kernel

            cseg_kernel.warm()
            shape4 = (*layer.chunk, 1)
            block = (8, 8, 8)
            part = tuple((0, c) for c in layer.chunk)

            def kernel_decode(b: bytes, n: int) -> Any:
                raw = imagecodecs.gzip_decode(b) if layer.compression == "gzip" else b
                arr = np.empty(shape4, dtype, order="F")
                cseg_kernel.decode_into(np.frombuffer(raw, "<u4"), layer.chunk, block, part, arr)
                return arr

            out["aiovolume cseg_kernel (numba)" + (" (after gunzip)" if layer.compression else "")] = kernel_decode
        except ImportError:
            pass
        return out
    if layer.compression == "gzip":
        out = {
            "imagecodecs.gzip_decode": lambda b, n: imagecodecs.gzip_decode(b),
            "imagecodecs.deflate_decode": lambda b, n: imagecodecs.deflate_decode(
                _gzip_body(b), raw=True, out=n),
        }
        try:
            from isal import isal_zlib

            out["isal_zlib.decompress"] = lambda b, n: isal_zlib.decompress(b, wbits=31)
        except ImportError:
            pass
        return out
    return {}  # raw, uncompressed: np.frombuffer, no work


def aiovolume_gzip() -> tuple[str, Callable[[bytes], bytes]]:
    """aiovolume's own gzip encoder at its default write level (whatever the library uses)."""
    from aiovolume import Options

    level = Options().gzip_level
    try:
        from aiovolume.codecs.compression import compress

        compress(b"x", "gzip", level)
        return f"aiovolume compress(gzip, level={level})", lambda b: compress(b, "gzip", level)
    except Exception:  # the internal function moved: fall back to what it used to be
        import imagecodecs

        lv = 6 if level is None else level
        return f"imagecodecs.gzip_encode level {lv}", lambda b: imagecodecs.gzip_encode(b, level=lv)


@dataclass
class ChunkCosts:
    """Per-chunk single-core costs of one layer, measured once and reused by its scenarios."""

    layer: Layer
    read_s: dict[tuple, float] = field(default_factory=dict)        # page-cache read per file
    decode_s: dict[str, dict[tuple, float]] = field(default_factory=dict)  # decoder -> chunk -> s
    sizes: dict[tuple, int] = field(default_factory=dict)

    @classmethod
    def measure(cls, layer: Layer) -> "ChunkCosts":
        self = cls(layer)
        keys = list(chunks_of(((0, 0, 0), layer.shape), layer.chunk))
        paths = {k: layer.chunk_file(k) for k in keys}
        blobs: dict[tuple, bytes] = {}
        for _ in range(PASSES):
            for k in keys:
                t0 = time.perf_counter()
                with open(paths[k], "rb") as f:
                    data = f.read()
                dt = time.perf_counter() - t0
                self.read_s[k] = min(dt, self.read_s.get(k, dt))
                blobs[k] = data
        self.sizes = {k: len(b) for k, b in blobs.items()}
        isz = np.dtype(layer.dtype).itemsize
        for name, fn in decoders(layer).items():
            per: dict[tuple, float] = {}
            for _ in range(PASSES):
                for k in keys:
                    n = int(np.prod([min(c, s - a) for a, c, s in zip(k, layer.chunk, layer.shape)])) * isz
                    t0 = time.perf_counter()
                    out = fn(blobs[k], n)
                    dt = time.perf_counter() - t0
                    del out  # freed chunk by chunk, as a streaming reader would
                    per[k] = min(dt, per.get(k, dt))
            self.decode_s[name] = per
        return self


def assemble_s(layer: Layer, ref: np.ndarray, boxes: list[Box]) -> float:
    """Best of 3: allocate a fresh (F-order) output per box and copy every touched chunk's part in."""
    chunks: dict[tuple, np.ndarray] = {}
    plan = []
    for box in boxes:
        parts = []
        for k in chunks_of(box, layer.chunk):
            if k not in chunks:
                hi = [min(a + c, s) for a, c, s in zip(k, layer.chunk, layer.shape)]
                chunks[k] = np.asfortranarray(ref[k[0]:hi[0], k[1]:hi[1], k[2]:hi[2]])
            lo = [max(a, b) for a, b in zip(k, box[0])]
            up = [min(a + c, b) for a, c, b in zip(k, layer.chunk, box[1])]
            dst = tuple(slice(a - o, b - o) for a, b, o in zip(lo, up, box[0]))
            src = tuple(slice(a - o, b - o) for a, b, o in zip(lo, up, k))
            parts.append((k, dst, src))
        plan.append((box_shape(box), parts))
    dtype = ref.dtype

    def run() -> None:
        for shape, parts in plan:
            out = np.empty(shape, dtype, order="F")
            for k, dst, src in parts:
                out[dst] = chunks[k][src]
            del out

    return min(_timed(run) for _ in range(PASSES))


@dataclass
class Limit:
    """The terms of one scenario's limit, in seconds, and the result."""

    out_bytes: int
    cores: int
    cpu_decode_s: float = 0.0
    decoder: str = "none (raw chunks: no decode)"
    decode_rates: dict[str, float] = field(default_factory=dict)  # decoder -> MiB/s decoded, one core
    cpu_assemble_s: float = 0.0        # or, for writes, cutting the array into chunks
    disk_s: float = 0.0
    server_s: float = 0.0
    latency_s: float = 0.0
    latency_bound_s: float = 0.0       # n_requests * latency / concurrency
    n_requests: int = 0
    concurrency: int = 0
    notes: list[str] = field(default_factory=list)
    alt_encode_s: float | None = None  # writes: the encoder at level 9 (cloud-volume's)
    alt_label: str = ""

    @property
    def cpu_s(self) -> float:
        return self.cpu_decode_s + self.cpu_assemble_s

    def seconds(self, cpu_s: float | None = None) -> float:
        cpu = self.cpu_s if cpu_s is None else cpu_s
        s = max((cpu + self.disk_s + self.server_s) / self.cores, self.server_s) + self.latency_s
        return max(s, self.latency_bound_s)

    @property
    def limit_s(self) -> float:
        return self.seconds()

    @property
    def mib_s(self) -> float:
        return self.out_bytes / 2**20 / self.limit_s

    @property
    def decode_bound_mib_s(self) -> float | None:
        """Requested bytes / (decode seconds / cores): the single-core decode rate x usable cores."""
        return self.out_bytes / 2**20 / (self.cpu_decode_s / self.cores) if self.cpu_decode_s else None

    @property
    def latency_bound_mib_s(self) -> float | None:
        """concurrency x chunk size / latency, as requested bytes per second."""
        return self.out_bytes / 2**20 / self.latency_bound_s if self.latency_bound_s else None

    @property
    def alt_mib_s(self) -> float | None:
        if self.alt_encode_s is None:
            return None
        return self.out_bytes / 2**20 / self.seconds(self.alt_encode_s + self.cpu_assemble_s)


def read_limit(layer: Layer, costs: ChunkCosts, ref: np.ndarray, boxes: list[Box], cores: int,
               over_http: bool = False, cache_bytes: int = 0) -> Limit:
    """Limit of reading ``boxes`` (each chunk decoded once per box that touches it).

    ``cache_bytes``: a decoded-chunk cache that the untimed warm-up (the same boxes) filled.
    The fastest reader then decodes and reads only the touches the cache cannot hold: none
    when every touched chunk fits; else the share of misses of a full cache under the
    (random) access pattern, 1 - cache / unique bytes. Without this term a cached run
    measured up to 9.7x "the limit", which was the limit's error, not a speed.
    """
    touched = [k for box in boxes for k in chunks_of(box, layer.chunk)]
    out_bytes = sum(int(np.prod(box_shape(b))) for b in boxes) * np.dtype(layer.dtype).itemsize
    lim = Limit(out_bytes=out_bytes, cores=cores, n_requests=len(touched))
    isz = np.dtype(layer.dtype).itemsize

    def nbytes(k: tuple) -> int:
        return int(np.prod([min(c, s - a) for a, c, s in zip(k, layer.chunk, layer.shape)])) * isz

    decoded = sum(nbytes(k) for k in touched)
    miss = 1.0
    if cache_bytes:
        unique = sum(nbytes(k) for k in set(touched))
        miss = max(0.0, 1.0 - cache_bytes / unique)
        lim.notes.append(f"decoded-chunk cache {cache_bytes / 2**20:.0f} MiB, touched chunks {unique / 2**20:.0f} "
                         f"MiB decoded, filled by the warm-up: {miss:.0%} of chunk touches decode and read")
    best = None
    for name, per in costs.decode_s.items():
        t = sum(per[k] for k in touched)
        lim.decode_rates[name] = decoded / 2**20 / t
        if best is None or t < best[1]:
            best = (name, t)
    if best is not None:
        lim.decoder, lim.cpu_decode_s = best
    if miss == 0.0:
        lim.decoder, lim.cpu_decode_s = "none (every touched chunk is in the decoded-chunk cache)", 0.0
    elif miss < 1.0:
        lim.decoder, lim.cpu_decode_s = f"{lim.decoder}, {miss:.0%} of touches (the rest hit the cache)", \
            miss * lim.cpu_decode_s
    lim.cpu_assemble_s = assemble_s(layer, ref, boxes)
    if not over_http:
        lim.disk_s = miss * sum(costs.read_s[k] for k in touched)
    return lim


def split_chunks(layer: Layer, ref: np.ndarray) -> tuple[list[tuple], list[bytes], float]:
    """The chunks' stored (F-order) bytes, and the least time to lay them out: best of 3 passes
    copying each chunk once into a reused buffer (what a writer that writes each chunk before
    cutting the next needs; ``tobytes`` made two copies, a fresh buffer's page faults and held
    the GIL, and was slower than aiovolume's writer, so the limit was wrong)."""
    keys = list(chunks_of(((0, 0, 0), layer.shape), layer.chunk))
    boxes = [tuple(slice(a, min(a + c, s)) for a, c, s in zip(k, layer.chunk, layer.shape)) for k in keys]
    bufs = [ref[b].tobytes(order="F") for b in boxes]
    scratch = np.empty(layer.chunk, ref.dtype, order="F")

    def run() -> None:
        for b in boxes:
            piece = ref[b]
            np.copyto(scratch[: piece.shape[0], : piece.shape[1], : piece.shape[2]], piece)

    best = min(_timed(run) for _ in range(PASSES))
    return keys, bufs, best


def disk_write_s(layer: Layer, blobs: list[bytes], scratch: str, suffix: str) -> float:
    """Best of 3: write ``blobs`` as new files in a fresh directory (one thread); each pass is
    then deleted and ``os.sync()``ed, untimed."""
    best = float("inf")
    for i in range(PASSES):
        d = os.path.join(scratch, f"diskwrite{i}")
        os.makedirs(d)
        t0 = time.perf_counter()
        for j, b in enumerate(blobs):
            with open(os.path.join(d, f"{j}{suffix}"), "wb") as f:
                f.write(b)
        best = min(best, time.perf_counter() - t0)
        shutil.rmtree(d)
        os.sync()
    return best


def write_limit(layer: Layer, ref: np.ndarray, cores: int, scratch: str, gzip: bool,
                study: dict[tuple[str, int], tuple[float, int]] | None) -> Limit:
    """Limit of writing the whole volume, gzip with aiovolume's default encoder or uncompressed."""
    lim = Limit(out_bytes=layer.nbytes, cores=cores)
    keys, bufs, lim.cpu_assemble_s = split_chunks(layer, ref)
    lim.n_requests = len(keys)
    if not gzip:
        lim.decoder = "none (uncompressed chunks)"
        lim.disk_s = disk_write_s(layer, bufs, scratch, "")
        return lim
    label, enc = aiovolume_gzip()
    lim.decoder = label + " (aiovolume's default)"
    if study and (AIOVOLUME_DEFAULT, 0) in study:
        lim.cpu_decode_s = study[(AIOVOLUME_DEFAULT, 0)][0]
    else:
        lim.cpu_decode_s = _timed(lambda: [enc(b) for b in bufs])
    blobs = [enc(b) for b in bufs]
    if study and ("deflate.gzip_compress", 9) in study:
        lim.alt_encode_s = study[("deflate.gzip_compress", 9)][0]
        lim.alt_label = "deflate.gzip_compress level 9 (cloud-volume's encoder)"
    elif study and ("imagecodecs.gzip_encode", 9) in study:
        lim.alt_encode_s = study[("imagecodecs.gzip_encode", 9)][0]
        lim.alt_label = "imagecodecs.gzip_encode level 9"
    lim.disk_s = disk_write_s(layer, blobs, scratch, ".gz")
    return lim


# ------------------------------------------------------------------------------------------
# gzip level study
# ------------------------------------------------------------------------------------------
def gzip_study(layer: Layer, ref: np.ndarray) -> tuple[dict[tuple[str, int], tuple[float, int]], list[str]]:
    """Encode every chunk once, single-threaded, with every available DEFLATE encoder and level.

    Returns {(encoder, level): (seconds, stored bytes)} and notes.
    """
    import imagecodecs

    notes = []
    _, bufs, _ = split_chunks(layer, ref)
    encoders: list[tuple[str, Callable[[bytes, int], bytes], range]] = []
    same = getattr(imagecodecs, "GZIP", None) is getattr(imagecodecs, "DEFLATE", object())
    encoders.append(("imagecodecs.gzip_encode", lambda b, lv: imagecodecs.gzip_encode(b, level=lv),
                     range(1, 13 if same else 10)))
    if same:
        notes.append("imagecodecs.gzip_encode is libdeflate here (imagecodecs.GZIP is imagecodecs.DEFLATE), "
                     "so it covers imagecodecs.deflate_encode; levels 10-12 are libdeflate's slow optimal parsers.")
    else:
        encoders.append(("imagecodecs.deflate_encode", lambda b, lv: imagecodecs.deflate_encode(b, level=lv),
                         range(1, 13)))
    if getattr(imagecodecs, "ZLIBNG", None) is not None and imagecodecs.ZLIBNG.available:
        encoders.append(("imagecodecs.zlibng_encode", lambda b, lv: imagecodecs.zlibng_encode(b, level=lv),
                         range(1, 10)))
    else:
        notes.append("zlib-ng not available in this imagecodecs build.")
    try:
        import deflate

        encoders.append(("deflate.gzip_compress", lambda b, lv: deflate.gzip_compress(b, lv), range(9, 10)))
    except ImportError:
        notes.append("`deflate` (cloud-volume's encoder) not installed: level 9 reference = imagecodecs.gzip_encode 9.")
    try:
        from isal import isal_zlib

        encoders.append(("isal_zlib.compress (gzip)", lambda b, lv: isal_zlib.compress(b, level=lv, wbits=31),
                         range(0, 4)))
    except ImportError:
        notes.append("python-isal not installed.")
    label, enc = aiovolume_gzip()
    encoders.insert(0, (AIOVOLUME_DEFAULT, lambda b, lv: enc(b), range(0, 1)))
    notes.append(f"{AIOVOLUME_DEFAULT} = {label}, i.e. what aiovolume runs for a gzip write with default options.")
    out: dict[tuple[str, int], tuple[float, int]] = {}
    for name, fn, levels in encoders:
        for lv in levels:
            t0 = time.perf_counter()
            size = sum(len(fn(b, lv)) for b in bufs)
            out[(name, lv)] = (time.perf_counter() - t0, size)
    return out, notes
