"""objects/mesh.py: Mesh against hand-built meshes and, for what CloudVolume defines, its Mesh."""

import pickle

import numpy as np
import pytest

from aiovolume.exceptions import MeshDecodeError
from aiovolume.geometry import Bbox
from aiovolume.objects.mesh import Mesh, unique_rows


def cube_pieces():
    """Two unit squares (2 triangles each) sharing the edge x=1: four seam vertices duplicated."""
    a = Mesh([[0, 0, 0], [1, 0, 0], [1, 1, 0], [0, 1, 0]], [[0, 1, 2], [0, 2, 3]], segid=3)
    b = Mesh([[1, 0, 0], [2, 0, 0], [2, 1, 0], [1, 1, 0]], [[0, 1, 2], [0, 2, 3]], segid=3)
    return a, b


def test_fields_and_dtypes():
    m = Mesh([[0, 0, 0], [1, 0, 0], [0, 1, 0]], [[0, 1, 2]], segid=5, encoding_type="precomputed")
    assert m.vertices.dtype == np.float32 and m.vertices.shape == (3, 3)
    assert m.faces.dtype == np.uint32 and m.faces.shape == (1, 3)
    assert m.normals.dtype == np.float32 and m.normals.shape == (0, 3)
    assert len(m) == 3 and not m.empty() and m.segid == 5
    assert repr(m) == "Mesh(vertices<3>, faces<1>, normals<0>, segid=5, encoding_type=<precomputed>)"
    assert m.triangles().shape == (1, 3, 3)
    assert sorted(m.edges()) == [(0, 1), (0, 2), (1, 2)]
    assert Mesh([], []).empty()


def test_equality_and_pickle():
    a, b = cube_pieces()
    assert a == a.clone() and a != b
    c = a.clone()
    c.normals = np.ones((4, 3), np.float32)
    assert a != c and c == c.clone()
    back = pickle.loads(pickle.dumps(c))
    assert back == c and back.segid == 3


def test_concatenate_and_consolidate():
    a, b = cube_pieces()
    both = Mesh.concatenate(a, b, segid=3)
    assert len(both) == 8 and both.faces.max() == 7 and both.segid == 3
    fused = both.consolidate()
    assert len(fused) == 6 and fused.faces.shape == (4, 3)
    # sorted vertices, and the same triangles as coordinates
    assert fused.vertices.tolist() == sorted(fused.vertices.tolist())
    assert sorted(map(sorted, fused.triangles().tolist())) == sorted(map(sorted, both.triangles().tolist()))
    # a repeated face disappears
    assert len(Mesh.concatenate(a, a).consolidate().faces) == 2


def test_unique_rows_matches_numpy():
    rng = np.random.default_rng(0)
    rows = rng.integers(0, 4, (500, 3)).astype(np.float32)
    u, inv, cnt = unique_rows(rows)
    nu, ninv, ncnt = np.unique(rows, axis=0, return_inverse=True, return_counts=True)
    assert np.array_equal(u, nu) and np.array_equal(inv, ninv.reshape(-1)) and np.array_equal(cnt, ncnt)


def test_deduplicate_chunk_boundaries():
    a, b = cube_pieces()
    both = Mesh.concatenate(a, b)
    merged = both.deduplicate_chunk_boundaries([1, 5, 5])
    assert len(merged) == 6  # seam vertices at x=1 (and x=0, x=2 also aligned, but single)
    kept = both.deduplicate_chunk_boundaries([3, 5, 5], offset=(0.5, 0.5, 0.5))
    assert len(kept) == 8  # no vertex sits on a boundary: nothing merged
    draco = both.deduplicate_chunk_boundaries([1, 5, 5], is_draco=True, draco_grid_size=0.01)
    assert len(draco) == 6
    with pytest.raises(MeshDecodeError):
        both.deduplicate_chunk_boundaries([1, 5, 5], is_draco=True)


def test_crop():
    a, b = cube_pieces()
    both = Mesh.concatenate(a, b)
    both.normals = np.arange(24, dtype=np.float32).reshape(8, 3)
    cropped = both.crop(Bbox((0, 0, 0), (1, 1, 1)))
    assert len(cropped) == 6 and cropped.faces.shape == (2, 3)
    assert cropped.faces.max() < len(cropped)
    assert cropped.normals.shape == (6, 3) and cropped.normals[0].tolist() == [0, 1, 2]
    assert cropped.triangles().max() <= 1


def test_precomputed_obj_ply_round_trips(tmp_path):
    a, _ = cube_pieces()
    assert Mesh.from_precomputed(a.to_precomputed()) == a
    assert Mesh.from_obj(a.to_obj()) == a
    assert Mesh.from_ply(a.to_ply()) == a
    assert a.to_obj().splitlines()[0] == b"v 0.00000 0.00000 0.00000"
    a.save(str(tmp_path / "a.ply"))
    a.save(str(tmp_path / "a.obj"))
    assert Mesh.load(str(tmp_path / "a.ply")) == a and Mesh.load(str(tmp_path / "a.obj")) == a
    assert Mesh.from_draco(a.to_draco()).faces.shape == (2, 3)


def test_obj_and_ply_variants():
    obj = b"# c\nv 0 0 0\nv 1 0 0\nv 1 1 0\nv 0 1 0\nvn 0 0 1\nvt 0 0\nf 1/1/1 2/2/1 3/3/1 4/4/1\nf -4 -3 -2\n"
    m = Mesh.from_obj(obj)
    assert m.faces.tolist() == [[0, 1, 2], [0, 2, 3], [0, 1, 2]] and m.normals.shape == (1, 3)
    ply = (b"ply\nformat ascii 1.0\ncomment x\nelement vertex 4\nproperty double x\nproperty double y\n"
           b"property double z\nproperty uchar red\nelement face 1\nproperty list uchar int vertex_index\n"
           b"end_header\n0 0 0 1\n1 0 0 1\n1 1 0 1\n0 1 0 1\n4 0 1 2 3\n")
    m = Mesh.from_ply(ply)
    assert m.faces.tolist() == [[0, 1, 2], [0, 2, 3]] and m.vertices[2].tolist() == [1, 1, 0]
    for bad in (b"nope", b"ply\nformat binary_big_endian 1.0\nend_header\n"):
        with pytest.raises(MeshDecodeError):
            Mesh.from_ply(bad)
    with pytest.raises(MeshDecodeError):
        Mesh.from_obj(b"v 0 0 0\nf 1 2 3\n")


@pytest.mark.interop
def test_same_as_cloudvolume_mesh():
    from cloudvolume.mesh import Mesh as CVMesh

    rng = np.random.default_rng(2)
    pieces = []
    for i in range(4):  # grid-aligned pieces with shared vertices
        v = rng.integers(0, 6, (60, 3)).astype(np.float32)
        f = rng.integers(0, 60, (80, 3)).astype(np.uint32)
        pieces.append((v, f))
    ours = Mesh.concatenate(*[Mesh(v, f) for v, f in pieces])
    theirs = CVMesh.concatenate(*[CVMesh(v, f) for v, f in pieces])
    for fn in (lambda m: m.consolidate(), lambda m: m.deduplicate_chunk_boundaries([2, 2, 2], offset=(1, 0, 0))):
        a, b = fn(ours), fn(theirs)
        assert np.array_equal(a.vertices, b.vertices) and np.array_equal(a.faces, b.faces)
    assert ours.to_obj() == theirs.to_obj()
    assert bytes(ours.to_ply()) == bytes(theirs.to_ply())
    assert ours.to_precomputed() == theirs.to_precomputed()
    box = Bbox((1, 1, 1), (4, 4, 4))
    from cloudvolume.lib import Bbox as CVBbox
    a, b = ours.crop(box), theirs.crop(CVBbox((1, 1, 1), (4, 4, 4)))
    assert np.array_equal(a.vertices, b.vertices) and np.array_equal(a.faces, b.faces)
