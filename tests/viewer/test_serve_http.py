"""``serve`` over HTTP (no browser): CORS, byte ranges, gzip passed through or decoded, refusals,
any Store (mem://), Volume.start_viewer, and the blocking entry points returning on Ctrl-C."""

import gzip
import json
import os
import socket
import subprocess
import sys
import textwrap
import time
import urllib.parse

import aiohttp
import numpy as np
import pytest
import yarl

from aiovolume import CloudVolume, Volume
from aiovolume.exceptions import OptionError, ServerStartError
from aiovolume.storage import open_store
from aiovolume.viewer.arrayview import start_viewer, view
from aiovolume.viewer.httpserver import block_until_interrupted
from aiovolume.viewer.ngserve import neuroglancer_state, start_serve
from process_helpers import assert_port_closed, ctrl_c, reaped

INFO = {"type": "segmentation", "data_type": "uint32", "num_channels": 1, "scales": []}


@pytest.fixture
async def mem_layer():
    url = f"mem://serve-{os.urandom(4).hex()}/layer"
    async with open_store(url) as store:
        await store.put("info", json.dumps(INFO).encode(), content_type="application/json")
        await store.put("plain", bytes(range(256)))
        await store.put("zipped", gzip.compress(b"hello " * 100), content_encoding="gzip")
        yield url


async def fetch(session, url, **headers):
    async with session.get(url, headers=headers) as r:
        return r.status, dict(r.headers), await r.read()


async def test_ranges_cors_and_gzip(mem_layer):
    server = await start_serve(mem_layer, port=0)
    try:
        assert server.url.startswith("http://127.0.0.1:")
        async with aiohttp.ClientSession(auto_decompress=False) as s:
            status, headers, body = await fetch(s, server.url + "/plain", Range="bytes=10-19")
            assert (status, body, headers["Content-Range"]) == (206, bytes(range(10, 20)), "bytes 10-19/256")
            assert headers["Access-Control-Allow-Origin"] == "*"
            assert "Content-Range" in headers["Access-Control-Expose-Headers"]
            status, headers, body = await fetch(s, server.url + "/plain", Range="bytes=-6")  # suffix
            assert (status, body, headers["Content-Range"]) == (206, bytes(range(250, 256)), "bytes 250-255/256")
            status, headers, body = await fetch(s, server.url + "/plain", Range="bytes=250-")
            assert (status, body) == (206, bytes(range(250, 256)))
            status, headers, body = await fetch(s, server.url + "/plain", Range="bytes=300-400")
            assert status == 416 and headers["Content-Range"] == "bytes */256"
            status, headers, body = await fetch(s, server.url + "/plain")
            assert (status, body, headers["Accept-Ranges"]) == (200, bytes(range(256)), "bytes")

            # gzip objects go out as stored, for the browser to decode ...
            status, headers, body = await fetch(s, server.url + "/zipped", **{"Accept-Encoding": "gzip, deflate"})
            assert (status, headers["Content-Encoding"]) == (200, "gzip")
            assert gzip.decompress(body) == b"hello " * 100
            # ... a range of one is answered with the whole object, still encoded
            status, headers, body = await fetch(s, server.url + "/zipped", Range="bytes=0-3",
                                                **{"Accept-Encoding": "gzip"})
            assert (status, headers["Content-Encoding"], gzip.decompress(body)) == (200, "gzip", b"hello " * 100)
            # ... and decoded here for a client that does not take gzip
            status, headers, body = await fetch(s, server.url + "/zipped", **{"Accept-Encoding": "identity"})
            assert (status, "Content-Encoding" in headers, body) == (200, False, b"hello " * 100)

            async with s.options(server.url + "/plain", headers={"Origin": "http://x", "Access-Control-Request-Headers": "range"}) as r:
                assert r.status == 204 and r.headers["Access-Control-Allow-Origin"] == "*"
            async with s.head(server.url + "/plain") as r:
                assert r.status == 200 and r.headers["Content-Length"] == "256"
            assert (await fetch(s, server.url + "/missing"))[0] == 404
            assert (await fetch(s, server.url + "/missing", Range="bytes=0-1"))[0] == 404
            for escape in ("/../secret", "/x/%2E%2E/%2E%2E/secret", "/..%2Fsecret"):  # sent as typed
                assert (await fetch(s, yarl.URL(server.url + escape, encoded=True)))[0] == 403
            status, headers, body = await fetch(s, server.url + "/info")
            assert headers["Content-Type"].startswith("application/json") and json.loads(body) == INFO
    finally:
        await server.close()
    state = neuroglancer_state(server.url, server.info["layer"])
    assert state["layers"][0] == {"type": "segmentation", "source": f"precomputed://{server.url}", "name": "layer"}
    link = server.info["neuroglancer_url"]
    assert json.loads(urllib.parse.unquote(link.split("#!", 1)[1]))["layers"][0]["source"] == f"precomputed://{server.url}"


async def test_port_in_use_and_loopback_only(mem_layer):
    server = await start_serve(mem_layer, port=0)
    try:
        with pytest.raises(ServerStartError, match=f"127.0.0.1:{server.port}"):
            await start_serve(mem_layer, port=server.port)
        with pytest.raises(ServerStartError):
            await start_viewer(np.zeros((2, 2, 2), np.uint8), port=server.port)
    finally:
        await server.close()
    with pytest.raises(OptionError, match="127.0.0.1 only"):
        view(np.zeros((2, 2, 2), np.uint8), hostname="0.0.0.0", port=0)
    with pytest.raises(OptionError, match="port"):
        await start_serve(mem_layer, port=-1)


async def test_volume_start_viewer_serves_its_layer(tmp_path):
    data = np.arange(32 * 32 * 8, dtype=np.uint16).reshape(32, 32, 8)
    CloudVolume.from_numpy(data, f"file://{tmp_path}/img", chunk_size=(16, 16, 8), compress="gzip").close()
    async with Volume(f"file://{tmp_path}/img") as vol:
        server = await vol.start_viewer(port=0)
        try:
            async with aiohttp.ClientSession() as s:  # decodes gzip, as a browser does
                status, _, body = await fetch(s, f"{server.url}/{vol.key}/16-32_0-16_0-8")
            assert status == 200
            np.testing.assert_array_equal(np.frombuffer(body, "<u2").reshape(8, 16, 16).T, data[16:32, 0:16, :])
            assert server.info["layer"]["type"] == vol.layer_type
        finally:
            await server.close()


def test_a_failed_blocking_start_raises_its_own_error_every_time():
    # The server thread closes its loop once a start fails; the caller used to race it and, about
    # one time in ten, raised "Event loop is closed" instead of the start's error.
    async def start():
        raise ServerStartError("cannot listen on 127.0.0.1:1")

    for _ in range(200):
        with pytest.raises(ServerStartError, match="cannot listen"):
            block_until_interrupted(start, announce=lambda server: None)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.parametrize("call", [
    "aiovolume.view(np.arange(64, dtype=np.uint8).reshape(4, 4, 4), seg=False, port=PORT)",
    "aiovolume.hyperview(np.zeros((4, 4, 4), np.uint8), np.ones((4, 4, 4), np.uint32), port=PORT)",
    "aiovolume.serve(LAYER, port=PORT)",
    "aiovolume.CloudVolume(LAYER).viewer(port=PORT)",
    "aiovolume.CloudVolume(LAYER)[:, :, :].view(port=PORT)",
], ids=["view", "hyperview", "serve", "vol.viewer", "cutout.view"])
def test_blocking_calls_return_on_ctrl_c(tmp_path, call):
    CloudVolume.from_numpy(np.ones((8, 8, 8), np.uint8), f"file://{tmp_path}/layer", chunk_size=(8, 8, 8)).close()
    port = free_port()
    script = textwrap.dedent(f"""
        import numpy as np, aiovolume
        PORT, LAYER = {port}, {str(tmp_path / 'layer')!r}
        {call}
        print("RETURNED", flush=True)
    """)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in [os.path.abspath("src"), os.environ.get("PYTHONPATH")] if p))
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    with reaped(proc):
        line = proc.stdout.readline()
        assert f"http://127.0.0.1:{port}" in line, line + proc.stderr.read()
        import urllib.request

        path = "/meta" if "view(" in call and "viewer" not in call else "/info"
        if path == "/info":  # the Neuroglancer servers print a link with the layer's state
            link = proc.stdout.readline().strip()
            assert link.startswith("Neuroglancer: https://neuroglancer-demo.appspot.com/#!"), link
            state = json.loads(urllib.parse.unquote(link.split("#!", 1)[1]))
            assert state["layers"] == [{"type": "image", "source": f"precomputed://http://127.0.0.1:{port}",
                                        "name": "layer"}]
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=30) as r:
            assert r.status == 200 and json.loads(r.read())
        out, err = ctrl_c(proc)
    assert proc.returncode == 0, err
    assert "RETURNED" in out and "Traceback" not in err
    assert_port_closed(port)
