"""The real CloudVolume 12.15.2 reads what aiovolume writes (raw encoding, file://).

Each volume is written with ``aiovolume.CloudVolume`` (create_new_info + add_scale + commit_info +
``vol[...] = data`` at mip 0 and mip 1) and read back with ``cloudvolume.CloudVolume``; values, shape
and dtype must match bit for bit, and CloudVolume must parse our info to the same geometry.
"""

from __future__ import annotations

import gzip
import json
import os
import re

import numpy as np
import pytest

import aiovolume
from interop_helpers import make_data, assert_exact, grid_names, slices

cloudvolume = pytest.importorskip("cloudvolume")

pytestmark = pytest.mark.interop

DTYPES = ["uint8", "uint16", "uint32", "uint64", "int16", "float32", "float64"]

# A negative, odd voxel offset and a size that is not a multiple of the chunk size: edge chunks
# on every axis, and a mip-1 offset that needs floor division (-37 // 2 == -19).
RES = (4, 4, 40)
OFFSET = (-37, 11, -5)
SIZE = (100, 90, 70)
CHUNK = (32, 32, 32)
FACTOR = (2, 2, 1)


# -- helpers ---------------------------------------------------------------------------------
NAME_RE = re.compile(r"^(-?\d+)-(-?\d+)_(-?\d+)-(-?\d+)_(-?\d+)-(-?\d+)$")


def downsample_geometry(offset, size, factor):
    return (tuple(o // f for o, f in zip(offset, factor)), tuple(-(-s // f) for s, f in zip(size, factor)))


def write_with_aiovolume(path, dtype, channels, compress, offset=OFFSET, size=SIZE, chunk=CHUNK):
    """Write mip 0 and mip 1 with aiovolume's facade; returns ``{mip: (offset, size, chunk, res, data)}``."""
    info = aiovolume.CloudVolume.create_new_info(
        num_channels=channels, layer_type="image", data_type=dtype, encoding="raw",
        resolution=list(RES), voxel_offset=list(offset), volume_size=list(size), chunk_size=list(chunk),
    )
    off1, size1 = downsample_geometry(offset, size, FACTOR)
    res1 = tuple(r * f for r, f in zip(RES, FACTOR))
    expected = {
        0: (tuple(offset), tuple(size), tuple(chunk), RES, make_data((*size, channels), dtype, seed=1)),
        1: (off1, size1, tuple(chunk), res1, make_data((*size1, channels), dtype, seed=2)),
    }
    with aiovolume.CloudVolume(path, info=info, compress=compress) as vol:
        vol.add_scale(FACTOR)
        vol.commit_info()
        d0 = expected[0][4]
        # a 1-channel layer accepts a 3-D array, as in CloudVolume
        vol[slices(offset, size)] = d0[..., 0] if channels == 1 else d0
    with aiovolume.CloudVolume(path, mip=1, compress=compress) as vol1:
        vol1[slices(off1, size1)] = expected[1][4]
    return expected


def on_disk(layer_dir, key):
    return set(os.listdir(os.path.join(layer_dir, key)))


# -- tests ----------------------------------------------------------------------------------
@pytest.mark.parametrize("compress", [None, False], ids=["gzip_default", "plain"])
@pytest.mark.parametrize("channels", [1, 3])
@pytest.mark.parametrize("dtype", DTYPES)
def test_cloudvolume_reads_our_raw_volume(tmp_path, dtype, channels, compress):
    layer = tmp_path / "layer"
    path = f"file://{layer}"
    expected = write_with_aiovolume(path, dtype, channels, compress)

    for mip, (offset, size, chunk, res, data) in expected.items():
        key = "_".join(map(str, res))
        names = grid_names(offset, size, chunk)
        # compress=None gzips raw chunks into CloudVolume's `<chunk>.gz` files; compress=False writes plain ones
        suffix = ".gz" if compress is None else ""
        assert on_disk(layer, key) == {n + suffix for n in names}
        # the last (clipped) edge chunk holds exactly the Fortran-order bytes of its region (spec §4.1)
        last = max(names, key=lambda n: [int(v) for v in NAME_RE.match(n).groups()])
        x0, x1, y0, y1, z0, z1 = (int(v) for v in NAME_RE.match(last).groups())
        blob = (layer / key / (last + suffix)).read_bytes()
        if compress is None:
            blob = gzip.decompress(blob)
        o = offset
        region = data[x0 - o[0]:x1 - o[0], y0 - o[1]:y1 - o[1], z0 - o[2]:z1 - o[2], :]
        assert blob == np.asfortranarray(region).tobytes(order="F")

        cv = cloudvolume.CloudVolume(path, mip=mip, progress=False)
        # CloudVolume parses our info to the same geometry
        assert list(cv.bounds.minpt) == list(offset)
        assert list(cv.bounds.maxpt) == [o + s for o, s in zip(offset, size)]
        assert list(cv.resolution) == list(res)
        assert list(cv.chunk_size) == list(chunk)
        assert list(cv.voxel_offset) == list(offset)
        assert list(cv.volume_size) == list(size)
        assert np.dtype(cv.dtype) == np.dtype(dtype)
        assert cv.num_channels == channels
        assert cv.layer_type == "image"
        assert cv.key == key

        cut = cv[slices(offset, size)]
        assert_exact(cut, data)

        # a non-aligned cutout at an odd offset, straddling chunk boundaries on every axis
        lo = [o + 3 for o in offset]
        hi = [o + s - 5 for o, s in zip(offset, size)]
        part = cv[tuple(slice(a, b) for a, b in zip(lo, hi))]
        assert_exact(part, data[3:-5, 3:-5, 3:-5, :])


@pytest.mark.parametrize(
    "offset,size,chunk",
    [
        ((-10, 4, 0), (130, 50, 20), (64, 64, 16)),   # the spec's worked example (§3): 6 chunk files
        ((-64, -64, -16), (128, 64, 48), (64, 64, 16)),  # negative but chunk-aligned offset
        ((0, 0, 0), (100, 90, 70), (32, 32, 32)),      # zero offset, edge chunks
    ],
    ids=["spec_example", "aligned_negative", "zero_offset"],
)
def test_cloudvolume_reads_our_volume_other_geometries(tmp_path, offset, size, chunk):
    layer = tmp_path / "layer"
    path = f"file://{layer}"
    expected = write_with_aiovolume(path, "uint16", 2, False, offset=offset, size=size, chunk=chunk)
    for mip, (off, sz, ch, res, data) in expected.items():
        assert on_disk(layer, "_".join(map(str, res))) == grid_names(off, sz, ch)
        cv = cloudvolume.CloudVolume(path, mip=mip, progress=False)
        assert list(cv.bounds.minpt) == list(off) and list(cv.bounds.maxpt) == [o + s for o, s in zip(off, sz)]
        assert_exact(cv[slices(off, sz)], data)


@pytest.mark.parametrize(
    "resolution,offset,size,chunk,factor",
    [
        ((4, 4, 40), OFFSET, SIZE, CHUNK, (2, 2, 1)),
        ((4, 4, 40), (-10, 4, 0), (130, 50, 20), (64, 64, 16), (2, 2, 2)),
        ((3.5, 3.5, 30.25), (-7, -3, 1), (33, 17, 9), (128, 128, 8), (4, 4, 1)),
    ],
    ids=["int_res", "factor_222", "float_res_big_chunks"],
)
def test_info_committed_by_us_matches_cloudvolume(tmp_path, resolution, offset, size, chunk, factor):
    """create_new_info + add_scale + commit_info give the same `info` file as CloudVolume's."""
    kwargs = dict(num_channels=3, layer_type="image", data_type="float32", encoding="raw",
                  resolution=list(resolution), voxel_offset=list(offset), volume_size=list(size),
                  chunk_size=list(chunk))
    ours = aiovolume.CloudVolume(f"file://{tmp_path}/ours", info=aiovolume.CloudVolume.create_new_info(**kwargs))
    ours.add_scale(factor)
    ours.commit_info()
    ours.close()
    theirs = cloudvolume.CloudVolume(f"file://{tmp_path}/theirs",
                                     info=cloudvolume.CloudVolume.create_new_info(**kwargs), progress=False)
    theirs.add_scale(factor)
    theirs.commit_info()

    ours_info = json.loads((tmp_path / "ours" / "info").read_text())
    theirs_info = json.loads((tmp_path / "theirs" / "info").read_text())
    assert ours_info == theirs_info
    assert len(ours_info["scales"]) == 2
    # and CloudVolume reads our file to the same mip-1 geometry as its own
    cv = cloudvolume.CloudVolume(f"file://{tmp_path}/ours", mip=1, progress=False)
    assert list(cv.bounds.minpt) == list(theirs.meta.bounds(1).minpt)
    assert list(cv.bounds.maxpt) == list(theirs.meta.bounds(1).maxpt)


@pytest.mark.parametrize(
    "layout",
    ["fortran", "strided_view", "big_endian", "reversed_view"],
)
def test_cloudvolume_reads_our_writes_from_any_memory_layout(tmp_path, layout):
    """Chunks are Fortran-order little-endian whatever the input array's layout or byte order (§4.1)."""
    path = f"file://{tmp_path}/layer"
    info = aiovolume.CloudVolume.create_new_info(
        num_channels=3, layer_type="image", data_type="float32", encoding="raw", resolution=list(RES),
        voxel_offset=list(OFFSET), volume_size=list(SIZE), chunk_size=list(CHUNK),
    )
    base = make_data((2 * SIZE[0], SIZE[1], SIZE[2], 3), "float32", seed=5)
    src = {
        "fortran": lambda: np.asfortranarray(base[: SIZE[0]]),
        "strided_view": lambda: base[::2],
        "big_endian": lambda: base[: SIZE[0]].astype(">f4"),
        "reversed_view": lambda: base[: SIZE[0]][::-1, :, ::-1],
    }[layout]()
    with aiovolume.CloudVolume(path, info=info, compress=False) as vol:
        vol.commit_info()
        vol[slices(OFFSET, SIZE)] = src
    expected = np.ascontiguousarray(src).astype("<f4")
    assert_exact(cloudvolume.CloudVolume(path, progress=False)[slices(OFFSET, SIZE)], expected)


@pytest.mark.parametrize("compress,suffix", [("gzip", ".gz"), (True, ".gz"), ("br", ".br"), ("zstd", ".zstd")])
def test_cloudvolume_reads_our_other_transport_compressions(tmp_path, compress, suffix):
    layer = tmp_path / "layer"
    path = f"file://{layer}"
    expected = write_with_aiovolume(path, "uint32", 1, compress)
    for mip, (offset, size, chunk, res, data) in expected.items():
        key = "_".join(map(str, res))
        assert on_disk(layer, key) == {n + suffix for n in grid_names(offset, size, chunk)}
        assert_exact(cloudvolume.CloudVolume(path, mip=mip, progress=False)[slices(offset, size)], data)


@pytest.mark.parametrize("background", [0, 5])
@pytest.mark.parametrize("compress", [None, False], ids=["gzip_default", "plain"])
def test_delete_black_uploads_deletes_the_same_chunks_as_cloudvolume(tmp_path, compress, background):
    """Same writes with delete_black_uploads=True leave the same chunk files as CloudVolume's, and
    CloudVolume and aiovolume read the result identically."""
    data = make_data((*SIZE, 1), "uint16", seed=7)
    data[data == background] = background + 1           # only the chunks below are all background
    data[0:32, 0:32, 0:32] = background                  # an interior-corner chunk
    data[96:, 32:64, 64:] = background                   # an edge chunk (clipped on x and z)
    data[32:64, 0:32, 0:32] = 5 - background            # background-like but not equal to it
    region = slices(OFFSET, SIZE)
    files, paths = {}, {}
    for who, mod, extra in (("ours", aiovolume, {}), ("theirs", cloudvolume, {"progress": False})):
        layer = tmp_path / who
        paths[who] = f"file://{layer}"
        info = mod.CloudVolume.create_new_info(
            num_channels=1, layer_type="image", data_type="uint16", encoding="raw", resolution=list(RES),
            voxel_offset=list(OFFSET), volume_size=list(SIZE), chunk_size=list(CHUNK),
        )
        first = mod.CloudVolume(paths[who], info=info, compress=compress, **extra)
        first.commit_info()
        first[region] = np.full(data.shape, 9, np.uint16)   # existing chunks, so deletion is observable
        vol = mod.CloudVolume(paths[who], compress=compress, delete_black_uploads=True,
                              background_color=background, **extra)
        vol[region] = data
        files[who] = set(os.listdir(layer / "4_4_40"))
    assert files["ours"] == files["theirs"]
    suffix = ".gz" if compress is None else ""
    assert len(files["ours"]) == len(grid_names(OFFSET, SIZE, CHUNK)) - 2
    assert "-37--5_11-43_-5-27" + suffix not in files["ours"]
    assert "59-63_43-75_59-65" + suffix not in files["ours"]

    theirs = np.asarray(cloudvolume.CloudVolume(paths["ours"], progress=False, fill_missing=True)[region])
    with aiovolume.CloudVolume(paths["theirs"], fill_missing=True) as vol:
        ours = vol[region]
    assert_exact(ours, theirs)
    present = data.copy()
    present[0:32, 0:32, 0:32] = 0
    present[96:, 32:64, 64:] = 0
    assert_exact(theirs, present)


@pytest.mark.parametrize("compress", [None, False], ids=["gzip_default", "plain"])
def test_cloudvolume_reads_our_thread_encoded_writes(tmp_path, compress):
    """The in-thread codec path (decode_workers=0) writes the same chunks CloudVolume reads."""
    path = f"file://{tmp_path}/layer"
    info = aiovolume.CloudVolume.create_new_info(
        num_channels=3, layer_type="image", data_type="uint64", encoding="raw", resolution=list(RES),
        voxel_offset=list(OFFSET), volume_size=list(SIZE), chunk_size=list(CHUNK),
    )
    data = make_data((*SIZE, 3), "uint64", seed=8)
    with aiovolume.CloudVolume(path, info=info, compress=compress,
                               options=aiovolume.Options(decode_workers=0)) as vol:
        vol.commit_info()
        vol[slices(OFFSET, SIZE)] = data
    assert_exact(cloudvolume.CloudVolume(path, progress=False)[slices(OFFSET, SIZE)], data)
