"""Fixtures shared by the whole suite."""

from __future__ import annotations

import os

import numpy as np
import pytest

from aiovolume.pipeline.shm import leftover_segments


@pytest.fixture
def layer_url(tmp_path):
    return "file://" + str(tmp_path / "layer")


@pytest.fixture(autouse=True)
def no_leaked_shared_memory():
    """Every test must leave /dev/shm as it found it (for segments of this process)."""
    mine = f"aiovolume_{os.getpid()}_"
    before = {n for n in leftover_segments() if n.startswith(mine)}
    yield
    after = {n for n in leftover_segments() if n.startswith(mine)}
    assert after <= before, f"leaked shared memory segments: {sorted(after - before)}"
