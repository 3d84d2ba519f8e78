"""Where CPU work runs and in what batches: shared by the read and write algorithms."""

from __future__ import annotations

from typing import Sequence, TypeVar

from ..codecs import ChunkFormat, prefers_processes
from ..options import Options
from .executor import processes_allowed
from .shm import shm_available

T = TypeVar("T")

GROUP = 16  # chunks per fetch hop / decode batch


def choose_mode(options: Options, fmt: ChunkFormat, nbytes: int) -> str:
    """Where this request's chunks are decoded (or encoded): 'process', 'thread' or 'inline'.

    "auto": codecs that can crash on corrupt input or hold the GIL for long (``prefers_processes``:
    fpzip, kempressed, compresso, crackle) run in worker processes; raw/gzip, jpeg, png and
    compressed_segmentation never crash after validation and measured faster in threads (benchmarks/);
    ``options.process_codecs`` adds encodings (a volume's ``parallel=N`` does).
    ``decode_workers=0`` or an explicit executor is the user's choice, and then only each codec's
    input validation guards the process.
    """
    if options.codec_executor != "auto":
        mode = options.codec_executor
    elif options.resolved_decode_workers() == 0 or not (
            prefers_processes(fmt.encoding) or fmt.encoding in options.process_codecs):
        mode = "thread"
    else:
        mode = "process"
    if mode == "process" and not (processes_allowed() and shm_available(nbytes)):
        return "thread"
    return mode


def local_group_size(n: int, threads: int) -> int:
    """Chunks per codec-thread hop for a local read of ``n`` chunks.

    A few chunks: one hop (concurrent small reads already keep the threads busy, and every hop
    costs thread wake-ups). Up to a few groups' worth: one contiguous share per thread, which
    measured faster than finer groups (S7: 24 ms against 26; no tail where one thread idles).
    Large reads: GROUP-sized hops, so progress, cancellation and balance stay fine-grained.
    """
    if n <= 4:
        return max(1, n)
    if n <= 2 * threads * GROUP:
        return -(-n // threads)
    return GROUP


def interleave_spans(groups: list[T], k: int) -> list[T]:
    """Groups reordered as k contiguous spans taken in turn: [0, n/k, 1, n/k+1, ...].

    Groups run side by side then write far-apart parts of the output; neighbouring groups
    share its (huge) pages, and threads faulting in the same page wait for each other
    (profiled: two threads ran at the speed of one).
    """
    span = -(-len(groups) // max(1, k))
    return [groups[j] for i in range(span) for j in range(i, len(groups), span)]


def batched(seq: Sequence[T], size: int) -> list[Sequence[T]]:
    size = max(1, size)
    return [seq[i : i + size] for i in range(0, len(seq), size)]
