"""aiovolume reads what the real CloudVolume 12.15.2 writes (raw encoding, file://).

Volumes are created with ``cloudvolume.CloudVolume.create_new_info`` + ``add_scale`` + ``commit_info``
and filled with ``cv[...] = data`` at mip 0 and mip 1, with ``compress=None`` (CloudVolume's default:
gzip for raw, stored as ``<chunk>.gz``), ``compress='gzip'`` and ``compress=False`` (plain files).
They are read back with the blocking ``aiovolume.CloudVolume`` and with the async ``aiovolume.Volume``.
"""

from __future__ import annotations

import os

import numpy as np
import pytest

import aiovolume
from aiovolume import Bbox, Options
from interop_helpers import make_data, assert_exact, grid_names, slices, local

cloudvolume = pytest.importorskip("cloudvolume")

pytestmark = pytest.mark.interop

DTYPES = ["uint8", "uint16", "uint32", "uint64", "int16", "float32", "float64"]
COMPRESS = [None, "gzip", False]
COMPRESS_IDS = ["cv_default", "gzip", "plain"]

RES = (4, 4, 40)
OFFSET = (-37, 11, -5)
SIZE = (100, 90, 70)
CHUNK = (32, 32, 32)
FACTOR = (2, 2, 1)
OFFSET1 = tuple(o // f for o, f in zip(OFFSET, FACTOR))        # (-19, 5, -5)
SIZE1 = tuple(-(-s // f) for s, f in zip(SIZE, FACTOR))        # (50, 45, 70)
RES1 = tuple(r * f for r, f in zip(RES, FACTOR))               # (8, 8, 40)

# Non-aligned cutouts at odd offsets that straddle chunk boundaries on every axis
# (mip-0 chunk planes: x -5, 27, 59; y 43, 75; z 27, 59 — mip 1: x 13; y 37; z 27, 59).
CUT0 = ((-30, 41), (17, 88), (-2, 61))
CUT1 = ((-17, 24), (7, 49), (1, 62))


# -- helpers ---------------------------------------------------------------------------------
class Written:
    def __init__(self, path, layer_dir, data0, data1):
        self.path, self.layer_dir, self.data0, self.data1 = path, layer_dir, data0, data1


@pytest.fixture(scope="module")
def cv_written(tmp_path_factory):
    """``get(dtype, channels, compress)`` -> a layer written by CloudVolume (cached per module)."""
    cache = {}

    def get(dtype, channels, compress):
        k = (dtype, channels, compress)
        if k not in cache:
            layer = tmp_path_factory.mktemp("cv_written") / "layer"
            path = f"file://{layer}"
            info = cloudvolume.CloudVolume.create_new_info(
                num_channels=channels, layer_type="image", data_type=dtype, encoding="raw",
                resolution=list(RES), voxel_offset=list(OFFSET), volume_size=list(SIZE), chunk_size=list(CHUNK),
            )
            cv = cloudvolume.CloudVolume(path, info=info, compress=compress, progress=False)
            cv.add_scale(FACTOR)
            cv.commit_info()
            data0 = make_data((*SIZE, channels), dtype, seed=11)
            data1 = make_data((*SIZE1, channels), dtype, seed=12)
            cv[slices(OFFSET, SIZE)] = data0
            cv1 = cloudvolume.CloudVolume(path, mip=1, compress=compress, progress=False)
            cv1[slices(OFFSET1, SIZE1)] = data1
            # what CloudVolume put on disk: gzip -> `<chunk>.gz`, plain -> `<chunk>`
            suffix = "" if compress is False else ".gz"
            for key, off, size in (("4_4_40", OFFSET, SIZE), ("8_8_40", OFFSET1, SIZE1)):
                assert set(os.listdir(layer / key)) == {n + suffix for n in grid_names(off, size, CHUNK)}
            cache[k] = Written(path, layer, data0, data1)
        return cache[k]

    return get


# The full dtype x channels matrix for CloudVolume's default (gzip for raw) and for plain chunks; an
# explicit compress='gzip' writes the same files as the default, so it gets a smaller sample.
FULL_MATRIX = [(d, c, comp) for d in DTYPES for c in (1, 3) for comp in (None, False)]
FULL_MATRIX += [("uint16", 1, "gzip"), ("float64", 3, "gzip"), ("uint64", 3, "gzip")]
matrix = pytest.mark.parametrize(
    "dtype,channels,compress", FULL_MATRIX,
    ids=[f"{d}-{c}ch-{COMPRESS_IDS[COMPRESS.index(comp)]}" for d, c, comp in FULL_MATRIX],
)


# -- blocking facade --------------------------------------------------------------------------
@matrix
def test_cloudvolume_facade_reads_cloudvolume_volume(cv_written, dtype, channels, compress):
    w = cv_written(dtype, channels, compress)
    with aiovolume.CloudVolume(w.path) as vol:
        assert vol.dtype == np.dtype(dtype)
        assert vol.num_channels == channels
        assert vol.available_mips == [0, 1]
        for mip, off, size, res in ((0, OFFSET, SIZE, RES), (1, OFFSET1, SIZE1, RES1)):
            assert list(vol.mip_bounds(mip).minpt) == list(off)
            assert list(vol.mip_bounds(mip).maxpt) == [o + s for o, s in zip(off, size)]
            assert list(vol.mip_resolution(mip)) == list(res)
            assert list(vol.mip_chunk_size(mip)) == list(CHUNK)
            assert vol.mip_key(mip) == "_".join(map(str, res))

        assert_exact(vol[slices(OFFSET, SIZE)], w.data0)
        assert_exact(vol[tuple(slice(a, b) for a, b in CUT0)], local(w.data0, OFFSET, CUT0))
        assert_exact(vol.download(Bbox(OFFSET1, [o + s for o, s in zip(OFFSET1, SIZE1)]), mip=1), w.data1)

    with aiovolume.CloudVolume(w.path, mip=1) as vol1:
        assert_exact(vol1[tuple(slice(a, b) for a, b in CUT1)], local(w.data1, OFFSET1, CUT1))


# -- async Volume -----------------------------------------------------------------------------
@matrix
async def test_async_volume_reads_cloudvolume_volume(cv_written, dtype, channels, compress):
    w = cv_written(dtype, channels, compress)
    async with aiovolume.Volume(w.path) as vol:
        full = await vol.download(Bbox(OFFSET, [o + s for o, s in zip(OFFSET, SIZE)]))
        assert_exact(full, w.data0)
        assert list(full.bounds.minpt) == list(OFFSET)
        cut = await vol.download(np.s_[CUT0[0][0]:CUT0[0][1], CUT0[1][0]:CUT0[1][1], CUT0[2][0]:CUT0[2][1]])
        assert_exact(cut, local(w.data0, OFFSET, CUT0))
        cut1 = await vol.download(Bbox(*zip(*CUT1)), mip=1)
        assert_exact(cut1, local(w.data1, OFFSET1, CUT1))


@pytest.mark.parametrize("compress", COMPRESS, ids=COMPRESS_IDS)
async def test_async_volume_thread_decoding_reads_cloudvolume_volume(cv_written, compress):
    """The in-thread decode path (decode_workers=0) decodes CloudVolume's chunks identically."""
    w = cv_written("float32", 3, compress)
    async with aiovolume.Volume(w.path, mip=1, options=Options(decode_workers=0)) as vol:
        assert_exact(await vol.download(Bbox(OFFSET1, [o + s for o, s in zip(OFFSET1, SIZE1)])), w.data1)
        assert_exact(await vol.download(Bbox(*zip(*CUT1))), local(w.data1, OFFSET1, CUT1))


# -- aiovolume on CloudVolume's data, checked by CloudVolume ---------------------------------------
def _fresh_cv_volume(layer, compress, dtype="float32", channels=3, seed=13):
    path = f"file://{layer}"
    info = cloudvolume.CloudVolume.create_new_info(
        num_channels=channels, layer_type="image", data_type=dtype, encoding="raw",
        resolution=list(RES), voxel_offset=list(OFFSET), volume_size=list(SIZE), chunk_size=list(CHUNK),
    )
    cv = cloudvolume.CloudVolume(path, info=info, compress=compress, progress=False)
    cv.commit_info()
    data = make_data((*SIZE, channels), dtype, seed)
    cv[slices(OFFSET, SIZE)] = data
    return path, data


@pytest.mark.parametrize(
    "cv_compress,our_compress", [(None, None), (False, False), (None, False), (False, None)],
    ids=["gz_gz", "plain_plain", "gz_then_plain", "plain_then_gz"],
)
def test_non_aligned_write_into_cloudvolume_volume(tmp_path, cv_compress, our_compress):
    """Read-modify-write of CloudVolume's edge chunks; CloudVolume then sees exactly the patched volume,
    whichever chunk spelling (`x` or `x.gz`) each side used."""
    layer = tmp_path / "layer"
    path, data = _fresh_cv_volume(layer, cv_compress)
    patch = make_data((*(b - a for a, b in CUT0), 3), "float32", seed=14)
    with aiovolume.CloudVolume(path, non_aligned_writes=True, compress=our_compress) as vol:
        vol[tuple(slice(a, b) for a, b in CUT0)] = patch
    expected = data.copy()
    expected[tuple(slice(a - o, b - o) for (a, b), o in zip(CUT0, OFFSET))] = patch

    # every chunk has exactly one spelling on disk: no stale sibling for anyone to read
    files = os.listdir(layer / "4_4_40")
    stems = {f[:-3] if f.endswith(".gz") else f for f in files}
    assert len(stems) == len(files) == len(grid_names(OFFSET, SIZE, CHUNK))
    assert_exact(cloudvolume.CloudVolume(path, progress=False)[slices(OFFSET, SIZE)], expected)
    with aiovolume.CloudVolume(path) as vol:
        assert_exact(vol[slices(OFFSET, SIZE)], expected)


@pytest.mark.parametrize("compress", [None, False], ids=["gz", "plain"])
def test_exists_and_delete_agree_with_cloudvolume(tmp_path, compress):
    layer = tmp_path / "layer"
    path, data = _fresh_cv_volume(layer, compress, dtype="uint16", channels=1)
    cv = cloudvolume.CloudVolume(path, progress=False)
    with aiovolume.CloudVolume(path) as vol:
        region = [(-30, 41), (17, 88), (-2, 61)]
        ours = vol.exists(Bbox(*zip(*region)))
        theirs = cv.exists(cloudvolume.Bbox(*zip(*region)))
        assert ours == theirs
        assert len(ours) == 3 * 3 * 3 and all(ours.values())

        # delete one interior chunk: x [-5,27) y [43,75) z [27,59)
        gone = Bbox((-5, 43, 27), (27, 75, 59))
        vol.delete(gone)
        key = "4_4_40/-5-27_43-75_27-59"
        assert vol.exists(gone) == {key: False}
        assert cv.exists(cloudvolume.Bbox((-5, 43, 27), (27, 75, 59))) == {key: False}
    with pytest.raises(cloudvolume.exceptions.EmptyVolumeException):
        cv[-5:27, 43:75, 27:59]
    expected = data.copy()
    expected[32:64, 32:64, 32:64] = 0
    cv_fill = cloudvolume.CloudVolume(path, progress=False, fill_missing=True)
    assert_exact(cv_fill[slices(OFFSET, SIZE)], expected)


@pytest.mark.parametrize(
    "kwargs,key",
    [
        ({}, np.s_[-37:63:3, 11:101:2, -5:65:5]),                     # strided
        ({}, np.s_[-30:41, 17:88, -2:61, 1:3]),                        # channel range
        ({}, np.s_[-30:41, 17:88, -2:61, 2]),                          # one channel
        ({}, np.s_[0, 17:88, -2:61]),                                  # an integer index
        ({}, np.s_[...]),                                              # the whole scale
        ({}, np.s_[:, :, 3:9]),                                        # open slices
        ({"bounded": False, "background_color": 7}, np.s_[-50:10, 0:20, -10:3]),  # outside filled
    ],
    ids=["strided", "channels", "channel", "int_index", "ellipsis", "open", "unbounded"],
)
def test_cutouts_match_cloudvolume_cutouts(cv_written, kwargs, key):
    """The same request, same options, on the same data: CloudVolume's and our answers are identical."""
    w = cv_written("uint16", 3, None)
    theirs = np.asarray(cloudvolume.CloudVolume(w.path, progress=False, **kwargs)[key])
    with aiovolume.CloudVolume(w.path, **kwargs) as vol:
        ours = vol[key]
    assert ours.ndim == 4
    assert_exact(ours, theirs)


def test_out_of_bounds_read_raises_like_cloudvolume(cv_written):
    from aiovolume.exceptions import OutOfBoundsError

    w = cv_written("uint16", 3, None)
    with pytest.raises(cloudvolume.exceptions.OutOfBoundsError):
        cloudvolume.CloudVolume(w.path, progress=False)[-50:10, 0:20, -10:3]
    with aiovolume.CloudVolume(w.path) as vol, pytest.raises(OutOfBoundsError):
        vol[-50:10, 0:20, -10:3]
