"""mesh.py: MeshSource reads and writes (legacy, multires, sharded multires) on file:// layers."""

import gzip
import os

import numpy as np
import pytest

from aiovolume import CloudVolume, Volume
from aiovolume.exceptions import AiovolumeError, InfoError, MeshDecodeError, MeshMissingError
from aiovolume.objects.mesh import Mesh

from mesh_helpers import area, box_mesh, make_layer, triangle_set

SHARDING = {"@type": "neuroglancer_uint64_sharded_v1", "preshift_bits": 0, "hash": "murmurhash3_x86_128",
            "minishard_bits": 1, "shard_bits": 1, "minishard_index_encoding": "gzip", "data_encoding": "gzip"}


async def test_legacy_put_get(tmp_path):
    url = make_layer(tmp_path)
    a, b = box_mesh((0, 0, 0), (40, 40, 40), segid=7), box_mesh((100, 0, 0), (140, 40, 80), segid=9)
    async with Volume(url) as vol:
        await vol.mesh.put([a, b])
        assert (tmp_path / "mesh" / "7:0").exists() and (tmp_path / "mesh" / "7:0:1.gz").exists()
        one = await vol.mesh.get(7)
        assert isinstance(one, Mesh) and triangle_set(one) == triangle_set(a)
        both = await vol.mesh.get([7, 9], fuse=False)
        assert set(both) == {7, 9} and both[9].segid == 9 and triangle_set(both[9]) == triangle_set(b)
        fused = await vol.mesh.get([7, 9])
        assert len(fused) == len(a) + len(b)
        assert (await vol.mesh.exists([7, 8])) == {7: "mesh/7:0", 8: None}
        with pytest.raises(MeshMissingError, match="8"):
            await vol.mesh.get([7, 8])
        assert set(await vol.mesh.get([7, 8], fuse=False, allow_missing=True)) == {7}


async def test_legacy_multi_fragment_fuse_and_dedupe(tmp_path):
    url = make_layer(tmp_path)
    whole = box_mesh((0, 0, 0), (256, 256, 40), steps=8)
    left = whole.crop(type("B", (), {"minpt": (0, 0, 0), "maxpt": (128, 256, 40)})())
    right = whole.crop(type("B", (), {"minpt": (128, 0, 0), "maxpt": (256, 256, 40)})())
    (tmp_path / "mesh").mkdir()
    (tmp_path / "mesh" / "5:0").write_text('{"fragments": ["5:0:0-32_0-64_0-1", "5:0:32-64_0-64_0-1"]}')
    (tmp_path / "mesh" / "5:0:0-32_0-64_0-1").write_bytes(left.to_precomputed())
    (tmp_path / "mesh" / "5:0:32-64_0-64_0-1.gz").write_bytes(gzip.compress(right.to_precomputed()))
    async with Volume(url) as vol:
        raw = await vol.mesh.get(5, deduplicate_chunk_boundaries=False)
        assert len(raw) == len(left) + len(right)
        fused = await vol.mesh.get(5)
        seam = int(np.sum(whole.vertices[:, 0] == 128))
        assert len(fused) == len(left) + len(right) - seam
        chunked = await vol.mesh.get(5, chunk_size=(32, 64, 1))  # 32 voxels * 4 nm = 128 nm
        assert len(chunked) == len(fused)


async def test_corrupt_fragment_names_segment_and_fragment(tmp_path):
    url = make_layer(tmp_path)
    (tmp_path / "mesh").mkdir()
    (tmp_path / "mesh" / "3:0").write_text('{"fragments": ["3:0:1"]}')
    (tmp_path / "mesh" / "3:0:1").write_bytes(b"\x05\0\0\0junk")
    (tmp_path / "mesh" / "4:0").write_text('not json')
    async with Volume(url) as vol:
        with pytest.raises(MeshDecodeError, match=r"segment 3 fragment 3:0:1"):
            await vol.mesh.get(3)
        with pytest.raises(MeshDecodeError, match="segment 4"):
            await vol.mesh.get(4)
        (tmp_path / "mesh" / "3:0:1").write_bytes(b"DRACO" + bytes(30))
        with pytest.raises(MeshDecodeError, match=r"segment 3 fragment 3:0:1"):
            await vol.mesh.get(3)
        (tmp_path / "mesh" / "3:0:1").unlink()
        with pytest.raises(MeshMissingError, match="3:0:1"):
            await vol.mesh.get(3)


async def test_draco_legacy_fragment_read(tmp_path):
    url = make_layer(tmp_path)
    m = box_mesh((0, 0, 0), (64, 64, 64), steps=2)
    (tmp_path / "mesh").mkdir()
    (tmp_path / "mesh" / "2:0").write_text('{"fragments": ["2:0:1"]}')
    (tmp_path / "mesh" / "2:0:1").write_bytes(m.to_draco(quantization_bits=16))
    async with Volume(url) as vol:
        got = await vol.mesh.get(2)
        assert got.faces.shape == m.faces.shape
        assert np.allclose(sorted(got.vertices.tolist()), sorted(m.vertices.tolist()), atol=0.01)


async def test_put_replaces_old_fragments_and_delete(tmp_path):
    url = make_layer(tmp_path)
    (tmp_path / "mesh").mkdir()
    (tmp_path / "mesh" / "6:0").write_text('{"fragments": ["6:0:a", "6:0:b"]}')
    for n in ("6:0:a", "6:0:b"):
        (tmp_path / "mesh" / n).write_bytes(box_mesh((0, 0, 0), (1, 1, 1)).to_precomputed())
    new = box_mesh((0, 0, 0), (5, 5, 5), segid=6)
    async with Volume(url) as vol:
        await vol.mesh.put(new, compress=False)
        assert sorted(os.listdir(tmp_path / "mesh")) == ["6:0", "6:0:1"]
        assert triangle_set(await vol.mesh.get(6)) == triangle_set(new)
        await vol.mesh.delete(6)
        assert os.listdir(tmp_path / "mesh") == []


async def test_save_formats(tmp_path):
    url = make_layer(tmp_path / "layer")
    m = box_mesh((0, 0, 0), (8, 8, 8), segid=11)
    async with Volume(url) as vol:
        await vol.mesh.put(m)
        for fmt in ("obj", "ply", "precomputed"):
            await vol.mesh.save(11, filepath=str(tmp_path / f"out.{fmt}"), file_format=fmt)
        os.chdir(tmp_path)
        await vol.mesh.save([11], file_format="obj")
    assert Mesh.from_obj((tmp_path / "out.obj").read_bytes()) == Mesh.from_ply((tmp_path / "out.ply").read_bytes())
    assert Mesh.from_precomputed((tmp_path / "out.precomputed").read_bytes()) == \
        Mesh.from_obj((tmp_path / "11.obj").read_bytes())


def lods(segid, lo=(8, 8, 8), hi=(200, 120, 400)):
    return [box_mesh(lo, hi, segid=segid, steps=6), box_mesh(lo, hi, segid=segid, steps=2)]


@pytest.mark.parametrize("sharded", [False, True])
async def test_multires_write_read(tmp_path, sharded):
    url = make_layer(tmp_path)
    async with Volume(url) as vol:
        vol.mesh.to_multi_resolution(16)  # transform = resolution (4, 4, 40)
        if sharded:
            vol.mesh.to_sharded(SHARDING)
        await vol.mesh.commit_info()
        meshes = {s: lods(s, hi=(200 + s, 120, 400)) for s in (1, 2, 3, 1000)}
        await vol.mesh.put_multires(meshes, chunk_shape=(16, 16, 4))
    names = sorted(os.listdir(tmp_path / "mesh"))
    assert ("info" in names) and (any(n.endswith(".shard") for n in names) == sharded)
    async with Volume(url) as vol:
        info = vol.mesh.info if vol.mesh._meta else await vol.mesh.refresh_info()
        assert info["@type"] == "neuroglancer_multilod_draco" and ("sharding" in info) == sharded
        got = await vol.mesh.get([1, 2, 3, 1000])
        assert set(got) == {1, 2, 3, 1000}
        for s, mesh in got.items():
            src = meshes[s][0]
            assert abs(area(mesh) - area(src)) < 1e-3 * area(src)
            lo, hi = mesh.vertices.min(0), mesh.vertices.max(0)
            assert np.allclose(lo, src.vertices.min(0), atol=0.1) and np.allclose(hi, src.vertices.max(0), atol=0.1)
        coarse = await vol.mesh.get(2, lod=-1)
        assert abs(area(coarse[2]) - area(meshes[2][1])) < 1e-3 * area(meshes[2][1])
        manifest = await vol.mesh.get_manifest(2)
        assert manifest.num_lods == 2 and manifest.chunk_shape.tolist() == [16, 16, 4]
        with pytest.raises(MeshDecodeError, match="LOD 5"):
            await vol.mesh.get(2, lod=5)
        with pytest.raises(MeshMissingError, match="77"):
            await vol.mesh.get([2, 77])
        per_fragment = await vol.mesh.get(1, concat=False)
        assert len(per_fragment[1]) == int(np.sum(manifest.fragment_sizes[0] > 0)) or len(per_fragment[1]) > 1
        fused = await vol.mesh.get([1, 2], fuse=True)
        assert isinstance(fused, Mesh)
        if sharded:  # a second write merges into the shards: earlier segments stay
            await vol.mesh.put_multires({5: lods(5)})
            again = await vol.mesh.get([1, 5, 1000])
            assert set(again) == {1, 5, 1000} and triangle_set(again[1]) == triangle_set(got[1])


async def test_multires_requires_multires_info(tmp_path):
    url = make_layer(tmp_path)
    async with Volume(url) as vol:
        with pytest.raises(InfoError):
            await vol.mesh.put_multires({1: lods(1)})


def test_facade_mesh(tmp_path):
    url = make_layer(tmp_path)
    m = box_mesh((0, 0, 0), (16, 16, 16), segid=4)
    with CloudVolume(url) as cv:
        cv.mesh.put(m)
        assert triangle_set(cv.mesh.get(4)) == triangle_set(m)
        assert cv.mesh.info["@type"] == "neuroglancer_legacy_mesh"
        assert cv.mesh.exists([4]) == {4: "mesh/4:0"}


async def test_mesh_dir_option(tmp_path):
    url = make_layer(tmp_path, mesh_dir="mesh")
    async with Volume(url, mesh_dir="other_meshes") as vol:
        await vol.mesh.put(box_mesh((0, 0, 0), (1, 1, 1), segid=1))
    assert (tmp_path / "other_meshes" / "1:0").exists()


async def test_multires_corrupt_fragment_and_manifest(tmp_path):
    url = make_layer(tmp_path)
    async with Volume(url) as vol:
        vol.mesh.to_multi_resolution(10)
        await vol.mesh.commit_info()
        await vol.mesh.put_multires({4: lods(4)}, chunk_shape=(64, 64, 16))
        manifest = await vol.mesh.get_manifest(4)
        frag = tmp_path / "mesh" / "4"
        data = bytearray(frag.read_bytes())
        # fragments hold integer positions in [0, 2**10): Neuroglancer reads them undequantized
        from aiovolume.codecs import draco
        at = 0
        for size in manifest.fragment_sizes[0].tolist():
            if size:
                points, _ = draco.decode(bytes(data[at:at + size]))
                assert points.dtype == np.uint32 and int(points.max()) < 2 ** 10
            at += size
        first = int(manifest.fragment_sizes[0][0])
        data[:first] = b"\xff" * first  # the first fragment of LOD 0 is garbage now
        frag.write_bytes(bytes(data))
        with pytest.raises(MeshDecodeError, match=r"segment 4 .*fragment 0 of LOD 0"):
            await vol.mesh.get(4)
        index = tmp_path / "mesh" / "4.index"
        index.write_bytes(index.read_bytes()[:-4])
        with pytest.raises(MeshDecodeError, match="segment 4"):
            await vol.mesh.get(4)
        frag.unlink()
        index.unlink()
        with pytest.raises(MeshMissingError, match="4"):
            await vol.mesh.get(4)


async def test_sharded_meshes_replaced_elsewhere_are_read_afresh(tmp_path):
    """A long-lived reader holds a mesh shard's indexes; another writer replaces segment 1 with a
    bigger mesh (the shard's layout moves). The reader returns the new mesh, not bytes at the old
    offsets (the shard's version is checked on every manifest and fragment read)."""
    url = make_layer(tmp_path)
    async with Volume(url) as vol:
        vol.mesh.to_multi_resolution(16)
        vol.mesh.to_sharded(SHARDING)
        await vol.mesh.commit_info()
        await vol.mesh.put_multires({s: lods(s) for s in (1, 2, 3)}, chunk_shape=(16, 16, 4))
    async with Volume(url) as reader:
        before = await reader.mesh.get([1, 2, 3])
        bigger = lods(1, hi=(400, 300, 800))
        async with Volume(url) as writer:
            await writer.mesh.put_multires({1: bigger}, chunk_shape=(16, 16, 4))
        after = await reader.mesh.get([1, 2, 3])
        assert triangle_set(after[2]) == triangle_set(before[2]) and triangle_set(after[3]) == triangle_set(before[3])
        assert abs(area(after[1]) - area(bigger[0])) < 1e-3 * area(bigger[0])
        assert abs(area(after[1]) - area(before[1])) > 0.1 * area(before[1])


async def test_a_damaged_mesh_shard_is_a_typed_error_not_an_exception_group(tmp_path):
    url = make_layer(tmp_path)
    async with Volume(url) as vol:
        vol.mesh.to_multi_resolution(16)
        vol.mesh.to_sharded(SHARDING)  # two shard files
        await vol.mesh.commit_info()
        await vol.mesh.put_multires({s: lods(s) for s in range(1, 9)}, chunk_shape=(16, 16, 4))
    shards = sorted(p for p in os.listdir(tmp_path / "mesh") if p.endswith(".shard"))
    assert len(shards) == 2
    path = tmp_path / "mesh" / shards[0]
    path.write_bytes(path.read_bytes()[:40])  # the shard index, cut short
    async with Volume(url) as vol:
        with pytest.raises(AiovolumeError) as err:
            await vol.mesh.get(list(range(1, 9)))
        assert not isinstance(err.value, BaseExceptionGroup)
        assert shards[0] in str(err.value)
