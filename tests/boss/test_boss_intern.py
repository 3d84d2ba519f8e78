"""The local BOSS server checked with BOSS's official client (``intern``), and aiovolume against it.

intern speaks to the server as to api.bossdb.io (its URLs, headers, blosc bodies and status
codes); whatever intern writes, aiovolume reads, and the other way round.
"""

from __future__ import annotations

import numpy as np
import pytest
from boss_server import BossServer

from aiovolume import Bbox, CloudVolume

intern_remote = pytest.importorskip("intern.remote.boss", reason="intern (BOSS's client) is in the test extra")
from intern.resource.boss.resource import ChannelResource  # noqa: E402
from requests import HTTPError  # noqa: E402

pytestmark = pytest.mark.interop

DTYPES = {"img8": "uint8", "img16": "uint16", "seg64": "uint64"}


def _remote(boss: BossServer, token: str | None = None):
    return intern_remote.BossRemote(boss.secrets(token))


def _random(shape: tuple[int, ...], dtype: str, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(1, np.iinfo(dtype).max, shape, dtype=dtype, endpoint=True)


def test_intern_reads_the_metadata(boss: BossServer) -> None:
    rmt = _remote(boss)
    chan = rmt.get_channel("seg64", "col", "exp")
    assert (chan.name, chan.type, chan.datatype, chan.base_resolution) == ("seg64", "annotation", "uint64", 0)
    exp = rmt.get_experiment("col", "iso")
    assert (exp.coord_frame, exp.num_hierarchy_levels, exp.hierarchy_method) == ("f1", 2, "isotropic")
    frame = rmt.get_coordinate_frame("f1")
    assert (frame.x_start, frame.x_stop, frame.y_start, frame.y_stop, frame.z_start, frame.z_stop) == \
        (100, 700, 50, 600, 3, 40)
    assert (frame.x_voxel_size, frame.z_voxel_size, frame.voxel_unit) == (0.5, 1.5, "micrometers")


@pytest.mark.parametrize("channel", sorted(DTYPES))
def test_intern_writes_aiovolume_reads(boss: BossServer, channel: str) -> None:
    dtype = DTYPES[channel]
    rmt = _remote(boss)
    chan = ChannelResource(channel, "col", "exp", datatype=dtype, type="annotation" if dtype == "uint64" else "image")
    zyx = _random((20, 60, 70), dtype, seed=11)  # intern's arrays are (z, y, x)
    rmt.create_cutout(chan, 0, [480, 550], [470, 530], [8, 28], zyx)
    back = rmt.get_cutout(chan, 0, [480, 550], [470, 530], [8, 28], parallel=False)
    assert back.dtype == dtype and np.array_equal(back, zyx)
    with CloudVolume(f"boss://col/exp/{channel}", secrets=boss.secrets(), progress=False) as cv:
        got = np.asarray(cv[470:560, 460:530, 4:30])[..., 0]
    expected = np.zeros((90, 70, 26), dtype)
    expected[10:80, 10:70, 4:24] = zyx.transpose(2, 1, 0)
    assert got.dtype == dtype and np.array_equal(got, expected)


@pytest.mark.parametrize("channel", sorted(DTYPES))
def test_aiovolume_writes_intern_reads(boss: BossServer, channel: str) -> None:
    dtype = DTYPES[channel]
    xyz = _random((600, 530, 36), dtype, seed=12)
    with CloudVolume(f"boss://col/exp/{channel}", secrets=boss.secrets(), progress=False) as cv:
        cv[:, :, :] = xyz
    chan = _remote(boss).get_channel(channel, "col", "exp")
    zyx = _remote(boss).get_cutout(chan, 0, [500, 600], [400, 530], [10, 36], parallel=False)
    assert zyx.shape == (26, 130, 100) and zyx.dtype == dtype
    assert np.array_equal(zyx, xyz[500:600, 400:530, 10:36].transpose(2, 1, 0))


def test_intern_level_one_and_offset_frame(boss: BossServer) -> None:
    xyz = _random((300, 275, 19), "uint16", seed=13)
    with CloudVolume("boss://col/iso/off16", secrets=boss.secrets(), mip=1, progress=False) as cv:
        cv[cv.bounds] = xyz
        assert cv.bounds == Bbox((50, 25, 1), (350, 300, 20))
    chan = _remote(boss).get_channel("off16", "col", "iso")
    zyx = _remote(boss).get_cutout(chan, 1, [60, 100], [30, 40], [2, 19], parallel=False)
    assert np.array_equal(zyx, xyz[10:50, 5:15, 1:18].transpose(2, 1, 0))


def test_intern_is_refused_with_a_wrong_token(boss: BossServer) -> None:
    with pytest.raises(HTTPError, match="401"):
        _remote(boss, "not-the-token").get_channel("img8", "col", "exp")
