"""boss:// throughput (``make bench`` runs it last): aiovolume's facade vs BOSS's own client
(``intern``) against the local BOSS test server (tests/boss/boss_server.py), in the same run.

Run: ``.venv/bin/python benchmarks/bench_boss.py [--quick] [--runs N]`` (other ``make bench``
flags are accepted and ignored).

* The server runs in its own process on 127.0.0.1 (python-blosc, as BOSS's server), one core of
  the two; it holds a 1024x1024x64 volume (``--quick``: 1024x512x32) of uint8 and of uint64.
* Scenarios: read the whole volume, write the whole volume. Clients: ``aiovolume``
  (``CloudVolume("boss://...")``: one request per 512x512x16 cuboid, 16 at once), ``intern``
  (``BossRemote.get_cutout(parallel=False)`` / ``create_cutout``: its own request splitting) and,
  for reads, ``intern-p2`` (``parallel=2``: its multiprocessing pool).
* Each call is checked against the reference voxels (writes: read back untimed; a wrong result
  is reported, not timed); the
  clients alternate round-robin with the order rotated each round. Reported: median seconds and
  MiB/s of decoded voxels, and each client's ratio to intern's. The server is the bottleneck
  here (Python, one core), so the ratios say how well each client keeps it busy.
"""

from __future__ import annotations

import argparse
import shlex
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent / "tests" / "boss"))
from common import cpu_model, git_commit, log, save_report, usable_cores, versions  # noqa: E402

TOKEN = "bench-token-0123456789"
SERVE = """
import sys, time
sys.path.insert(0, {path!r})
from boss_server import BossServer
s = BossServer({token!r}).start()
s.add_frame("f", (0, 0, 0), {shape!r}, (4, 4, 40))
s.add_experiment("bench", "exp", "f")
s.add_channel("bench", "exp", "u8", "image", "uint8")
s.add_channel("bench", "exp", "u64", "annotation", "uint64")
print(s.port, flush=True)
while True:
    time.sleep(3600)
"""


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--runs", type=int, default=3)
    args, _ = ap.parse_known_args()
    shape = (1024, 512, 32) if args.quick else (1024, 1024, 64)
    code = SERVE.format(path=str(HERE.parent / "tests" / "boss"), token=TOKEN, shape=shape)
    server = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        port = int(server.stdout.readline())  # type: ignore[union-attr]
        text = run(port, shape, args)
    finally:
        server.kill()
        server.wait()
    save_report(f"boss-{time.strftime('%Y%m%d-%H%M%S')}{'-quick' if args.quick else ''}", text)


def run(port: int, shape: tuple[int, int, int], args: argparse.Namespace) -> str:
    from intern.remote.boss import BossRemote

    from aiovolume import CloudVolume

    secrets = {"token": TOKEN, "protocol": "http", "host": f"127.0.0.1:{port}"}
    rmt = BossRemote(secrets)
    rng = np.random.default_rng(0)
    x, y, z = shape
    rows = []
    for chan, dtype in (("u8", np.uint8), ("u64", np.uint64)):
        # smooth-ish data, so blosc has something to compress (white noise would not)
        ref = (np.add.outer(np.add.outer(np.arange(x), np.arange(y)), np.arange(z)) // 7).astype(dtype)
        ref += rng.integers(0, 4, shape, dtype=dtype)
        resource = rmt.get_channel(chan, "bench", "exp")
        cv = CloudVolume(f"boss://bench/exp/{chan}", secrets=secrets, progress=False)
        cv[:, :, :] = ref

        def av_read() -> np.ndarray:
            return np.asarray(cv[:, :, :])[..., 0]

        def intern_read(parallel: bool | int) -> np.ndarray:
            return rmt.get_cutout(resource, 0, [0, x], [0, y], [0, z], parallel=parallel).transpose(2, 1, 0)

        def av_write() -> None:
            cv[:, :, :] = ref

        def intern_write() -> None:
            rmt.create_cutout(resource, 0, [0, x], [0, y], [0, z], np.ascontiguousarray(ref.transpose(2, 1, 0)))

        scenarios = {
            "read": {"aiovolume": av_read, "intern": lambda: intern_read(False), "intern-p2": lambda: intern_read(2)},
            "write": {"aiovolume": av_write, "intern": intern_write},
        }
        for scenario, clients in scenarios.items():
            times: dict[str, list[float]] = {c: [] for c in clients}
            status = {c: "ok" for c in clients}
            order = list(clients)
            for r in range(args.runs + 1):  # the first round is a warm-up
                for name in order[r % len(order):] + order[:r % len(order)]:
                    if status[name] != "ok":
                        continue
                    t0 = time.perf_counter()
                    try:
                        got = clients[name]()
                    except Exception as exc:  # e.g. intern sending a uint64 write over BOSS's 500 MB limit
                        status[name] = f"error: {type(exc).__name__}: {str(exc)[:120]}"
                        continue
                    seconds = time.perf_counter() - t0
                    if got is None:  # a write: read back (untimed) and check
                        got = av_read()
                    if not np.array_equal(got, ref):
                        status[name] = "WRONG"
                    elif r:
                        times[name].append(seconds)
            mib = ref.nbytes / 2**20
            base = statistics.median(times["intern"]) if times["intern"] and status["intern"] == "ok" else None
            for name in clients:
                med = statistics.median(times[name]) if times[name] and status[name] == "ok" else None
                rows.append((f"{chan}/{scenario}", name, status[name], med, mib / med if med else None,
                             base / med if med and base else None))
                log(f"{chan}/{scenario} {name}: {status[name]} {med}")
        cv.close()
    return report(rows, shape, args)


def report(rows: list, shape: tuple[int, int, int], args: argparse.Namespace) -> str:
    v = versions(("aiovolume", "numpy", "intern", "blosc", "imagecodecs", "aiohttp"))
    lines = [
        "# boss:// — aiovolume vs intern against the local BOSS test server", "",
        f"`{shlex.join(sys.argv)}` — commit {git_commit(str(HERE.parent))}; {cpu_model()}, {usable_cores()} cores; "
        f"volume {shape[0]}x{shape[1]}x{shape[2]}; {args.runs} timed runs after a warm-up; medians. "
        "Versions: " + ", ".join(f"{k} {val}" for k, val in v.items()) + ".", "",
        "Writes are read back and checked after the timed call. intern skips all-zero writes, and "
        "its `create_cutout` sends the volume in one request up to 64 Mi voxels (1024x1024x32 blocks above); "
        "its `get_cutout` splits reads into 512x512x192 blocks (`parallel=2`: 512x512x96 over 2 processes).", "",
        "| scenario | client | status | median s | MiB/s | speed vs intern |",
        "|---|---|---|---|---|---|",
    ]
    for scenario, client, status, med, rate, ratio in rows:
        fmt = (lambda v, f: f.format(v) if v is not None else "—")
        lines.append(f"| {scenario} | {client} | {status} | {fmt(med, '{:.3f}')} | {fmt(rate, '{:.0f}')} | "
                     f"{fmt(ratio, '{:.2f}x')} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
