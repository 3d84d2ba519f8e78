"""Skeletons across aiovolume and the real cloud-volume 12.15.2 / osteoid, on file:// layers.

- cloud-volume writes (unsharded ``.gz`` files without a skeleton info; with default and custom
  attributes; with a non-identity transform; sharded murmurhash shards) -> we read identically
  to cloud-volume's own read;
- we write (unsharded, sharded) -> cloud-volume reads identically, and finds the info;
- SWC text crosses both ways; Skeleton operations agree with osteoid's on random trees.
"""

from __future__ import annotations

import json
import os
import sys

import numpy as np
import pytest

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from aiovolume import CloudVolume, Skeleton  # noqa: E402
from aiovolume.exceptions import SpatialIndexGapError  # noqa: E402
from volume_helpers import make_info  # noqa: E402

cloudvolume = pytest.importorskip("cloudvolume")
osteoid = pytest.importorskip("osteoid")
pytestmark = pytest.mark.interop

SHARDING = {"@type": "neuroglancer_uint64_sharded_v1", "preshift_bits": 0, "hash": "murmurhash3_x86_128",
            "minishard_bits": 3, "shard_bits": 0, "minishard_index_encoding": "gzip", "data_encoding": "gzip"}
CUSTOM = [{"id": "radius", "data_type": "float32", "num_components": 1},
          {"id": "vertex_types", "data_type": "uint8", "num_components": 1},
          {"id": "label", "data_type": "uint16", "num_components": 1},
          {"id": "rgb", "data_type": "uint8", "num_components": 3}]


def seg_info():
    info = make_info("uint64", layer_type="segmentation", encoding="raw")
    info["skeletons"] = "skeletons"
    return info


def tree(n, seed):
    rng = np.random.default_rng(seed)
    parents = np.array([rng.integers(max(0, i - 5), i) for i in range(1, n)])
    edges = np.stack([parents, np.arange(1, n)], axis=1).astype(np.uint32)
    vertices = (rng.random((n, 3)) * 1000).astype(np.float32)
    return vertices, edges, rng.random(n).astype(np.float32) * 10, rng.integers(0, 5, n).astype(np.uint8)


def cv_skeleton(segid, n=200, custom=False):
    v, e, r, t = tree(n, segid)
    s = cloudvolume.Skeleton(v, e, r, t, segid=segid)
    if custom:
        s.extra_attributes = [dict(a) for a in CUSTOM]
        s.label = (np.arange(n) * 7 % 65000).astype(np.uint16)
        s.rgb = (np.arange(3 * n) % 251).astype(np.uint8).reshape(n, 3)
    return s


def ours(s):
    """Our Skeleton from an osteoid one (same arrays, attributes, id)."""
    out = Skeleton(s.vertices, s.edges, segid=s.id, extra_attributes=s.extra_attributes, default_attributes=False)
    for a in s.extra_attributes:
        arr = np.asarray(getattr(s, a["id"]))
        # osteoid's downsample returns one-component attributes as (N, 1)
        setattr(out, a["id"], arr.reshape(-1) if int(a["num_components"]) == 1 else arr)
    return out


def same(a, b):
    """An osteoid and an aiovolume skeleton hold the same values (arrays bit for bit)."""
    assert int(a.id) == int(b.id)
    assert a.vertices.dtype == b.vertices.dtype and a.vertices.tobytes() == b.vertices.tobytes()
    assert np.array_equal(a.edges, b.edges)
    assert [dict(x) for x in a.extra_attributes] == [dict(x) for x in b.extra_attributes]
    for attr in a.extra_attributes:
        x, y = np.asarray(getattr(a, attr["id"])), np.asarray(getattr(b, attr["id"]))
        assert x.dtype == y.dtype and x.shape == y.shape and x.tobytes() == y.tobytes(), attr["id"]
    assert a.space == b.space
    np.testing.assert_array_equal(a.transform, b.transform)


@pytest.mark.parametrize("custom", [False, True], ids=["default-attrs", "custom-attrs"])
def test_we_read_cloudvolume_unsharded(tmp_path, custom):
    url = f"file://{tmp_path}/seg"
    cv = cloudvolume.CloudVolume(url, info=seg_info())
    cv.commit_info()
    if custom:
        cv.skeleton.meta.info["vertex_attributes"] = CUSTOM
        cv.skeleton.meta.commit_info()
        cv = cloudvolume.CloudVolume(url)
    written = [cv_skeleton(s, custom=custom) for s in (3, 17, 2**33)]
    cv.skeleton.upload(written)
    assert sorted(os.listdir(tmp_path / "seg" / "skeletons"))[0].endswith(".gz")  # what cloud-volume does
    theirs = cv.skeleton.get([3, 17, 2**33])
    with CloudVolume(url) as vol:
        mine = vol.skeleton.get([3, 17, 2**33])
        if not custom:  # cloud-volume left no info: our first upload writes the layout its files have
            vol.skeleton.upload(ours(cv_skeleton(99)))
            assert vol.skeleton.meta.info["vertex_attributes"][1]["data_type"] == "uint8"
            assert [s.id for s in vol.skeleton.get([3, 99])] == [3, 99]
    for a, b in zip(sorted(theirs, key=lambda s: s.id), mine):
        same(a, b)


def test_we_read_cloudvolume_with_a_transform(tmp_path):
    url = f"file://{tmp_path}/seg"
    cv = cloudvolume.CloudVolume(url, info=seg_info())
    cv.commit_info()
    cv.skeleton.meta.info["transform"] = [4, 0, 0, 10, 0, 4, 0, 20, 0, 0, 40, 30]
    cv.skeleton.meta.commit_info()
    cv = cloudvolume.CloudVolume(url)
    cv.skeleton.upload(cv_skeleton(5))
    theirs = cv.skeleton.get(5)
    with CloudVolume(url) as vol:
        mine = vol.skeleton.get(5)
    np.testing.assert_allclose(mine.vertices, theirs.vertices, rtol=1e-6)  # float64 vs float32 matmul
    np.testing.assert_array_equal(mine.transform, theirs.transform)
    np.testing.assert_array_equal(mine.radius, theirs.radius)


def test_we_read_cloudvolume_sharded(tmp_path):
    url = f"file://{tmp_path}/seg"
    cv = cloudvolume.CloudVolume(url, info=seg_info())
    cv.commit_info()
    cv.skeleton.meta.info["sharding"] = SHARDING
    cv.skeleton.meta.commit_info()
    cv = cloudvolume.CloudVolume(url)
    ids = [1, 2, 3, 1000, 2**40]
    cv.skeleton.upload([cv_skeleton(s) for s in ids])
    assert os.listdir(tmp_path / "seg" / "skeletons") == ["0.shard", "info"] or \
        sorted(os.listdir(tmp_path / "seg" / "skeletons")) == ["0.shard", "info"]
    theirs = cv.skeleton.get(ids)
    with CloudVolume(url) as vol:
        mine = vol.skeleton.get(ids)
        assert vol.skeleton.list().tolist() == sorted(ids)
    for a, b in zip(theirs, mine):
        same(a, b)


@pytest.mark.parametrize("sharded", [False, True], ids=["unsharded", "sharded"])
@pytest.mark.parametrize("custom", [False, True], ids=["default-attrs", "custom-attrs"])
def test_cloudvolume_reads_ours(tmp_path, sharded, custom):
    url = f"file://{tmp_path}/seg"
    info = seg_info()
    del info["skeletons"]  # our first upload points the layer at the skeletons
    skels = [ours(cv_skeleton(s, custom=custom)) for s in (4, 44, 444)]
    with CloudVolume(url, info=info) as vol:
        vol.commit_info()
        if sharded:
            vol.skeleton.meta.info["sharding"] = SHARDING
            vol.skeleton.meta.info["vertex_attributes"] = skels[0].extra_attributes
            vol.skeleton.meta.commit_info()
        vol.skeleton.upload(skels[:2])
        vol.skeleton.upload(skels[2:])  # a second upload merges into the shard
    names = sorted(os.listdir(tmp_path / "seg" / "skeletons"))
    assert names == (["0.shard", "info"] if sharded else ["4", "44", "444", "info"])  # no .gz: Neuroglancer finds them
    cv = cloudvolume.CloudVolume(url)
    stored = cv.skeleton.meta.info["vertex_attributes"]
    if sharded:  # an info committed before the upload is followed as it is
        assert stored == skels[0].extra_attributes
    else:  # the info our upload creates: 8/16-bit integers as float32, which Neuroglancer draws
        assert [a["id"] for a in stored] == [a["id"] for a in skels[0].extra_attributes]
        assert {a["data_type"] for a in stored} == {"float32"}
    theirs = cv.skeleton.get([4, 44, 444])
    for a, b in zip(sorted(theirs, key=lambda s: s.id), skels):
        b = b.clone()
        b.space = "physical"
        b.extra_attributes = stored
        for attr in stored:
            setattr(b, attr["id"], np.asarray(getattr(b, attr["id"])).astype(attr["data_type"]))
        same(a, b)


def test_cloudvolume_reads_ours_with_a_transform_once(tmp_path):
    url = f"file://{tmp_path}/seg"
    s = ours(cv_skeleton(8))
    s.space = "physical"
    with CloudVolume(url, info=seg_info()) as vol:
        vol.commit_info()
        vol.skeleton.meta.info["transform"] = [8, 0, 0, -3, 0, 8, 0, 5, 0, 0, 40, 7]
        vol.skeleton.meta.commit_info()
        vol.skeleton.upload(s)
    theirs = cloudvolume.CloudVolume(url).skeleton.get(8)
    np.testing.assert_allclose(theirs.vertices, s.vertices, rtol=1e-5, atol=1e-3)


def test_swc_crosses_both_ways():
    v, e, r, t = tree(300, 1)
    theirs = cloudvolume.Skeleton(v, e, r, t, segid=1)
    mine = Skeleton(v, e, r, t, segid=1)
    from_cv = Skeleton.from_swc(theirs.to_swc())
    six = np.vectorize(lambda x: float(f"{x:0.6f}"))  # cloud-volume writes 6 decimals (lossy)
    expect = Skeleton(six(v).astype(np.float32), e, six(r).astype(np.float32), t)
    assert Skeleton.equivalent(from_cv, expect)
    back = cloudvolume.Skeleton.from_swc(mine.to_swc())
    assert Skeleton.equivalent(ours(back), mine)  # 9 significant digits: float32 exact
    assert back.vertices.tobytes() != b"" and np.array_equal(np.sort(back.radius), np.sort(r))


def test_parent_zero_root_which_cloudvolume_cannot_read():
    text = "1 1 0 0 0 1 0\n2 3 1 0 0 1 1\n3 3 2 0 0 1 2\n"
    with pytest.raises(KeyError):
        cloudvolume.Skeleton.from_swc(text)
    assert Skeleton.from_swc(text).cable_length() == 2


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_operations_agree_with_osteoid(seed):
    v, e, r, t = tree(3000, seed)
    e = np.concatenate([e, e[:50, ::-1], [[5, 5]]])  # repeated edges and a self loop
    v[100] = v[7]  # a duplicate vertex
    theirs = osteoid.Skeleton(v, e, r, t, segid=1)
    mine = Skeleton(v, e, r, t, segid=1)
    assert mine.cable_length() == pytest.approx(float(theirs.cable_length()), rel=1e-5)
    assert mine.terminals().tolist() == theirs.terminals().tolist()
    assert mine.branches().tolist() == theirs.branches().tolist()
    assert Skeleton.equivalent(mine.consolidate(), ours(theirs.consolidate()))
    clean = Skeleton(*tree(3000, seed), segid=1)
    clean_theirs = osteoid.Skeleton(*tree(3000, seed), segid=1)
    for factor in (2, 5):
        assert Skeleton.equivalent(clean.downsample(factor), ours(clean_theirs.downsample(factor)))
    assert sorted(len(p) for p in clean.interjoint_paths()) == sorted(len(p) for p in clean_theirs.interjoint_paths())
    a, b = clean.components(), clean_theirs.components()
    assert len(a) == len(b) == 1
    split = Skeleton.simple_merge([clean, Skeleton(v + 5000, *tree(3000, seed)[1:], segid=1)])
    split_theirs = osteoid.Skeleton.simple_merge([clean_theirs, osteoid.Skeleton(v + 5000, *tree(3000, seed)[1:])])
    assert [len(c.vertices) for c in split.components()] == [len(c.vertices) for c in split_theirs.components()]
    crop = [[100, 100, 100], [600, 700, 800]]
    a, b = clean.crop(crop), ours(clean_theirs.crop(cloudvolume.Bbox(*crop)))
    # geometry only: osteoid's crop can give the first kept vertex an outside vertex's attributes
    a.extra_attributes = b.extra_attributes = []
    assert Skeleton.equivalent(a, b)


@pytest.mark.parametrize("resolution", [[4, 4, 40], [4.5, 4.5, 40.25]], ids=["int-res", "float-res"])
def test_spatial_index_query_as_cloudvolume(tmp_path, resolution):
    """.spatial files (as igneous writes them) queried by cloud-volume and by us: same file
    names, same segment ids for boxes inside, across and outside cells; get_bbox and list."""
    info = seg_info()
    info["scales"][0]["resolution"] = resolution
    url = f"file://{tmp_path}/seg"
    cv = cloudvolume.CloudVolume(url, info=info)
    cv.commit_info()
    size = np.asarray(cv.bounds.size3(), np.float64) * resolution  # physical size of the layer
    chunk = (size / [2, 2, 2]).tolist()
    cv.skeleton.meta.info["spatial_index"] = {"chunk_size": chunk, "resolution": resolution}
    cv.skeleton.meta.commit_info()
    cv = cloudvolume.CloudVolume(url)
    rng = np.random.default_rng(3)
    boxes = {}
    for segid in range(1, 41):
        lo = rng.random(3) * size * 0.9
        boxes[segid] = np.concatenate([lo, lo + rng.random(3) * size * 0.1])
    skel_dir = tmp_path / "seg" / "skeletons"
    for path in cv.skeleton.spatial_index.index_file_paths_for_bbox(cv.skeleton.spatial_index.physical_bounds):
        cell = cloudvolume.Bbox.from_filename(path.replace(".spatial", ""), dtype=np.float64)
        inside = {str(s): b.tolist() for s, b in boxes.items()
                  if cloudvolume.Bbox.intersects(cloudvolume.Bbox(b[:3], b[3:]), cell)}
        (skel_dir / path).write_text(json.dumps(inside))
    cv.skeleton.upload([cv_skeleton(s, n=20) for s in boxes])
    queries = [[[0, 0, 0], size.tolist()], [(size * 0.2).tolist(), (size * 0.6).tolist()],
               [(size * 0.45).tolist(), (size * 0.55).tolist()], [(size * 2).tolist(), (size * 3).tolist()]]
    with CloudVolume(url) as vol:
        for q in queries:
            truth = {s for s, b in boxes.items() if np.all(b[:3] < q[1]) and np.all(b[3:] > q[0])}
            theirs = set(cv.skeleton.spatial_index.query(cloudvolume.Bbox(q[0], q[1])))
            mine = vol.skeleton.spatial_query(q)
            # cloud-volume skips the box test when the query grown to whole cells covers the
            # layer, and then returns every segment of those cells: a superset
            assert mine == truth and mine <= theirs, q
        assert vol.skeleton.spatial_query(queries[0]) == set(cv.skeleton.spatial_index.query(cv.bounds * resolution))
        q = queries[1]
        got = [s.id for s in vol.skeleton.get_bbox(q)]
        assert got == sorted(s for s, b in boxes.items() if np.all(b[:3] < q[1]) and np.all(b[3:] > q[0])) and got
        assert vol.skeleton.list().tolist() == sorted(boxes)
        os.remove(skel_dir / sorted(os.listdir(skel_dir))[0])
        with pytest.raises(SpatialIndexGapError):
            vol.skeleton.spatial_query(queries[0])
        assert vol.skeleton.spatial_query(queries[0], allow_missing=True) <= set(boxes)


@pytest.mark.parametrize("num_labels", [0, 1, 100, 1365, 1366, 5000, 10**5, 10**6, 10**7, 3 * 10**8])
@pytest.mark.parametrize("min_shards", [1, 3, 64])
def test_to_sharded_sizes_shards_as_cloudvolume(tmp_path, num_labels, min_shards):
    from cloudvolume.datasource.precomputed.sharding import compute_shard_params_for_hashed

    shard_bits, minishard_bits, preshift = compute_shard_params_for_hashed(num_labels, min_shards=min_shards)
    with CloudVolume(f"file://{tmp_path}/seg", info=seg_info()) as vol:
        vol.skeleton.to_sharded(num_labels, min_shards=min_shards)
        spec = vol.skeleton.meta.info["sharding"]
    assert (spec["shard_bits"], spec["minishard_bits"], spec["preshift_bits"]) == (shard_bits, minishard_bits, preshift)
    assert spec["hash"] == "murmurhash3_x86_128" and spec["data_encoding"] == "gzip"
