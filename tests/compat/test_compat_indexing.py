"""``vol[...]`` and the region argument of download/upload/exists/delete, key by key as CloudVolume.

The interop tables run every key through the real CloudVolume 12.15.2 and aiovolume on the same
``file://`` layer and compare values, shapes and dtypes; the rest are the keys we refuse (with a
typed error) and the one place where we deliberately differ (boxes in units other than nm, whose
conversion CloudVolume gets wrong).
"""

from __future__ import annotations

import numpy as np
import pytest

import aiovolume
from aiovolume import Bbox, Volume
from aiovolume.exceptions import DimensionError, IndexTypeError, OutOfBoundsError
from aiovolume.geometry import coerce_key, normalize_slices, voxel_bbox
from volume_helpers import make_info, random_volume

cloudvolume = pytest.importorskip("cloudvolume")
from cloudvolume.lib import Bbox as CVBbox  # noqa: E402

# An offset with a negative axis, a size that is not a multiple of the chunk, three channels.
OFFSET = (3, -4, 2)
SIZE = (40, 30, 20)
CHUNK = (8, 8, 4)
RES = (4, 4, 40)
CHANNELS = 3


def _info(channels: int) -> dict:
    return make_info("uint16", channels, size=SIZE, offset=OFFSET, chunk=CHUNK)


@pytest.fixture(scope="module")
def layer(tmp_path_factory):
    """A written 3-channel layer: ``(url, data)`` with ``data`` in (x, y, z, c) order."""
    url = "file://" + str(tmp_path_factory.mktemp("idx") / "layer")
    data = random_volume((*SIZE, CHANNELS), "uint16", seed=7)
    with aiovolume.CloudVolume(url, info=_info(CHANNELS)) as vol:
        vol.commit_info()
        vol[...] = data
    return url, data


@pytest.fixture(scope="module")
def vols(layer):
    url, _ = layer
    ours = aiovolume.CloudVolume(url)
    theirs = cloudvolume.CloudVolume(url, parallel=1, progress=False)
    yield ours, theirs
    ours.close()


# (id, key): every form CloudVolume's __getitem__ accepts, on the layer above
GET_KEYS = [
    ("slices", np.s_[5:15, -2:9, 4:10]),
    ("numpy ints in slices", np.s_[np.int32(5):np.int64(15), np.int16(-2):np.uint8(9), np.int8(4):10]),
    ("whole floats in slices", np.s_[np.float32(5.0):np.float64(15.0), 0.0:3.0, np.float16(4):np.float16(6)]),
    ("float16 scalar", np.float16(5.0)),
    ("float scalar", 6.0),
    ("numpy int scalar", np.int64(7)),
    ("int scalar", 8),
    ("int per axis", np.s_[5, -1, 3]),
    ("numpy scalars per axis", np.s_[np.uint16(5), np.float32(-1.0), np.int32(3)]),
    ("list of slices", [slice(5, 15), slice(-2, 9), slice(4, 10)]),
    ("list of slices and ints", [slice(5, 15), 0, slice(4, 10), 2]),
    ("tuple of slices", (slice(5, 15), slice(-2, 9), slice(4, 10))),
    ("ellipsis alone", Ellipsis),
    ("ellipsis then channel", np.s_[..., 0]),
    ("ellipsis then channel slice", np.s_[..., 1:3]),
    ("x then ellipsis", np.s_[10:12, ...]),
    ("ellipsis in the middle", np.s_[10:12, ..., 5:7, 2]),
    ("ellipsis in a list", [slice(10, 12), Ellipsis, slice(0, 2)]),
    ("open ends", np.s_[:7, 20:, :]),
    ("steps", np.s_[4:30:3, ::2, 2:20:4]),
    ("step of one, numpy", np.s_[4:30:np.int64(1), :, :]),
    ("4-D channel slice", np.s_[5:10, 0:5, 3:8, 1:3]),
    ("4-D channel int", np.s_[5:10, 0:5, 3:8, 2]),
    ("whole float channel", np.s_[5:10, 0:5, 3:8, np.float64(1.0)]),
    ("the whole volume as slices", np.s_[3:43, -4:26, 2:22]),
]


def _cv_read(theirs, key):
    """``theirs[key]`` as an (x, y, z, c) array. CloudVolume 12.15 returns a single voxel of a
    multi-channel layer as (c, 1, 1, 1) (its single-voxel fast path); aiovolume keeps (1, 1, 1, c)."""
    img = np.asarray(theirs[key])
    if img.shape == (CHANNELS, 1, 1, 1):
        return img.reshape(1, 1, 1, CHANNELS)
    return img


@pytest.mark.interop
def test_single_voxel_keeps_xyzc_order_where_cloudvolume_does_not(vols):
    ours, theirs = vols
    assert np.asarray(theirs[5, -1, 3]).shape == (3, 1, 1, 1)  # CloudVolume's quirk, see _cv_read
    got = ours[5, -1, 3]
    assert got.shape == (1, 1, 1, 3)
    np.testing.assert_array_equal(np.asarray(got).ravel(), np.asarray(theirs[5:6, -1:0, 3:4]).ravel())


@pytest.mark.interop
@pytest.mark.parametrize("key", [k for _, k in GET_KEYS], ids=[i for i, _ in GET_KEYS])
def test_getitem_matches_cloudvolume(vols, key):
    ours, theirs = vols
    expected = _cv_read(theirs, key)
    got = ours[key]
    assert isinstance(got, aiovolume.VolumeCutout)
    assert got.shape == expected.shape and got.dtype == expected.dtype
    np.testing.assert_array_equal(np.asarray(got), expected)


def _cv_boxes():
    return [
        ("cloudvolume Bbox", CVBbox((5, -2, 4), (15, 9, 10))),
        ("cloudvolume Bbox, int64", CVBbox((5, -2, 4), (15, 9, 10), dtype=np.int64)),
        ("cloudvolume Bbox, whole floats", CVBbox((5.0, -2.0, 4.0), (15.0, 9.0, 10.0))),
        # nm: corners floored by the resolution (4, 4, 40) -> (5, -2, 4)-(15, 9, 10)
        ("cloudvolume Bbox in nm", CVBbox((20, -8, 160), (60, 36, 400), unit="nm")),
        ("cloudvolume Bbox in nm, between voxels", CVBbox((21, -7, 170), (63.5, 39, 439), unit="nm")),
        ("our Bbox", Bbox((5, -2, 4), (15, 9, 10))),
    ]


@pytest.mark.interop
@pytest.mark.parametrize("index", range(6), ids=[i for i, _ in _cv_boxes()])
def test_bbox_keys_match_cloudvolume(vols, index):
    """A box indexes the same voxels, all channels, in ``vol[box]`` and ``vol.download(box)``."""
    ours, theirs = vols
    _, box = _cv_boxes()[index]
    cv_box = box if isinstance(box, CVBbox) else CVBbox(box.minpt, box.maxpt)
    expected = np.asarray(theirs[cv_box])
    assert expected.shape == (10, 11, 6, CHANNELS)
    for got in (ours[box], ours.download(box)):
        assert got.shape == expected.shape and got.dtype == expected.dtype
        np.testing.assert_array_equal(np.asarray(got), expected)
    np.testing.assert_array_equal(np.asarray(theirs.download(cv_box)), expected)


@pytest.mark.interop
@pytest.mark.parametrize(
    "key",
    [[5, -2, 4, 15, 9, 10], (5, -2, 4, 15, 9, 10), [slice(5, 15), slice(-2, 9), slice(4, 10)],
     np.s_[5:15, -2:9, 4:10], {"minpt": [5, -2, 4], "maxpt": [15, 9, 10]}, "5-15_-2-9_4-10"],
    ids=["6-list", "6-tuple", "list of slices", "slices", "dict", "chunk name"],
)
def test_download_region_forms_match_cloudvolume(vols, key):
    ours, theirs = vols
    expected = np.asarray(theirs.download(key))
    got = ours.download(key)
    assert got.shape == expected.shape == (10, 11, 6, CHANNELS)
    np.testing.assert_array_equal(np.asarray(got), expected)


@pytest.mark.interop
@pytest.mark.parametrize("key", [np.s_[5:15:-1], np.s_[:, 9:2:-2], np.s_[..., ::-1]], ids=["x", "y", "channel"])
def test_negative_steps_are_refused_by_both(vols, key):
    ours, theirs = vols
    with pytest.raises(ValueError):
        theirs[key]
    with pytest.raises(DimensionError, match="negative steps are not supported"):
        ours[key]


@pytest.mark.interop
@pytest.mark.parametrize("key", [np.s_[2:5], np.s_[:, :, 0:3], np.s_[..., 0:4]], ids=["x", "z", "channel"])
def test_out_of_bounds_keys_are_refused_by_both(vols, key):
    ours, theirs = vols
    with pytest.raises(ValueError):
        theirs[key]
    with pytest.raises(OutOfBoundsError):
        ours[key]


# -- writes: the same key through both, then the whole layers must be equal ---------------------
SET_KEYS = [
    ("slices", np.s_[11:27, 4:20, 6:14]),
    ("numpy ints and whole floats", np.s_[np.int32(11):np.float32(27.0), np.float64(4):np.int64(20), 6:14]),
    ("list of slices", [slice(11, 27), slice(4, 20), slice(6, 14)]),
    ("4-D, every channel", np.s_[11:27, 4:20, 6:14, 0:3]),
    ("ellipsis", Ellipsis),
    ("cloudvolume Bbox", CVBbox((11, 4, 6), (27, 20, 14))),
]


@pytest.mark.interop
@pytest.mark.parametrize("key", [k for _, k in SET_KEYS], ids=[i for i, _ in SET_KEYS])
def test_setitem_matches_cloudvolume(tmp_path, key):
    ours_url, cv_url = (f"file://{tmp_path / name}" for name in ("ours", "theirs"))
    for url in (ours_url, cv_url):
        with aiovolume.CloudVolume(url, info=_info(CHANNELS)) as vol:
            vol.commit_info()
            vol[...] = np.zeros((*SIZE, CHANNELS), np.uint16)
    theirs = cloudvolume.CloudVolume(cv_url, parallel=1, progress=False)
    shape = np.asarray(theirs[key]).shape  # the shape CloudVolume expects for this key
    patch = random_volume(shape, "uint16", seed=3)
    theirs[key] = patch
    with aiovolume.CloudVolume(ours_url) as ours:
        ours[key] = patch
    expected = np.asarray(theirs[...])
    assert np.count_nonzero(expected) > 0
    with aiovolume.CloudVolume(ours_url) as ours:
        np.testing.assert_array_equal(np.asarray(ours[...]), expected)


def test_setitem_with_a_bbox_in_nm_writes_the_voxels_it_names(tmp_path):
    """CloudVolume 12.15's ``__setitem__`` ignores a box's unit (it tests ``isinstance(slice, Bbox)``)
    and writes nanometres as voxels; aiovolume converts, as its ``__getitem__`` does."""
    url = f"file://{tmp_path / 'layer'}"
    with aiovolume.CloudVolume(url, info=_info(1)) as vol:
        vol.commit_info()
        vol[...] = np.zeros(SIZE, np.uint16)
        patch = random_volume((16, 16, 8), "uint16", seed=4)
        vol[CVBbox((44, 16, 240), (108, 80, 560), unit="nm")] = patch  # = (11, 4, 6)-(27, 20, 14) vx
        whole = np.asarray(vol[...])[..., 0]
    expected = np.zeros(SIZE, np.uint16)
    expected[8:24, 8:24, 4:12] = patch
    np.testing.assert_array_equal(whole, expected)


async def test_volume_methods_take_every_key_form(layer, tmp_path):
    """The async core: download, exists, upload and delete read a key as ``vol[...]`` does."""
    url, data = layer
    local = data[2:12, 2:13, 2:8]  # (5, -2, 4)-(15, 9, 10) in global voxels
    async with Volume(url) as vol:
        for key in (CVBbox((20, -8, 160), (60, 36, 400), unit="nm"), CVBbox((5, -2, 4), (15, 9, 10)),
                    [slice(5, 15), slice(-2, 9), slice(4, 10)], np.s_[np.float32(5):15, -2:9, 4:10]):
            np.testing.assert_array_equal(np.asarray(await vol.download(key)), local)
        aligned = Bbox((11, 4, 6), (19, 12, 10))  # exactly one chunk
        found = await vol.exists(CVBbox(aligned.minpt, aligned.maxpt))
        assert found == await vol.exists(aligned) and len(found) == 1 and all(found.values())
    copy = f"file://{tmp_path / 'copy'}"
    async with Volume(copy, info=_info(CHANNELS)) as vol:
        await vol.commit_info()
        patch = random_volume((8, 8, 4, CHANNELS), "uint16", seed=5)
        await vol.upload(CVBbox((44, 16, 240), (76, 48, 400), unit="nm"), patch)  # (11, 4, 6)-(19, 12, 10)
        np.testing.assert_array_equal(np.asarray(await vol.download([slice(11, 19), slice(4, 12), slice(6, 10)])), patch)
        await vol.delete([slice(11, 19), slice(4, 12), slice(6, 10)])
        assert await vol.exists(aligned) == {k: False for k in found}


# -- what we refuse, and how ---------------------------------------------------------------------
BOUNDS = Bbox(OFFSET, np.add(OFFSET, SIZE))


@pytest.mark.parametrize(
    "key, error, message",
    [
        (np.float16(5.5), IndexTypeError, "5.5"),
        (np.s_[5:15.5], IndexTypeError, "15.5"),
        (np.s_[:, np.float32(0.25)], IndexTypeError, "0.25"),
        (np.s_[:, :, :, 0.5], IndexTypeError, "0.5"),
        (np.s_[..., 1, ...], DimensionError, "Ellipsis"),
        (np.s_[5:15:-1], DimensionError, "negative steps are not supported"),
        (np.s_[:, :, :, ::-1], DimensionError, "negative steps are not supported"),
        ([[5, 6], [0, 1], [3, 4]], IndexTypeError, "integer"),  # point indexing is not a slice key
        (np.s_[:, [0, 1]], IndexTypeError, "integer"),
        (CVBbox((0, 0, 0), (40, 40, 40), unit="nm"), IndexTypeError, "resolution"),
        (np.s_[True], IndexTypeError, "boolean"),
    ],
    ids=["float16 5.5", "float stop", "float32 index", "float channel", "two ellipses", "negative step",
         "negative channel step", "list of lists", "list in a tuple", "nm box, no resolution", "bool"],
)
def test_refused_keys(key, error, message):
    with pytest.raises(error, match=message):
        normalize_slices(key, BOUNDS, CHANNELS)


def test_refused_keys_through_the_facade(vols):
    ours, _ = vols
    with pytest.raises(IndexTypeError, match="5.5"):
        ours[np.float16(5.5)]
    with pytest.raises(IndexTypeError, match="unknown bbox unit 'furlong'"):
        ours[CVBbox((0, 0, 0), (4, 4, 4), unit="furlong")]
    with pytest.raises(DimensionError, match="every channel"):
        ours[5:13, 4:12, 6:10, 0:1] = np.zeros((8, 8, 4, 1), np.uint16)


@pytest.mark.interop
def test_channel_steps_are_honoured_where_cloudvolume_drops_them(vols):
    """CloudVolume 12.15 strips the step of the channel slice in ``__getitem__`` (every channel
    comes back for ``::2``); aiovolume applies it as numpy would."""
    ours, theirs = vols
    key = np.s_[5:10, 0:5, 3:8, ::2]
    assert np.asarray(theirs[key]).shape == (5, 5, 5, 3)
    got = ours[key]
    assert got.shape == (5, 5, 5, 2)
    np.testing.assert_array_equal(np.asarray(got), np.asarray(theirs[5:10, 0:5, 3:8])[..., ::2])


def test_voxel_bbox_converts_every_unit_exactly():
    class Box:  # any object with minpt, maxpt and unit, as cloudvolume.lib.Bbox
        def __init__(self, lo, hi, unit):
            self.minpt, self.maxpt, self.unit = lo, hi, unit

    res = (4, 4, 40)
    assert voxel_bbox(Box((20, -8, 160), (63, 39, 439), "nm"), res) == Bbox((5, -2, 4), (15, 9, 10))
    # CloudVolume 12.15 returns all zeros for um and values 10**6 too large for pm
    assert voxel_bbox(Box((0.02, -0.008, 0.16), (0.06, 0.036, 0.4), "um"), res) == Bbox((5, -2, 4), (15, 9, 10))
    assert voxel_bbox(Box((20_000, -8_000, 160_000), (60_000, 36_000, 400_000), "pm"), res) == Bbox(
        (5, -2, 4), (15, 9, 10)
    )
    assert voxel_bbox(Box((0, 0, 0), (1, 1, 1), "mm"), (4.5, 4, 40)) == Bbox((0, 0, 0), (222222, 250000, 25000))
    assert voxel_bbox(Box((1, 2, 3), (4, 5, 6), "vx")) == Bbox((1, 2, 3), (4, 5, 6))
    assert voxel_bbox(Box(np.float32([0.02, 0, 0]), np.float32([0.06, 1, 1]), "um"), res) == Bbox(
        (5, 0, 0), (15, 250, 25)
    )
    with pytest.raises(IndexTypeError, match="finite"):
        voxel_bbox(Box((0, 0, float("nan")), (1, 1, 1), "nm"), res)
    with pytest.raises(DimensionError):
        voxel_bbox(Box((0, 0, 0), (1, 1, 1), "nm"), (4, 4))
    with pytest.raises(DimensionError):
        voxel_bbox(Box((0, 0, 0), (1, 1, 1), "nm"), (4, 0, 4))


@pytest.mark.interop
def test_nm_conversion_agrees_with_cloudvolume_convert_units():
    for lo, hi in [((20, -8, 160), (63, 39, 439)), ((-5, -9, 0), (40, 42, 400)), ((1.0, 2.5, 3.0), (41.5, 42.0, 401.0))]:
        box = CVBbox(lo, hi, unit="nm")
        theirs = box.convert_units("vx", RES)
        assert voxel_bbox(box, RES) == Bbox(theirs.minpt, theirs.maxpt)


def test_bbox_create_accepts_cloudvolume_boxes_and_autocrop():
    ctx = Bbox((0, 0, 0), (10, 10, 10))
    assert Bbox.create(CVBbox((1, 2, 3), (4, 5, 6))) == Bbox((1, 2, 3), (4, 5, 6))
    assert Bbox.create(CVBbox((4, 8, 120), (16, 20, 240), unit="nm"), resolution=RES) == Bbox((1, 2, 3), (4, 5, 6))
    assert Bbox.create(np.s_[-5:5, 2:20], context=ctx, autocrop=True) == Bbox((0, 2, 0), (5, 10, 10))
    assert Bbox.create(np.s_[-5:5], context=ctx, bounded=True, autocrop=True) == Bbox((0, 0, 0), (5, 10, 10))
    with pytest.raises(OutOfBoundsError):
        Bbox.create(np.s_[-5:5], context=ctx, bounded=True)


def test_coerce_key_forms():
    key = np.s_[1:2, ::2, ..., 0]
    assert coerce_key(key, BOUNDS, RES) is key  # slices keep their steps and channel for normalize_slices
    assert coerce_key([slice(0, 5), 3], BOUNDS, RES) == [slice(0, 5), 3]
    assert coerce_key((5, -2, 4, 15, 9, 10), BOUNDS, RES) == Bbox((5, -2, 4), (15, 9, 10))
    assert coerce_key([np.int64(5), -2, 4, 15, 9, 10], BOUNDS, RES) == Bbox((5, -2, 4), (15, 9, 10))
    assert coerce_key(CVBbox((20, -8, 160), (60, 36, 400), unit="nm"), BOUNDS, RES) == Bbox((5, -2, 4), (15, 9, 10))
    assert coerce_key({"minpt": [1, 2, 3], "maxpt": [4, 5, 6]}, BOUNDS, RES) == Bbox((1, 2, 3), (4, 5, 6))
    assert coerce_key("5-15_-2-9_4-10", BOUNDS, RES) == Bbox((5, -2, 4), (15, 9, 10))
    assert Bbox.from_filename("/a/b/5-15_-2-9_4-10.gz") == Bbox((5, -2, 4), (15, 9, 10))
    with pytest.raises(IndexTypeError, match="x0-x1_y0-y1_z0-z1"):
        coerce_key("0-1_0-1", BOUNDS, RES)
