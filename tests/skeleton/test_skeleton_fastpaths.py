"""The skeleton read fast path: ``skeleton_files.Decoder`` (Skeletons built without re-parsing
the info per file; ``place``/``build`` for a file read straight into the skeleton's arrays), the
file store's ``blocking_reader(..., scatter=...)`` that does that read, and ``vol.skeleton.get``
on file:// built on them. Each is compared with the path it replaces: same arrays, same dtypes,
same Skeleton state, same errors (and messages) on damaged files."""

from __future__ import annotations

import gzip
import os
import pickle
import sys

import numpy as np
import pytest

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from aiovolume import Skeleton, Volume  # noqa: E402
from aiovolume.exceptions import SkeletonDecodeError  # noqa: E402
from aiovolume.format.skeleton import VertexAttribute, encode_skeleton  # noqa: E402
from aiovolume.objects import skeleton_files  # noqa: E402
from aiovolume.storage.file import FileStore  # noqa: E402
from aiovolume.storage.memory import MemoryStore  # noqa: E402
from volume_helpers import make_info  # noqa: E402

DEFAULT = [{"id": "radius", "data_type": "float32", "num_components": 1},
           {"id": "vertex_types", "data_type": "uint8", "num_components": 1}]
# a uint8 attribute first puts the float64 one at an offset that is not a multiple of 8
ODD = [{"id": "flag", "data_type": "uint8", "num_components": 1},
       {"id": "weight", "data_type": "float64", "num_components": 1},
       {"id": "rgb", "data_type": "int16", "num_components": 3}]
LAYOUTS = {"default": DEFAULT, "misaligned-float64": ODD, "none": []}
SCALED = np.array([[4, 0, 0, 100], [0, 4, 0, -50], [0, 0, 40, 8.5]], np.float64)


def skeleton_file(attrs, n=40, seed=0) -> bytes:
    rng = np.random.default_rng(seed)
    specs = [VertexAttribute.from_json(a) for a in attrs]
    parents = [int(rng.integers(0, i)) for i in range(1, n)]
    edges = np.stack([parents, np.arange(1, n)], axis=1) if n > 1 else np.zeros((0, 2))
    values = {a.id: (rng.random((n, a.num_components)) * 100).astype(a.dtype)[:, 0] if a.num_components == 1
              else (rng.random((n, a.num_components)) * 100).astype(a.dtype) for a in specs}
    return encode_skeleton(rng.random((n, 3)) * 1000, edges, values, specs)


def owned(data: bytes) -> np.ndarray:
    """``data`` in a fresh writable buffer, as the file store reads it with ``alloc``."""
    buf = np.empty(len(data), np.uint8)
    buf[:] = np.frombuffer(data, np.uint8)
    return buf


def same_state(got: Skeleton, want: Skeleton) -> None:
    """Identical object state: the same attributes in the same order, arrays of the same dtype,
    shape and bytes, all writable."""
    assert list(vars(got)) == list(vars(want))
    for name, value in vars(want).items():
        mine = vars(got)[name]
        if isinstance(value, np.ndarray):
            assert mine.dtype == value.dtype and mine.shape == value.shape, name
            assert mine.tobytes() == value.tobytes(), name
            assert mine.flags.writeable, name
        else:
            assert mine == value and type(mine) is type(value), name


def scattered(decode, segid: int, data: bytes) -> Skeleton:
    """``Decoder.place`` then ``build``, the buffers filled as a scattering reader does."""
    placed, buffers = decode.place(segid, len(data), data[:decode.HEAD])
    pos = decode.HEAD
    for buf in buffers:
        buf[:] = data[pos:pos + buf.nbytes]
        pos += buf.nbytes
    return decode.build(segid, placed)


def reference(data: bytes, segid: int, attrs, transform) -> Skeleton:
    """What vol.skeleton.get built before the fast path: from_precomputed, then the info's
    transform set and applied, then physical space."""
    skel = Skeleton.from_precomputed(data, segid=segid, vertex_attributes=attrs)
    skel.transform = transform
    if not np.array_equal(transform, np.eye(3, 4)):
        skel.apply_transform()
    skel.space = "physical"
    return skel


@pytest.mark.parametrize("layout", list(LAYOUTS))
@pytest.mark.parametrize("transform", ["identity", "scaled"])
def test_decoder_builds_the_skeleton_from_precomputed_builds(layout, transform):
    attrs = LAYOUTS[layout]
    matrix = np.eye(3, 4) if transform == "identity" else SCALED
    decode = skeleton_files.Decoder(attrs, matrix)
    for n in (0, 1, 40):
        data = skeleton_file(attrs, n, seed=n)
        want = reference(data, 5, attrs, matrix)
        for got in (decode(5, data), decode(5, memoryview(owned(data))), scattered(decode, 5, data)):
            same_state(got, want)
            assert got == want
            same_state(pickle.loads(pickle.dumps(got)), want)
    # each skeleton owns its transform and attribute list: changing one changes no other
    a, b = decode(1, skeleton_file(attrs)), decode(2, skeleton_file(attrs))
    a.transform[0, 0] = 99
    a.extra_attributes.append({"id": "x", "data_type": "uint8", "num_components": 1})
    assert b.transform[0, 0] == matrix[0, 0] and len(b.extra_attributes) == len(attrs)


@pytest.mark.parametrize("layout", list(LAYOUTS))
def test_placing_refuses_what_decoding_refuses_with_the_same_message(layout):
    attrs = LAYOUTS[layout]
    decode = skeleton_files.Decoder(attrs, np.eye(3, 4))
    data = skeleton_file(attrs, 12)
    bad = bytearray(data)
    bad[8 + 12 * 12: 8 + 12 * 12 + 4] = np.uint32(12).tobytes()  # an edge to vertex 12 of 12
    for broken in [data[:cut] for cut in sorted({0, 3, 7, 8, 9, len(data) // 2, len(data) - 1})] + [bytes(bad)]:
        with pytest.raises(SkeletonDecodeError) as want:
            decode(3, broken)
        with pytest.raises(SkeletonDecodeError) as got:
            scattered(decode, 3, broken)
        assert str(got.value) == str(want.value)


async def test_file_reader_scatters_into_the_callers_buffers(tmp_path):
    data = skeleton_file(DEFAULT, 30)
    async with FileStore(str(tmp_path)) as store:
        await store.put("a/plain", data)
        await store.put("a/zipped", gzip.compress(data), content_encoding="gzip")
        read = store.blocking_reader()
        calls: list[tuple[int, bytes, np.ndarray]] = []

        def place(size: int, head: bytes, extra: int = 0) -> list[memoryview]:
            out = np.zeros(size - 8 + extra, np.uint8)
            calls.append((size, head, out))
            return [out[:10].data, out[10:10].data, out[10:].data]  # an empty buffer among them

        blob = read("a/plain", scatter=(8, place))
        assert blob.span == (0, 8) and bytes(blob.data) == data[:8] and blob.encoding is None
        assert blob.version is not None
        assert calls[-1][:2] == (len(data), data[:8]) and calls[-1][2].tobytes() == data[8:]
        calls.clear()
        zipped = read("a/zipped", scatter=(8, place))  # transport-encoded: whole, place not called
        assert zipped.span is None and zipped.encoding == "gzip" and gzip.decompress(zipped.data) == data
        assert calls == []
        # buffers past the end of the file (it shrank after being placed): the whole object instead
        whole = read("a/plain", scatter=(8, lambda size, head: place(size, head, extra=5)))
        assert whole.span is None and bytes(whole.data) == data
        assert read("a/none", scatter=(8, place)) is None

        def refuse(size: int, head: bytes) -> list[memoryview]:
            raise SkeletonDecodeError("no")

        before = len(os.listdir("/proc/self/fd"))
        for _ in range(5):
            with pytest.raises(SkeletonDecodeError):
                read("a/plain", scatter=(8, refuse))
        assert len(os.listdir("/proc/self/fd")) == before  # every file closed
        assert bytes(read("a/plain").data) == data  # without scatter: as before
    async with MemoryStore(f"fast-{os.urandom(4).hex()}") as mem:
        await mem.put("k", data)
        got = mem.blocking_reader()("k", scatter=(8, place))  # ignored: the stored bytes
        assert got.span is None and bytes(got.data) == data


@pytest.mark.parametrize("transform", ["identity", "scaled"])
async def test_local_get_matches_the_copying_path(tmp_path, transform):
    """file:// get (views of a buffer per file) and mem:// get (copies) of the same files give
    identical Skeletons; every skeleton has its own memory; a truncated file in the middle of a
    batch still raises SkeletonDecodeError."""
    rng = np.random.default_rng(3)
    skels = [Skeleton(rng.random((n, 3)) * 500, np.stack([np.arange(n - 1), np.arange(1, n)], axis=1) if n > 1
                      else None, radii=rng.random(n), vertex_types=rng.integers(0, 5, n), segid=i + 1,
                      space="physical") for i, n in enumerate([1, 0, 300, 2, 5000] + [40] * 150)]
    ids = [s.id for s in skels]
    got = {}
    info = make_info("uint64", layer_type="segmentation", encoding="raw")
    for url in (f"file://{tmp_path}/layer", f"mem://fast-{os.urandom(4).hex()}/layer"):
        async with Volume(url, info=info) as vol:
            if transform == "scaled":
                vol.skeleton.meta.info["transform"] = SCALED.reshape(-1).tolist()
                await vol.skeleton.meta.commit_info()
            await vol.skeleton.upload(skels)
            got[url[:4]] = await vol.skeleton.get(ids + [3])  # a repeated id as well
            files = {s.id: (await vol.store.get(f"skeletons/{s.id}")).data for s in skels}
            attrs = vol.skeleton.meta.read_attributes
            want = [reference(bytes(files[i]), i, attrs, np.asarray(SCALED if transform == "scaled"
                                                                     else np.eye(3, 4), np.float32)) for i in ids]
            for mine, ref in zip(got[url[:4]], want):
                same_state(mine, ref)
            await vol.store.put("skeletons/77", bytes(files[77])[:-5])
            with pytest.raises(SkeletonDecodeError, match="skeleton 77"):
                await vol.skeleton.get(ids)
    for a, b in zip(got["file"], got["mem:"]):
        same_state(a, b)
    first, second = got["file"][2], got["file"][4]
    assert not np.shares_memory(first.vertices, second.vertices)
    first.vertices[:] = -1
    first.radius[:] = -1
    assert np.array_equal(second.vertices, got["mem:"][4].vertices)
