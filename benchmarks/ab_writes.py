"""A/B of whole-volume file:// writes (S3's job: 1024x1024x128 uint8, 64^3 chunks, raw or gzip):
this checkout's ``src/`` against another checkout's, in two long-lived worker processes called
in alternation (the order flipped each round), with the CPU seconds of each call beside its wall
time. On a shared machine the CPU figure moves much less than the wall time.

Run: ``.venv/bin/python benchmarks/ab_writes.py --baseline /work/main [--rounds 11] [raw gzip]``.
Every write is read back and compared before its layer is deleted (``rmtree`` + ``os.sync``, as
bench.py does between calls).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent

CHILD = r'''
import gc, json, os, resource, shutil, sys, time
import numpy as np
sys.path.insert(0, sys.argv[2])
from datasets import em_image
from aiovolume import CloudVolume

root = sys.argv[1]
data = em_image((1024, 1024, 128))
info = CloudVolume.create_new_info(num_channels=1, layer_type="image", data_type="uint8", encoding="raw",
    resolution=[4, 4, 40], voxel_offset=[0, 0, 0], chunk_size=[64, 64, 64], volume_size=[1024, 1024, 128])
n = 0
print("ready", flush=True)
for line in sys.stdin:
    mode = line.strip()
    n += 1
    path = os.path.join(root, f"{os.getpid()}-{n}")
    os.makedirs(path)
    with open(os.path.join(path, "info"), "w") as f:
        json.dump(info, f)
    vol = CloudVolume("file://" + path, compress=None if mode == "gzip" else False)
    gc.collect()
    r0, t0 = resource.getrusage(resource.RUSAGE_SELF), time.perf_counter()
    vol[0:1024, 0:1024, 0:128] = data
    dt, r1 = time.perf_counter() - t0, resource.getrusage(resource.RUSAGE_SELF)
    vol.close()
    ok = bool(np.array_equal(CloudVolume("file://" + path)[0:1024, 0:1024, 0:128][..., 0], data))
    shutil.rmtree(path)
    os.sync()
    cpu = r1.ru_utime - r0.ru_utime + r1.ru_stime - r0.ru_stime
    print(json.dumps({"s": dt, "cpu": cpu, "ok": ok}), flush=True)
'''


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--baseline", required=True, help="a checkout whose src/ is the 'base' side")
    ap.add_argument("--rounds", type=int, default=11)
    ap.add_argument("modes", nargs="*", default=["raw", "gzip"])
    args = ap.parse_args()
    srcs = {"base": str(Path(args.baseline) / "src"), "new": str(HERE.parent / "src")}
    with tempfile.TemporaryDirectory(prefix="abw-", dir=HERE) as scratch:
        workers = {k: subprocess.Popen([sys.executable, "-c", CHILD, scratch, str(HERE)], stdin=subprocess.PIPE,
                                       stdout=subprocess.PIPE, text=True, env=dict(os.environ, PYTHONPATH=v))
                   for k, v in srcs.items()}
        try:
            for w in workers.values():
                assert w.stdout is not None and w.stdout.readline().strip() == "ready"
            for mode in args.modes:
                res: dict[str, list[dict]] = {k: [] for k in srcs}
                for r in range(args.rounds + 1):  # round 0: untimed warm-up
                    for k in (list(srcs) if r % 2 else list(srcs)[::-1]):
                        w = workers[k]
                        assert w.stdin is not None and w.stdout is not None
                        w.stdin.write(mode + "\n")
                        w.stdin.flush()
                        out = json.loads(w.stdout.readline())
                        if not out["ok"]:
                            raise SystemExit(f"{k} {mode}: the volume read back differs")
                        if r:
                            res[k].append(out)
                med = {k: statistics.median(x["s"] for x in v) for k, v in res.items()}
                cpu = {k: statistics.median(x["cpu"] for x in v) for k, v in res.items()}
                print(f"{mode}: {args.rounds} rounds; median wall base {med['base']:.3f} s, new {med['new']:.3f} s "
                      f"(base/new {med['base'] / med['new']:.2f}); median CPU base {cpu['base']:.3f} s, "
                      f"new {cpu['new']:.3f} s (base/new {cpu['base'] / cpu['new']:.2f})")
                for k, v in res.items():
                    print(f"    {k:4s} wall " + " ".join(f"{x['s']:.3f}" for x in v))
                    print(f"    {k:4s} cpu  " + " ".join(f"{x['cpu']:.3f}" for x in v))
        finally:
            for w in workers.values():
                if w.stdin is not None:
                    w.stdin.close()
                w.wait()
    return 0


if __name__ == "__main__":
    sys.exit(main())
