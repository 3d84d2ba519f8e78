"""The slice viewer in headless Chromium: load an image and a segmentation, move the slider and
the keyboard, check the canvas pixels against the array slice, hover reports value and coordinate."""

import numpy as np
import pytest

from aiovolume.viewer.arrayview import start_viewer

from browser_helpers import ARTIFACTS, CHROMIUM, CHROMIUM_ARGS, require_chromium

M = 0xFFFFFFFF
ZOOM = 10
OFFSET = (100, 200, 300)


def seg_color(segid):
    """The page's colour of a segment id (viewer.js segColor), written out independently."""
    lo, hi = segid & M, (segid >> 32) & M
    h = (lo ^ (hi * 0x9E3779B1)) & M
    h = ((h ^ (h >> 16)) * 0x85EBCA6B) & M
    h = ((h ^ (h >> 13)) * 0xC2B2AE35) & M
    h ^= h >> 16
    return h & 255, (h >> 8) & 255, (h >> 16) & 255


def volumes():
    rng = np.random.default_rng(3)
    img = rng.integers(0, 256, (24, 16, 6), dtype=np.uint8)
    x, y, z = np.meshgrid(np.arange(24), np.arange(16), np.arange(6), indexing="ij")
    seg = (1 + x // 6 + 10 * (y // 8) + 100 * z).astype(np.uint64) + (1 << 40)  # ids past 32 bits
    seg[x < 3] = 0
    return img, seg


@pytest.fixture
async def page():
    require_chromium()
    from playwright.async_api import async_playwright

    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            yield await browser.new_page(viewport={"width": 900, "height": 600})
        finally:
            await browser.close()


async def open_viewer(page, url):
    errors = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    await page.goto(url)
    await page.evaluate("window.aiovolumeViewer.ready")
    await page.evaluate(f"window.aiovolumeViewer.setView({ZOOM}, 0, 0)")
    return errors


async def wait_rendered(page, what):
    await page.wait_for_function(f"window.aiovolumeViewer.state.rendered === '{what}'")


async def plane_pixels(page, cols, rows, origin=(0, 0)):
    """The canvas colour at the centre of each voxel of a plane drawn at ``origin``: (rows, cols, 3)."""
    flat = await page.evaluate(f"""() => {{
        const c = document.getElementById('canvas');
        const d = c.getContext('2d').getImageData({origin[0]}, {origin[1]}, {cols * ZOOM}, {rows * ZOOM}).data;
        const out = [];
        for (let v = 0; v < {rows}; v++) for (let u = 0; u < {cols}; u++) {{
            const q = 4 * ((v * {ZOOM} + {ZOOM // 2}) * {cols * ZOOM} + u * {ZOOM} + {ZOOM // 2});
            out.push(d[q], d[q + 1], d[q + 2]);
        }}
        return out;
    }}""")
    return np.array(flat, dtype=np.uint8).reshape(rows, cols, 3)


async def hover(page, u, v, origin=(0, 0)):
    box = await page.locator("#canvas").bounding_box()
    await page.mouse.move(box["x"] + origin[0] + u * ZOOM + ZOOM / 2, box["y"] + origin[1] + v * ZOOM + ZOOM / 2)
    return await page.evaluate("({...document.getElementById('hover').dataset})")


async def test_image_slider_keyboard_hover_contrast(page):
    img, _ = volumes()
    server = await start_viewer(img, port=0, offset=OFFSET)
    try:
        errors = await open_viewer(page, server.url)
        await wait_rendered(page, "z:3")  # opens on the middle slice
        np.testing.assert_array_equal((await plane_pixels(page, 24, 16))[..., 0], img[:, :, 3].T)

        await page.locator("#slice").fill("1")  # the slider
        await wait_rendered(page, "z:1")
        shown = await plane_pixels(page, 24, 16)
        assert (shown[..., 0] == shown[..., 2]).all()  # grey
        np.testing.assert_array_equal(shown[..., 0], img[:, :, 1].T)
        assert await page.locator("#slice-label").inner_text() == "1 / 5"
        await page.screenshot(path=str(ARTIFACTS / "viewer_image_z1.png"))

        await page.evaluate("document.activeElement.blur()")
        await page.keyboard.press("ArrowUp")  # the keyboard
        await wait_rendered(page, "z:2")
        np.testing.assert_array_equal((await plane_pixels(page, 24, 16))[..., 0], img[:, :, 2].T)

        got = await hover(page, 7, 5)
        assert got == {"x": "107", "y": "205", "z": "302", "image": str(img[7, 5, 2])}
        assert "x 107  y 205  z 302" in await page.locator("#hover").inner_text()

        await page.locator("#contrast").fill("2")
        await page.wait_for_function("window.aiovolumeViewer.state.contrast === 2")
        await page.evaluate("window.aiovolumeViewer.render()")
        # the page's arithmetic, in the same float64 operations: ((v - low) * scale - 0.5) * contrast + 0.5
        t = ((img[:, :, 2].T.astype(np.float64) - 0) * (1 / 255) - 0.5) * 2 + 0.5 + 0
        expected = np.where(t <= 0, 0, np.where(t >= 1, 255, np.floor(t * 255 + 0.5)))
        np.testing.assert_array_equal((await plane_pixels(page, 24, 16))[..., 0], expected)

        await page.keyboard.press("x")  # another axis: rows z, columns y
        await wait_rendered(page, "x:12")
        await page.locator("#contrast").fill("1")
        await page.evaluate(f"window.aiovolumeViewer.setView({ZOOM}, 0, 0)")
        await page.evaluate("window.aiovolumeViewer.render()")
        np.testing.assert_array_equal((await plane_pixels(page, 16, 6))[..., 0], img[12, :, :].T)
        assert await hover(page, 3, 4) == {"x": "112", "y": "203", "z": "304", "image": str(img[12, 3, 4])}
        assert errors == []
    finally:
        await server.close()


async def test_segmentation_overlay_selection(page):
    img, seg = volumes()
    server = await start_viewer(img, seg, port=0)
    try:
        errors = await open_viewer(page, server.url)
        await page.locator("#slice").fill("4")
        await wait_rendered(page, "z:4")
        await page.locator("#alpha").fill("1")  # opaque segments: exactly their colours
        await page.evaluate("window.aiovolumeViewer.render()")
        await page.wait_for_function("window.aiovolumeViewer.state.alpha === 1")
        await page.evaluate("window.aiovolumeViewer.render()")
        shown = await plane_pixels(page, 24, 16)
        ids = seg[:, :, 4].T
        for v in range(16):
            for u in range(24):
                want = (img[u, v, 4],) * 3 if ids[v, u] == 0 else seg_color(int(ids[v, u]))
                assert tuple(shown[v, u]) == tuple(want), (u, v, ids[v, u])
        assert len({tuple(c) for c in shown[ids > 0]}) == len(np.unique(ids[ids > 0]))  # one colour per id
        await page.screenshot(path=str(ARTIFACTS / "viewer_overlay_z4.png"))

        got = await hover(page, 20, 12)
        assert got == {"x": "20", "y": "12", "z": "4", "image": str(img[20, 12, 4]), "segment": str(seg[20, 12, 4])}

        # click a segment: only the selected one stays coloured
        box = await page.locator("#canvas").bounding_box()
        await page.mouse.click(box["x"] + 20 * ZOOM + 5, box["y"] + 12 * ZOOM + 5)
        assert await page.locator("#selected").inner_text() == str(seg[20, 12, 4])
        await page.wait_for_function("window.aiovolumeViewer.state.selected.size === 1")
        await page.evaluate("window.aiovolumeViewer.render()")
        shown = await plane_pixels(page, 24, 16)
        chosen = ids == seg[20, 12, 4]
        assert (shown[chosen] == seg_color(int(seg[20, 12, 4]))).all()
        np.testing.assert_array_equal(shown[~chosen][:, 0], img[:, :, 4].T[~chosen])
        await page.screenshot(path=str(ARTIFACTS / "viewer_overlay_selected.png"))

        # half-transparent overlay
        await page.keyboard.press("Escape")
        await page.locator("#alpha").fill("0.5")
        await page.wait_for_function("window.aiovolumeViewer.state.alpha === 0.5")
        await page.evaluate("window.aiovolumeViewer.render()")
        shown = await plane_pixels(page, 24, 16)
        u, v = 10, 3
        want = [np.floor(img[u, v, 4] * 0.5 + c * 0.5 + 0.5) for c in seg_color(int(seg[u, v, 4]))]
        assert list(shown[v, u]) == want
        assert errors == []
    finally:
        await server.close()


async def test_segmentation_only_and_bad_requests(page):
    _, seg = volumes()
    server = await start_viewer(seg[:, :, :2].astype(np.uint32), True, port=0)
    try:
        errors = await open_viewer(page, server.url)
        await wait_rendered(page, "z:1")
        shown = await plane_pixels(page, 24, 16)
        ids = seg[:, :, 1].T.astype(np.uint32)
        assert tuple(shown[0, 0]) == (0, 0, 0)  # background
        assert tuple(shown[0, 5]) == seg_color(int(ids[0, 5]))
        assert await page.locator("#contrast").is_hidden()

        # wheel zoom keeps the voxel under the cursor; a drag pans by whole screen pixels
        assert (await hover(page, 9, 6))["x"] == "9"
        await page.mouse.wheel(0, -100)
        await page.wait_for_function(f"window.aiovolumeViewer.state.views.z.zoom === {ZOOM * 1.25}")
        got = await page.evaluate("({...document.getElementById('hover').dataset})")
        assert (got["x"], got["y"]) == ("9", "6")
        await page.evaluate(f"window.aiovolumeViewer.setView({ZOOM}, 0, 0)")
        box = await page.locator("#canvas").bounding_box()
        await page.mouse.move(box["x"] + 95, box["y"] + 65)
        await page.mouse.down()
        await page.mouse.move(box["x"] + 125, box["y"] + 85, steps=4)
        await page.mouse.up()
        assert await page.evaluate("[window.aiovolumeViewer.state.views.z.tx, window.aiovolumeViewer.state.views.z.ty]") == [30, 20]
        got = await page.evaluate("({...document.getElementById('hover').dataset})")
        assert (got["x"], got["y"], got["segment"]) == ("9", "6", str(int(ids[6, 9])))  # same voxel, dragged along
        assert await page.locator("#selected").inner_text() == "none"  # a drag is not a click
        response = await page.request.get(server.url + "/slice/segmentation/z/2")
        assert response.status == 404
        response = await page.request.get(server.url + "/slice/segmentation/z/0")
        assert response.headers["x-dtype"] == "u8" and response.headers["x-shape"] == "16,24"
        np.testing.assert_array_equal(np.frombuffer(await response.body(), "<u8").reshape(16, 24),
                                      seg[:, :, 0].T.astype(np.uint32))
        assert errors == []
    finally:
        await server.close()


async def test_three_orthogonal_views(page):
    img, seg = volumes()
    server = await start_viewer(img, seg, port=0)
    try:
        errors = await open_viewer(page, server.url)
        await page.locator("#alpha").fill("0")  # the image alone: grey values
        await page.locator("#layout").click()
        await page.wait_for_function("window.aiovolumeViewer.state.layout === 'tri'")
        size = await page.evaluate("[document.getElementById('canvas').width, document.getElementById('canvas').height]")
        hw, hh = size[0] // 2, size[1] // 2
        await page.evaluate(f"""() => {{
            const v = window.aiovolumeViewer;
            for (const a of ['x', 'y', 'z']) v.state.views[a] = {{zoom: {ZOOM}, tx: 0, ty: 0}};
            return v.render();
        }}""")
        index = await page.evaluate("window.aiovolumeViewer.state.index")
        assert index == {"x": 12, "y": 8, "z": 3}
        np.testing.assert_array_equal((await plane_pixels(page, 24, 16))[..., 0], img[:, :, 3].T)
        np.testing.assert_array_equal((await plane_pixels(page, 16, 6, (hw, 0)))[..., 0], img[12, :, :].T)
        np.testing.assert_array_equal((await plane_pixels(page, 24, 6, (0, hh)))[..., 0], img[:, 8, :].T)
        assert await hover(page, 5, 2, (hw, 0)) == {"x": "12", "y": "5", "z": "2", "image": str(img[12, 5, 2]),
                                                    "segment": str(seg[12, 5, 2])}
        await page.screenshot(path=str(ARTIFACTS / "viewer_three_views.png"))

        # double-click a voxel of the xy plane: the yz and xz planes go through it
        box = await page.locator("#canvas").bounding_box()
        await page.mouse.dblclick(box["x"] + 20 * ZOOM + 5, box["y"] + 3 * ZOOM + 5)
        await page.wait_for_function("window.aiovolumeViewer.state.index.x === 20 && "
                                     "window.aiovolumeViewer.state.index.y === 3")
        await wait_rendered(page, "z:3")
        await page.evaluate("window.aiovolumeViewer.render()")
        np.testing.assert_array_equal((await plane_pixels(page, 16, 6, (hw, 0)))[..., 0], img[20, :, :].T)
        np.testing.assert_array_equal((await plane_pixels(page, 24, 6, (0, hh)))[..., 0], img[:, 3, :].T)

        # a click on a panel hands it the slider
        await page.mouse.click(box["x"] + hw + 5, box["y"] + 5)
        await wait_rendered(page, "x:20")
        assert await page.locator("#slice").get_attribute("max") == "23"
        await page.keyboard.press("s")
        await wait_rendered(page, "x:19")
        np.testing.assert_array_equal((await plane_pixels(page, 16, 6, (hw, 0)))[..., 0], img[19, :, :].T)
        assert errors == []
    finally:
        await server.close()


async def test_anisotropic_voxels_are_drawn_to_scale(page):
    img, _ = volumes()
    server = await start_viewer(img, port=0, resolution=(4, 4, 20))  # z voxels 5x as tall as wide
    try:
        errors = await open_viewer(page, server.url)
        await page.keyboard.press("y")
        await wait_rendered(page, "y:8")
        await page.evaluate(f"window.aiovolumeViewer.setView({ZOOM}, 0, 0)")
        flat = await page.evaluate(f"""() => {{
            const d = document.getElementById('canvas').getContext('2d').getImageData(0, 0, 1, {6 * 5 * ZOOM}).data;
            return Array.from(d.filter((_, i) => i % 4 === 0));
        }}""")
        column = np.array(flat).reshape(6, 5 * ZOOM)  # x = 0, z = 0..5, each 50 px tall
        assert (column == img[0, 8, :][:, None]).all()
        assert await hover(page, 3, 2 * 5) == {"x": "3", "y": "8", "z": "2", "image": str(img[3, 8, 2])}
        await page.screenshot(path=str(ARTIFACTS / "viewer_anisotropic_y.png"))
        assert errors == []
    finally:
        await server.close()
