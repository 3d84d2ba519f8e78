"""``vol.meta``: PrecomputedMetadata's names, values equal to cloud-volume's on the same layer;
write locks as CloudVolume stores them."""

from __future__ import annotations

import inspect
import os

import numpy as np
import pytest

from aiovolume import Bbox, CloudVolume, Volume
from aiovolume.exceptions import (
    ReadOnlyException, ScaleUnavailableError, WriteLockAcquisitionError,
)
from volume_helpers import make_info

SIZE, OFFSET, CHUNK = (200, 130, 40), (10, 20, 3), (64, 64, 16)


def make_layer(url):
    """A 3-mip compressed_segmentation uint32 layer with an offset and ragged edges."""
    info = make_info("uint32", 1, size=SIZE, offset=OFFSET, chunk=CHUNK, layer_type="segmentation",
                     encoding="compressed_segmentation")
    vol = CloudVolume(url, info=info, progress=False)
    vol.add_scale((2, 2, 1))
    vol.add_scale((4, 4, 2), chunk_size=(32, 32, 8))
    vol.commit_info()
    return vol


PER_MIP = ["bounds", "bbox", "chunk_size", "resolution", "voxel_offset", "volume_size", "key", "encoding",
           "compressed_segmentation_block_size", "shape", "downsample_ratio", "voxels", "scale", "sharding"]
WHOLE = ["num_channels", "data_type", "layer_type", "keys", "basepath", "layerpath", "cloudpath", "infopath",
         "base_cloudpath", "dataset", "layer", "mesh", "skeletons", "info", "scales"]


def _plain(value):
    """Bbox / Vec / numpy values as plain lists for comparing across the two libraries."""
    if hasattr(value, "minpt"):
        return [_plain(value.minpt), _plain(value.maxpt)]
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


@pytest.mark.interop
def test_every_meta_value_equals_cloudvolumes(layer_url):
    from cloudvolume import CloudVolume as CV

    ours = make_layer(layer_url)
    theirs = CV(layer_url, progress=False, parallel=1)
    assert list(ours.meta.available_mips) == list(theirs.meta.available_mips) == [0, 1, 2]
    for mip in ours.meta.available_mips:
        for name in PER_MIP:
            a, b = getattr(ours.meta, name)(mip), getattr(theirs.meta, name)(mip)
            assert _plain(a) == _plain(b), (name, mip, a, b)
        # CloudVolume's resolution keeps the info's int/float type
        assert ours.meta.resolution(mip).dtype.kind == theirs.meta.resolution(mip).dtype.kind
        assert ours.meta.to_mip(list(theirs.meta.resolution(mip))) == theirs.meta.to_mip(list(theirs.meta.resolution(mip)))
        assert ours.meta.check_for_placeholder_scale(mip) is theirs.meta.check_for_placeholder_scale(mip) is False
        assert ours.image.is_sharded(mip) is theirs.image.is_sharded(mip) is False
        assert _plain(ours.image.grid_size(mip)) == _plain(theirs.image.grid_size(mip))
        assert ours.mip_ndim(mip) == theirs.mip_ndim(mip) == 4
    for name in WHOLE:
        assert _plain(getattr(ours.meta, name)) == _plain(getattr(theirs.meta, name)), name
    assert ours.meta.dtype == theirs.meta.dtype == np.uint32
    assert [list(r) for r in ours.meta.available_resolutions] == [list(r) for r in theirs.meta.available_resolutions]
    assert ours.meta.join("a", "b", "c") == theirs.meta.join("a", "b", "c")
    for name in ("basepath", "layerpath", "cache_path", "ndim", "base_cloudpath", "info_cloudpath"):
        assert getattr(ours, name) == getattr(theirs, name), name
    ours.close()


@pytest.mark.interop
@pytest.mark.parametrize("path", ["gs://bucket/ds/layer", "s3://bucket/a/b/layer", "mem://bucket/layer"])
def test_path_properties_equal_cloudvolumes_on_bucket_paths(path):
    from cloudvolume import CloudVolume as CV

    info = make_info()
    ours = Volume(path, info=info)  # nothing opened: path properties only
    theirs = CV(path.replace("mem://", "gs://"), info=info, provenance={}, progress=False)
    assert ours.basepath == theirs.basepath and ours.layerpath == theirs.layerpath
    assert ours.cache_path == theirs.cache_path.replace("/gs/", "/mem/" if path.startswith("mem") else "/gs/")


def test_cache_path_follows_cloudvolumes_environment_variables(monkeypatch, tmp_path):
    vol = Volume("gs://bucket/ds/layer")
    monkeypatch.delenv("CLOUD_VOLUME_CACHE_DIR", raising=False)
    monkeypatch.setenv("CLOUD_VOLUME_DIR", str(tmp_path / "cvdir"))
    assert vol.cache_path == str(tmp_path / "cvdir" / "cache" / "gs" / "bucket" / "ds" / "layer")
    monkeypatch.setenv("CLOUD_VOLUME_CACHE_DIR", str(tmp_path / "elsewhere"))
    assert vol.cache_path == str(tmp_path / "elsewhere" / "gs" / "bucket" / "ds" / "layer")
    assert not os.path.exists(tmp_path / "elsewhere")  # nothing is created


def test_meta_is_a_view_of_the_live_info(layer_url):
    with make_layer(layer_url) as vol:
        assert vol.meta.info is vol.info and vol.meta.scales is vol.info["scales"]
        assert vol.meta.scale(1) is vol.info["scales"][1]
        assert vol.meta.encoding(2, "raw") == "raw" and vol.info["scales"][2]["encoding"] == "raw"
        assert vol.mip_encoding(2) == "raw"
        assert vol.meta.encoding(2, "COMPRESSED_SEGMENTATION") == "compressed_segmentation"
        scale = vol.meta.add_resolution([16, 16, 40])
        assert scale is vol.info["scales"][3] and scale["key"] == "16_16_40"
        assert list(vol.meta.available_mips) == [0, 1, 2, 3] and vol.available_mips == [0, 1, 2, 3]
        vol.meta.reset_scales()  # in memory only
        assert list(vol.meta.available_mips) == [0]
    with CloudVolume(layer_url) as again:
        assert again.available_mips == [0, 1, 2]


async def test_meta_io_on_volume_is_async(layer_url):
    make_layer(layer_url).close()
    async with Volume(layer_url) as vol:
        for name in ("refresh_info", "commit_info", "lock_mips", "unlock_mips"):
            assert inspect.iscoroutinefunction(getattr(vol.meta, name)), name
        vol.info["scales"][0]["note"] = "edited"
        await vol.meta.commit_info()
        assert (await vol.meta.refresh_info())["scales"][0]["note"] == "edited"
        await vol.meta.lock_mips(1)
        assert vol.meta.locked_mips() == {1}


@pytest.mark.interop
def test_lock_mips_is_stored_as_cloudvolume_stores_it(layer_url):
    from cloudvolume import CloudVolume as CV
    from cloudvolume.exceptions import ReadOnlyException as CVReadOnly

    ours = make_layer(layer_url)
    ones = np.ones((64, 64, 16), np.uint32)
    ours.meta.lock_mips([1, 2])
    assert [s.get("locked", False) for s in ours.info["scales"]] == [False, True, True]
    theirs = CV(layer_url, progress=False, parallel=1)
    assert theirs.meta.locked_mips() == {1, 2} == ours.meta.locked_mips()
    with pytest.raises(CVReadOnly):
        theirs.image.upload(ones, (10, 20, 3), mip=1)
    with pytest.raises(ReadOnlyException, match="mip 1 .*write-locked.*unlock_mips\\(1\\)"):
        ours.upload(Bbox((10, 20, 3), (74, 84, 19)), ones, mip=1)
    with pytest.raises(ReadOnlyException, match="mip 2"):
        ours.delete(ours.meta.bounds(2), mip=2)
    ours.upload(Bbox((10, 20, 3), (74, 84, 19)), ones, mip=0)  # other mips stay writable
    assert (np.asarray(theirs[10:74, 20:84, 3:19]) == 1).all()

    theirs.meta.unlock_mips([1])  # CloudVolume's unlock is seen by us after a refresh
    ours.refresh_info()
    assert ours.meta.locked_mips() == {2}
    ours.meta.unlock_mips(2)
    theirs.refresh_info()
    assert theirs.meta.locked_mips() == set()
    assert [s.get("locked") for s in theirs.info["scales"]] == [None, False, False]
    ours.upload(Bbox((2, 5, 1), (34, 37, 9)), np.full((32, 32, 8), 5, np.uint32), mip=2)
    theirs.mip = 2
    assert (np.asarray(theirs[2:34, 5:37, 1:9]) == 5).all()
    ours.close()


def test_lock_mips_refuses_unknown_mips_and_uncommitted_layers(layer_url, tmp_path):
    with make_layer(layer_url) as vol:
        with pytest.raises(ScaleUnavailableError, match=r"\[3\]"):
            vol.meta.lock_mips([0, 3])
        assert vol.meta.locked_mips() == set()
    fresh = CloudVolume(f"file://{tmp_path}/never_committed", info=make_info())
    with pytest.raises(WriteLockAcquisitionError, match="unable to acquire the write lock on mips \\[0\\]") as err:
        fresh.meta.lock_mips(0)
    assert err.value.__cause__ is not None
    fresh.close()


def test_meta_provenance_is_the_volumes(layer_url):
    with make_layer(layer_url) as vol:
        assert vol.meta.provenance == {"sources": [], "owners": [], "processing": [], "description": ""}
        vol.meta.provenance.description = "via meta"
        vol.meta.commit_provenance()
        assert vol.provenance.description == "via meta"
        vol.provenance.description = "changed in memory"
        assert vol.meta.refresh_provenance().description == "via meta"
