"""``serve``: Neuroglancer's own client (the ``neuroglancer`` package, headless Chromium) renders
layers we serve — raw, gzip, compressed_segmentation, sharded — and a 2-D cross-section at 16
screen pixels per voxel shows exactly the array's values at every voxel centre."""

import asyncio
import contextlib
import threading

import numpy as np
import pytest

from aiovolume import CloudVolume
from aiovolume.viewer.ngserve import start_serve

from browser_helpers import ARTIFACTS, require_chromium, screenshot, viewer_url

SHAPE = (40, 24, 6)
CHUNK = (16, 16, 4)  # edge chunks in x, y and z
K = 16  # screen pixels per voxel
SLICE = 4
# 2x2x2-chunk shards with gzip minishard indexes: Neuroglancer reads them with byte ranges
SHARDING = {"@type": "neuroglancer_uint64_sharded_v1", "preshift_bits": 1, "hash": "identity",
            "minishard_bits": 2, "shard_bits": 3, "minishard_index_encoding": "gzip", "data_encoding": "raw"}
GREY = "void main() { emitGrayscale(toNormalized(getDataValue())); }"
# the low three bytes of a uint32 as red, green, blue: exact in an 8-bit framebuffer
BYTES = """void main() {
  uint v = toRaw(getDataValue());
  emitRGB(vec3(float(v & 255u), float((v >> 8u) & 255u), float((v >> 16u) & 255u)) / 255.0);
}"""


@contextlib.contextmanager
def served(path):
    """``start_serve`` on its own loop in a thread (the Neuroglancer harness is synchronous)."""
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    server = asyncio.run_coroutine_threadsafe(start_serve(str(path), port=0), loop).result(30)
    try:
        yield server
    finally:
        asyncio.run_coroutine_threadsafe(server.close(), loop).result(30)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.close()


def write_layer(path, kind):
    rng = np.random.default_rng(11)
    if kind == "cseg":
        data = rng.integers(0, 1 << 24, SHAPE, dtype=np.uint32)
        data[:, :12] = data[:1, :1]  # a large uniform region as well as noise
    else:
        data = rng.integers(0, 256, SHAPE, dtype=np.uint8)
    info = CloudVolume.create_new_info(
        num_channels=1, layer_type="segmentation" if kind == "cseg" else "image", data_type=str(data.dtype),
        encoding="compressed_segmentation" if kind == "cseg" else "raw", resolution=[4, 4, 40],
        voxel_offset=[0, 0, 0], chunk_size=CHUNK, volume_size=SHAPE)
    if kind == "sharded":
        info["scales"][0]["sharding"] = dict(SHARDING)
    vol = CloudVolume(f"file://{path}", info=info, compress="gzip" if kind == "gzip" else False)
    vol.commit_info()
    vol[:, :, :] = data
    vol.close()
    return data


def voxel_centres(image, plane):
    """The screenshot's colour at each voxel centre, aligned by the best offset within half a voxel
    of where the panel centre says it is (the panel may sit a few pixels off the viewport centre)."""
    h, w = image.shape[:2]
    cols, rows = plane.shape[1], plane.shape[0]
    best = None
    for dy in range(-K // 2, K // 2 + 1, 2):
        for dx in range(-K // 2, K // 2 + 1, 2):
            ys = (h / 2 + (np.arange(rows) - rows / 2 + 0.5) * K + dy).astype(int)
            xs = (w / 2 + (np.arange(cols) - cols / 2 + 0.5) * K + dx).astype(int)
            if ys.min() < 0 or xs.min() < 0 or ys.max() >= h or xs.max() >= w:
                continue
            got = image[np.ix_(ys, xs)]
            score = int((got == plane).all(axis=-1).sum())
            if best is None or score > best[0]:
                best = (score, got)
    return best[1]


@pytest.mark.parametrize("kind", ["raw", "gzip", "cseg", "sharded"])
def test_neuroglancer_renders_served_layer_exactly(tmp_path, kind):
    require_chromium()
    import neuroglancer

    data = write_layer(tmp_path / "layer", kind)
    if kind == "gzip":
        assert any(p.suffix == ".gz" for p in (tmp_path / "layer" / "4_4_40").iterdir())
    if kind == "sharded":
        assert any(p.suffix == ".shard" for p in (tmp_path / "layer" / "4_4_40").iterdir())
    with served(tmp_path / "layer") as server:
        def configure(s):
            s.dimensions = neuroglancer.CoordinateSpace(names=["x", "y", "z"], units="nm", scales=[4, 4, 40])
            s.position = [SHAPE[0] / 2, SHAPE[1] / 2, SLICE + 0.5]
            s.cross_section_scale = 1 / K
            s.layout = "xy"
            s.layers["data"] = neuroglancer.ImageLayer(
                source=f"precomputed://{server.url}", shader=BYTES if kind == "cseg" else GREY, opacity=1.0)

        with viewer_url(configure) as url:
            image = screenshot(url, ARTIFACTS / f"serve_neuroglancer_{kind}.png")

    plane = data[:, :, SLICE].T  # rows y, columns x
    if kind == "cseg":
        expected = np.stack([plane & 255, (plane >> 8) & 255, (plane >> 16) & 255], axis=-1).astype(np.uint8)
    else:
        expected = np.repeat(plane[..., None], 3, axis=-1)
    got = voxel_centres(image, expected)
    mismatched = int((got != expected).any(axis=-1).sum())
    assert mismatched == 0, f"{mismatched} of {plane.size} voxels differ"
