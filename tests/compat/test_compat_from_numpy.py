"""``Volume.from_numpy`` / ``CloudVolume.from_numpy``: CloudVolume 12.15.2's signature and info, the
array written at mip 0 and its downsamples at mips 1..max_mip; read back by us, by the real
cloud-volume and by tensorstore.

The downsamples are checked against a per-block reference written here (not the library's
downsampler): mean truncated toward zero for integer images, mean for floats, most frequent value
for segmentation with ties to the smallest; each mip is made from the one above it.
"""

from __future__ import annotations

import collections
import inspect
import json
import os
import shutil

import numpy as np
import pytest

from aiovolume import CloudVolume, Volume
from aiovolume.exceptions import DimensionError, DtypeError, InfoError, OptionError, UnsupportedFormatError

SIZE = (37, 29, 5)  # no axis a multiple of the chunk: edge chunks and odd edge blocks everywhere
CHUNK = (16, 16, 4)
OFFSET = (-3, 5, 7)
BIG = 2**60  # uint64 ids far above 2**53, where float64 would merge neighbours


# -- data and an independent reference downsampler --------------------------------------------------
def make_array(dtype, channels, seed=1, size=SIZE):
    rng = np.random.default_rng(seed)
    shape = size if channels is None else (*size, channels)
    dt = np.dtype(dtype)
    if dtype == "uint8":
        return rng.integers(0, 256, size=shape, dtype=dt)
    if dtype == "float32":
        return (rng.standard_normal(shape) * 100).astype(dt)
    if dtype == "uint32":  # few labels, so blocks have real modes and ties
        return (rng.integers(0, 4, size=shape) * 1_000_003 + 2**31).astype(dt)
    if dtype == "uint64":
        return (rng.integers(0, 4, size=shape) + BIG).astype(dt)
    raise AssertionError(dtype)


def reference_downsample(a, layer_type):
    """One (2, 2, 1) step, block by block in Python."""
    a4 = a if a.ndim == 4 else a[..., np.newaxis]
    sx, sy, sz, nc = a4.shape
    out = np.empty(((sx + 1) // 2, (sy + 1) // 2, sz, nc), a.dtype)
    for i, j, k, c in np.ndindex(out.shape):
        block = a4[2 * i:2 * i + 2, 2 * j:2 * j + 2, k, c].ravel().tolist()
        if layer_type == "segmentation":
            counts = collections.Counter(block)
            top = max(counts.values())
            out[i, j, k, c] = min(v for v, n in counts.items() if n == top)
        elif a.dtype.kind == "u":  # the unsigned images here: truncation is floor
            out[i, j, k, c] = sum(block) // len(block)
        else:
            out[i, j, k, c] = sum(float(v) for v in block) / len(block)
    return out if a.ndim == 4 else out[..., 0]


def as4d(a):
    return a if a.ndim == 4 else a[..., np.newaxis]


def assert_same(actual, expected):
    actual, expected = np.asarray(actual), np.asarray(expected)
    assert actual.dtype == expected.dtype and actual.shape == expected.shape
    if expected.dtype.kind == "f":
        np.testing.assert_allclose(actual, expected, rtol=1e-6)
    else:
        np.testing.assert_array_equal(actual, expected)


CASES = [("uint8", "image"), ("float32", "image"), ("uint32", "segmentation"), ("uint64", "segmentation")]


# -- round trips through our API --------------------------------------------------------------------
@pytest.mark.parametrize("channels", [None, 2], ids=["3d", "4d-2ch"])
@pytest.mark.parametrize("dtype,layer_type", CASES)
async def test_round_trip_and_mips_are_the_downsamples(layer_url, dtype, layer_type, channels):
    arr = make_array(dtype, channels)
    vol = await Volume.from_numpy(arr, layer_url, voxel_offset=OFFSET, chunk_size=CHUNK, max_mip=2)
    try:
        assert isinstance(vol, Volume) and vol.mip == 0
        assert vol.layer_type == layer_type and vol.data_type == dtype
        assert vol.num_channels == (1 if channels is None else channels)
        assert vol.available_mips == [0, 1, 2]
        expected = arr
        for mip in range(3):
            if mip:
                expected = reference_downsample(expected, layer_type)
            bounds = vol.mip_bounds(mip)
            assert tuple(bounds.size3()) == expected.shape[:3]
            cut = await vol.download(bounds, mip=mip)
            assert_same(cut, as4d(expected))
        assert tuple(vol.mip_bounds(1).minpt) == (-2, 2, 7)  # floor(offset / 2), as CloudVolume's add_scale
    finally:
        await vol.close()
    # the layer on disk, opened afresh, is the same
    async with Volume(layer_url, mip=1) as again:
        assert_same(await again.download(again.bounds), as4d(reference_downsample(arr, layer_type)))


def test_facade_from_numpy_returns_an_open_cloudvolume(layer_url):
    arr = make_array("uint8", None)
    vol = CloudVolume.from_numpy(arr, layer_url, resolution=(8, 8, 33), chunk_size=CHUNK, max_mip=1)
    with vol:
        assert type(vol) is CloudVolume and vol.mip == 0
        assert list(vol.resolution) == [8, 8, 33] and list(vol.mip_resolution(1)) == [16, 16, 33]
        assert_same(vol[:, :, :], arr[..., np.newaxis])
        assert_same(vol.download(vol.mip_bounds(1), mip=1), reference_downsample(arr, "image")[..., np.newaxis])
        vol[0:16, 0:16, 0:4] = 7  # writable like any volume
        assert (np.asarray(vol[0:16, 0:16, 0:4]) == 7).all()


def test_every_chunk_of_every_mip_is_written_and_tiny_mips_are_not_empty(layer_url):
    arr = make_array("uint32", None, size=(5, 3, 2))
    with CloudVolume.from_numpy(arr, layer_url, chunk_size=(2, 2, 2), max_mip=4) as vol:
        sizes = [list(s["size"]) for s in vol.scales]
        # ceil(size / 2**m) never reaches 0: the last mips are 1 voxel wide, not empty
        assert sizes == [[5, 3, 2], [3, 2, 2], [2, 1, 2], [1, 1, 2], [1, 1, 2]]
        expected = arr
        for mip in range(5):
            if mip:
                expected = reference_downsample(expected, "segmentation")
            assert all(vol.exists(vol.mip_bounds(mip), mip=mip).values())
            assert_same(vol.download(vol.mip_bounds(mip), mip=mip), expected[..., np.newaxis])


# -- layer type inference ------------------------------------------------------------------------------
INFERRED = {
    "uint8": "image", "int8": "image", "uint16": "segmentation", "int16": "image", "uint32": "segmentation",
    "int32": "image", "uint64": "segmentation", "int64": "image", "float32": "image", "float64": "image",
}


@pytest.mark.parametrize("dtype", sorted(INFERRED))
def test_layer_type_is_inferred_from_the_dtype_like_cloudvolume(layer_url, dtype):
    arr = np.arange(2 * 3 * 4, dtype=dtype).reshape(2, 3, 4)
    with CloudVolume.from_numpy(arr, layer_url) as vol:
        assert vol.layer_type == INFERRED[dtype] and vol.data_type == dtype
        assert_same(vol[:, :, :], arr[..., np.newaxis])


def test_bool_arrays_are_stored_as_uint8_segmentation(layer_url):
    arr = np.zeros((4, 4, 2), dtype=bool)
    arr[0:3, 0:3] = True
    with CloudVolume.from_numpy(arr, layer_url, max_mip=1) as vol:
        assert (vol.layer_type, vol.data_type) == ("segmentation", "uint8")
        assert_same(vol[:, :, :], arr.astype(np.uint8)[..., np.newaxis])
        # mode, not average: block {1, 1, 1, 0} -> 1; {1, 0, 1, 0} -> tie -> 0
        assert vol.download(vol.mip_bounds(1), mip=1)[:, :, 0, 0].tolist() == [[1, 0], [0, 0]]


def test_explicit_layer_type_chooses_the_downsampler(layer_url, tmp_path):
    arr = np.array([[1, 9], [9, 10]], dtype=np.uint8)[:, :, np.newaxis]
    with CloudVolume.from_numpy(arr, layer_url, max_mip=1, layer_type="segmentation") as vol:
        assert vol.layer_type == "segmentation"
        assert vol.download(vol.mip_bounds(1), mip=1).ravel().tolist() == [9]  # mode
    with CloudVolume.from_numpy(arr.astype(np.uint32), f"file://{tmp_path}/img", max_mip=1, layer_type="image") as vol:
        assert vol.download(vol.mip_bounds(1), mip=1).ravel().tolist() == [7]  # 29 / 4 = 7.25


# -- encodings ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", ["uint32", "uint64"])
def test_compressed_segmentation(layer_url, dtype):
    arr = make_array(dtype, None)
    with CloudVolume.from_numpy(arr, layer_url, chunk_size=CHUNK, max_mip=1, encoding="compressed_segmentation") as vol:
        assert [s["encoding"] for s in vol.scales] == ["compressed_segmentation"] * 2
        assert [s["compressed_segmentation_block_size"] for s in vol.scales] == [[8, 8, 8]] * 2
        assert_same(vol[:, :, :], arr[..., np.newaxis])
        assert_same(vol.download(vol.mip_bounds(1), mip=1), reference_downsample(arr, "segmentation")[..., np.newaxis])


def test_jpeg_with_encoding_level_sets_every_scales_quality(layer_url):
    x, y = np.meshgrid(np.arange(SIZE[0]), np.arange(SIZE[1]), indexing="ij")
    arr = np.repeat(((x * 3 + y * 5) % 200)[:, :, np.newaxis], SIZE[2], axis=2).astype(np.uint8)
    with CloudVolume.from_numpy(arr, layer_url, chunk_size=CHUNK, max_mip=1, encoding="jpeg", encoding_level=95) as vol:
        assert [s["encoding"] for s in vol.scales] == ["jpeg", "jpeg"]
        assert [s["jpeg_quality"] for s in vol.scales] == [95, 95]
        got = np.asarray(vol[:, :, :])
        assert got.dtype == np.uint8 and got.shape == (*SIZE, 1)
        assert np.abs(got[..., 0].astype(int) - arr).mean() < 3  # lossy, but close
        mip1 = np.asarray(vol.download(vol.mip_bounds(1), mip=1))[..., 0]
        assert np.abs(mip1.astype(int) - reference_downsample(arr, "image")).mean() < 3


def test_png_level_and_fpzip_precision(tmp_path):
    arr = make_array("uint8", None)
    with CloudVolume.from_numpy(arr, f"file://{tmp_path}/png", chunk_size=CHUNK, encoding="png", encoding_level=3) as vol:
        assert vol.scale["png_level"] == 3
        assert_same(vol[:, :, :], arr[..., np.newaxis])
    arr = make_array("float32", None)
    with CloudVolume.from_numpy(arr, f"file://{tmp_path}/fpz", chunk_size=CHUNK, encoding="fpzip", encoding_level=0) as vol:
        assert vol.scale["fpzip_precision"] == 0  # lossless
        assert_same(vol[:, :, :], arr[..., np.newaxis])


def test_compress_false_writes_plain_chunk_names(tmp_path):
    arr = make_array("uint8", None)
    CloudVolume.from_numpy(arr, f"file://{tmp_path}/plain", chunk_size=CHUNK, compress=False).close()
    CloudVolume.from_numpy(arr, f"file://{tmp_path}/gz", chunk_size=CHUNK).close()
    assert "0-16_0-16_0-4" in os.listdir(tmp_path / "plain" / "4_4_40")
    assert "0-16_0-16_0-4.gz" in os.listdir(tmp_path / "gz" / "4_4_40")  # CloudVolume's default on file://


# -- refusals: typed, and nothing written ------------------------------------------------------------------
@pytest.mark.parametrize("arr,kwargs,error,message", [
    (np.zeros((4, 4), np.uint8), {}, DimensionError, "got 2 dimensions"),
    (np.zeros((2, 2, 2, 1, 1), np.uint8), {}, DimensionError, "got 5 dimensions"),
    (np.zeros((0, 4, 4), np.uint8), {}, DimensionError, "the array is empty"),
    (np.zeros((4, 4, 4), np.complex64), {}, DtypeError, "complex64 arrays are not supported"),
    (np.zeros((4, 4, 4), np.uint8), {"encoding_level": 5}, OptionError, "encoding 'raw' has no level"),
    (np.zeros((4, 4, 4), np.uint8), {"encoding": "jpeg", "encoding_effort": 5}, OptionError, "only to JPEG XL"),
    (np.zeros((4, 4, 4), np.uint8), {"encoding": "jpeg", "encoding_level": 101}, InfoError, "jpeg_quality"),
    (np.zeros((4, 4, 4), np.uint8), {"encoding": "jpeg", "encoding_level": "high"}, OptionError, "must be an integer"),
    (np.zeros((4, 4, 4), np.uint32), {"encoding": "jpeg"}, InfoError, "cannot store data_type 'uint32'"),
    (np.zeros((4, 4, 4), np.uint8), {"encoding": "jxl"}, UnsupportedFormatError, "jxl"),
])
def test_refusals_are_typed_and_write_nothing(tmp_path, arr, kwargs, error, message):
    with pytest.raises(error, match=message):
        CloudVolume.from_numpy(arr, f"file://{tmp_path}/layer", **kwargs)
    assert not (tmp_path / "layer").exists()


def test_default_path_is_fresh_per_call():
    arr = np.ones((3, 3, 3), np.uint8)
    paths = []
    try:
        for value in (1, 2):
            with CloudVolume.from_numpy(arr * value) as vol:
                paths.append(vol.cloudpath)
                assert vol.cloudpath.startswith("file:///tmp/image/")
                assert (np.asarray(vol[:, :, :]) == value).all()
        assert paths[0] != paths[1]  # CloudVolume 12.15.2 would reuse one path per process
    finally:
        for p in paths:
            shutil.rmtree(p[len("file://"):], ignore_errors=True)


# -- interop: the real cloud-volume and tensorstore -----------------------------------------------------------
def cv_open(path, mip=0):
    import cloudvolume

    return cloudvolume.CloudVolume(path, mip=mip, parallel=1, progress=False, cache=False)


INTEROP = [(d, lt, ch) for d, lt in CASES for ch in (None, 2)] + [("uint64", "cseg", None), ("uint8", "jpeg", None)]


def build(path, dtype, kind, channels, compress=None):
    arr = make_array(dtype, channels)
    encoding = {"cseg": "compressed_segmentation", "jpeg": "jpeg"}.get(kind, "raw")
    return arr, CloudVolume.from_numpy(arr, path, voxel_offset=OFFSET, chunk_size=CHUNK, max_mip=2,
                                       encoding=encoding, compress=compress)


@pytest.mark.interop
@pytest.mark.parametrize("dtype,kind,channels", INTEROP)
def test_cloudvolume_reads_our_from_numpy_layer(layer_url, dtype, kind, channels):
    pytest.importorskip("cloudvolume")
    arr, vol = build(layer_url, dtype, kind, channels)
    with vol:
        for mip in range(3):
            ours = np.asarray(vol.download(vol.mip_bounds(mip), mip=mip))
            theirs = cv_open(layer_url, mip)[:, :, :]
            assert theirs.dtype == ours.dtype and theirs.shape == ours.shape
            assert np.asarray(theirs).tobytes() == ours.tobytes()
            if mip == 0 and kind != "jpeg":
                assert ours.tobytes() == as4d(arr).tobytes()


@pytest.mark.interop
@pytest.mark.parametrize("dtype,kind,channels", INTEROP)
def test_tensorstore_reads_our_from_numpy_layer(tmp_path, dtype, kind, channels):
    ts = pytest.importorskip("tensorstore")
    layer = tmp_path / "layer"
    # compress=False: tensorstore does not read CloudVolume's local "<chunk>.gz" names
    arr, vol = build(f"file://{layer}", dtype, kind, channels, compress=False)
    with vol:
        for mip in range(3):
            store = ts.open({"driver": "neuroglancer_precomputed", "kvstore": {"driver": "file", "path": str(layer)},
                             "scale_index": mip}).result()
            assert tuple(store.domain.inclusive_min)[:3] == tuple(vol.mip_voxel_offset(mip))
            theirs = np.asarray(store.read().result())
            ours = np.asarray(vol.download(vol.mip_bounds(mip), mip=mip))
            assert theirs.dtype == ours.dtype and theirs.shape == ours.shape
            assert theirs.tobytes() == ours.tobytes()


def read_info(path):
    with open(os.path.join(path, "info")) as f:
        return json.load(f)


@pytest.mark.interop
@pytest.mark.parametrize("dtype,channels,kwargs", [
    ("uint8", None, {}),
    ("float32", 2, dict(resolution=(4.5, 4, 40), voxel_offset=OFFSET, chunk_size=CHUNK, max_mip=3)),
    ("uint64", None, dict(encoding="compressed_segmentation", max_mip=2, voxel_offset=(1, 2, 3))),
    ("uint32", 2, dict(chunk_size=(8, 8, 8), max_mip=1, layer_type="image")),
    ("uint8", None, dict(encoding="jpeg", max_mip=1)),
])
def test_our_info_equals_cloudvolumes(tmp_path, dtype, channels, kwargs):
    cloudvolume = pytest.importorskip("cloudvolume")
    arr = make_array(dtype, channels)
    CloudVolume.from_numpy(arr, f"file://{tmp_path}/ours", **kwargs).close()
    cloudvolume.CloudVolume.from_numpy(arr, f"file://{tmp_path}/theirs", **kwargs)
    assert read_info(tmp_path / "ours") == read_info(tmp_path / "theirs")


@pytest.mark.interop
def test_info_differences_from_cloudvolume_are_the_documented_ones(tmp_path):
    cloudvolume = pytest.importorskip("cloudvolume")
    arr = make_array("uint8", None)
    # encoding_level: we write jpeg_quality on every scale; CloudVolume 12.15.2 accepts it and drops it
    CloudVolume.from_numpy(arr, f"file://{tmp_path}/ours", encoding="jpeg", encoding_level=70, max_mip=1).close()
    cloudvolume.CloudVolume.from_numpy(arr, f"file://{tmp_path}/theirs", encoding="jpeg", encoding_level=70, max_mip=1)
    ours, theirs = read_info(tmp_path / "ours"), read_info(tmp_path / "theirs")
    assert [s.pop("jpeg_quality") for s in ours["scales"]] == [70, 70]
    assert ours == theirs
    # bool: CloudVolume writes data_type "bool", which no Precomputed reader accepts; we write uint8
    mask = arr > 100
    CloudVolume.from_numpy(mask, f"file://{tmp_path}/ours_bool").close()
    cloudvolume.CloudVolume.from_numpy(mask, f"file://{tmp_path}/theirs_bool")
    ours, theirs = read_info(tmp_path / "ours_bool"), read_info(tmp_path / "theirs_bool")
    assert (ours.pop("data_type"), theirs.pop("data_type")) == ("uint8", "bool")
    assert ours == theirs


@pytest.mark.interop
@pytest.mark.parametrize("dtype", sorted(INFERRED))
def test_layer_type_inference_matches_cloudvolume(tmp_path, dtype):
    cloudvolume = pytest.importorskip("cloudvolume")
    arr = np.ones((2, 2, 2), dtype=dtype)
    theirs = cloudvolume.CloudVolume.from_numpy(arr, f"file://{tmp_path}/theirs")
    with CloudVolume.from_numpy(arr, f"file://{tmp_path}/ours") as ours:
        assert ours.layer_type == theirs.layer_type == INFERRED[dtype]


@pytest.mark.interop
def test_signature_matches_cloudvolume():
    cloudvolume = pytest.importorskip("cloudvolume")
    theirs = inspect.signature(cloudvolume.CloudVolume.from_numpy).parameters
    for ours in (inspect.signature(CloudVolume.from_numpy).parameters, inspect.signature(Volume.from_numpy).parameters):
        assert list(ours) == list(theirs)
        for name, p in theirs.items():
            if name == "vol_path":  # theirs: one random file:///tmp/image/... drawn at import; ours: None = a fresh one
                assert p.default.startswith("file:///tmp/image/") and ours[name].default is None
            else:
                assert ours[name].default == p.default, name
    assert inspect.iscoroutinefunction(Volume.from_numpy)
