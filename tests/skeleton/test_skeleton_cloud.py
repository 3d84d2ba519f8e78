"""vol.skeleton on s3:// (moto) and gs:// (emulator): unsharded files gzip-encoded with
Content-Encoding (served decoded, no .gz names), sharded merges through conditional writes."""

from __future__ import annotations

import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "storage"))

from cloud_fixtures import CloudEnv, gcs_env, gcs_server, moto_server, s3_env  # noqa: E402,F401
from test_skeleton_source import MURMUR, random_skeleton, same_values, seg_info  # noqa: E402

from aiovolume import Volume  # noqa: E402


@pytest.fixture(params=["s3", "gs"])
def url(request) -> str:
    env: CloudEnv = request.getfixturevalue("s3_env" if request.param == "s3" else "gcs_env")
    return f"{request.param}://{env.bucket}/{env.prefix}/seg"


@pytest.mark.parametrize("sharded", [False, True], ids=["unsharded", "sharded"])
async def test_round_trip_on_cloud_stores(url, sharded):
    skels = [random_skeleton(s) for s in (1, 2, 3, 2**50)]
    async with Volume(url, info=seg_info()) as vol:
        await vol.commit_info()
        if sharded:
            vol.skeleton.meta.info["sharding"] = dict(MURMUR)
            await vol.skeleton.meta.commit_info()
        await vol.skeleton.upload(skels[:2])
        await vol.skeleton.upload(skels[2:])
        keys = [k async for k in vol.store.list("skeletons/")]
        if not sharded:
            blob = await vol.store.get("skeletons/1")
            assert blob.encoding == "gzip" and "skeletons/1" in keys  # same name, Content-Encoding
    async with Volume(url) as vol:
        got = await vol.skeleton.get([s.id for s in skels])
        for g, s in zip(got, skels):
            same_values(g, s)
        await vol.skeleton.delete([2])
        assert await vol.skeleton.get([1, 2], allow_missing=True) and \
            [s.id for s in await vol.skeleton.get([1, 2], allow_missing=True)] == [1]
