"""Opening a volume that fails, or refreshing an info chain that fails, leaves nothing running.

Each case opens the same failing layer many times (blocking facade and async ``Volume``) and
checks that the threads of the process and its open aiohttp sessions are what they were after
the first attempt (which may start lazily created global pools). One bridge loop thread serves
every facade call, never one per volume.
"""

from __future__ import annotations

import gc
import gzip
import json
import threading
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import numpy as np
import pytest

from aiovolume import CloudVolume, Volume
from aiovolume.exceptions import (
    CyclicRedirect, InfoError, InfoUnavailableError, ReadOnlyException, ScaleUnavailableError,
    TooManyRedirects, UnsupportedCompressionType, UnsupportedFeatureError, UnsupportedProtocolError,
)
from aiovolume.testing.faultserver import spawn_fault_server
from volume_helpers import make_info

ATTEMPTS = 50


@dataclass(frozen=True)
class Case:
    path: str  # below the file root or the http server
    error: type[BaseException]
    kwargs: dict[str, Any] = field(default_factory=dict)


# name -> (the layer, what opening it raises)
CASES = {
    "missing info": Case("missing", InfoUnavailableError),
    "malformed info": Case("malformed", InfoError),
    "info gzip corrupt": Case("badgzip", InfoError),
    "redirect loop": Case("loop_a", CyclicRedirect),
    "redirect to a missing info": Case("to_missing", InfoUnavailableError),
    "redirect to a bad protocol": Case("to_nowhere", UnsupportedProtocolError),
    "too many redirects": Case("chain_0", TooManyRedirects, {"max_redirects": 2}),
    "no such mip": Case("good", ScaleUnavailableError, {"mip": 5}),
    "bad compress option": Case("good", UnsupportedCompressionType, {"compress": "zip9"}),
    "unsupported option": Case("good", UnsupportedFeatureError, {"spatial_index_db": "mysql://u@h/db"}),
    "unknown option": Case("good", TypeError, {"no_such_option": 1}),
}
HTTP_CASES = ("missing info", "malformed info", "redirect loop", "redirect to a missing info", "no such mip")


def _write_info(root, name: str, info: Any, *, raw: bytes | None = None, gz: bool = False) -> None:
    d = root / name
    d.mkdir(parents=True, exist_ok=True)
    data = raw if raw is not None else json.dumps(info).encode()
    if gz:
        (d / "info.gz").write_bytes(data)
    else:
        (d / "info").write_bytes(data)


def _redirect(target: str) -> dict[str, Any]:
    return {**make_info(), "redirect": target}


def _build(root, base: str) -> None:
    """The layers of CASES under ``root``, with redirects written as ``base``-relative URLs."""
    _write_info(root, "good", make_info())
    _write_info(root, "malformed", None, raw=b'{"scales": [')
    _write_info(root, "badgzip", None, raw=b"\x1f\x8b\x08\x00 not gzip at all", gz=True)
    _write_info(root, "loop_a", _redirect(f"{base}/loop_b"))
    _write_info(root, "loop_b", _redirect(f"{base}/loop_a"))
    _write_info(root, "to_missing", _redirect(f"{base}/missing"))
    _write_info(root, "to_nowhere", _redirect("nosuchproto://bucket/layer"))
    for i in range(4):
        _write_info(root, f"chain_{i}", _redirect(f"{base}/chain_{i + 1}"))
    _write_info(root, "chain_4", make_info())


@pytest.fixture(scope="module")
def file_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("leaks_file")
    _build(root, "file://" + str(root))
    return "file://" + str(root)


@pytest.fixture(scope="module")
def http_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("leaks_http")
    with spawn_fault_server(root=root) as (_, url):
        _build(root, url)
        yield url


def open_sessions() -> int:
    """aiohttp sessions alive and not closed (a store left open keeps one)."""
    return sum(1 for o in gc.get_objects() if isinstance(o, aiohttp.ClientSession) and not o.closed)


def snapshot() -> tuple[int, Counter[str], int]:
    gc.collect()
    return threading.active_count(), Counter(t.name for t in threading.enumerate()), open_sessions()


def bridge_threads() -> int:
    return sum(1 for t in threading.enumerate() if t.name == "aiovolume-loop")


def _url(root: str, case: Case) -> str:
    return f"{root}/{case.path}"


# -- failing opens ----------------------------------------------------------------------------
@pytest.mark.parametrize("name", CASES)
def test_failed_cloudvolume_leaves_nothing_running(name, file_root):
    case = CASES[name]
    with pytest.raises(case.error):  # warm-up: global pools may start here
        CloudVolume(_url(file_root, case), **case.kwargs)
    before = snapshot()
    for _ in range(ATTEMPTS):
        with pytest.raises(case.error):
            CloudVolume(_url(file_root, case), **case.kwargs)
    assert snapshot() == before
    assert bridge_threads() == 1


@pytest.mark.parametrize("name", CASES)
async def test_failed_async_open_leaves_nothing_running(name, file_root):
    case = CASES[name]
    with pytest.raises(case.error):
        await Volume.open(_url(file_root, case), **case.kwargs)
    before = snapshot()
    for i in range(ATTEMPTS):
        with pytest.raises(case.error):
            if i % 2:
                await Volume.open(_url(file_root, case), **case.kwargs)
            else:
                async with Volume(_url(file_root, case), **case.kwargs):
                    pass  # pragma: no cover - the open fails
    assert snapshot() == before


@pytest.mark.parametrize("name", HTTP_CASES)
def test_failed_http_cloudvolume_closes_its_session(name, http_root):
    case = CASES[name]
    with pytest.raises(case.error):
        CloudVolume(_url(http_root, case), **case.kwargs)
    before = snapshot()
    for _ in range(ATTEMPTS):
        with pytest.raises(case.error):
            CloudVolume(_url(http_root, case), **case.kwargs)
    assert snapshot() == before


@pytest.mark.parametrize("name", HTTP_CASES)
async def test_failed_http_async_open_closes_its_session(name, http_root):
    case = CASES[name]
    with pytest.raises(case.error):
        await Volume.open(_url(http_root, case), **case.kwargs)
    before = snapshot()
    for _ in range(ATTEMPTS):
        with pytest.raises(case.error):
            await Volume.open(_url(http_root, case), **case.kwargs)
    assert snapshot() == before


def test_unsupported_protocol_starts_nothing():
    with pytest.raises(UnsupportedProtocolError):
        CloudVolume("nosuchproto://bucket/layer")
    before = snapshot()
    for _ in range(ATTEMPTS):
        with pytest.raises(UnsupportedProtocolError):
            CloudVolume("nosuchproto://bucket/layer")
    assert snapshot() == before and bridge_threads() <= 1  # fails before any loop is needed


def test_file_layer_redirecting_to_a_missing_http_layer_closes_the_http_session(tmp_path, http_root):
    _write_info(tmp_path, "to_http", _redirect(f"{http_root}/missing"))
    with pytest.raises(InfoUnavailableError):
        CloudVolume(f"file://{tmp_path}/to_http")
    before = snapshot()
    for _ in range(ATTEMPTS):
        with pytest.raises(InfoUnavailableError):
            CloudVolume(f"file://{tmp_path}/to_http")
    assert snapshot() == before


# -- refresh_info on an open volume -----------------------------------------------------------
def test_refresh_info_that_fails_midway_keeps_the_volume_and_closes_what_it_opened(tmp_path, http_root):
    info = make_info(size=(64, 64, 16), chunk=(64, 64, 16))
    _write_info(tmp_path, "layer", info)
    with CloudVolume(f"file://{tmp_path}/layer") as vol:
        vol[:, :, :] = 7
        _write_info(tmp_path, "layer", {**info, "redirect": f"{http_root}/missing"})
        with pytest.raises(InfoUnavailableError):
            vol.refresh_info()
        before = snapshot()
        for _ in range(ATTEMPTS):
            with pytest.raises(InfoUnavailableError):
                vol.refresh_info()
        assert snapshot() == before
        # the failed refreshes changed nothing: same layer, still writable, still readable
        assert "redirect" not in vol.info and vol.read_only is False
        vol[:, :, :] = 9
        assert np.all(np.asarray(vol[:, :, :]) == 9)


async def test_refresh_info_follows_a_redirect_and_closes_the_old_store(tmp_path):
    info = make_info(size=(64, 64, 16), chunk=(64, 64, 16))
    _write_info(tmp_path, "new", info)
    _write_info(tmp_path, "old", info)
    async with Volume(f"file://{tmp_path}/old") as vol:
        await vol.upload(np.s_[:, :, :], 3)  # starts the old store's threads
        _write_info(tmp_path, "old", _redirect(f"file://{tmp_path}/new"))
        old = vol.store
        await vol.refresh_info()
        assert vol.store is not old and vol.store.url == f"file://{tmp_path}/new"
        with pytest.raises(ReadOnlyException):  # CloudVolume: a redirected layer is read-only
            await vol.upload(np.s_[:, :, :], 4)
    assert not any(t.name.startswith("aiovolume-file") for t in threading.enumerate())


# -- successful volumes, closed -----------------------------------------------------------------
def test_closed_cloudvolumes_leave_nothing_running(file_root, http_root):
    urls = [f"{file_root}/good", f"{http_root}/good"]
    for url in urls:  # warm-up
        with CloudVolume(url, fill_missing=True) as vol:
            vol[0:8, 0:8, 0:8]
    before = snapshot()
    for i in range(ATTEMPTS):
        vol = CloudVolume(urls[i % 2], fill_missing=True)
        assert np.all(np.asarray(vol[0:8, 0:8, 0:8]) == 0)
        vol.close()
    assert snapshot() == before and bridge_threads() == 1


async def test_closed_async_volumes_leave_nothing_running(file_root, http_root):
    urls = [f"{file_root}/good", f"{http_root}/good"]
    for url in urls:
        async with Volume(url, fill_missing=True) as vol:
            await vol.download(np.s_[0:8, 0:8, 0:8])
    before = snapshot()
    for i in range(ATTEMPTS):
        if i % 4 < 2:
            async with Volume(urls[i % 2], fill_missing=True) as vol:
                assert np.all(np.asarray(await vol.download(np.s_[0:8, 0:8, 0:8])) == 0)
        else:  # already open: the `async with` only closes it
            async with await Volume.open(urls[i % 2], fill_missing=True) as vol:
                assert np.all(np.asarray(await vol.download(np.s_[0:8, 0:8, 0:8])) == 0)
    assert snapshot() == before
