"""A/B of skeleton get/upload on file:// between two source trees, in alternating worker processes.

Run: ``.venv/bin/python benchmarks/ab_skeleton.py get --old /path/to/old/src [--new src]
[--rounds 9] [--count 1000] [--vertices 10000] [--set NAME=VALUE,...]``
(an old tree: ``git archive <commit> src | tar -x -C /tmp/old``).

Each tree runs in its own long-lived process holding the same skeletons (bench_skeleton's data);
the processes take turns, their order rotating every round, and each reports the seconds of one
``vol.skeleton.get`` of all of them (from one layer both read) or one ``upload`` to a fresh
layer (removed afterwards, untimed). ``--set`` assigns module constants of
``aiovolume.skeleton`` in the new tree (e.g. ``READ_BATCH=64``). Prints medians and ratios.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def worker(src: str, root: str, count: int, vertices: int, assignments: str) -> None:
    sys.path.insert(0, src)
    import aiovolume  # noqa: F401  (the tree under test, before bench_skeleton puts ours first)
    import aiovolume.skeleton as module

    sys.path.insert(1, str(HERE))
    from bench_skeleton import make_skeletons

    from aiovolume import CloudVolume, Skeleton
    assert aiovolume.__file__.startswith(src), aiovolume.__file__
    for item in filter(None, assignments.split(",")):
        name, value = item.split("=")
        setattr(module, name, type(getattr(module, name))(value))
    data = make_skeletons(count, vertices)
    skels = [Skeleton(v, e, r, t, segid=i + 1, space="physical") for i, (v, e, r, t) in enumerate(data)]
    ids = [s.id for s in skels]
    info = CloudVolume.create_new_info(1, "segmentation", "uint64", "raw", [4, 4, 40], [0, 0, 0], [1024] * 3)
    uploads = 0
    for line in sys.stdin:
        command, _, url = line.strip().partition(" ")
        seconds = 0.0
        if command == "write":
            with CloudVolume(url, info=info) as vol:
                vol.commit_info()
                vol.skeleton.upload(skels)
        elif command == "get":
            start = time.perf_counter()
            with CloudVolume(url) as vol:
                got = vol.skeleton.get(ids)
            seconds = time.perf_counter() - start
            assert len(got) == len(ids)
            del got
        elif command == "upload":
            uploads += 1
            path = f"{root}/upload-{os.getpid()}-{uploads}"
            start = time.perf_counter()
            with CloudVolume(f"file://{path}", info=info) as vol:
                vol.commit_info()
                vol.skeleton.upload(skels)
            seconds = time.perf_counter() - start
            shutil.rmtree(path)
        print(seconds, flush=True)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("what", choices=["get", "upload"])
    ap.add_argument("--old", required=True, help="the src directory of the old tree")
    ap.add_argument("--new", default=str(HERE.parent / "src"))
    ap.add_argument("--rounds", type=int, default=9)
    ap.add_argument("--count", type=int, default=1000)
    ap.add_argument("--vertices", type=int, default=10_000)
    ap.add_argument("--set", default="", help="NAME=VALUE,... for aiovolume.skeleton in the new tree")
    ap.add_argument("--worker", nargs=2, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        worker(args.worker[0], args.worker[1], args.count, args.vertices, args.set)
        return
    root = tempfile.mkdtemp(prefix="ab-skeleton-")
    trees = {"old": (os.path.abspath(args.old), ""), "new": (os.path.abspath(args.new), args.set)}
    procs = {name: subprocess.Popen([sys.executable, __file__, args.what, "--old", args.old, "--count", str(args.count),
                                     "--vertices", str(args.vertices), "--set", sets, "--worker", src, root],
                                    stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
             for name, (src, sets) in trees.items()}

    def ask(name: str, command: str) -> float:
        proc = procs[name]
        assert proc.stdin is not None and proc.stdout is not None
        proc.stdin.write(command + "\n")
        proc.stdin.flush()
        return float(proc.stdout.readline())

    try:
        layer = f"file://{root}/layer"
        ask("new", f"write {layer}")
        command = f"get {layer}" if args.what == "get" else "upload"
        times: dict[str, list[float]] = {name: [] for name in procs}
        names = list(procs)
        for r in range(args.rounds + 1):  # round 0 warms up
            for name in names[r % 2:] + names[:r % 2]:
                seconds = ask(name, command)
                if r:
                    times[name].append(seconds)
    finally:
        for proc in procs.values():
            if proc.stdin:
                proc.stdin.close()
            proc.wait()
        shutil.rmtree(root)
    old, new = statistics.median(times["old"]), statistics.median(times["new"])
    print(f"{args.what} of {args.count} skeletons x {args.vertices} vertices, {args.rounds} rounds, medians:")
    for name, (src, sets) in trees.items():
        print(f"  {name}: {statistics.median(times[name]) * 1e3:.1f} ms ({src}{' ' + sets if sets else ''}) "
              f"{[round(t * 1e3) for t in times[name]]}")
    print(f"  old/new: {old / new:.2f}x")


if __name__ == "__main__":
    main()
