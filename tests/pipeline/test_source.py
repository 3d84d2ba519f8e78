"""The ChunkSource seam: fetch_now and fetch_many hand over the same bytes, whatever the chunks hold."""

from __future__ import annotations

import gzip
import os

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from aiovolume import Bbox, Volume
from aiovolume.exceptions import DecodingError
from aiovolume.pipeline.source import WAIT, Budget, UnshardedSource
from aiovolume.storage.file import FileStore
from volume_helpers import make_info

SIZE, CHUNK = (64, 64, 32), (32, 32, 16)  # 8 chunks


def _layer(root: str, kinds: list[str]) -> tuple[UnshardedSource, list]:
    """A file:// layer whose 8 chunks are each 'plain', 'gzip', 'missing', 'corrupt' or 'short'."""
    from aiovolume.format.info import parse_info

    info = parse_info(make_info("uint8", 1, size=SIZE, chunk=CHUNK))
    store = FileStore(root)
    source = UnshardedSource(store, info.scales[0])
    tasks = source.plan(Bbox((0, 0, 0), SIZE)).tasks
    rng = np.random.default_rng(len(kinds))
    os.makedirs(os.path.join(root, info.scales[0].key), exist_ok=True)
    for task, kind in zip(tasks, kinds):
        path = os.path.join(root, task.key)
        data = rng.integers(0, 255, 32 * 32 * 16, dtype=np.uint8).tobytes()
        stored = {"plain": (path, data), "gzip": (path + ".gz", gzip.compress(data)),
                  "corrupt": (path + ".gz", b"\x1f\x8b not gzip at all"), "short": (path, data[:1000])}.get(kind)
        if stored is not None:
            with open(stored[0], "wb") as f:
                f.write(stored[1])
    return source, tasks


KIND = st.sampled_from(["plain", "gzip", "missing", "corrupt", "short"])


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(kinds=st.lists(KIND, min_size=8, max_size=8))
async def test_fetch_now_and_fetch_many_hand_over_the_same_bytes(tmp_path_factory, kinds):
    root = str(tmp_path_factory.mktemp("src"))
    source, tasks = _layer(root, kinds)
    try:
        many = await source.fetch_many(tasks)
        now: dict = {}

        def consume(task, blob):
            now[task.position] = None if blob is None else (bytes(blob.data), blob.encoding, blob.span)
            return True

        assert source.fetch_now(tasks, WAIT, consume) == []  # a codec thread's budget reads everything
        assert set(now) == set(many) == {t.position for t in tasks}
        for task, kind in zip(tasks, kinds):
            blob = many[task.position]
            if kind == "missing":
                assert blob is None and now[task.position] is None
            else:
                assert now[task.position] == (bytes(blob.data), blob.encoding, None)
                assert blob.encoding == ("gzip" if kind in ("gzip", "corrupt") else None)
        # without waiting: whatever is read is the same, whatever is left is named, nothing is lost
        seen: dict = {}
        left = source.fetch_now(tasks, Budget(False), lambda t, b: seen.setdefault(
            t.position, None if b is None else bytes(b.data)) or True)
        assert {t.position for t in left} | set(seen) == {t.position for t in tasks}
        for pos, data in seen.items():
            assert data == (None if many[pos] is None else bytes(many[pos].data))
    finally:
        await source.store.close()


async def test_a_declined_chunk_and_the_rest_are_left(tmp_path):
    source, tasks = _layer(str(tmp_path), ["plain", "gzip", "plain", "plain", "plain", "plain", "plain", "plain"])
    try:
        got = []
        left = source.fetch_now(tasks, WAIT, lambda t, b: b.encoding is None and got.append(t) is None)
        assert got == tasks[:1] and left == tasks[1:]
        assert not source.offers_now_reads  # transport-compressed chunks: no now-reads offered again
    finally:
        await source.store.close()


@pytest.mark.parametrize("fill_missing", [True, False])
async def test_reads_through_the_seam_give_values_or_typed_errors(tmp_path, fill_missing):
    """A read of a mixed layer: missing chunks are background or EmptyVolumeException, corrupt ones a
    DecodingError after the retries, the rest exact."""
    from aiovolume.exceptions import EmptyVolumeException

    kinds = ["plain", "gzip", "missing", "plain", "gzip", "plain", "plain", "plain"]
    source, _ = _layer(str(tmp_path / "layer"), kinds)
    await source.store.close()
    url = f"file://{tmp_path}/layer"
    async with Volume(url, info=make_info("uint8", 1, size=SIZE, chunk=CHUNK), fill_missing=fill_missing) as vol:
        if not fill_missing:
            with pytest.raises(EmptyVolumeException, match="0-32_32-64_0-16 is missing"):
                await vol.download(vol.bounds)
        else:
            img = np.asarray(await vol.download(vol.bounds))
            assert not img[0:32, 32:64, 0:16].any()
            with open(os.path.join(str(tmp_path), "layer", "4_4_40", "32-64_32-64_0-16"), "rb") as f:
                want = np.frombuffer(f.read(), np.uint8).reshape((32, 32, 16), order="F")
            np.testing.assert_array_equal(img[32:64, 32:64, 0:16, 0], want)
        # now damage one chunk: every read that touches it fails typed, naming it
        with open(os.path.join(str(tmp_path), "layer", "4_4_40", "0-32_0-32_0-16"), "wb") as f:
            f.write(b"too short")
        with pytest.raises(DecodingError, match="0-32_0-32_0-16"):
            await vol.download(Bbox((0, 0, 0), (32, 32, 16)))
