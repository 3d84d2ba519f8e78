"""The process pool: crash isolation, recovery, shared memory hygiene, Ctrl-C, unguarded scripts."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest

from aiovolume.exceptions import DecodingError
from aiovolume.pipeline.executor import ProcessPool
from aiovolume.pipeline.shm import SharedArray, attach, leftover_segments
from process_helpers import ctrl_c, reaped

HERE = os.path.dirname(__file__)
sys.path.insert(0, HERE)
import crashy  # noqa: E402


def _key(task):
    return task[0]


async def test_crash_names_the_guilty_task_and_innocents_still_finish():
    pool = ProcessPool(2)
    try:
        innocent = pool.run_batch(crashy.double_or_die, (), [("a", 1), ("b", 2)], _key)
        guilty = pool.run_batch(crashy.double_or_die, (), [("c", 3), ("bad-key", "die"), ("d", 4)], _key)
        results = await asyncio.gather(innocent, guilty, return_exceptions=True)
        assert results[0] == [2, 4]
        assert isinstance(results[1], DecodingError)
        assert "bad-key" in str(results[1]) and "crashed" in str(results[1])
        # the pool was replaced: later work runs normally
        assert await pool.run_batch(crashy.double_or_die, (), [("e", 5)], _key) == [10]
    finally:
        pool.shutdown()


def test_shared_array_is_unlinked_but_stays_valid():
    with SharedArray((8, 8, 8, 1), "uint16") as sa:
        name = sa.name
        mm, view = attach(name, (8, 8, 8, 1), "uint16")
        view[1, 2, 3, 0] = 77
        del view
        mm.close()
        arr = sa.array
    assert name not in leftover_segments()
    assert arr[1, 2, 3, 0] == 77 and arr.flags.f_contiguous


def _run_script(tmp_path, body: str, **kw) -> subprocess.Popen:
    script = tmp_path / "user_script.py"
    script.write_text(textwrap.dedent(body))
    env = dict(os.environ, PYTHONPATH=os.path.join(os.path.dirname(HERE), "..", "src"))
    return subprocess.Popen([sys.executable, str(script)], cwd=tmp_path, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kw)


def test_unguarded_script_is_not_rerun_by_workers(tmp_path):
    """CloudVolume scripts rarely have an `if __name__ == "__main__"` guard."""
    proc = _run_script(tmp_path, """
        import os, numpy as np
        from aiovolume import CloudVolume, Options
        print("script body ran", flush=True)
        info = CloudVolume.create_new_info(1, "image", "uint8", "raw", [4, 4, 40], [0, 0, 0], [128, 128, 32],
                                           chunk_size=[64, 64, 16])
        vol = CloudVolume("file://" + os.path.abspath("layer"), info=info, options=Options(codec_executor="process"))
        vol.commit_info()
        vol[:, :, :] = np.full((128, 128, 32), 5, np.uint8)
        print("sum", int(np.asarray(vol[:, :, :]).sum()), flush=True)
    """)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    assert out.count("script body ran") == 1
    assert f"sum {5 * 128 * 128 * 32}" in out


def test_ctrl_c_cancels_and_leaves_no_shared_memory(tmp_path):
    proc = _run_script(tmp_path, """
        import os, signal, numpy as np
        # a shell that starts jobs in the background makes them ignore SIGINT; a user's
        # terminal does not, so restore Python's KeyboardInterrupt handler
        signal.signal(signal.SIGINT, signal.default_int_handler)
        from aiovolume import CloudVolume, Options
        info = CloudVolume.create_new_info(1, "image", "uint8", "raw", [4, 4, 40], [0, 0, 0], [512, 512, 256],
                                           chunk_size=[32, 32, 32])
        vol = CloudVolume("file://" + os.path.abspath("layer"), info=info, fill_missing=True,
                          options=Options(codec_executor="process"))
        vol.commit_info()
        print("pid", os.getpid(), flush=True)
        while True:
            vol[:, :, :]
    """)
    with reaped(proc):
        line = proc.stdout.readline()
        assert line.startswith("pid"), proc.stderr.read()
        pid = int(line.split()[1])
        time.sleep(2.5)  # inside a read, most likely
        out, err = ctrl_c(proc)
    assert "KeyboardInterrupt" in err
    time.sleep(0.5)
    assert [n for n in leftover_segments() if n.startswith(f"aiovolume_{pid}_")] == []


async def test_repeated_crashes_never_hang():
    """CPython 3.11 could miss a lazily spawned worker's death and hang forever (~1 in 10 runs)."""
    for _ in range(20):
        pool = ProcessPool(2)
        try:
            innocent = pool.run_batch(crashy.double_or_die, (), [("a", 1)], _key)
            guilty = pool.run_batch(crashy.double_or_die, (), [("bad-key", "die")], _key)
            results = await asyncio.wait_for(asyncio.gather(innocent, guilty, return_exceptions=True), 60)
            assert results[0] == [2] and isinstance(results[1], DecodingError)
        finally:
            pool.shutdown()
