"""Fixtures of the boss:// tests: a local BOSS API server with a few channels, an isolated home."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

_HERE = os.path.dirname(os.path.abspath(__file__))
for _dir in (_HERE, os.path.join(os.path.dirname(_HERE), "storage")):  # + cloud_fixtures (moto)
    if _dir not in sys.path:
        sys.path.insert(0, _dir)

from boss_server import BossServer  # noqa: E402


@pytest.fixture
def home(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """HOME and the secrets directories in tmp: never the real ~/.cloudvolume."""
    home = tmp_path / "home"
    (home / ".cloudvolume" / "secrets").mkdir(parents=True)
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.delenv("CLOUD_VOLUME_DIR", raising=False)
    monkeypatch.setenv("CLOUD_FILES_DIR", str(tmp_path / "cloudfiles"))
    return home


@pytest.fixture
def boss(home: Path) -> Iterator[BossServer]:
    """A BOSS server on 127.0.0.1 holding collection ``col``:

    - experiment ``exp`` (frame ``f0``: 600x530x36 voxels from 0, 4x4x40 nm, 3 anisotropic
      levels) with channels ``img8`` (image uint8), ``img16`` (image uint16), ``seg64``
      (annotation uint64);
    - experiment ``iso`` (frame ``f1``: (100, 50, 3) to (700, 600, 40), 0.5x0.5x1.5 um,
      2 isotropic levels) with channel ``off16`` (image uint16).
    """
    server = BossServer().start()
    server.add_frame("f0", (0, 0, 0), (600, 530, 36), (4, 4, 40), "nanometers")
    server.add_experiment("col", "exp", "f0", levels=3, method="anisotropic")
    server.add_channel("col", "exp", "img8", "image", "uint8")
    server.add_channel("col", "exp", "img16", "image", "uint16")
    server.add_channel("col", "exp", "seg64", "annotation", "uint64")
    server.add_frame("f1", (100, 50, 3), (700, 600, 40), (0.5, 0.5, 1.5), "micrometers")
    server.add_experiment("col", "iso", "f1", levels=2, method="isotropic")
    server.add_channel("col", "iso", "off16", "image", "uint16")
    try:
        yield server
    finally:
        server.stop()
