"""get_ranges as a property: any object, any list of ranges, exactly the slices (file and mem)."""

from __future__ import annotations

import asyncio

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from aiovolume.exceptions import IntegrityError
from aiovolume.storage.file import FileStore
from aiovolume.storage.memory import MemoryStore
from aiovolume.storage.ranges import coalesce


@st.composite
def object_and_ranges(draw):
    data = draw(st.binary(min_size=0, max_size=3000))
    n = len(data)
    point = st.integers(0, n + 20)
    ranges = draw(st.lists(st.tuples(point, point).map(lambda r: (min(r), max(r))), max_size=25))
    return data, ranges


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(case=object_and_ranges(), gap=st.sampled_from([0, 1, 64, 4096]))
@pytest.mark.parametrize("kind", ["file", "mem"])
def test_get_ranges_is_slicing(tmp_path, kind, case, gap):
    data, ranges = case

    async def run():
        store = FileStore(str(tmp_path / "s")) if kind == "file" else MemoryStore("ranges-prop", "layer")
        store.range_gap = gap  # any gap gives the same bytes; only the number of reads changes
        async with store:
            await store.put("obj", data)
            if any(b > len(data) and b > a for a, b in ranges):  # an empty range reads nothing
                with pytest.raises(IntegrityError):
                    await store.get_ranges("obj", ranges)
            else:
                assert await store.get_ranges("obj", ranges) == [data[a:b] for a, b in ranges]

    asyncio.run(run())


def test_coalesce_merges_within_the_gap_and_caps_the_size():
    assert coalesce([(0, 10), (12, 20), (40, 50)], gap=2, max_bytes=100) == [(0, 20), (40, 50)]
    assert coalesce([(40, 50), (0, 10), (5, 8), (0, 0)], gap=0, max_bytes=100) == [(0, 10), (40, 50)]
    assert coalesce([(0, 60), (60, 120)], gap=10, max_bytes=100) == [(0, 60), (60, 120)]  # would exceed the cap
    assert coalesce([(0, 500)], gap=10, max_bytes=100) == [(0, 500)]  # a big range stays whole
