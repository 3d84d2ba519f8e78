"""Whole-volume round trips on s3:// (moto) and gs:// (fake-gcs-server), through the async
Volume and the blocking CloudVolume facade (the real cloud-volume package on s3:// is in
``tests/interop/test_interop_s3.py``)."""

from __future__ import annotations

import os
import sys

import numpy as np
import pytest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "storage"))

from cloud_fixtures import BUCKET, CloudEnv, gcs_env, gcs_server, moto_server, s3_env  # noqa: E402,F401

from aiovolume import Bbox, CloudVolume, Volume  # noqa: E402
from aiovolume.exceptions import AlignmentError, EmptyVolumeException  # noqa: E402
from volume_helpers import make_info, random_volume  # noqa: E402

SIZE = (130, 100, 40)  # edge chunks on every axis with 64x64x16 chunks
OFFSET = (-70, 5, -16)


@pytest.fixture(params=["s3", "gs"])
def cloud_url(request: pytest.FixtureRequest) -> str:
    env: CloudEnv = request.getfixturevalue("s3_env" if request.param == "s3" else "gcs_env")
    return f"{request.param}://{env.bucket}/{env.prefix}/ds/image"


def sub(data: np.ndarray, box: Bbox, offset=OFFSET) -> np.ndarray:
    lo = np.asarray(box.minpt) - np.asarray(offset)
    hi = np.asarray(box.maxpt) - np.asarray(offset)
    return data[lo[0]:hi[0], lo[1]:hi[1], lo[2]:hi[2]]


@pytest.mark.parametrize("compress", [None, False], ids=["gzip", "raw"])
async def test_volume_round_trip(cloud_url: str, compress: bool | None) -> None:
    info = make_info("uint16", 2, size=SIZE, offset=OFFSET)
    data = random_volume((*SIZE, 2), "uint16", seed=1)
    async with Volume(cloud_url, info=info, compress=compress) as vol:
        await vol.commit_info()
        await vol.upload(vol.bounds, data)
    async with Volume(cloud_url) as vol:
        np.testing.assert_array_equal(np.asarray(await vol.download(vol.bounds)), data)
        box = Bbox((-61, 17, -9), (44, 99, 21))  # non-aligned read
        np.testing.assert_array_equal(np.asarray(await vol.download(box)), sub(data, box))
        exists = await vol.exists(vol.bounds)
        assert len(exists) == 3 * 2 * 3 and all(exists.values())


async def test_non_aligned_writes_exists_and_delete(cloud_url: str) -> None:
    info = make_info("uint8", 1, size=SIZE, offset=OFFSET)
    data = random_volume((*SIZE, 1), "uint8", seed=2)
    async with Volume(cloud_url, info=info, non_aligned_writes=True, fill_missing=True) as vol:
        await vol.commit_info()
        await vol.upload(vol.bounds, data)
        box = Bbox((-50, 20, -10), (30, 77, 13))  # crosses chunk borders everywhere
        patch = random_volume((*box.size3(), 1), "uint8", seed=3)
        await vol.upload(box, patch)
        expected = data.copy()
        lo = np.asarray(box.minpt) - np.asarray(OFFSET)
        expected[lo[0]:lo[0] + patch.shape[0], lo[1]:lo[1] + patch.shape[1], lo[2]:lo[2] + patch.shape[2]] = patch
        np.testing.assert_array_equal(np.asarray(await vol.download(vol.bounds)), expected)

        aligned = Bbox((-70, 5, -16), (-6, 69, 0))  # exactly the first chunk
        await vol.delete(aligned)
        exists = await vol.exists(vol.bounds)
        assert [k for k, v in exists.items() if not v] == ["4_4_40/-70--6_5-69_-16-0"]
        cut = np.asarray(await vol.download(aligned))
        assert not cut.any()  # fill_missing: the deleted chunk reads as background
        with pytest.raises(AlignmentError):
            await vol.delete(Bbox((-69, 5, -16), (-6, 69, 0)))
    async with Volume(cloud_url, fill_missing=False) as vol:
        with pytest.raises(EmptyVolumeException):
            await vol.download(aligned)


def test_facade_round_trip(cloud_url: str) -> None:
    info = make_info("float32", 1, size=(64, 64, 32), chunk=(32, 32, 16))
    data = random_volume((64, 64, 32, 1), "float32", seed=4)
    with CloudVolume(cloud_url, info=info) as cv:
        cv.commit_info()
        cv[:, :, :] = data
    with CloudVolume(cloud_url) as cv:
        np.testing.assert_array_equal(np.asarray(cv[0:64, 0:64, 0:32]), data)
        np.testing.assert_array_equal(np.asarray(cv[3:40, 9:33, 5:30]), data[3:40, 9:33, 5:30])


async def test_secrets_argument_reaches_the_store(s3_env: CloudEnv) -> None:
    url = f"s3://{BUCKET}/{s3_env.prefix}/img"
    secrets = {"AWS_ACCESS_KEY_ID": "fromarg", "AWS_SECRET_ACCESS_KEY": "x"}
    async with Volume(url, info=make_info(), secrets=secrets) as vol:
        await vol.commit_info()
        assert vol.store._clients.current is not None  # type: ignore[attr-defined]
        signer = await vol.store._clients.current.session.get_credentials()  # type: ignore[attr-defined]
        assert signer.access_key == "fromarg"
