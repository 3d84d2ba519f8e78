"""Misuse of the lifecycle surfaces as aiovolume's typed errors (still the built-in bases)."""

from __future__ import annotations

import numpy as np
import pytest

from aiovolume import Bbox, CloudVolume, Vec, Volume
from aiovolume.exceptions import (
    AiovolumeError, BlockingCallInLoopError, DimensionError, IndexTypeError, VolumeClosedError,
)
from aiovolume.geometry import normalize_slices
from aiovolume.sync import run
from volume_helpers import make_info


async def test_io_on_a_closed_volume_says_it_is_closed(layer_url):
    async with Volume(layer_url, info=make_info(), fill_missing=True) as vol:
        await vol.commit_info()
    with pytest.raises(VolumeClosedError, match="is not open"):
        await vol.download(np.s_[0:8, 0:8, 0:8])
    with pytest.raises(RuntimeError):  # the class scripts caught before
        await vol.refresh_info()
    async with vol:  # and it can be opened again
        assert (await vol.download(np.s_[0:8, 0:8, 0:8])).shape == (8, 8, 8, 1)


def test_a_volume_never_opened_is_not_open(layer_url):
    vol = Volume(layer_url, info=make_info())
    with pytest.raises(VolumeClosedError):
        vol.store


def test_blocking_call_on_the_bridge_loop_is_refused(layer_url):
    with CloudVolume(layer_url, info=make_info()) as cv:
        async def inside() -> None:
            cv.commit_info()  # would wait on the loop it runs on: a deadlock

        with pytest.raises(BlockingCallInLoopError) as err:
            run(inside())
        assert isinstance(err.value, (AiovolumeError, RuntimeError))


BOX = Bbox((0, 0, 0), (8, 8, 8))


@pytest.mark.parametrize("bad, error", [
    (lambda: Vec("a", "b"), IndexTypeError),
    (lambda: Bbox(["a", "b"], ["c", "d"]), IndexTypeError),
    (lambda: Bbox((0, None, 0), (1, 1, 1)), IndexTypeError),
    (lambda: Bbox.create(object()), IndexTypeError),
    (lambda: normalize_slices(np.s_[1.5], BOX, 1), IndexTypeError),
    (lambda: normalize_slices(Bbox((0.5, 0, 0), (4, 4, 4)), BOX, 1), IndexTypeError),
    (lambda: BOX.clone().grow(-5), DimensionError),
    (lambda: BOX.clone().grow((1, 1)), DimensionError),
    (lambda: BOX.clone().shrink(-1), DimensionError),
    (lambda: BOX.expand_to_chunk_size((4, 4)), DimensionError),
    (lambda: BOX.shrink_to_chunk_size("abc"), IndexTypeError),
    (lambda: BOX.round_to_chunk_size((4, 4, 4), offset=(1, 1)), DimensionError),
])
def test_bad_geometry_raises_typed_errors_with_the_builtin_bases(bad, error):
    with pytest.raises(error) as err:
        bad()
    assert isinstance(err.value, AiovolumeError)
    assert isinstance(err.value, ValueError if error is DimensionError else TypeError)
