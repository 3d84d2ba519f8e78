"""aiovolume.dask.downsample (the pyramid builder) against numpy and tinybrain references."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("dask")
tinybrain = pytest.importorskip("tinybrain")

from aiovolume import CloudVolume  # noqa: E402
from aiovolume.dask import downsample, from_cloudvolume  # noqa: E402
from aiovolume.exceptions import AlignmentError, OptionError  # noqa: E402
from aiovolume.pipeline.downsample import downsample_average, pyramid  # noqa: E402
from dask_cluster import client  # noqa: E402,F401
from volume_helpers import make_info, random_volume  # noqa: E402


def _layer(url, data, offset=(0, 0, 0), chunk=(64, 64, 16), layer_type="image", sharded=False):
    info = make_info(data.dtype.name, size=data.shape[:3], offset=offset, chunk=chunk, layer_type=layer_type)
    with CloudVolume(url, info=info, progress=False) as cv:
        if sharded:
            from aiovolume.format.sharding import compute_shard_params
            cv.info["scales"][0]["sharding"] = compute_shard_params(
                data.shape[:3], chunk, data.dtype, 1, "raw", max_shard_bytes=1 << 18).to_json()
        cv.commit_info()
        cv[cv.bounds.to_slices()] = data


def _read(url, mip):
    with CloudVolume(url, mip=mip, progress=False) as cv:
        return cv[cv.bounds.to_slices()][..., 0], cv.info["scales"][mip]


def _block_reduce(data, f, reduce):
    """Independent reference: ``reduce`` over every f-sized block (partial at the far edges)."""
    out_shape = [-(-n // k) for n, k in zip(data.shape, f)]
    out = np.zeros(out_shape, dtype=data.dtype)
    for idx in np.ndindex(*out_shape):
        block = data[tuple(slice(i * k, (i + 1) * k) for i, k in zip(idx, f))]
        out[idx] = reduce(block.ravel())
    return out


def _mean(values):
    return np.int64(values.astype(np.int64).sum()) // values.size


def _mode(values, sparse=False):
    vals, counts = np.unique(values, return_counts=True)
    if sparse and (vals != 0).any():
        counts = np.where(vals == 0, -1, counts)
    return vals[np.argmax(counts)]  # np.unique sorts: the first maximum is the smallest value


def test_three_mips_on_the_cluster_equal_tinybrain(client, tmp_path):
    url = "file://" + str(tmp_path / "img")
    data = random_volume((256, 192, 24), "uint8", seed=11)
    _layer(url, data, offset=(64, 128, 3), chunk=(32, 32, 8))
    mips = downsample(url, num_mips=3, client=client, memory_target=1 << 20)  # many blocks
    assert mips == [1, 2, 3]
    reference = tinybrain.downsample_with_averaging(data, (2, 2, 1), num_mips=3)
    for m in mips:
        got, scale = _read(url, m)
        assert scale["size"] == [256 >> m, 192 >> m, 24]
        assert scale["resolution"] == [4 << m, 4 << m, 40]
        assert scale["voxel_offset"] == [64 >> m, 128 >> m, 3]
        assert scale["chunk_sizes"] == [[32, 32, 8]] and "sharding" not in scale
        np.testing.assert_array_equal(got, reference[m - 1])
    # a mip read back through dask: 0-based from that mip's voxel_offset
    np.testing.assert_array_equal(from_cloudvolume(url, mip=3).compute()[..., 0], reference[2])


def test_odd_sizes_and_a_z_factor_equal_block_means(client, tmp_path):
    url = "file://" + str(tmp_path / "odd")
    data = random_volume((45, 38, 13), "uint16", seed=12)
    _layer(url, data, chunk=(16, 16, 4))
    downsample(url, num_mips=2, factor=(2, 2, 2), client=client)
    for j in (1, 2):
        got, scale = _read(url, j)
        assert scale["size"] == [-(-45 // 2**j), -(-38 // 2**j), -(-13 // 2**j)]
        np.testing.assert_array_equal(got, _block_reduce(data, (2**j, 2**j, 2**j), _mean))


def test_segmentation_mode_and_sparse_mode_with_local_threads(tmp_path):
    data = random_volume((40, 36, 6), "uint64", seed=13) % 3 + np.uint64(2**60)  # ids above 2**53
    data[:20] = 0
    data[25:, :, :3] = 0
    for sparse in (False, True):
        url = "file://" + str(tmp_path / f"seg{sparse}")
        _layer(url, data, chunk=(8, 8, 2), layer_type="segmentation")
        assert downsample(url, num_mips=2, sparse=sparse) == [1, 2]  # no client: dask's threads
        for j in (1, 2):
            got, _ = _read(url, j)
            want = _block_reduce(data, (2**j, 2**j, 1), lambda v: _mode(v, sparse))
            np.testing.assert_array_equal(got, want)


def test_sharded_source_gives_sharded_mips(client, tmp_path):
    url = "file://" + str(tmp_path / "sharded")
    data = random_volume((128, 128, 16), "uint8", seed=14)
    _layer(url, data, chunk=(16, 16, 8), sharded=True)
    downsample(url, num_mips=2, client=client)
    reference = tinybrain.downsample_with_averaging(data, (2, 2, 1), num_mips=2)
    for j in (1, 2):
        got, scale = _read(url, j)
        assert scale["sharding"]["@type"] == "neuroglancer_uint64_sharded_v1"
        np.testing.assert_array_equal(got, reference[j - 1])
    # and sharded=False, with another chunk size, rewrites them unsharded
    downsample(url, num_mips=1, sharded=False, chunk_size=(32, 32, 4), client=client)
    got, scale = _read(url, 1)
    assert "sharding" not in scale and scale["chunk_sizes"] == [[32, 32, 4]]
    np.testing.assert_array_equal(got, reference[0])


def test_refusals(tmp_path):
    url = "file://" + str(tmp_path / "refuse")
    _layer(url, np.zeros((32, 32, 4), np.uint8), offset=(4, 0, 0), chunk=(16, 16, 4))
    with pytest.raises(AlignmentError, match=r"voxel_offset \[4, 0, 0\].*factor\*\*num_mips = \[8, 8, 1\]"):
        downsample(url, num_mips=3)
    with pytest.raises(OptionError, match="method"):
        downsample(url, num_mips=1, method="median")
    with pytest.raises(OptionError, match="factor"):
        downsample(url, num_mips=1, factor=(2, 2))
    with pytest.raises(OptionError, match="num_mips"):
        downsample(url, num_mips=0)
    _, scale = _read(url, 0)
    with CloudVolume(url, progress=False) as cv:
        assert len(cv.info["scales"]) == 1  # nothing was added


@pytest.mark.parametrize("dtype", ["uint8", "uint16"])
def test_the_tinybrain_path_equals_the_numpy_path(dtype):
    img = random_volume((64, 48, 8, 2), dtype, seed=15)
    for factor in ((2, 2, 1), (2, 2, 2), (1, 2, 2)):
        fast = pyramid(img, factor, 3, "average")
        for j, m in enumerate(fast, 1):
            np.testing.assert_array_equal(m, downsample_average(img, [f**j for f in factor]))


def test_sparse_average_ignores_zeros():
    img = np.zeros((4, 2, 1), np.uint8)
    img[0, 0, 0], img[1, 1, 0], img[2, 0, 0] = 10, 21, 7
    assert pyramid(img, (2, 2, 1), 1, "average", sparse=True)[0][:, 0, 0].tolist() == [15, 7]
    assert pyramid(img, (2, 2, 1), 1, "average")[0][:, 0, 0].tolist() == [7, 1]


def test_a_missing_source_chunk_fails_typed_across_the_cluster_unless_fill_missing(client, tmp_path):
    from aiovolume.exceptions import EmptyVolumeException

    url = "file://" + str(tmp_path / "holes")
    data = random_volume((64, 64, 8), "uint8", seed=16)
    _layer(url, data, chunk=(32, 32, 8))
    hole = next((tmp_path / "holes" / "4_4_40").glob("32-64_0-32_0-8*"))
    hole.unlink()
    with pytest.raises(EmptyVolumeException, match="32-64_0-32_0-8"):
        downsample(url, num_mips=1, client=client)
    downsample(url, num_mips=1, client=client, fill_missing=True)
    data[32:64, 0:32] = 0
    got, _ = _read(url, 1)
    np.testing.assert_array_equal(got, tinybrain.downsample_with_averaging(data, (2, 2, 1))[0])


async def test_blocks_tile_the_scale_on_every_mips_grid_and_feed_every_worker(tmp_path):
    from aiovolume import Volume
    from aiovolume.dask.pyramid import _add_scales, plan_blocks

    info = make_info("uint8", size=(1000, 1024, 100), offset=(64, 0, 8), chunk=(128, 128, 64))
    async with Volume("file://" + str(tmp_path / "plan"), info=info) as vol:
        mips = _add_scales(vol, 0, (2, 2, 1), 3, None, None)
        for target, min_blocks in ((1 << 40, 1), (1 << 40, 4), (64 << 20, 1), (1, 1)):
            blocks = plan_blocks(vol, 0, mips, (2, 2, 1), target, min_blocks)
            covered = np.zeros((1000, 1024, 100), bool)
            for b in blocks:
                lo, hi = b.minpt - (64, 0, 8), b.maxpt - (64, 0, 8)
                assert not covered[lo[0]:hi[0], lo[1]:hi[1], lo[2]:hi[2]].any()  # no overlap
                covered[lo[0]:hi[0], lo[1]:hi[1], lo[2]:hi[2]] = True
                assert all(v % e == 0 for v, e in zip(lo, (1024, 1024, 64)))  # chunk * 2**3 in x, y
            assert covered.all()
            if target == 1 << 40:
                assert len(blocks) == (1 if min_blocks == 1 else 2)  # 2 is all the z axis allows here
            if target == 64 << 20:
                assert max(int(np.prod(b.size3())) for b in blocks) <= 64 << 20
