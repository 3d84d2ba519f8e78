"""The real cloud-volume package reads what we write on s3:// (moto), and we read what it writes."""

from __future__ import annotations

import os
import sys

import numpy as np
import pytest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "storage"))

from cloud_fixtures import BUCKET, CloudEnv, moto_server, s3_env  # noqa: E402,F401

from aiovolume import Bbox, CloudVolume  # noqa: E402
from volume_helpers import make_info, random_volume  # noqa: E402

SIZE = (130, 100, 40)  # edge chunks on every axis with 64x64x16 chunks
OFFSET = (-70, 5, -16)


def sub(data, box):
    lo = np.asarray(box.minpt) - OFFSET
    hi = np.asarray(box.maxpt) - OFFSET
    return data[lo[0]:hi[0], lo[1]:hi[1], lo[2]:hi[2]]


# -- the real cloud-volume on s3:// --------------------------------------------------------------------
@pytest.fixture
def cv_s3_env(s3_env: CloudEnv, monkeypatch: pytest.MonkeyPatch) -> CloudEnv:
    """cloud-volume finds moto through AWS_ENDPOINT_URL (boto3 honours it); CloudFiles' env
    fallback reads AWS_SESSION_TOKEN unconditionally (a KeyError without it)."""
    pytest.importorskip("cloudvolume")
    monkeypatch.setenv("AWS_SESSION_TOKEN", "testing")
    return s3_env


@pytest.mark.interop
@pytest.mark.parametrize("compress", [None, False], ids=["gzip", "raw"])
def test_cloudvolume_reads_what_we_wrote_on_s3(cv_s3_env: CloudEnv, compress: bool | None) -> None:
    import cloudvolume

    url = f"s3://{BUCKET}/{cv_s3_env.prefix}/ours"
    info = make_info("uint32", 1, size=SIZE, offset=OFFSET)
    data = random_volume((*SIZE, 1), "uint32", seed=5)
    with CloudVolume(url, info=info, compress=compress) as ours:
        ours.commit_info()
        ours[ours.bounds] = data
    theirs = cloudvolume.CloudVolume(url, progress=False, cache=False)
    got = theirs[theirs.bounds]
    np.testing.assert_array_equal(np.asarray(got), data)
    box = Bbox((-61, 17, -9), (44, 99, 21))
    np.testing.assert_array_equal(np.asarray(theirs[box.to_slices()]), sub(data, box))


@pytest.mark.interop
def test_we_read_what_cloudvolume_wrote_on_s3(cv_s3_env: CloudEnv) -> None:
    import cloudvolume

    url = f"s3://{BUCKET}/{cv_s3_env.prefix}/theirs"
    info = cloudvolume.CloudVolume.create_new_info(
        num_channels=1, layer_type="image", data_type="uint8", encoding="raw", resolution=[4, 4, 40],
        voxel_offset=list(OFFSET), chunk_size=[64, 64, 16], volume_size=list(SIZE))
    data = random_volume((*SIZE, 1), "uint8", seed=6)
    theirs = cloudvolume.CloudVolume(url, info=info, progress=False, cache=False)  # gzip by default
    theirs.commit_info()
    theirs[theirs.bounds] = data
    with CloudVolume(url) as ours:
        np.testing.assert_array_equal(np.asarray(ours[ours.bounds]), data)
