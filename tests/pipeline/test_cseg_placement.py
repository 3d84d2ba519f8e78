"""compressed_segmentation reads decode straight into the output (placement.decode_place ->
codecs.decode_chunk_into) unless the decoded-chunk LRU needs whole chunks: every route must give
the voxels that were written, for edge chunks, several channels and regions that cover only part
of a chunk."""

from __future__ import annotations

import numpy as np
import pytest

from aiovolume import CloudVolume, Options
from aiovolume.codecs import ChunkFormat, cseg, encode_chunk
from aiovolume.pipeline.chunkcache import ChunkCache
from aiovolume.pipeline.placement import decode_place
from aiovolume.pipeline.tasks import DONE, ChunkTask, Outcome
from tests.volume_helpers import make_info

CUTS = [np.s_[:, :, :], np.s_[5:127, 3:99, 1:37], np.s_[63:66, 0:100, 15:17], np.s_[100:130, 70:100, 30:40]]


def _labels(shape, dtype, seed):
    rng = np.random.default_rng(seed)
    values = rng.integers(0, min(np.iinfo(dtype).max, 2**63 - 1), 300, dtype=np.int64).astype(dtype)
    coarse = rng.integers(0, 300, [-(-s // 5) for s in shape])
    full = coarse.repeat(5, 0).repeat(5, 1).repeat(5, 2)[: shape[0], : shape[1], : shape[2]]
    noise = rng.random(shape) < 0.02
    full[noise] = rng.integers(0, 300, int(noise.sum()))
    return values[full]


@pytest.fixture(scope="module", autouse=True)
def kernel_ready():
    assert cseg.fast_decoder(wait=300)


@pytest.mark.parametrize("dtype,channels", [("uint64", 1), ("uint32", 2)])
@pytest.mark.parametrize("route", ["auto", "inline", "process", "lru"])
def test_cseg_reads_by_every_route(tmp_path, dtype, channels, route):
    info = make_info(dtype=dtype, channels=channels, size=(130, 100, 40), chunk=(64, 64, 16),
                     layer_type="segmentation", encoding="compressed_segmentation")
    info["scales"][0]["compressed_segmentation_block_size"] = [8, 4, 2] if channels == 2 else [8, 8, 8]
    data = np.stack([_labels((130, 100, 40), dtype, seed) for seed in range(channels)], axis=-1)
    url = f"file://{tmp_path}/layer"
    writer = CloudVolume(url, info=info)
    writer.commit_info()
    writer[:, :, :] = data
    options = Options(codec_executor="auto" if route == "lru" else route)
    vol = CloudVolume(url, lru_bytes=(64 << 20) if route == "lru" else 0, options=options)
    for _ in range(2):  # with an LRU: the second pass is served from it
        for cut in CUTS:
            np.testing.assert_array_equal(vol[cut], data[cut])


def test_decode_place_into_equals_the_chunk_route():
    """The same task with and without an LRU (whole chunk decoded, cached, then copied)."""
    rng = np.random.default_rng(5)
    fmt = ChunkFormat("compressed_segmentation", "uint64", 1, block_size=(8, 8, 8))
    chunk = np.asfortranarray(rng.integers(0, 9, (64, 64, 37, 1)).astype(np.uint64) * 2**40)
    stream = encode_chunk(chunk, fmt)
    task = ChunkTask((1, 0, 2), "k", (64, 64, 37), ((5, 64), (0, 30), (7, 37)), ((0, 59), (2, 32), (0, 30)), False)
    outs = []
    for cache in (None, ChunkCache(64 << 20)):
        out = np.zeros((60, 40, 30, 1), np.uint64, order="F")
        assert decode_place(out, fmt, task, stream, None, None, cache) is DONE
        outs.append(out)
    np.testing.assert_array_equal(outs[0], outs[1])
    np.testing.assert_array_equal(outs[0][0:59, 2:32, 0:30], chunk[5:64, 0:30, 7:37])
    assert not outs[0][:, :2].any() and not outs[0][:, 32:].any()
    bad = decode_place(np.zeros((60, 40, 30, 1), np.uint64, order="F"), fmt, task, stream[:-8], None)
    assert bad.outcome is Outcome.CORRUPT
