"""transfer_to holds bounded memory: a layer 4x larger than a cap is copied (stored bytes converted,
and decoded + re-encoded) by a child process whose peak RSS grows by less than the cap."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from aiovolume import Bbox, Volume
from volume_helpers import make_info

SIZE = (1024, 1024, 256)  # 256 MiB of uint8
CHUNK = (128, 128, 32)
REGION_BYTES = int(np.prod(SIZE))
CAP = REGION_BYTES // 4
CHILD = os.path.join(os.path.dirname(os.path.abspath(__file__)), "transfer_child.py")


@pytest.fixture(scope="module")
def big_layer(tmp_path_factory) -> str:
    import asyncio

    path = "file://" + str(tmp_path_factory.mktemp("big") / "src")

    async def build() -> None:
        async with Volume(path, info=make_info("uint8", 1, size=SIZE, chunk=CHUNK), compress=False) as vol:
            await vol.commit_info()
            x = np.arange(SIZE[0], dtype=np.uint8)[:, None, None, None]
            for z in range(0, SIZE[2], CHUNK[2]):  # slab by slab: the test process stays small too
                slab = np.broadcast_to(x + np.uint8(z), (SIZE[0], SIZE[1], CHUNK[2], 1))
                await vol.upload(Bbox((0, 0, z), (SIZE[0], SIZE[1], z + CHUNK[2])), np.asfortranarray(slab))

    asyncio.run(build())
    return path


@pytest.mark.parametrize("kwargs", [{"compress": "gzip"}, {"encoding": "jpeg"}, {"dest_shard_bytes": 8 << 20}],
                         ids=["bytes", "reencode", "into-8MiB-shards"])
def test_peak_memory_stays_under_a_quarter_of_the_region(big_layer, tmp_path, kwargs):
    dst = "file://" + str(tmp_path / "dst")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))
    out = subprocess.run([sys.executable, CHILD, big_layer, dst, json.dumps(kwargs)], env=env, check=True,
                         capture_output=True, text=True, timeout=600).stdout
    baseline, peak = map(int, out.split())
    grew = peak - baseline
    print(f"{kwargs}: peak RSS grew by {grew / 2**20:.1f} MiB")
    assert grew < CAP, f"peak RSS grew by {grew / 2**20:.0f} MiB copying a {REGION_BYTES / 2**20:.0f} MiB region"
    # every chunk was written (values are checked by the other transfer tests)
    files = sum(len(fs) for _, _, fs in os.walk(tmp_path / "dst" / "4_4_40"))
    chunks = np.prod([s // c for s, c in zip(SIZE, CHUNK)])
    assert files == (chunks // 16 if "dest_shard_bytes" in kwargs else chunks)  # 16 chunks of 512 KiB a shard
