"""A plain blocking script that used a network store and never closed it exits silently.

The facade's clients live on the background bridge loop; before they were closed at exit,
every http/s3/gs script ended with aiohttp's "Unclosed client session" / "Unclosed connector"
on stderr.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "storage"))

from cloud_fixtures import CloudEnv, gcs_env, gcs_server, moto_server, s3_env  # noqa: E402,F401

from aiovolume import CloudVolume  # noqa: E402
from aiovolume.testing.faultserver import spawn_fault_server  # noqa: E402

SCRIPT = textwrap.dedent("""
    import sys
    import numpy as np
    from aiovolume import CloudVolume
    url, write = sys.argv[1], sys.argv[2] == "write"
    if write:
        info = CloudVolume.create_new_info(1, "image", "uint8", "raw", [4, 4, 40], [0, 0, 0], [64, 64, 16],
                                           chunk_size=[32, 32, 16])
        vol = CloudVolume(url, info=info, progress=False)
        vol.commit_info()
        vol[:, :, :] = np.arange(64 * 64 * 16, dtype=np.uint64).astype(np.uint8).reshape(64, 64, 16)
    vol = CloudVolume(url, progress=False)
    print(int(vol[:, :, :].astype(np.int64).sum()))
""")
EXPECTED = int(np.arange(64 * 64 * 16, dtype=np.uint64).astype(np.uint8).astype(np.int64).sum())


def run_script(url: str, write: bool) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", SCRIPT, url, "write" if write else "read"],
                          capture_output=True, text=True, timeout=120, env=dict(os.environ))


def test_http_script_exits_without_unclosed_session_warnings(tmp_path):
    info = CloudVolume.create_new_info(1, "image", "uint8", "raw", [4, 4, 40], [0, 0, 0], [64, 64, 16],
                                       chunk_size=[32, 32, 16])
    vol = CloudVolume(f"file://{tmp_path}/img", info=info, progress=False)
    vol.commit_info()
    vol[:, :, :] = np.arange(64 * 64 * 16, dtype=np.uint64).astype(np.uint8).reshape(64, 64, 16)
    with spawn_fault_server(root=tmp_path) as (_, url):
        done = run_script(f"{url}/img", write=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == str(EXPECTED)
    assert done.stderr == ""


@pytest.mark.parametrize("scheme", ["s3", "gs"])
def test_cloud_script_exits_without_unclosed_session_warnings(request, scheme):
    env: CloudEnv = request.getfixturevalue("s3_env" if scheme == "s3" else "gcs_env")
    done = run_script(f"{scheme}://{env.bucket}/{env.prefix}/img", write=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == str(EXPECTED)
    assert done.stderr == ""
