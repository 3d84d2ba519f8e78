"""file:// writes through codec threads (each chunk cut into a per-thread buffer, or not copied at
all, and written at once: ``worker.encode_each``) leave exactly the bytes of the general path
(``codec_executor="inline"``: ``worker.encode_batch`` -> ``store_many``) and of an independent
reference encoding."""

from __future__ import annotations

import gzip
import re
from pathlib import Path

import numpy as np
import pytest

from aiovolume import Bbox, Options, Volume
from aiovolume.pipeline import worker
from volume_helpers import make_info, random_volume


def files_of(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*"))
            if p.is_file() and p.name != "info"}


async def write(path: Path, info: dict, region: Bbox, data: np.ndarray, executor: str, **kw) -> dict[str, bytes]:
    async with Volume("file://" + str(path), info=info, options=Options(codec_executor=executor), **kw) as vol:
        await vol.commit_info()
        await vol.upload(region, data)
    return files_of(path)


CASES = {
    # dtype, channels, size, chunk, order of the input
    "uint8 F edges": ("uint8", 1, (100, 70, 33), (32, 32, 8), "F"),
    "uint8 C": ("uint8", 1, (64, 64, 32), (32, 32, 16), "C"),
    "uint16 3ch F": ("uint16", 3, (70, 40, 20), (32, 16, 8), "F"),
    "float32 C edges": ("float32", 1, (50, 45, 17), (16, 16, 16), "C"),
    # the source's x and y extents are the chunk's: every chunk is a contiguous part of it (no copy)
    "uint32 contiguous chunks": ("uint32", 1, (32, 16, 40), (32, 16, 8), "F"),
}


@pytest.mark.parametrize("compress", [False, "gzip"])
@pytest.mark.parametrize("case", list(CASES))
async def test_thread_writes_equal_the_general_path_and_a_reference(tmp_path, case, compress):
    dtype, channels, size, chunk, order = CASES[case]
    info = make_info(dtype, channels, size=size, offset=(3, -5, 2), chunk=chunk)
    data = random_volume((*size, channels), dtype, seed=7)
    data = np.asfortranarray(data) if order == "F" else np.ascontiguousarray(data)
    region = Bbox((3, -5, 2), (3 + size[0], -5 + size[1], 2 + size[2]))
    fast = await write(tmp_path / "thread", info, region, data, "thread", compress=compress)
    general = await write(tmp_path / "inline", info, region, data, "inline", compress=compress)
    assert fast == general
    assert len(fast) == np.prod([-(-s // c) for s, c in zip(size, chunk)])
    # an independent encoding of every chunk: its voxels' F-order bytes (gzip: once unzipped)
    for name, stored in fast.items():
        key = name.split("/")[-1].removesuffix(".gz")
        x0, x1, y0, y1, z0, z1 = (int(v) for v in re.fullmatch(r"(-?\d+)-(-?\d+)_" * 2 + r"(-?\d+)-(-?\d+)", key).groups())
        part = data[x0 - 3:x1 - 3, y0 + 5:y1 + 5, z0 - 2:z1 - 2]
        raw = gzip.decompress(stored) if compress else stored
        assert name.endswith(".gz") == bool(compress)
        assert raw == part.astype(np.dtype(dtype).newbyteorder("<")).tobytes(order="F")


@pytest.mark.parametrize("compress", [False, "gzip"])
async def test_non_aligned_and_background_writes_equal_the_general_path(tmp_path, compress):
    info = make_info("uint16", 1, size=(96, 64, 24), chunk=(32, 32, 8))
    base = random_volume((96, 64, 24, 1), "uint16", seed=1)
    patch = random_volume((50, 33, 11, 1), "uint16", seed=2)
    patch[:20] = 0  # whole chunks of background: deleted, not stored, with delete_black_uploads
    out = {}
    for executor in ("thread", "inline"):
        path = tmp_path / executor
        await write(path, info, Bbox((0, 0, 0), (96, 64, 24)), base, executor, compress=compress)
        out[executor] = await write(path, info, Bbox((5, 7, 3), (55, 40, 14)), patch, executor, compress=compress,
                                    non_aligned_writes=True, delete_black_uploads=True)
    assert out["thread"] == out["inline"]
    async with Volume("file://" + str(tmp_path / "thread")) as vol:
        got = np.asarray(await vol.download(Bbox((0, 0, 0), (96, 64, 24))))
    want = base.copy()
    want[5:55, 7:40, 3:14] = patch
    np.testing.assert_array_equal(got, want)  # the neighbours' voxels survive the merge


def test_f_order_buffer_copies_only_when_it_must():
    dtype = np.dtype("<u2")
    src = np.asfortranarray(random_volume((40, 30, 20, 2), "uint16", seed=3))
    inner = src[3:35, 2:18, 1:9]  # not contiguous: cut into the thread's buffer
    view = worker.f_order_buffer(inner, dtype)
    assert bytes(view) == inner.tobytes(order="F")
    again = worker.f_order_buffer(src[:8, :8, :8], dtype)  # the same buffer, reused
    assert bytes(again) == src[:8, :8, :8].tobytes(order="F")
    whole = src[:, :, 4:9, 1:]  # F-contiguous: its own memory, no copy
    view = worker.f_order_buffer(whole, dtype)
    assert np.shares_memory(np.frombuffer(view, np.uint8), src)
    assert bytes(view) == whole.tobytes(order="F")
    c_order = np.ascontiguousarray(inner)
    assert bytes(worker.f_order_buffer(c_order, dtype)) == inner.tobytes(order="F")
    assert bytes(worker.f_order_buffer(inner.astype(np.int32), dtype)) == inner.tobytes(order="F")
