"""Meshes across aiovolume and the real cloud-volume 12.15.2, both directions, on file:// layers."""

import shutil
from pathlib import Path

import numpy as np
import pytest

from aiovolume import Volume
from aiovolume.objects.mesh import Mesh

from mesh_helpers import box_mesh, make_layer, triangle_set

pytestmark = pytest.mark.interop
cloudvolume = pytest.importorskip("cloudvolume")
DATA = Path(__file__).parent / "data"
SHARDING = {"@type": "neuroglancer_uint64_sharded_v1", "preshift_bits": 0, "hash": "murmurhash3_x86_128",
            "minishard_bits": 2, "shard_bits": 1, "minishard_index_encoding": "gzip", "data_encoding": "gzip"}


def same(a, b):
    """Identical arrays (vertices float32, faces uint32)."""
    assert np.array_equal(np.asarray(a.vertices), np.asarray(b.vertices))
    assert np.array_equal(np.asarray(a.faces), np.asarray(b.faces))


def noisy(segid, seed, lo, hi):
    m = box_mesh(lo, hi, segid=segid, steps=5)
    rng = np.random.default_rng(seed)
    m.vertices += rng.uniform(-0.3, 0.3, m.vertices.shape).astype(np.float32)
    return m


async def test_cloudvolume_writes_legacy_we_read(tmp_path):
    url = make_layer(tmp_path)
    cv = cloudvolume.CloudVolume(url)
    src = {s: noisy(s, s, (s, 0, 0), (s + 50, 30, 90)) for s in (3, 8, 120)}
    cv.mesh.put([cloudvolume.Mesh(m.vertices, m.faces, segid=s) for s, m in src.items()])
    async with Volume(url) as vol:
        same(await vol.mesh.get([3, 8, 120]), cv.mesh.get([3, 8, 120]))
        ours = await vol.mesh.get([3, 8, 120], fuse=False)
        theirs = cv.mesh.get([3, 8, 120], fuse=False)
        for s in src:
            same(ours[s], theirs[s])
            assert triangle_set(ours[s]) == triangle_set(src[s])


async def test_we_write_legacy_cloudvolume_reads(tmp_path):
    url = make_layer(tmp_path)
    src = [noisy(s, s, (0, s, 0), (20, s + 70, 40)) for s in (1, 2, 99)]
    async with Volume(url) as vol:
        await vol.mesh.put(src)
        fused = await vol.mesh.get([1, 2, 99])
        apart = await vol.mesh.get([1, 2, 99], fuse=False)
    cv = cloudvolume.CloudVolume(url)
    same(cv.mesh.get([1, 2, 99]), fused)
    theirs = cv.mesh.get([1, 2, 99], fuse=False)
    for m in src:
        same(theirs[m.segid], apart[m.segid])
        assert triangle_set(theirs[m.segid]) == triangle_set(m)


async def test_cloudvolume_test_data_legacy(tmp_path):
    """cloud-volume's own test mesh (22 gzipped fragments) reads as cloud-volume reads it."""
    url = make_layer(tmp_path, mesh_dir="mesh_mip_2_err_40_sv16")
    layer = cloudvolume.CloudVolume(url)
    for factor in ((2, 2, 1), (4, 4, 1)):  # the mesh directory names mip 2
        layer.add_scale(factor)
    layer.commit_info()
    shutil.copytree(DATA / "mesh_mip_2_err_40_sv16", tmp_path / "mesh_mip_2_err_40_sv16")
    cv = cloudvolume.CloudVolume(url)
    async with Volume(url) as vol:
        fused = await vol.mesh.get(648518346349515986)
        same(fused, cv.mesh.get(648518346349515986))
        assert len(fused.faces) > 10000
        apart = await vol.mesh.get(648518346349515986, fuse=False)
        same(apart[648518346349515986], cv.mesh.get(648518346349515986, fuse=False)[648518346349515986])
        chunked = await vol.mesh.get(648518346349515986, chunk_size=(128, 128, 64))
        same(chunked, cv.mesh.get(648518346349515986, chunk_size=(128, 128, 64)))


async def test_draco_legacy_fragments(tmp_path):
    """The seung-lab fork's Draco legacy fragments decode as cloud-volume's Mesh.from_draco does."""
    url = make_layer(tmp_path)
    frags = sorted(p for p in (DATA / "mesh_mip_2_draco_sv16").iterdir() if p.name.count(":") == 2)
    (tmp_path / "mesh").mkdir()
    for p in frags:
        shutil.copy(p, tmp_path / "mesh" / p.name)
    (tmp_path / "mesh" / "5:0").write_text('{"fragments": [%s]}' % ", ".join(f'"{p.name}"' for p in frags))
    theirs = [cloudvolume.Mesh.from_draco(p.read_bytes()) for p in frags]
    async with Volume(url) as vol:
        apart = (await vol.mesh.get(5, fuse=False))[5]
        fused = await vol.mesh.get(5)
    same(apart, cloudvolume.Mesh.concatenate(*theirs))
    same(fused, cloudvolume.Mesh.concatenate(*theirs).consolidate())


@pytest.mark.parametrize("sharded", [False, True])
async def test_we_write_multires_cloudvolume_reads(tmp_path, sharded):
    url = make_layer(tmp_path, resolution=(8, 8, 40))
    src = {s: [noisy(s, s % 97, (16, 16, 40), (300 + s % 97, 200, 2000)), box_mesh((16, 16, 40), (300 + s % 97, 200, 2000),
                                                                         segid=s, steps=2)]
           for s in (7, 12, 2 ** 40 + 3)}
    async with Volume(url) as vol:
        vol.mesh.to_multi_resolution(16)
        if sharded:
            vol.mesh.to_sharded(SHARDING)
        await vol.mesh.commit_info()
        await vol.mesh.put_multires(src, chunk_shape=(8, 8, 8))
        ours = {lod: await vol.mesh.get(list(src), lod=lod) for lod in (0, 1)}
    cv = cloudvolume.CloudVolume(url)
    assert cv.mesh.meta.info["@type"] == "neuroglancer_multilod_draco"
    for lod in (0, 1):
        theirs = cv.mesh.get(list(src), lod=lod)
        assert set(theirs) == set(src)
        for s in src:
            same(ours[lod][s], theirs[s])
            # within the 16-bit quantization step of the source
            want, got = np.array(triangle_set(src[s][lod])), np.array(triangle_set(theirs[s]))
            assert got.shape[0] >= want.shape[0]
            lo, hi = src[s][lod].vertices.min(0), src[s][lod].vertices.max(0)
            assert np.allclose(theirs[s].vertices.min(0), lo, atol=0.05)
            assert np.allclose(theirs[s].vertices.max(0), hi, atol=0.05)
