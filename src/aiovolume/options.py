"""Frozen configuration values shared by the engine.

Options are plain values: no clients, loops or locks, so they pickle to worker
processes and can be shared between volumes.
"""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass, field, fields, replace
from types import MappingProxyType
from typing import Mapping

# Requests in flight per scheme. Local disks saturate early; remote stores want many.
_DEFAULT_CONCURRENCY: Mapping[str, int] = MappingProxyType(
    {"file": 32, "mem": 64, "http": 128, "https": 128, "s3": 128, "gs": 128,
     # BOSS: one request per 512x512x16 cuboid (up to 32 MiB each), served by a shared API
     "boss": 16}
)


@functools.lru_cache(maxsize=1)
def _cpu_count() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1


@dataclass(frozen=True)
class RetryPolicy:
    """The one retry policy (storage/retry.py applies it; botocore is set to one attempt).

    Full-jitter exponential backoff: attempt n waits uniform(0, min(max_delay, base * 2**(n-1)))
    (``throttle_base_delay`` instead of ``base_delay`` after a 429/SlowDown), or the server's
    Retry-After when it sends one; at most ``max_attempts`` tries within ``deadline`` seconds.
    """

    max_attempts: int = 6
    base_delay: float = 0.5
    throttle_base_delay: float = 1.0
    max_delay: float = 32.0
    deadline: float = 300.0


@dataclass(frozen=True)
class Options:
    """Engine tuning. ``Options().with_(decode_workers=0)`` returns a modified copy.

    decode_workers: processes decoding chunks; ``0`` decodes in threads (notebooks, dask
        workers, scripts without an ``if __name__ == "__main__"`` guard); ``None`` = one per core.
    io_threads: threads doing blocking file I/O for ``file://``.
    gzip_level: zlib-scale level for ``compress='gzip'`` writes; None (default) = ISA-L's
        fast level 1, which stores within 1% of level 9's size at ~7x its speed.
    fsync: make local writes durable (about 10 ms per file here, hence opt-in).
    codec_executor: "auto": codecs that hold the GIL for long or can crash on corrupt input
        (fpzip, kempressed, compresso, crackle) run in worker processes; GIL-releasing ones
        (raw/gzip, jpeg, png) and fully validated compressed_segmentation in threads, which
        measured faster for them (benchmarks/); ``decode_workers=0`` means threads for all. Or force
        "process", "thread" or "inline" (in the event loop; for measurements only).
    process_codecs: encodings that "auto" also runs in worker processes, besides the crash-prone
        ones. Empty by default; a volume with ``parallel=N`` (N > 1) adds those measured faster
        there with 2 workers on 2 cores (png; see ``aiovolume.Volume``).
    retry: how transient storage errors are retried.
    connect_timeout / read_timeout: per network attempt, seconds (sock_connect / sock_read).
    whole_shard_slack: on remote stores (http, s3, gs), a read of part of a shard whose indexes are
        not cached GETs the whole shard when the bytes not wanted are at most this many: the two
        index round trips it saves move about that much (2 x 25 ms x ~200 MB/s). 0: only when half
        the shard or more is wanted.
    s3_fast_path: sign chunk GET/PUT/HEAD/DELETE with botocore's SigV4 over a shared aiohttp
        session (~0.32 ms client CPU per GET here) instead of full aiobotocore calls (~1.1 ms).
    """

    concurrency: Mapping[str, int] = field(default_factory=lambda: _DEFAULT_CONCURRENCY)
    decode_workers: int | None = None
    io_threads: int = 8
    gzip_level: int | None = None
    fsync: bool = False
    codec_executor: str = "auto"
    process_codecs: frozenset[str] = frozenset()
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    connect_timeout: float = 10.0
    read_timeout: float = 30.0
    s3_fast_path: bool = True
    whole_shard_slack: int = 8 << 20

    def concurrency_for(self, scheme: str) -> int:
        return int(self.concurrency.get(scheme, 64))

    def resolved_decode_workers(self) -> int:
        if self.decode_workers is None:
            return _cpu_count()
        return max(0, int(self.decode_workers))

    def with_(self, **changes: object) -> "Options":
        return replace(self, **changes)  # type: ignore[arg-type]

    def __reduce__(self) -> tuple[object, tuple[dict[str, object]]]:
        # a MappingProxyType does not pickle: the concurrency table travels as a dict
        values = {f.name: getattr(self, f.name) for f in fields(self)}
        values["concurrency"] = dict(self.concurrency)
        return (_rebuild_options, (values,))


def _rebuild_options(values: dict[str, object]) -> Options:
    values["concurrency"] = MappingProxyType(dict(values["concurrency"]))  # type: ignore[call-overload]
    return Options(**values)  # type: ignore[arg-type]


DEFAULT_OPTIONS = Options()
