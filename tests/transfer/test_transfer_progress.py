"""progress=True: one tqdm bar per download, upload, delete and transfer_to, counting chunks up to
their total and closed at the end, also when the call fails; no bar unless asked."""

from __future__ import annotations

import re

import numpy as np
import pytest
from tqdm import tqdm

from aiovolume import Bbox, CloudVolume, Volume
from aiovolume.exceptions import EmptyVolumeException
from transfer_helpers import OFFSET, make_layer, url

CHUNKS = 3 * 2 * 3  # 130 x 100 x 40 in 64 x 64 x 16 chunks


def bars(err: str) -> dict[str, tuple[int, int]]:
    """``{description: (done, total)}`` of the last state tqdm printed for each bar."""
    found = {}
    for desc, done, total in re.findall(r"(\w+ \w+): [^\r\n]*?(\d+)/(\d+)", err):
        found[desc] = (int(done), int(total))
    return found


def no_open_bars() -> bool:
    return not any(not getattr(bar, "disable", False) for bar in list(tqdm._instances))


async def test_each_operation_reports_every_chunk_and_closes(tmp_path, capsys):
    src = url(tmp_path, "src")
    data = await make_layer(src)
    capsys.readouterr()
    async with Volume(src, progress=True) as vol:
        np.testing.assert_array_equal(np.asarray(await vol.download(vol.bounds)), data)
        assert bars(capsys.readouterr().err) == {"Downloading src": (CHUNKS, CHUNKS)}
        await vol.upload(vol.bounds, data)
        assert bars(capsys.readouterr().err) == {"Uploading src": (CHUNKS, CHUNKS)}
        dest = await vol.transfer_to(url(tmp_path, "dst"), vol.bounds)
        assert bars(capsys.readouterr().err) == {"Transferring src": (CHUNKS, CHUNKS)}
        await vol.delete(Bbox(OFFSET, np.add(OFFSET, (128, 64, 32))))
        assert bars(capsys.readouterr().err) == {"Deleting src": (4, 4)}
        assert no_open_bars()
    assert dest.progress is True


async def test_a_failed_download_closes_its_bar(tmp_path, capsys):
    src = url(tmp_path, "src")
    await make_layer(src)
    async with Volume(src, progress=True) as vol:
        await vol.delete(Bbox(OFFSET, np.add(OFFSET, (64, 64, 16))))
        with pytest.raises(EmptyVolumeException) as failed_read:
            await vol.download(vol.bounds)
        assert no_open_bars()  # while the traceback still holds the failed call's frames
        with pytest.raises(EmptyVolumeException) as failed_copy:
            await vol.transfer_to(url(tmp_path, "dst"), vol.bounds)
        assert no_open_bars()
        del failed_read, failed_copy
    err = capsys.readouterr().err
    assert "Downloading src" in err and "Transferring src" in err


async def test_no_bar_unless_asked(tmp_path, capsys):
    src = url(tmp_path, "src")
    data = await make_layer(src)
    capsys.readouterr()
    async with Volume(src) as vol:  # a script: CloudVolume's default (INTERACTIVE) is off
        assert vol.progress is False
        await vol.download(vol.bounds)
        await vol.upload(vol.bounds, data)
        await vol.transfer_to(url(tmp_path, "dst"), vol.bounds)
    assert capsys.readouterr().err == ""


def test_the_facade_shows_bars_too(tmp_path, capsys):
    import asyncio

    src = url(tmp_path, "src")
    asyncio.run(make_layer(src))
    capsys.readouterr()
    vol = CloudVolume(src, progress=True)
    vol[:, :, :]
    vol[-70:-6, 5:69, -16:0]  # a small read the facade does in the caller's thread
    vol.close()
    err = capsys.readouterr().err
    assert err.count("Downloading src") >= 2 and "18/18" in err and "1/1" in err
    assert no_open_bars()


def test_only_the_facade_defaults_to_bars_in_an_interactive_session(tmp_path, monkeypatch):
    import asyncio

    import aiovolume.cvargs as cvargs

    src = url(tmp_path, "src")
    asyncio.run(make_layer(src))
    monkeypatch.setattr(cvargs, "INTERACTIVE", True)  # as in a REPL, where CloudVolume shows bars
    facade = CloudVolume(src)
    assert facade.progress is True
    facade.close()
    positional = CloudVolume(src, 0, True, False, False, False, None, True, False)  # progress=False by position
    assert positional.progress is False
    positional.close()
    assert Volume(src).progress is False  # the async API: never unless asked
    assert Volume(src, progress=True).progress is True
