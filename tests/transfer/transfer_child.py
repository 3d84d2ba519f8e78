"""Run in a child process by test_transfer_memory: one transfer_to, then print its peak RSS growth.

    python transfer_child.py SRC_URL DST_URL KWARGS_JSON  ->  prints "<baseline bytes> <peak bytes>"
"""

from __future__ import annotations

import asyncio
import copy
import json
import resource
import sys

from aiovolume import Bbox, Volume


def peak_rss() -> int:
    """This process's peak RSS in bytes. VmHWM belongs to this program's memory map; ru_maxrss
    would also count the parent's RSS at fork time (Linux carries it over exec)."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # KiB on Linux


async def make_sharded_destination(vol: Volume, dst: str, shard_bytes: int) -> None:
    """The destination's info made beforehand: the source's, sharded in ``shard_bytes`` shards."""
    from aiovolume.format.sharding import compute_shard_params

    info = copy.deepcopy(vol.info)
    scale = info["scales"][0]
    scale["sharding"] = compute_shard_params(scale["size"], scale["chunk_sizes"][0], info["data_type"], 1,
                                             scale["encoding"], max_shard_bytes=shard_bytes).to_json()
    async with Volume(dst, info=info) as dest:
        await dest.commit_info()


async def main(src: str, dst: str, kwargs: dict) -> None:
    async with Volume(src, progress=False) as vol:
        shard_bytes = kwargs.pop("dest_shard_bytes", None)
        if shard_bytes:
            await make_sharded_destination(vol, dst, shard_bytes)
        # warm up what every transfer needs once (codec threads, imports), outside the measure
        await vol.download(Bbox(vol.bounds.minpt, vol.bounds.minpt + 1))
        baseline = peak_rss()
        dest = await vol.transfer_to(dst, vol.bounds, **kwargs)
        await dest.close()
    print(baseline, peak_rss())


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2], json.loads(sys.argv[3])))
