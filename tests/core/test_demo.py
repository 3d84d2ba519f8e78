"""`make demo` keeps working: it writes, re-opens and verifies a local layer."""

from __future__ import annotations

from aiovolume.demo import main


async def test_demo_writes_and_verifies_a_layer(tmp_path, capsys):
    assert await main(str(tmp_path)) == 0
    out = capsys.readouterr().out
    assert "verified   OK" in out and (tmp_path / "em_image" / "info").exists()
