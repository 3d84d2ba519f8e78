"""transfer_to when both scales have the same codec and chunk grid: chunks (and whole shard files)
are copied as stored, byte for byte; only what differs is converted."""

from __future__ import annotations

import gzip

import numpy as np
import pytest

from aiovolume import Bbox, CloudVolume, Volume
from aiovolume.exceptions import EmptyVolumeException
from aiovolume.pipeline import transfer
from transfer_helpers import OFFSET, SIZE, layer_dir, make_layer, stored_files, url


async def test_unsharded_chunks_are_copied_as_stored(tmp_path):
    src = url(tmp_path, "src")
    data = await make_layer(src)  # gzip (the default for raw)
    async with Volume(src) as vol:
        dest = await vol.transfer_to(url(tmp_path, "dst"), vol.bounds)
        assert dest.info == vol.info
    theirs, ours = stored_files(layer_dir(src)), stored_files(layer_dir(url(tmp_path, "dst")))
    assert len(theirs) == 3 * 2 * 3 and all(name.endswith(".gz") for name in theirs)
    assert ours == theirs  # same names, same bytes
    async with dest:
        np.testing.assert_array_equal(np.asarray(await dest.download(dest.bounds)), data)


async def test_compress_false_converts_transport_only(tmp_path):
    src = url(tmp_path, "src")
    data = await make_layer(src)
    async with Volume(src) as vol:
        dest = await vol.transfer_to(url(tmp_path, "dst"), vol.bounds, compress=False)
    theirs, ours = stored_files(layer_dir(src)), stored_files(layer_dir(url(tmp_path, "dst")))
    assert {k.removesuffix(".gz"): gzip.decompress(v) for k, v in theirs.items()} == ours
    async with dest:
        np.testing.assert_array_equal(np.asarray(await dest.download(dest.bounds)), data)


async def test_a_region_copies_its_chunks_grown_to_the_grid(tmp_path):
    src = url(tmp_path, "src")
    data = await make_layer(src)
    async with Volume(src, fill_missing=True) as vol:
        dest = await vol.transfer_to(url(tmp_path, "dst"), Bbox((-60, 10, -10), (-10, 70, 2)))
    names = sorted(stored_files(layer_dir(url(tmp_path, "dst"))))
    # x: chunk -70..-6; y: chunks 5..69 and 69..105; z: chunks -16..0 and 0..16
    assert names == sorted(f"-70--6_{y}_{z}.gz" for y in ("5-69", "69-105") for z in ("-16-0", "0-16"))
    async with dest:
        box = Bbox((-70, 5, -16), (-6, 105, 16))
        lo = np.subtract(box.minpt, OFFSET)
        np.testing.assert_array_equal(np.asarray(await dest.download(box)),
                                      data[lo[0]:lo[0] + 64, lo[1]:lo[1] + 100, lo[2]:lo[2] + 32])


async def test_sharded_to_sharded_copies_shard_files(tmp_path):
    src = url(tmp_path, "src")
    data = await make_layer(src, sharded=True)
    async with Volume(src) as vol:
        assert transfer.method(*(transfer.Side(vol._source(0), vol._format(0)),) * 2) == "shards"
        dest = await vol.transfer_to(url(tmp_path, "dst"), vol.bounds)
    theirs, ours = stored_files(layer_dir(src)), stored_files(layer_dir(url(tmp_path, "dst")))
    assert len(theirs) > 1 and all(n.endswith(".shard") for n in theirs)
    assert ours == theirs
    async with dest:
        np.testing.assert_array_equal(np.asarray(await dest.download(dest.bounds)), data)


async def test_partial_shards_are_merged_into_the_destination(tmp_path):
    src = url(tmp_path, "src")
    data = await make_layer(src, sharded=True)
    async with Volume(src) as vol:
        # two regions, each covering part of some shards: the second merges with the first
        box1, box2 = Bbox((-70, 5, -16), (60, 69, 0)), Bbox((-70, 69, -16), (60, 105, 24))
        await vol.transfer_to(url(tmp_path, "dst"), box1)
        dest = await vol.transfer_to(url(tmp_path, "dst"), box2)
    async with dest:
        got = np.asarray(await dest.download(Bbox((-70, 5, -16), (60, 105, 0))))
        np.testing.assert_array_equal(got, data[:, :, :16])
        assert not any((await dest.exists(Bbox((-70, 5, 0), (60, 69, 16)))).values())


@pytest.mark.parametrize("direction", ["to_sharded", "to_unsharded"])
async def test_sharding_changes_without_decoding(tmp_path, direction):
    src = url(tmp_path, "src")
    data = await make_layer(src, sharded=direction == "to_unsharded")
    async with Volume(src) as vol:
        sharded = direction == "to_sharded"
        dest = await vol.transfer_to(url(tmp_path, "dst"), vol.bounds, sharded=sharded)
        assert transfer.method(transfer.Side(vol._source(0), vol._format(0)),
                               transfer.Side(dest._source(0), dest._format(0))) == "bytes"
    async with dest:
        assert ("sharding" in dest.info["scales"][0]) is sharded
        np.testing.assert_array_equal(np.asarray(await dest.download(dest.bounds)), data)


async def test_missing_chunks_raise_unless_fill_missing(tmp_path):
    src = url(tmp_path, "src")
    await make_layer(src)
    first = Bbox(OFFSET, np.add(OFFSET, (64, 64, 16)))
    async with Volume(src) as vol:
        await vol.delete(first)
        with pytest.raises(EmptyVolumeException, match="fill_missing=True"):
            await vol.transfer_to(url(tmp_path, "dst"), vol.bounds)
        vol.fill_missing = True
        dest = await vol.transfer_to(url(tmp_path, "dst2"), vol.bounds)
    names = stored_files(layer_dir(url(tmp_path, "dst2")))
    assert len(names) == 17 and "-70--6_5-69_-16-0.gz" not in names  # skipped, not an empty file


async def test_existing_destination_with_another_grid_is_written_in_blocks(tmp_path):
    src = url(tmp_path, "src")
    data = await make_layer(src)
    dst = url(tmp_path, "dst")
    await make_layer(dst, chunk=(32, 32, 8), data=np.zeros((*SIZE, 1), np.uint8))
    async with Volume(src) as vol:
        dest = await vol.transfer_to(dst, vol.bounds, block_size=3)
    async with dest:
        assert dest.chunk_size.tolist() == [32, 32, 8]
        np.testing.assert_array_equal(np.asarray(await dest.download(dest.bounds)), data)


def test_facade_returns_a_cloudvolume(tmp_path):
    import asyncio

    src = url(tmp_path, "src")
    data = asyncio.run(make_layer(src))
    vol = CloudVolume(src, progress=False)
    dest = vol.transfer_to(url(tmp_path, "dst"), vol.bounds)
    assert isinstance(dest, CloudVolume) and dest.cloudpath == url(tmp_path, "dst")
    np.testing.assert_array_equal(np.asarray(dest[:, :, :]), data)
    again = vol.image.transfer_to(url(tmp_path, "dst3"), vol.bounds, 0)
    assert isinstance(again, CloudVolume)
    np.testing.assert_array_equal(np.asarray(again[:, :, :]), data)
    for v in (vol, dest, again):
        v.close()


async def test_a_higher_mip_is_copied_and_the_destination_gets_every_scale(tmp_path):
    from volume_helpers import make_info, random_volume

    src = url(tmp_path, "src")
    info = make_info(size=(128, 128, 32), chunk=(32, 32, 16), max_mip=1)
    low = random_volume((64, 64, 32, 1), "uint8", seed=3)
    async with Volume(src, info=info, mip=1) as vol:
        await vol.commit_info()
        await vol.upload(vol.bounds, low)
        dest = await vol.transfer_to(url(tmp_path, "dst"), vol.bounds)  # the volume's mip, as CloudVolume
    async with dest:
        assert dest.mip == 1 and dest.info["scales"] == vol.info["scales"]
        np.testing.assert_array_equal(np.asarray(await dest.download(dest.bounds)), low)
    dst_dir = layer_dir(url(tmp_path, "dst"))
    assert not (dst_dir / "4_4_40").exists() and len(stored_files(dst_dir, "8_8_40")) == 2 * 2 * 2


async def test_bad_arguments_write_nothing(tmp_path):
    from aiovolume.exceptions import InfoError, UnsupportedCompressionType

    src = url(tmp_path, "src")
    await make_layer(src)
    async with Volume(src) as vol:
        with pytest.raises(UnsupportedCompressionType):
            await vol.transfer_to(url(tmp_path, "dst"), vol.bounds, compress="lz4")
        with pytest.raises(InfoError, match="encoding"):
            await vol.transfer_to(url(tmp_path, "dst"), vol.bounds, encoding="compressed_segmentation")  # uint8
    assert not layer_dir(url(tmp_path, "dst")).exists()
