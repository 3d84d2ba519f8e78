"""An uploaded skeleton renders in Neuroglancer: our layer (unsharded and sharded) and Neuroglancer's
static client served from 127.0.0.1, opened in headless Chromium; the 3D view with the segment
selected differs from the view without it, around the centre where the skeleton was placed.
Screenshots go to tests/artifacts/."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from aiovolume import CloudVolume, Skeleton  # noqa: E402
from skeleton_browser import CHROMIUM, neuroglancer_client, screenshot, serve  # noqa: E402
from volume_helpers import make_info  # noqa: E402

pytestmark = [
    pytest.mark.skipif(not os.path.exists(CHROMIUM), reason=f"{CHROMIUM} is absent (apt-get install chromium)"),
    pytest.mark.skipif(neuroglancer_client() is None, reason="the neuroglancer package (its static client) is absent"),
]
pytest.importorskip("playwright")
ARTIFACTS = Path(__file__).resolve().parent.parent / "artifacts"
SHARDING = {"@type": "neuroglancer_uint64_sharded_v1", "preshift_bits": 0, "hash": "murmurhash3_x86_128",
            "minishard_bits": 1, "shard_bits": 0, "minishard_index_encoding": "gzip", "data_encoding": "gzip"}
CENTER = np.array([512.0, 512.0, 1280.0])  # nm: voxel (128, 128, 32) at 4x4x40


def star(segid: int) -> Skeleton:
    """Three perpendicular 600 nm bars through CENTER, densely sampled."""
    t = np.linspace(-300, 300, 61)
    parts = []
    for axis in range(3):
        v = np.tile(CENTER, (t.size, 1))
        v[:, axis] += t
        parts.append(Skeleton.from_path(v))
    s = Skeleton.simple_merge(parts)
    s.id, s.space = segid, "physical"
    s.radius[:] = 20
    return s


def decode(png: bytes) -> np.ndarray:
    import imagecodecs

    return np.asarray(imagecodecs.png_decode(png))[..., :3].astype(np.int16)


def state(source: str, segments: list[str]) -> dict:
    return {
        "dimensions": {"x": [4e-9, "m"], "y": [4e-9, "m"], "z": [4e-8, "m"]},
        "position": [128, 128, 32], "projectionScale": 1000,
        "projectionOrientation": [0.3, 0.2, 0.0, 0.93],
        "layers": [{"type": "segmentation", "source": source, "name": "seg", "segments": segments,
                    "segmentColors": {"7": "#ffffff"},
                    "skeletonRendering": {"mode2d": "lines", "mode3d": "lines", "lineWidth3d": 6}}],
        "layout": "3d", "showAxisLines": False, "showDefaultAnnotations": False, "showSlices": False,
    }


def render(tmp_path, name, sharded=False, cloudvolume_info=False):
    """Upload the star as segment 7; screenshots of the 3D view with and without segment 7."""
    info = make_info("uint64", layer_type="segmentation", encoding="raw", size=(256, 256, 64), chunk=(64, 64, 16))
    with CloudVolume(f"file://{tmp_path}/layer", info=info) as vol:
        vol.commit_info()
        if sharded:
            vol.skeleton.meta.info["sharding"] = SHARDING
            vol.skeleton.meta.commit_info()
        if cloudvolume_info:  # CloudVolume's default attributes: vertex_types uint8
            vol.skeleton.meta.info["vertex_attributes"] = star(7).extra_attributes
            vol.skeleton.meta.commit_info()
        vol.skeleton.upload(star(7))  # writes the skeleton info if none, points the layer at it
    ARTIFACTS.mkdir(exist_ok=True)
    with serve({"data": tmp_path}) as base:
        source = f"precomputed://{base}/data/layer"
        shown = decode(screenshot(state(source, ["7"]), ARTIFACTS / f"skeleton-{name}.png"))
        empty = decode(screenshot(state(source, []), ARTIFACTS / f"skeleton-{name}-none.png"))
    changed = np.abs(shown - empty).sum(axis=2) > 60
    changed[:120] = False  # the top bar and layer panel, not the 3D view
    return shown, changed


@pytest.mark.parametrize("sharded", [False, True], ids=["unsharded", "sharded"])
def test_uploaded_skeleton_renders(tmp_path, sharded):
    shown, changed = render(tmp_path, "sharded" if sharded else "unsharded", sharded=sharded)
    assert changed.sum() > 500, f"the skeleton did not render ({changed.sum()} pixels changed)"
    ys, xs = np.nonzero(changed)
    h, w = changed.shape
    # the star is centred on the view's position: its drawn pixels are centred on the 3D panel
    assert abs(xs.mean() - w / 2) < w / 5 and abs(ys.mean() - h / 2) < h / 5, (xs.mean(), ys.mean(), w, h)
    bright = (shown.min(axis=2) > 200) & changed  # drawn in the white we chose
    assert bright.sum() > 200


def test_cloudvolume_default_attributes_do_not_render(tmp_path):
    """Why infos we create store vertex_types as float32: with CloudVolume's uint8 vertex_types
    this Neuroglancer ("Data type not supported by WebGL: UINT8") draws nothing."""
    _, changed = render(tmp_path, "cloudvolume-info", cloudvolume_info=True)
    assert changed.sum() < 50
