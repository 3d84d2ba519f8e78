"""transfer_to between s3:// (moto) and gs:// (fake-gcs-server): both stores in one call."""

from __future__ import annotations

import os
import sys

import numpy as np
import pytest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "storage"))

from cloud_fixtures import BUCKET, CloudEnv, gcs_server, moto_server, s3_env  # noqa: E402,F401

from aiovolume import Volume  # noqa: E402
from transfer_helpers import make_layer  # noqa: E402


@pytest.fixture
def both(s3_env: CloudEnv, gcs_server, monkeypatch: pytest.MonkeyPatch) -> tuple[str, str]:
    # s3_env isolated the environment; the emulator is added beside it
    monkeypatch.setenv("STORAGE_EMULATOR_HOST", gcs_server.endpoint)
    return f"s3://{BUCKET}/{s3_env.prefix}/ds/image", f"gs://{BUCKET}/{s3_env.prefix}/ds/image"


@pytest.mark.parametrize("direction", ["s3->gs", "gs->s3"])
@pytest.mark.parametrize("kwargs", [{}, {"compress": False, "sharded": True}], ids=["bytes", "resharded"])
async def test_transfer_between_s3_and_gcs(both, direction, kwargs):
    s3, gs = both
    src, dst = (s3, gs) if direction == "s3->gs" else (gs, s3)
    data = await make_layer(src)
    async with Volume(src) as vol:
        dest = await vol.transfer_to(dst, vol.bounds, **kwargs)
    assert dest.cloudpath == dst
    async with dest:
        assert ("sharding" in dest.info["scales"][0]) is bool(kwargs)
        np.testing.assert_array_equal(np.asarray(await dest.download(dest.bounds)), data)
    async with Volume(dst) as again:  # what is stored, not what the returned volume remembers
        np.testing.assert_array_equal(np.asarray(await again.download(again.bounds)), data)
