"""TensorStore's ``neuroglancer_precomputed`` driver reads what aiovolume writes with ``compress=False``.

TensorStore's array axes are ``x, y, z, channel`` and its domain starts at the scale's voxel_offset,
so ``store[x0:x1, ...]`` takes global voxel coordinates exactly like aiovolume does.

It does *not* understand CloudVolume's local ``<chunk>.gz`` convention (what ``compress=None`` writes
on file://): it sees no chunk at all and returns the fill value. That is why ``compress=False`` is
needed for TensorStore (and Neuroglancer's static file servers) on file://.
"""

from __future__ import annotations

import os

import numpy as np
import pytest

import aiovolume
from interop_helpers import make_data, assert_exact, slices, local, ts_open

ts = pytest.importorskip("tensorstore")

pytestmark = pytest.mark.interop

# tensorstore's precomputed driver supports the Neuroglancer dtypes only (no float64)
DTYPES = ["uint8", "uint16", "uint64", "float32", "int16", "uint32"]

RES = (4, 4, 40)
OFFSET = (-37, 11, -5)
SIZE = (100, 90, 70)
CHUNK = (32, 32, 32)
FACTOR = (2, 2, 1)
OFFSET1 = tuple(o // f for o, f in zip(OFFSET, FACTOR))
SIZE1 = tuple(-(-s // f) for s, f in zip(SIZE, FACTOR))
RES1 = tuple(r * f for r, f in zip(RES, FACTOR))
CUT0 = ((-30, 41), (17, 88), (-2, 61))
CUT1 = ((-17, 24), (7, 49), (1, 62))


# -- helpers ---------------------------------------------------------------------------------
def write_with_aiovolume(layer, dtype, channels, compress, offset=OFFSET, size=SIZE, chunk=CHUNK, seed=21):
    path = f"file://{layer}"
    info = aiovolume.CloudVolume.create_new_info(
        num_channels=channels, layer_type="image", data_type=dtype, encoding="raw",
        resolution=list(RES), voxel_offset=list(offset), volume_size=list(size), chunk_size=list(chunk),
    )
    off1 = tuple(o // f for o, f in zip(offset, FACTOR))
    size1 = tuple(-(-s // f) for s, f in zip(size, FACTOR))
    data0 = make_data((*size, channels), dtype, seed=seed)
    data1 = make_data((*size1, channels), dtype, seed=seed + 1)
    with aiovolume.CloudVolume(path, info=info, compress=compress) as vol:
        vol.add_scale(FACTOR)
        vol.commit_info()
        vol[slices(offset, size)] = data0
    with aiovolume.CloudVolume(path, mip=1, compress=compress) as vol1:
        vol1[slices(off1, size1)] = data1
    return {0: (tuple(offset), tuple(size), RES, data0), 1: (off1, size1, RES1, data1)}


# -- tests ----------------------------------------------------------------------------------
@pytest.mark.parametrize("channels", [1, 3])
@pytest.mark.parametrize("dtype", DTYPES)
def test_tensorstore_reads_our_plain_volume(tmp_path, dtype, channels):
    layer = tmp_path / "layer"
    expected = write_with_aiovolume(layer, dtype, channels, compress=False)
    for mip, (offset, size, res, data) in expected.items():
        store = ts_open(layer, mip)
        assert store.dtype.numpy_dtype == np.dtype(dtype)
        assert tuple(store.domain.inclusive_min) == (*offset, 0)
        assert tuple(store.domain.shape) == (*size, channels)
        assert list(store.domain.labels) == ["x", "y", "z", "channel"]
        assert list(store.chunk_layout.read_chunk.shape) == [*CHUNK, channels]
        assert [u.multiplier for u in store.dimension_units[:3]] == list(res)
        # the whole scale, then a non-aligned region in global coordinates
        assert_exact(store.read().result(), data)
        cut = CUT0 if mip == 0 else CUT1
        region = store[tuple(slice(a, b) for a, b in cut) + (slice(None),)].read().result()
        assert_exact(region, local(data, offset, cut))


@pytest.mark.parametrize(
    "offset,size,chunk",
    [((-10, 4, 0), (130, 50, 20), (64, 64, 16)), ((-64, -64, -16), (128, 64, 48), (64, 64, 16))],
    ids=["spec_example", "aligned_negative"],
)
def test_tensorstore_reads_our_plain_volume_other_geometries(tmp_path, offset, size, chunk):
    layer = tmp_path / "layer"
    expected = write_with_aiovolume(layer, "uint16", 3, compress=False, offset=offset, size=size, chunk=chunk)
    for mip, (off, sz, _res, data) in expected.items():
        store = ts_open(layer, mip)
        assert tuple(store.domain.inclusive_min) == (*off, 0)
        assert_exact(store.read().result(), data)


@pytest.mark.parametrize("dtype", ["uint8", "float32"])
def test_tensorstore_cannot_see_our_gzip_suffixed_chunks(tmp_path, dtype):
    """compress=None writes CloudVolume's `<chunk>.gz` files: TensorStore finds no chunks, returns the fill value."""
    layer = tmp_path / "layer"
    expected = write_with_aiovolume(layer, dtype, 1, compress=None)
    for mip, (offset, size, res, data) in expected.items():
        files = os.listdir(layer / "_".join(map(str, res)))
        assert files and all(f.endswith(".gz") for f in files)
        assert np.count_nonzero(data) > data.size // 2  # so a zero read is really the fill value
        store = ts_open(layer, mip)  # the info itself is plain and readable
        assert tuple(store.domain.inclusive_min) == (*offset, 0)
        got = store.read().result()
        assert got.shape == data.shape and got.dtype == data.dtype
        assert not np.any(got), "tensorstore read our .gz chunks; update the docs (README, spec §1)"


def test_rewriting_with_plain_chunks_replaces_the_gzip_ones(tmp_path):
    """Rewriting a gzip-suffixed volume with compress=False leaves only plain chunks, which TensorStore reads."""
    layer = tmp_path / "layer"
    old = write_with_aiovolume(layer, "uint16", 1, compress=None, seed=31)
    new = write_with_aiovolume(layer, "uint16", 1, compress=False, seed=41)
    for mip, (offset, size, res, data) in new.items():
        assert not np.array_equal(data, old[mip][3])
        assert not any(f.endswith(".gz") for f in os.listdir(layer / "_".join(map(str, res))))
        assert_exact(ts_open(layer, mip).read().result(), data)
        with aiovolume.CloudVolume(f"file://{layer}", mip=mip) as vol:
            assert_exact(vol[slices(offset, size)], data)


def test_rewriting_with_gzip_chunks_removes_the_plain_ones(tmp_path):
    """The other way round: no stale plain chunk may survive to be read (plain names are probed first)."""
    layer = tmp_path / "layer"
    write_with_aiovolume(layer, "uint16", 1, compress=False, seed=51)
    new = write_with_aiovolume(layer, "uint16", 1, compress=None, seed=61)
    for mip, (offset, size, res, data) in new.items():
        assert all(f.endswith(".gz") for f in os.listdir(layer / "_".join(map(str, res))))
        assert not np.any(ts_open(layer, mip).read().result())  # no stale plain chunk visible
        with aiovolume.CloudVolume(f"file://{layer}", mip=mip) as vol:
            assert_exact(vol[slices(offset, size)], data)
