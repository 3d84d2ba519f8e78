"""A/B of a full compressed_segmentation read: older aiovolume code vs this checkout, in
alternating fresh processes (each: one untimed read, wait for the compiled decoder, one more
untimed read, then 5 timed reads after gc.collect()); medians of wall and process CPU.

    PYTHONPATH=src .venv/bin/python benchmarks/ab_cseg.py --base /work/main --rounds 8 [--layer file:///...]

Without --layer it writes S5's layer (512x512x128 uint64 Voronoi labels, 64^3 chunks, 8^3 blocks,
with cloud-volume, as bench.py does) into a temporary directory first.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile

import numpy as np

CHILD = r'''
import gc, json, os, sys, time, aiovolume
vol = aiovolume.CloudVolume(sys.argv[1], progress=False)
vol[:, :, :]
try:
    from aiovolume.codecs import cseg
    cseg.fast_decoder(wait=120)
except (ImportError, AttributeError):
    pass
vol[:, :, :]
out = []
for _ in range(5):
    gc.collect()
    c0 = os.times(); t0 = time.perf_counter(); a = vol[:, :, :]; dt = time.perf_counter() - t0; c1 = os.times()
    del a
    out.append((dt, c1.user - c0.user + c1.system - c0.system))
print(json.dumps(out))
'''


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--base", required=True, help="checkout of the older code (its src/ is imported)")
    ap.add_argument("--rounds", type=int, default=8)
    ap.add_argument("--layer", default="")
    args = ap.parse_args()
    here = os.path.dirname(os.path.abspath(__file__))
    new_src = os.path.join(os.path.dirname(here), "src")
    with tempfile.TemporaryDirectory() as tmp:
        url = args.layer
        if not url:
            sys.path.insert(0, here)
            from datasets import voronoi_labels, write_layer

            url = write_layer(tmp, "seg_cseg", voronoi_labels((512, 512, 128)), "compressed_segmentation",
                              False, (64, 64, 64)).url()
        nbytes = 512 * 512 * 128 * 8 if not args.layer else None
        sides = {"base": os.path.join(os.path.abspath(args.base), "src"), "new": new_src}
        res: dict[str, list] = {k: [] for k in sides}
        for r in range(args.rounds):
            for name in (list(sides) if r % 2 == 0 else list(sides)[::-1]):
                env = dict(os.environ, PYTHONPATH=sides[name])
                p = subprocess.run([sys.executable, "-c", CHILD, url], env=env, capture_output=True, text=True)
                if p.returncode:
                    sys.exit(p.stderr[-2000:])
                res[name] += json.loads(p.stdout)
        med = {}
        for name, v in res.items():
            a = np.array(v)
            med[name] = np.median(a[:, 0])
            rate = f" ({nbytes / 2**20 / med[name]:.0f} MiB/s)" if nbytes else ""
            print(f"{name:5s} n={len(a)} wall median {med[name]:.4f} s{rate}, p10/p90 "
                  f"{np.percentile(a[:, 0], 10):.3f}/{np.percentile(a[:, 0], 90):.3f}; cpu median {np.median(a[:, 1]):.4f} s")
        print(f"wall ratio base/new {med['base'] / med['new']:.2f}")


if __name__ == "__main__":
    main()
