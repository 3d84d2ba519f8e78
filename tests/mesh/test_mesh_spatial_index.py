"""Spatial index of a mesh directory: ours against hand-built files and the real cloud-volume."""

import itertools
import json

import numpy as np
import pytest

from aiovolume import Bbox, CloudVolume, Volume
from aiovolume.exceptions import InfoError, SpatialIndexGapError
from aiovolume.format.spatial import index_filenames, precision_of

from mesh_helpers import box_mesh, make_layer

CHUNK = [512, 512, 1280]  # nm; the layer is 256 x 256 x 64 voxels of 4 x 4 x 40 nm = 1024 x 1024 x 2560 nm


def write_index(root):
    """Eight cells; segment 1 spans the lower half of x, 2 one cell, 3 every cell."""
    (root / "mesh").mkdir(exist_ok=True)
    (root / "mesh" / "info").write_text(json.dumps({"@type": "neuroglancer_legacy_mesh",
                                                    "spatial_index": {"chunk_size": CHUNK}}))
    for x, y, z in itertools.product((0, 512), (0, 512), (0, 1280)):
        cell = {3: [x, y, z, x + 512, y + 512, z + 1280]}
        if x == 0:
            cell[1] = [10, y + 5, z + 5, 500, y + 100, z + 100]
        if (x, y, z) == (512, 512, 1280):
            cell[2] = [600, 600, 1300, 700, 700, 1400]
        name = f"{x}-{x + 512}_{y}-{y + 512}_{z}-{z + 1280}.spatial"
        (root / "mesh" / name).write_text(json.dumps({str(k): v for k, v in cell.items()}))


def test_filenames():
    assert precision_of([4, 4, 40]) == 0 and precision_of([4.0, 4, 40]) == 1 and precision_of([3.25, 1, 1]) == 2
    assert index_filenames((0, 0, 0), (10, 10, 10), (0, 0, 0), (600, 512, 1280), CHUNK, 1) == \
        ["0.0-512.0_0.0-512.0_0.0-1280.0.spatial"]
    assert index_filenames((0, 0, 0), (600, 10, 10), (0, 0, 0), (600, 512, 1280), CHUNK, 0) == \
        ["0-512_0-512_0-1280.spatial", "512-600_0-512_0-1280.spatial"]


async def test_query_locations_bbox(tmp_path):
    url = make_layer(tmp_path)
    write_index(tmp_path)
    async with Volume(url) as vol:
        index = vol.mesh.spatial_index
        assert await index.query(Bbox((0, 0, 0), (1024, 1024, 2560))) == {1, 2, 3}
        assert await index.query(Bbox((550, 550, 1290), (650, 650, 1350))) == {2, 3}
        assert await index.query([600, 0, 0, 1024, 400, 1000]) == {3}
        locations = await index.file_locations_per_label([1, 2])
        assert sorted(locations[1]) == sorted(f"0-512_{y}-{y + 512}_{z}-{z + 1280}.spatial"
                                              for y in (0, 512) for z in (0, 1280))
        assert locations[2] == ["512-1024_512-1024_1280-2560.spatial"]
        box = await index.get_bbox(1)
        assert box.minpt.tolist() == [10, 5, 5] and box.maxpt.tolist() == [500, 612, 1380]
        assert await index.get_bbox(99) is None
        (tmp_path / "mesh" / "0-512_0-512_0-1280.spatial").unlink()
        with pytest.raises(SpatialIndexGapError, match="0-512_0-512_0-1280"):
            await index.query(Bbox((0, 0, 0), (100, 100, 100)))
        assert await index.query(Bbox((0, 0, 0), (100, 100, 100)), allow_missing=True) == set()


async def test_get_bbox_meshes_and_no_index(tmp_path):
    url = make_layer(tmp_path)
    write_index(tmp_path)
    async with Volume(url) as vol:
        await vol.mesh.put([box_mesh((600, 600, 1300), (700, 700, 1400), segid=2),
                            box_mesh((0, 0, 0), (1024, 1024, 2560), segid=3)])
        found = await vol.mesh.get_bbox(Bbox((550, 550, 1290), (650, 650, 1350)))
        assert set(found) == {2, 3}
    other = make_layer(tmp_path / "plain")
    async with Volume(other) as vol:
        with pytest.raises(InfoError, match="spatial_index"):
            await vol.mesh.spatial_index.query(Bbox((0, 0, 0), (1, 1, 1)))
    assert CloudVolume(other).mesh.spatial_index is None


@pytest.mark.interop
def test_same_as_cloudvolume(tmp_path):
    cloudvolume = pytest.importorskip("cloudvolume")
    url = make_layer(tmp_path)
    write_index(tmp_path)
    ours, theirs = CloudVolume(url).mesh.spatial_index, cloudvolume.CloudVolume(url).mesh.spatial_index
    for box in ([0, 0, 0, 1024, 1024, 2560], [550, 550, 1290, 650, 650, 1350], [600, 0, 0, 1024, 400, 1000],
                [0, 0, 0, 20, 20, 20]):
        assert ours.query(box) == set(theirs.query(cloudvolume.Bbox(box[:3], box[3:])))
    mine, cv = ours.file_locations_per_label(), theirs.file_locations_per_label()
    assert {k: sorted(v) for k, v in mine.items()} == {k: sorted(v) for k, v in cv.items()}
    for label in (1, 2, 3):
        a, b = ours.get_bbox(label), theirs.get_bbox(label)
        assert a.minpt.tolist() == list(b.minpt) and a.maxpt.tolist() == list(b.maxpt)
    assert sorted(ours.index_file_paths_for_bbox([0, 0, 0, 600, 600, 10])) == \
        sorted(theirs.index_file_paths_for_bbox(cloudvolume.Bbox((0, 0, 0), (600, 600, 10))))


async def test_sqlite_database_answers_like_the_files(tmp_path):
    """spatial_index_db: a sqlite database built by to_sqlite serves labels, locations and boxes."""
    url = make_layer(tmp_path)
    write_index(tmp_path)
    db = str(tmp_path / "index.db")
    async with Volume(url) as vol:
        await vol.mesh.spatial_index.to_sqlite(db)
        from_files = await vol.mesh.spatial_index.file_locations_per_label()
    async with Volume(url, spatial_index_db=f"sqlite://{db}") as vol:
        index = vol.mesh.spatial_index
        assert index.sql_db == f"sqlite://{db}"
        for name in list((tmp_path / "mesh").glob("*.spatial"))[:2]:
            name.unlink()  # whole-layer queries and lookups no longer need the files
        assert await index.query(Bbox((0, 0, 0), (1024, 1024, 2560))) == {1, 2, 3}
        got = await index.file_locations_per_label()
        assert {k: sorted(v) for k, v in got.items()} == {k: sorted(v) for k, v in from_files.items()}
        assert list((await index.file_locations_per_label([2])).keys()) == [2]
        box = await index.get_bbox(2)  # reads only the one file the database names
        assert box.minpt.tolist() == [600, 600, 1300] and box.maxpt.tolist() == [700, 700, 1400]


def test_sqlite_only_and_big_labels(tmp_path):
    from aiovolume import spatial_sql
    from aiovolume.exceptions import UnsupportedFeatureError

    with pytest.raises(UnsupportedFeatureError, match="only sqlite"):
        spatial_sql.sqlite_path("mysql://u:p@h/db")
    with pytest.raises(UnsupportedFeatureError, match="only sqlite"):
        CloudVolume(make_layer(tmp_path), spatial_index_db="postgres://h/db")
    db = str(tmp_path / "big.db")
    spatial_sql.build(db, {"a.spatial": [2**64 - 1, 5], "b.spatial": [5]})
    assert spatial_sql.all_labels(db) == {2**64 - 1, 5}
    assert {k: sorted(v) for k, v in spatial_sql.files_per_label(db).items()} == {
        2**64 - 1: ["a.spatial"], 5: ["a.spatial", "b.spatial"]}
    assert spatial_sql.files_per_label(db, []) == {}


@pytest.mark.interop
def test_sqlite_database_shared_with_cloudvolume(tmp_path):
    from cloudvolume import CloudVolume as CV

    url = make_layer(tmp_path)
    write_index(tmp_path)
    ours, theirs = str(tmp_path / "ours.db"), str(tmp_path / "theirs.db")
    with CloudVolume(url) as vol:
        vol.mesh.spatial_index.to_sqlite(ours)
    CV(url, progress=False).mesh.spatial_index.to_sqlite(theirs)
    for db in (ours, theirs):
        cv = CV(url, progress=False, spatial_index_db=f"sqlite://{db}")
        with CloudVolume(url, spatial_index_db=f"sqlite://{db}") as vol:
            a = vol.mesh.spatial_index.file_locations_per_label()
            b = cv.mesh.spatial_index.file_locations_per_label()
            assert {k: sorted(v) for k, v in a.items()} == {int(k): sorted(v) for k, v in b.items()}
            assert vol.mesh.spatial_index.query(Bbox((0, 0, 0), (1024, 1024, 2560))) == \
                set(int(x) for x in cv.mesh.spatial_index.query([0, 0, 0, 1024, 1024, 2560]))
