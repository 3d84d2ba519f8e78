"""CloudVolume's extra download arguments and data methods, against the real cloud-volume 12.15.2.

One segmentation layer is written by CloudVolume (gzip chunks, edge chunks, one chunk deleted)
and read by both libraries: ``download(segids=, preserve_zeros=, renumber=, label=,
coord_resolution=)``, ``unique``, ``scattered_points``, ``vol[[x..], [y..], [z..]]`` and
``download_files``. Where CloudVolume is wrong (it appends 0 to the caller's ``segids``, ignores
``decompress=False``) the test says so and checks our behaviour instead.
"""

from __future__ import annotations

import gzip

import numpy as np
import pytest

from aiovolume import Bbox, CloudVolume, Volume
from aiovolume.exceptions import OutOfBoundsError, SubvoxelVolumeError

cloudvolume = pytest.importorskip("cloudvolume")

RES = (4, 4, 40)
OFFSET = (3, 5, 7)
SIZE = (70, 60, 20)
CHUNK = (32, 32, 8)
LABELS = np.array([0, 7, 1000, 65535, 70000, 2**31 + 5], dtype=np.uint32)
# the chunk that is deleted after writing (reads see it as missing)
HOLE = Bbox((35, 37, 15), (67, 65, 23))


def _data() -> np.ndarray:
    rng = np.random.default_rng(12)
    return LABELS[rng.integers(0, len(LABELS), size=(*SIZE, 1))]


@pytest.fixture
def layer(tmp_path):
    """(url, data with the hole as 0) of a CloudVolume-written uint32 segmentation layer."""
    url = "file://" + str(tmp_path / "seg")
    info = cloudvolume.CloudVolume.create_new_info(
        1, "segmentation", "uint32", "raw", list(RES), list(OFFSET), list(SIZE), chunk_size=list(CHUNK))
    cv = cloudvolume.CloudVolume(url, info=info, parallel=1, progress=False)
    cv.commit_info()
    data = _data()
    cv[:, :, :] = data
    cv.delete(_cvbox(HOLE))
    lo, hi = HOLE.minpt - OFFSET, HOLE.maxpt - OFFSET
    data[lo[0]:hi[0], lo[1]:hi[1], lo[2]:hi[2]] = 0
    return url, data


def _cvbox(box):
    return cloudvolume.Bbox(box.minpt.tolist(), box.maxpt.tolist())


def _cv(url, **kw):
    return cloudvolume.CloudVolume(url, parallel=1, progress=False, fill_missing=True, **kw)


def _ours(url, **kw):
    return CloudVolume(url, fill_missing=True, **kw)


# -- segids / preserve_zeros ---------------------------------------------------------------
@pytest.mark.interop
@pytest.mark.parametrize("preserve_zeros", [False, True])
def test_segids_match_cloudvolume_and_leave_the_list_alone(layer, preserve_zeros):
    url, data = layer
    box = Bbox((10, 12, 9), (60, 50, 25))
    theirs_ids, ours_ids = [7, 70000], [7, 70000]
    theirs = _cv(url).download(_cvbox(box), segids=theirs_ids, preserve_zeros=preserve_zeros)
    ours = _ours(url).download(box, segids=ours_ids, preserve_zeros=preserve_zeros)
    assert ours.dtype == theirs.dtype == np.uint32
    np.testing.assert_array_equal(np.asarray(ours), np.asarray(theirs))
    assert ours_ids == [7, 70000]  # CloudVolume appends 0 to the caller's list with preserve_zeros
    assert theirs_ids == ([7, 70000, 0] if preserve_zeros else [7, 70000])
    masked = np.asarray(ours)
    kept = np.isin(_crop(data, box), [7, 70000] + ([0] if preserve_zeros else []))
    assert np.all(masked[kept] == _crop(data, box)[kept])
    assert np.all(masked[~kept] == (np.iinfo(np.uint32).max if preserve_zeros else 0))
    assert ours.bounds == box


def _crop(data, box):
    lo, hi = np.asarray(box.minpt) - OFFSET, np.asarray(box.maxpt) - OFFSET
    return data[lo[0]:hi[0], lo[1]:hi[1], lo[2]:hi[2]]


def test_segids_tuple_and_empty_list(layer):
    url, data = layer
    vol = _ours(url)
    box = Bbox((3, 5, 7), (40, 40, 15))
    got = vol.download(box, segids=(1000,))
    assert set(np.unique(got).tolist()) <= {0, 1000}
    assert np.array_equal(np.asarray(got) == 1000, _crop(data, box) == 1000)
    assert not np.asarray(vol.download(box, segids=[])).any()  # nothing kept


# -- renumber ------------------------------------------------------------------------------
@pytest.mark.interop
def test_renumber_matches_cloudvolume_up_to_label_order(layer):
    url, data = layer
    box = Bbox((3, 5, 7), (67, 65, 15))  # fully written (CloudVolume's renumber fails on missing chunks)
    theirs, their_map = _cv(url).download(_cvbox(box), renumber=True)
    ours, our_map = _ours(url).download(box, renumber=True)
    assert ours.dtype == theirs.dtype == np.uint16
    assert set(our_map) == set(their_map)  # same original labels (0 always included)
    assert our_map[0] == their_map[0] == 0
    assert sorted(our_map.values()) == list(range(len(our_map)))  # compact: 0, 1, ..., n-1
    # the mapping goes original -> new and inverts exactly
    inverse = {new: old for old, new in our_map.items()}
    restored = np.vectorize(inverse.__getitem__, otypes=[np.uint32])(np.asarray(ours))
    np.testing.assert_array_equal(restored, _crop(data, box))
    # and both images label the same voxels alike
    theirs_back = np.vectorize({n: o for o, n in their_map.items()}.__getitem__, otypes=[np.uint32])(np.asarray(theirs))
    np.testing.assert_array_equal(restored, theirs_back)


def test_renumber_with_missing_chunks_and_segids(layer):
    url, data = layer
    vol = _ours(url)
    img, mapping = vol.download(vol.bounds, segids=[70000, 2**31 + 5], renumber=True)
    assert mapping == {0: 0, 70000: 1, 2**31 + 5: 2}  # masked before renumbering, ascending
    expected = np.select([data == 70000, data == 2**31 + 5], [1, 2], 0)
    np.testing.assert_array_equal(np.asarray(img), expected)
    assert img.dtype == np.uint16


# -- label -----------------------------------------------------------------------------------
@pytest.mark.interop
def test_label_matches_cloudvolume(layer):
    url, data = layer
    box = Bbox((3, 5, 7), (67, 65, 27))
    theirs = _cv(url).download(_cvbox(box), label=1000)
    ours = _ours(url).download(box, label=1000)
    assert ours.dtype == theirs.dtype == bool
    np.testing.assert_array_equal(np.asarray(ours), np.asarray(theirs))
    np.testing.assert_array_equal(np.asarray(ours), _crop(data, box) == 1000)


def test_label_with_renumber_stays_boolean(layer):
    url, _ = layer
    img, mapping = _ours(url).download(Bbox((3, 5, 7), (30, 30, 15)), label=7, renumber=True)
    assert img.dtype == bool and mapping == {0: 0, 1: 1}


# -- coord_resolution ----------------------------------------------------------------------
@pytest.mark.interop
def test_coord_resolution_matches_cloudvolume(layer):
    url, data = layer
    box = np.s_[8:121, 12:110, 7:25]  # voxels of (2, 2, 40): x and y halve
    theirs = _cv(url).download(box, coord_resolution=[2, 2, 40])
    ours = _ours(url).download(box, coord_resolution=[2, 2, 40])
    np.testing.assert_array_equal(np.asarray(ours), np.asarray(theirs))
    assert ours.bounds == Bbox((4, 6, 7), (60, 55, 25))
    np.testing.assert_array_equal(np.asarray(ours), _crop(data, ours.bounds))
    assert _ours(url).unique(box, coord_resolution=[2, 2, 40]) == set(np.unique(np.asarray(ours)).tolist())


@pytest.mark.interop
def test_coord_resolution_out_of_bounds_and_subvoxel(layer):
    url, _ = layer
    with pytest.raises(cloudvolume.exceptions.OutOfBoundsError):
        _cv(url).download(np.s_[0:20, 10:20, 7:10], coord_resolution=[2, 2, 40])
    with pytest.raises(OutOfBoundsError, match="not inside the bounds"):
        _ours(url).download(np.s_[0:20, 10:20, 7:10], coord_resolution=[2, 2, 40])
    with pytest.raises(SubvoxelVolumeError):
        _ours(url).download(np.s_[8:9, 12:20, 7:10], coord_resolution=[2, 2, 40])


# -- unique ----------------------------------------------------------------------------------
@pytest.mark.interop
def test_unique_matches_cloudvolume(layer):
    url, data = layer
    for box in (Bbox((3, 5, 7), (73, 65, 27)), Bbox((10, 10, 10), (20, 20, 12)), HOLE):
        theirs = _cv(url).unique(_cvbox(box))
        ours = _ours(url).unique(box)
        assert isinstance(ours, set)
        assert ours == {int(v) for v in theirs} == set(np.unique(_crop(data, box)).tolist())
    assert all(type(v) is int for v in ours)


# -- scattered points and coordinate indexing ------------------------------------------------
@pytest.mark.interop
def test_scattered_points_match_cloudvolume(layer):
    url, data = layer
    pts = [(3, 5, 7), (72, 64, 26), (40, 40, 20), (40, 40, 20), (10, 60, 8), (36, 38, 16)]
    theirs = _cv(url).scattered_points(pts)
    ours = _ours(url).scattered_points(pts)
    assert {tuple(int(v) for v in k): int(v) for k, v in theirs.items()} == ours
    assert ours == {p: int(data[tuple(np.subtract(p, OFFSET))][0]) for p in pts}
    assert ours[(36, 38, 16)] == 0  # in the deleted chunk: background
    half = _ours(url).scattered_points([(12, 20, 9)], coord_resolution=[2, 2, 40])
    assert half == {(6, 10, 9): int(data[3, 5, 2, 0])}
    assert _ours(url).scattered_points((20, 21, 22)) == {(20, 21, 22): int(data[17, 16, 15, 0])}


@pytest.mark.interop
def test_coordinate_indexing_matches_cloudvolume(layer):
    url, data = layer
    xs, ys, zs = [3, 50, 72], [5, 33, 64], np.array([7, 18, 26])
    theirs = _cv(url)[xs, ys, zs]
    ours = _ours(url)[xs, ys, zs]
    assert ours.dtype == np.uint32 and ours.shape == (3,)
    np.testing.assert_array_equal(ours, theirs)
    np.testing.assert_array_equal(ours, [data[x - 3, y - 5, z - 7, 0] for x, y, z in zip(xs, ys, zs)])


async def test_download_points_reads_each_chunk_once(layer):
    url, data = layer
    async with Volume(url, fill_missing=True) as vol:
        pts = [(x, y, 10) for x in range(3, 35) for y in range(5, 9)]  # all in one chunk
        got = await vol.download_points(pts)
        assert got == {p: data[p[0] - 3, p[1] - 5, 3, 0] for p in pts}
        assert await vol.download_points([]) == {}
        with pytest.raises(OutOfBoundsError):
            await vol.download_points([(0, 0, 0)])


# -- download_files ----------------------------------------------------------------------------
@pytest.mark.interop
def test_download_files_match_cloudvolume(layer):
    url, _ = layer
    box = Bbox((20, 20, 10), (50, 50, 20))
    theirs = _cv(url).download_files(_cvbox(box))
    ours = _ours(url).download_files(box)
    assert set(ours) == set(theirs) and "4_4_40/35-67_37-65_15-23" in ours
    assert ours == theirs  # gunzipped bytes; None for the missing chunk
    assert ours["4_4_40/35-67_37-65_15-23"] is None
    # CloudVolume ignores decompress=False; we return the stored (gzip) bytes
    stored = _ours(url).download_files(box, decompress=False)
    for key, raw in stored.items():
        assert (raw is None) == (ours[key] is None)
        if raw is not None:
            assert raw[:2] == b"\x1f\x8b" and gzip.decompress(raw) == ours[key]
    assert _ours(url).download_files(box, cache_only=True) == {}


def test_download_files_with_segids_reencodes_masked_chunks(layer):
    url, data = layer
    vol = _ours(url)
    box = Bbox((3, 5, 7), (35, 37, 15))
    (key, raw), = vol.download_files(box, segids=[1000], decompress=False).items()
    chunk = np.frombuffer(gzip.decompress(raw), dtype=np.uint32).reshape((32, 32, 8, 1), order="F")
    expected = np.where(_crop(data, box) == 1000, 1000, 0)
    np.testing.assert_array_equal(chunk, expected)
    assert key == "4_4_40/3-35_5-37_7-15"


# -- above mip 0 -----------------------------------------------------------------------------
@pytest.mark.interop
def test_scattered_points_and_unique_at_mip_1(tmp_path):
    url = "file://" + str(tmp_path / "two")
    info = cloudvolume.CloudVolume.create_new_info(
        1, "segmentation", "uint64", "raw", list(RES), [0, 0, 0], [128, 128, 16], chunk_size=[32, 32, 8])
    cv = cloudvolume.CloudVolume(url, info=info, parallel=1, progress=False)
    cv.add_scale((2, 2, 1), chunk_size=[32, 32, 8])
    cv.commit_info()
    mip1 = np.random.default_rng(5).integers(0, 2**40, size=(64, 64, 16, 1), dtype=np.uint64)
    cloudvolume.CloudVolume(url, mip=1, parallel=1, progress=False)[:, :, :] = mip1
    pts = [(0, 0, 0), (127, 127, 15), (50, 70, 3), (51, 71, 3)]  # mip-0 coordinates
    theirs = _cv(url).scattered_points(pts, mip=1)
    ours = _ours(url).scattered_points(pts, mip=1)
    assert {tuple(int(v) for v in k): int(v) for k, v in theirs.items()} == ours
    assert ours == {(x // 2, y // 2, z): int(mip1[x // 2, y // 2, z, 0]) for x, y, z in pts}
    assert len(ours) == 3  # (50, 70) and (51, 71) are one voxel at mip 1
    vol = _ours(url, mip=1)
    assert vol.unique(np.s_[0:40, 0:40, 0:9]) == {int(v) for v in _cv(url, mip=1).unique(np.s_[0:40, 0:40, 0:9])}
    # vol[xs, ys, zs] takes voxels of the current mip (cloud-volume converts from mip 0, then fails)
    np.testing.assert_array_equal(vol[[1, 63], [2, 60], [3, 15]], [mip1[1, 2, 3, 0], mip1[63, 60, 15, 0]])
