"""Names of features with their own issue exist and raise UnsupportedFeatureError naming the
feature (never AttributeError), on Volume, CloudVolume, vol.meta and vol.image."""

from __future__ import annotations

import inspect

import numpy as np
import pytest

from aiovolume import CloudVolume, Volume
from aiovolume.exceptions import UnsupportedFeatureError
from aiovolume.placeholders import FEATURES
from volume_helpers import make_info

# the names still pending (a feature that lands leaves placeholders.FEATURES, and its own tests take over)
PROPERTIES = {"cache": "disk cache", "mesh": "meshes", "skeleton": "skeletons", "provenance": "provenance",
              "shared_memory_id": "shared_memory_id"}
CALLS = {
    "viewer": ((), "viewer"),
    "to_dask": ((), "dask"),
}
PROPERTIES = {k: v for k, v in PROPERTIES.items() if k in FEATURES}
CALLS = {k: v for k, v in CALLS.items() if k in FEATURES}


@pytest.fixture
def cv(layer_url):
    v = CloudVolume(layer_url, info=make_info())
    yield v
    v.close()


@pytest.mark.parametrize("name", sorted(PROPERTIES))
def test_pending_properties_raise_with_the_feature_name(cv, name):
    for obj in (cv, cv._vol):
        with pytest.raises(UnsupportedFeatureError, match=PROPERTIES[name]) as err:
            getattr(obj, name)
        assert not isinstance(err.value, AttributeError)


@pytest.mark.parametrize("name", sorted(CALLS))
def test_pending_methods_raise_with_the_feature_name(cv, name):
    args, feature = CALLS[name]
    with pytest.raises(UnsupportedFeatureError, match=feature):
        getattr(cv, name)(*args)


@pytest.mark.parametrize("name", sorted(CALLS))
async def test_pending_methods_on_volume_raise_too(layer_url, name):
    args, feature = CALLS[name]
    async with Volume(layer_url, info=make_info()) as vol:
        method = getattr(vol, name)
        with pytest.raises(UnsupportedFeatureError, match=feature):
            await method(*args) if inspect.iscoroutinefunction(method) else method(*args)


@pytest.mark.interop
def test_every_placeholder_is_a_cloudvolume_name(cv):
    from cloudvolume import CloudVolume as CV

    theirs = CV(cv.cloudpath, info=cv.info, provenance={}, progress=False)
    for name in [*PROPERTIES, *CALLS]:
        # shared_memory_id lives on CloudVolume's vol.image (its docstrings say vol.shared_memory_id)
        assert name in dir(theirs) or name in dir(theirs.image), name
    assert "shared_memory_id" in dir(theirs.image)
