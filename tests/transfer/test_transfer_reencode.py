"""transfer_to with another codec or sharding: values exact, and the real cloud-volume reads
what was written (and agrees with its own transfer_to on the info)."""

from __future__ import annotations

import numpy as np
import pytest

from aiovolume import Volume
from aiovolume.pipeline import transfer
from transfer_helpers import layer_dir, make_layer, stored_files, url

CASES = {
    # name: (source dtype, source encoding, source sharded, transfer kwargs)
    "raw->gzip": ("uint8", "raw", False, dict(compress="gzip")),
    "raw->cseg": ("uint32", "raw", False, dict(encoding="compressed_segmentation")),
    "raw->cseg sharded": ("uint32", "raw", False, dict(encoding="compressed_segmentation", sharded=True)),
    "cseg sharded->raw": ("uint32", "compressed_segmentation", True, dict(encoding="raw", sharded=False)),
    "raw->png": ("uint8", "raw", False, dict(encoding="png")),
}


def _cloudvolume_reads(path: str) -> np.ndarray:
    from cloudvolume import CloudVolume as CV

    theirs = CV(path, parallel=1, progress=False)
    return np.asarray(theirs[theirs.bounds])


@pytest.mark.interop
@pytest.mark.parametrize("case", sorted(CASES))
async def test_reencoded_values_are_exact_and_cloudvolume_reads_them(tmp_path, case):
    dtype, encoding, sharded, kwargs = CASES[case]
    layer_type = "segmentation" if dtype == "uint32" else "image"
    src = url(tmp_path, "src")
    data = await make_layer(src, dtype=dtype, encoding=encoding, sharded=sharded, layer_type=layer_type)
    async with Volume(src) as vol:
        dest = await vol.transfer_to(url(tmp_path, "dst"), vol.bounds, **kwargs)
        how = transfer.method(transfer.Side(vol._source(0), vol._format(0)),
                              transfer.Side(dest._source(0), dest._format(0)))
    assert how == ("bytes" if case == "raw->gzip" else "transcode")
    async with dest:
        scale = dest.info["scales"][0]
        assert scale["encoding"] == kwargs.get("encoding", encoding)
        assert ("sharding" in scale) is kwargs.get("sharded", sharded)
        np.testing.assert_array_equal(np.asarray(await dest.download(dest.bounds)), data)
    np.testing.assert_array_equal(_cloudvolume_reads(url(tmp_path, "dst")), data)
    files = stored_files(layer_dir(url(tmp_path, "dst")))
    if case == "raw->gzip":
        assert all(name.endswith(".gz") for name in files)
    if kwargs.get("sharded"):
        assert files and all(name.endswith(".shard") for name in files)


@pytest.mark.interop
async def test_new_destination_info_matches_cloudvolumes_transfer(tmp_path):
    from cloudvolume import CloudVolume as CV

    src = url(tmp_path, "src")
    await make_layer(src, dtype="uint32", layer_type="segmentation")
    CV(src, parallel=1, progress=False).transfer_to(url(tmp_path, "theirs"), CV(src).bounds,
                                                   encoding="compressed_segmentation")
    async with Volume(src) as vol:
        dest = await vol.transfer_to(url(tmp_path, "ours"), vol.bounds, encoding="compressed_segmentation")
    async with dest:
        theirs = CV(url(tmp_path, "theirs"), progress=False)
        assert dest.info["scales"] == theirs.info["scales"]
        np.testing.assert_array_equal(np.asarray(await dest.download(dest.bounds)),
                                      np.asarray(theirs[theirs.bounds]))
