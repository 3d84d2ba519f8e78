"""How file:// object writes scale from one thread to two in one directory: 512 new files of
200 KB (S3-gzip's stored chunks), written by plain ``open``/``write`` (what limits.py times),
by this checkout's ``FileStore`` (atomic: unnamed temp file linked into place) and, with
``--baseline DIR``, by that checkout's ``FileStore`` (named temp file + rename), each in a fresh
directory deleted (``rmtree`` + ``os.sync``) afterwards; medians of wall and CPU seconds.

Run: ``.venv/bin/python benchmarks/file_write_threads.py [--baseline /work/main] [--rounds 5]``.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Callable

import numpy as np

HERE = Path(__file__).resolve().parent
N, SIZE = 512, 200_000


def measure(fn: Callable[[str, range], None], threads: int, directory: str) -> tuple[float, float]:
    os.makedirs(directory)
    r0, t0 = resource.getrusage(resource.RUSAGE_SELF), time.perf_counter()
    workers = [threading.Thread(target=fn, args=(directory, range(k, N, threads))) for k in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    dt, r1 = time.perf_counter() - t0, resource.getrusage(resource.RUSAGE_SELF)
    shutil.rmtree(directory)
    os.sync()
    return dt, r1.ru_utime - r0.ru_utime + r1.ru_stime - r0.ru_stime


def run(src: str, label: str, rounds: int, scratch: str) -> None:
    sys.path.insert(0, src)
    from aiovolume.storage.file import FileStore

    blobs = [np.random.default_rng(i).integers(0, 255, SIZE, dtype=np.uint8).tobytes() for i in range(N)]

    def plain(d: str, idx: range) -> None:
        for j in idx:
            with open(os.path.join(d, f"{j}.gz"), "wb") as f:
                f.write(blobs[j])

    stores: dict[str, FileStore] = {}

    def store(d: str, idx: range) -> None:
        st = stores.setdefault(d, FileStore(d))
        for j in idx:
            st._write(f"{d}/{j}", blobs[j], "gzip")

    res: dict[tuple[str, int], list[tuple[float, float]]] = {}
    for r in range(rounds):
        for name, fn in (("open/write", plain), (f"FileStore ({label})", store)):
            for threads in (1, 2) if r % 2 else (2, 1):
                res.setdefault((name, threads), []).append(measure(fn, threads, f"{scratch}/{name[:4]}{threads}-{r}"))
    for (name, threads), v in res.items():
        wall = statistics.median(x[0] for x in v)
        cpu = statistics.median(x[1] for x in v)
        print(f"| {name} | {threads} | {wall * 1000:.0f} | {cpu * 1000:.0f} |", flush=True)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--baseline", default="", help="another checkout: its FileStore too")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--_child", nargs=2, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args._child:
        with tempfile.TemporaryDirectory(prefix="fwt-", dir=HERE) as scratch:
            run(args._child[0], args._child[1], args.rounds, scratch)
        return 0
    print(f"{N} files of {SIZE} bytes, one directory, {args.rounds} rounds (medians)\n")
    print("| writer | threads | wall ms | CPU ms |\n|---|---|---|---|", flush=True)
    sides = [(str(HERE.parent / "src"), "this checkout")]
    if args.baseline:
        sides.append((str(Path(args.baseline) / "src"), "baseline"))
    for src, label in sides:
        subprocess.run([sys.executable, __file__, "--rounds", str(args.rounds), "--_child", src, label], check=True,
                       env=dict(os.environ, PYTHONPATH=src))
    return 0


if __name__ == "__main__":
    sys.exit(main())
