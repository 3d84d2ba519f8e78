"""vol.skeleton (skeleton.py) through our own API on mem:// and file://: round trips (unsharded
and sharded, partial-shard merges keep other skeletons), the info written on first upload
(attributes as written, no null sharding, layer info pointing at it), the transform applied on
read and inverted on upload, missing skeletons, deletes, skel_dir, the blocking facade."""

from __future__ import annotations

import json
import os
import sys

import numpy as np
import pytest

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from aiovolume import CloudVolume, Skeleton, Volume  # noqa: E402
from aiovolume.exceptions import (  # noqa: E402
    EmptyFileException, ReadOnlyException, SkeletonDecodeError, SkeletonEncodeError, SkeletonMissingError,
    SkeletonUnassignedEdgeError,
)
from volume_helpers import make_info  # noqa: E402

MURMUR = {"@type": "neuroglancer_uint64_sharded_v1", "preshift_bits": 0, "hash": "murmurhash3_x86_128",
          "minishard_bits": 2, "shard_bits": 1, "minishard_index_encoding": "gzip", "data_encoding": "gzip"}


def seg_info():
    return make_info("uint64", layer_type="segmentation", encoding="raw")


def random_skeleton(segid, n=50, seed=0):
    rng = np.random.default_rng(seed + segid)
    parents = np.array([rng.integers(0, i) for i in range(1, n)])
    edges = np.stack([parents, np.arange(1, n)], axis=1)
    return Skeleton(rng.random((n, 3)) * 1000, edges, radii=rng.random(n) * 5, vertex_types=rng.integers(0, 5, n),
                    segid=segid, space="physical")


def same_values(got, sent):
    """Same id, vertices, edges and attribute values (stored types may be wider: infos we create
    keep 8/16-bit integer attributes as float32, which Neuroglancer needs)."""
    assert got.id == sent.id
    assert got.vertices.tobytes() == sent.vertices.astype(np.float32).tobytes()
    assert np.array_equal(got.edges, sent.edges)
    assert [a["id"] for a in got.extra_attributes] == [a["id"] for a in sent.extra_attributes]
    for a in sent.extra_attributes:
        assert np.array_equal(getattr(got, a["id"]), getattr(sent, a["id"])), a["id"]


@pytest.fixture(params=["mem", "file"])
def url(request, tmp_path) -> str:
    if request.param == "mem":
        return f"mem://skel-{os.urandom(4).hex()}/layer"
    return f"file://{tmp_path}/layer"


async def test_round_trip_writes_info_and_points_the_layer_at_it(url):
    skels = [random_skeleton(s) for s in (1, 2, 3, 2**40 + 5)]
    async with Volume(url, info=seg_info()) as vol:
        await vol.commit_info()
        await vol.skeleton.upload(skels)
        got = await vol.skeleton.get([s.id for s in skels])
        one = await vol.skeleton.get(3)
    assert [g.id for g in got] == [s.id for s in skels]
    for g, s in zip(got, skels):
        same_values(g, s)
        assert g.space == "physical"
    same_values(one, skels[2])
    async with Volume(url) as vol:  # fresh handle: everything from storage
        assert vol.info["skeletons"] == "skeletons"
        info = json.loads((await vol.store.get("skeletons/info")).data)
        assert info == {"@type": "neuroglancer_skeletons", "transform": [1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 0],
                        "vertex_attributes": [{"id": "radius", "data_type": "float32", "num_components": 1},
                                              {"id": "vertex_types", "data_type": "float32", "num_components": 1}]}
        same_values(await vol.skeleton.get(2**40 + 5), skels[3])
        assert (await vol.skeleton.list()).tolist() == sorted(s.id for s in skels)
        assert await vol.skeleton.exists([1, 9]) == {1: True, 9: False}


async def test_custom_attributes_define_the_new_info(url):
    s = Skeleton([[0, 0, 0], [1, 1, 1]], [[0, 1]], segid=4, extra_attributes=[
        {"id": "radius", "data_type": "float32", "num_components": 1}])
    s.radius = np.array([1, 2], np.float32)
    s.add_vertex_attribute("rgb", np.array([[1, 2, 3], [4, 5, 6]], np.uint8))
    async with Volume(url, info=seg_info()) as vol:
        await vol.skeleton.upload(s)
        assert vol.skeleton.meta.info["vertex_attributes"] == [
            {"id": "radius", "data_type": "float32", "num_components": 1},
            {"id": "rgb", "data_type": "float32", "num_components": 3}]  # uint8 widened: Neuroglancer draws it
        blob = await vol.store.get("skeletons/4")
        assert len(blob.data) == 8 + 24 + 8 + 8 + 24  # exactly the attributes the info lists
    async with Volume(url) as vol:
        got = await vol.skeleton.get(4)
        assert got.rgb.tolist() == [[1, 2, 3], [4, 5, 6]] and got.radius.tolist() == [1, 2]
        with pytest.raises(SkeletonEncodeError, match="rgb"):
            await vol.skeleton.upload(Skeleton([[0, 0, 0]], segid=5, extra_attributes=[]))
        # a bad skeleton anywhere in a batch: nothing of the batch is written, plain exceptions
        good = [random_skeleton(s, n=3) for s in range(10, 200)]
        for g in good:
            g.extra_attributes = s.extra_attributes
            g.rgb = np.zeros((3, 3), np.uint8)
        bad = good[-1].clone()
        bad.id, bad.edges = 999, np.array([[0, 7]], np.uint32)
        with pytest.raises(SkeletonUnassignedEdgeError):
            await vol.skeleton.upload(good + [bad])
        assert await vol.skeleton.get([10, 999], allow_missing=True) == []


async def test_transform_applied_on_read_and_inverted_on_upload(url):
    s = random_skeleton(7)
    async with Volume(url, info=seg_info()) as vol:
        vol.skeleton.meta.info["transform"] = [4, 0, 0, 100, 0, 4, 0, -50, 0, 0, 40, 8]
        await vol.skeleton.meta.commit_info()
        await vol.skeleton.upload(s)
        raw = await vol.store.get("skeletons/7")
        stored = Skeleton.from_precomputed(raw.data, 7)
        np.testing.assert_allclose(stored.vertices * [4, 4, 40] + [100, -50, 8], s.vertices, rtol=1e-6, atol=1e-3)
        got = await vol.skeleton.get(7)
        np.testing.assert_allclose(got.vertices, s.vertices, rtol=1e-6, atol=1e-3)  # once, not twice
        assert got.transform.tolist() == [[4, 0, 0, 100], [0, 4, 0, -50], [0, 0, 40, 8]]
        # a voxel-space skeleton with its own transform lands at its physical position
        v = Skeleton([[1, 1, 1], [2, 2, 2]], [[0, 1]], segid=8, transform=[[4, 0, 0, 100], [0, 4, 0, -50],
                                                                          [0, 0, 40, 8]])
        await vol.skeleton.upload(v)
        np.testing.assert_allclose((await vol.skeleton.get(8)).vertices, v.physical_space().vertices)
        await vol.skeleton.upload_raw(9, [[1, 2, 3]], [], radii=[1], vertex_types=[2])
        assert (await vol.skeleton.get(9)).vertices.tolist() == [[104, -42, 128]]  # raw = as stored


async def test_missing_and_corrupt(url):
    async with Volume(url, info=seg_info()) as vol:
        await vol.skeleton.upload(random_skeleton(1))
        with pytest.raises(SkeletonMissingError) as err:
            await vol.skeleton.get([1, 2])
        assert isinstance(err.value, SkeletonDecodeError) and isinstance(err.value, EmptyFileException)
        assert [s.id for s in await vol.skeleton.get([1, 2], allow_missing=True)] == [1]
        assert await vol.skeleton.get(2, allow_missing=True) is None
        await vol.store.put("skeletons/3", random_skeleton(3).to_precomputed()[:-3])
        with pytest.raises(SkeletonDecodeError, match="skeleton 3"):
            await vol.skeleton.get(3)
        await vol.skeleton.delete([1, 3, 99])
        assert await vol.skeleton.get([1, 3], allow_missing=True) == []


@pytest.mark.parametrize("spec", [MURMUR, dict(MURMUR, hash="identity", data_encoding="raw",
                                                minishard_index_encoding="raw")], ids=["murmur-gzip", "identity-raw"])
async def test_sharded_round_trip_partial_writes_and_deletes(url, spec):
    first = [random_skeleton(s) for s in range(1, 40)]
    async with Volume(url, info=seg_info()) as vol:
        vol.skeleton.meta.info["sharding"] = dict(spec)
        await vol.skeleton.meta.commit_info()
        await vol.skeleton.upload(first)
        later = [random_skeleton(s, seed=9) for s in (5, 100, 101)]
        await vol.skeleton.upload(later)  # merges into shards holding the others
        await vol.skeleton.delete([7, 8])
        shards = [k async for k in vol.store.list("skeletons/")]
    assert all(k.endswith(".shard") or k.endswith("info") for k in shards) and len(shards) <= 3
    expect = {s.id: s for s in first + later if s.id not in (7, 8)}
    async with Volume(url) as vol:
        got = await vol.skeleton.get(sorted(expect))
        assert [g.id for g in got] == sorted(expect)
        for g in got:
            same_values(g, expect[g.id])
        assert await vol.skeleton.get([7, 8], allow_missing=True) == []
        with pytest.raises(SkeletonMissingError):
            await vol.skeleton.get(7)
        assert (await vol.skeleton.list()).tolist() == sorted(expect)
        assert await vol.skeleton.exists([5, 7, 101]) == {5: True, 7: False, 101: True}


async def test_skel_dir_option_and_info_field(url):
    info = seg_info()
    info["skeletons"] = "skels_mip_2"
    async with Volume(url, info=info) as vol:
        await vol.commit_info()
        await vol.skeleton.upload(random_skeleton(1))
        assert await vol.store.exists("skels_mip_2/1") and vol.skeleton.meta.mip is None
    async with Volume(url, skel_dir="other") as vol:
        await vol.skeleton.upload(random_skeleton(2))
        assert await vol.store.exists("other/2") and await vol.store.exists("other/info")
        assert vol.info["skeletons"] == "other"  # CloudVolume's skel_dir: the info, in memory only
    async with Volume(url) as vol:
        assert vol.info["skeletons"] == "skels_mip_2"  # the stored layer info is left alone


def test_blocking_facade(tmp_path):
    url = f"file://{tmp_path}/layer"
    vol = CloudVolume(url, info=seg_info())
    vol.commit_info()
    s = random_skeleton(11)
    assert vol.skeleton.meta.info["@type"] == "neuroglancer_skeletons"
    vol.skeleton.upload(s)
    same_values(vol.skeleton.get(11), s)
    same_values(vol.skeleton.get([11])[0], s)
    vol.skeleton.upload_raw(12, s.vertices, s.edges, s.radius, s.vertex_types)
    assert vol.skeleton.get(12).vertices.tolist() == s.vertices.tolist()
    vol.skeleton.meta.info["mip"] = 0
    vol.skeleton.meta.commit_info()
    assert vol.skeleton.meta.refresh_info()["mip"] == 0 and vol.skeleton.meta.mip == 0
    vol.skeleton.delete(12)
    assert vol.skeleton.get(12, allow_missing=True) is None
    vol.close()
    ro = CloudVolume(f"file://{tmp_path}/layer")
    ro._vol._read_only = True
    with pytest.raises(ReadOnlyException):
        ro.skeleton.upload(s)
    ro.close()


async def test_local_uploads_write_the_same_bytes_as_encoded_files(tmp_path):
    """file:// writes each skeleton's arrays with writev in the encoding hop; mem:// stores the
    joined encoding: every file is byte-identical, including empty skeletons and a skeleton
    with a custom attribute, and reads back exactly."""
    skels = [random_skeleton(s, n=n) for s, n in ((1, 50), (2, 1), (3, 2000), (4, 0))] + \
            [random_skeleton(s, n=30) for s in range(5, 80)]
    stored: dict[str, dict[str, bytes]] = {}
    for url in (f"file://{tmp_path}/layer", f"mem://skel-{os.urandom(4).hex()}/layer"):
        async with Volume(url, info=seg_info()) as vol:
            await vol.commit_info()
            await vol.skeleton.upload(skels)
            got = {s.id: s for s in await vol.skeleton.get([s.id for s in skels])}
            for s in skels:
                same_values(got[s.id], s)
            keys = [k async for k in vol.store.list("skeletons/") if not k.endswith("info")]
            stored[url.split(":")[0]] = {k: (await vol.store.get(k)).data for k in keys}
    assert len(stored["file"]) == len(skels)
    assert stored["file"] == stored["mem"]
