"""A multires mesh we write renders in Neuroglancer (its static client, headless Chromium)."""

import asyncio

import numpy as np

from aiovolume import Volume

from browser_helpers import ARTIFACTS, centroid, colour_mask, not_blank, require_chromium, screenshot, serve, \
    viewer_url
from mesh_helpers import box_mesh, make_layer


async def write_layer(root):
    url = make_layer(root, resolution=(4, 4, 40))  # 256 x 256 x 64 voxels = 1024 x 1024 x 2560 nm
    lo, hi = (256, 256, 640), (768, 768, 1920)       # a box in the middle of the volume, in nm
    async with Volume(url) as vol:
        vol.mesh.to_multi_resolution(16)
        await vol.mesh.commit_info()
        await vol.mesh.put_multires({7: [box_mesh(lo, hi, segid=7, steps=8), box_mesh(lo, hi, segid=7, steps=2)]},
                                    chunk_shape=(32, 32, 8))


def test_multires_mesh_renders(tmp_path):
    require_chromium()
    import neuroglancer

    asyncio.run(write_layer(tmp_path / "seg"))
    with serve({"data": tmp_path}) as base:
        def configure(s):
            s.dimensions = neuroglancer.CoordinateSpace(names=["x", "y", "z"], units="nm", scales=[4, 4, 40])
            s.position = [128, 128, 32]  # the box's centre, in voxels
            s.layout = "3d"
            s.projection_scale = 1000
            s.projection_orientation = [0.3, -0.2, 0.1, 0.93]
            s.layers["seg"] = neuroglancer.SegmentationLayer(
                source=f"precomputed://{base}/data/seg", segments=[7], segment_colors={7: "#ff0000"})

        with viewer_url(configure) as url:
            image = screenshot(url, ARTIFACTS / "mesh_multires_neuroglancer.png")
    assert not_blank(image)
    red = colour_mask(image, (255, 0, 0))
    assert red.sum() > 5000, f"only {int(red.sum())} red pixels: the mesh did not render"
    row, col = centroid(red)
    assert 0.35 < row < 0.65 and 0.35 < col < 0.65, f"the mesh is off centre at {(row, col)}"
    rows, cols = np.nonzero(red)  # a box seen at an angle: neither a sliver nor the whole view
    assert 0.15 < (rows.max() - rows.min()) / image.shape[0] < 0.95
    assert 0.15 < (cols.max() - cols.min()) / image.shape[1] < 0.95
