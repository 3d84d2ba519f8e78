"""The `aiovolume` command, run as a subprocess: the installed console script when it sits next
to this interpreter, else `python -m aiovolume` (with this checkout's sources on PYTHONPATH)."""

from __future__ import annotations

import json
import os
import re
import urllib.parse
import shutil
import subprocess
import sys

import numpy as np
import pytest

from aiovolume import CloudVolume
from aiovolume.objects.mesh import Mesh
from aiovolume.objects.skeleton import Skeleton
from process_helpers import assert_port_closed, ctrl_c, reaped

SRC = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))), "src")


def _command() -> list[str]:
    # the console script of an install (`pip install -e .`); PYTHONPATH (below) puts this checkout's
    # sources before the installed ones either way
    script = shutil.which("aiovolume", path=os.path.dirname(sys.executable))
    return [script] if script else [sys.executable, "-m", "aiovolume"]


def run(*args: str, cwd: str | None = None) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=SRC + os.pathsep + os.environ.get("PYTHONPATH", ""))
    return subprocess.run([*_command(), *args], capture_output=True, text=True, timeout=120, env=env, cwd=cwd)


def _fails(result, code, *phrases):
    assert result.returncode == code, result
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr  # one line, no traceback
    assert "Traceback" not in result.stderr
    for p in phrases:
        assert p in lines[0], lines[0]


@pytest.fixture(scope="module")
def layers(tmp_path_factory):
    root = tmp_path_factory.mktemp("cli")
    img_url = "file://" + str(root / "img")
    data = np.random.default_rng(1).integers(0, 255, (128, 96, 20), dtype=np.uint8)
    CloudVolume.from_numpy(data, img_url, chunk_size=(32, 32, 10), voxel_offset=(8, 8, 0),
                           resolution=(4, 4, 40)).close()
    seg_url = "file://" + str(root / "seg")
    info = CloudVolume.create_new_info(1, "segmentation", "uint64", "raw", [4, 4, 40], [0, 0, 0], [64, 64, 16],
                                       mesh="mesh", skeletons="skeletons", chunk_size=[32, 32, 16])
    with CloudVolume(seg_url, info=info, progress=False) as cv:
        cv.commit_info()
        cv[:, :, :] = np.full((64, 64, 16), 7, np.uint64)
        tetra = Mesh([[0, 0, 0], [40, 0, 0], [0, 40, 0], [0, 0, 40]], [[0, 1, 2], [0, 1, 3], [0, 2, 3], [1, 2, 3]],
                     segid=7)
        cv.mesh.put(tetra)
        cv.skeleton.upload(Skeleton([[0, 0, 0], [4, 4, 40], [8, 8, 80]], [[0, 1], [1, 2]], radii=[1, 2, 3],
                                    segid=7))
    return root, img_url, seg_url, data


def test_info_table_and_json(layers, tmp_path):
    src, _, _, _ = layers
    root = tmp_path
    shutil.copytree(str(src / "img"), root / "img")
    img_url = "file://" + str(root / "img")
    r = run("info", img_url)
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0] == f"{img_url}: image uint8, 1 channel(s)"
    assert lines[1].split() == ["mip", "resolution", "size", "voxel_offset", "chunk_size", "encoding", "sharding"]
    assert lines[2].split() == ["0", "4x4x40", "128x96x20", "8x8x0", "32x32x10", "raw", "no"]
    r = run("downsample", str(root / "img"), "--num-mips", "1", "--sharded")
    assert r.returncode == 0, r.stderr
    row = run("info", img_url).stdout.splitlines()[3].split()
    assert row[0] == "1" and row[-2:] == ["1", "shard(s)"]
    r = run("info", img_url, "--json")
    assert r.returncode == 0 and json.loads(r.stdout)["scales"][0]["voxel_offset"] == [8, 8, 0]


def test_cp_a_region_with_gzip(layers):
    root, img_url, _, data = layers
    dst = "file://" + str(root / "copy")
    r = run("cp", img_url, dst, "--bbox", "8,8,0,72,72,10", "--compress", "gzip", "--no-progress")
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == f"copied mip 0 8,8,0,72,72,10 of {img_url} to {dst}"
    assert (root / "copy" / "4_4_40" / "0-32_0-32_0-10.gz").exists() is False  # keys are global coordinates
    assert (root / "copy" / "4_4_40" / "8-40_8-40_0-10.gz").exists()
    with CloudVolume(dst, progress=False) as cv:
        np.testing.assert_array_equal(cv[8:72, 8:72, 0:10][..., 0], data[0:64, 0:64, 0:10])


def test_downsample_then_info_shows_the_mips(layers, tmp_path):
    _, img_url, _, data = layers
    src = str(layers[0] / "img")
    work = tmp_path / "img"
    shutil.copytree(src, work)
    r = run("downsample", "file://" + str(work), "--num-mips", "2", "--factor", "2,2,1")
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == f"wrote mips 1, 2 of file://{work}"
    r = run("info", str(work))
    rows = [line.split() for line in r.stdout.splitlines()[2:]]
    assert [row[:4] for row in rows] == [["0", "4x4x40", "128x96x20", "8x8x0"], ["1", "8x8x40", "64x48x20", "4x4x0"],
                                         ["2", "16x16x40", "32x24x20", "2x2x0"]]
    with CloudVolume("file://" + str(work), mip=2, progress=False) as cv:
        want = data.reshape(32, 4, 24, 4, 20).astype(np.int64).sum(axis=(1, 3)) // 16
        np.testing.assert_array_equal(cv[cv.bounds.to_slices()][..., 0], want)


def test_downsample_on_a_scheduler_address(layers, tmp_path):
    distributed = pytest.importorskip("distributed")
    work = tmp_path / "img"
    shutil.copytree(str(layers[0] / "img"), work)
    with distributed.LocalCluster(host="127.0.0.1", n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None) as cluster, distributed.Client(cluster) as client:
        r = run("downsample", str(work), "--num-mips", "1", "--method", "mode", "--scheduler",
                cluster.scheduler_address)
        assert r.returncode == 0, r.stderr
        # the tasks ran on the cluster, not in the command's process
        prefixes = client.run_on_scheduler(lambda dask_scheduler: sorted(dask_scheduler.task_prefixes))
        assert "aiovolume-downsample" in prefixes, prefixes
    with CloudVolume("file://" + str(work), mip=1, progress=False) as cv:
        assert tuple(cv.volume_size) == (64, 48, 20)


def test_mesh_and_skeleton_save(layers, tmp_path):
    _, _, seg_url, _ = layers
    r = run("mesh", "save", seg_url, "7", "--format", "obj", "--out", str(tmp_path))
    assert r.returncode == 0, r.stderr
    obj = (tmp_path / "7.obj").read_text()
    assert obj.count("\nf ") + obj.startswith("f ") == 4 and sum(line.startswith("v ") for line in obj.splitlines()) == 4
    r = run("mesh", "save", seg_url, "7", "--out", str(tmp_path))
    assert r.returncode == 0 and (tmp_path / "7.ply").read_bytes().startswith(b"ply")
    r = run("skeleton", "save", seg_url, "7", "--out", str(tmp_path))
    assert r.returncode == 0, r.stderr
    swc = Skeleton.from_swc((tmp_path / "7.swc").read_text())
    np.testing.assert_array_equal(swc.vertices, [[0, 0, 0], [4, 4, 40], [8, 8, 80]])
    _fails(run("mesh", "save", seg_url, "8", "--out", str(tmp_path)), 1, "aiovolume mesh: error:", "8")
    _fails(run("skeleton", "save", seg_url, "8", "--out", str(tmp_path)), 1, "aiovolume skeleton: error:", "8")
    _fails(run("mesh", "save", seg_url, "x7"), 2, "segment ids are non-negative integers")


def test_errors_are_one_line(layers, tmp_path):
    root, img_url, _, _ = layers
    _fails(run("info", "file://" + str(tmp_path / "nothing")), 1, "aiovolume info: error: no info file at")
    _fails(run("info", "foo://bucket/layer"), 1, "unsupported protocol foo://")
    _fails(run("cp", img_url, "file://" + str(tmp_path / "c"), "--bbox", "1,2,3"), 2,
           "--bbox must be 6 comma-separated integers, got '1,2,3'")
    _fails(run("cp", img_url, "file://" + str(tmp_path / "c"), "--bbox", "10,0,0,5,5,5"), 2, "is empty")
    _fails(run("cp", img_url, "file://" + str(tmp_path / "c"), "--bbox", "0,0,0,5000,10,10", "--no-progress"), 1,
           "outside the volume bounds")
    _fails(run("downsample", img_url), 2, "--num-mips")
    _fails(run("downsample", img_url, "--num-mips", "1", "--factor", "2,2"), 2, "3 comma-separated integers")
    _fails(run("downsample", "file://" + str(tmp_path / "nothing"), "--num-mips", "1"), 1, "no info file")
    _fails(run(), 2, "required: COMMAND")
    _fails(run("nope"), 2, "invalid choice: 'nope'")


@pytest.mark.parametrize("args", [[], ["info"], ["cp"], ["downsample"], ["view"], ["serve"], ["mesh"], ["mesh", "save"],
                                  ["skeleton"], ["skeleton", "save"]])
def test_help_everywhere(args):
    r = run(*args, "--help")
    assert r.returncode == 0 and r.stdout.startswith("usage: aiovolume") and not r.stderr


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _until_ctrl_c(args: list[str], fetch: str, lines: int = 1) -> tuple[str, dict, subprocess.CompletedProcess]:
    """Start a blocking subcommand, read the ``lines`` it prints (the URL first), GET ``fetch``
    from it, then Ctrl-C. (Lines are read before ``communicate``, which bypasses readline's buffer.)"""
    import urllib.request

    env = dict(os.environ, PYTHONPATH=SRC + os.pathsep + os.environ.get("PYTHONPATH", ""))
    proc = subprocess.Popen([*_command(), *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    with reaped(proc):
        first = "".join(proc.stdout.readline() for _ in range(lines))
        found = re.search(r"http://127\.0\.0\.1:\d+", first)
        assert found, first
        url = found.group(0)
        with urllib.request.urlopen(url + fetch, timeout=30) as r:
            assert r.status == 200
            body = json.loads(r.read())
        out, err = ctrl_c(proc)
    assert_port_closed(int(url.rsplit(":", 1)[1]))
    return first + out, body, subprocess.CompletedProcess(args, proc.returncode, out, err)


def test_serve_serves_the_layer_until_ctrl_c(layers):
    _, img_url, _, _ = layers
    port = _free_port()
    out, info, done = _until_ctrl_c(["serve", img_url, "--port", str(port)], "/info", lines=2)
    assert done.returncode == 0 and "Traceback" not in done.stderr, done.stderr
    assert info["scales"][0]["voxel_offset"] == [8, 8, 0] and info["type"] == "image"
    link = out.splitlines()[1]
    state = json.loads(urllib.parse.unquote(link.split("#!", 1)[1]))
    assert state["layers"][0]["source"] == f"precomputed://http://127.0.0.1:{port}"


def test_view_shows_the_cutout_with_its_offset_until_ctrl_c(layers):
    _, _, seg_url, _ = layers
    port = _free_port()
    out, meta, done = _until_ctrl_c(["view", seg_url, "--bbox", "8,8,0,40,24,16", "--port", str(port)], "/meta")
    assert done.returncode == 0 and "Traceback" not in done.stderr, done.stderr
    assert meta["shape"] == [32, 16, 16] and meta["offset"] == [8, 8, 0]
    assert meta["resolution"] == [4.0, 4.0, 40.0]
    assert [layer["kind"] for layer in meta["layers"]] == ["segmentation"]


def test_view_and_serve_errors_are_one_line(layers, tmp_path):
    _fails(run("view", f"file://{tmp_path}/nothing", "--bbox", "0,0,0,8,8,8"), 1, "view")
    _fails(run("view", layers[1], "--bbox", "0,0,0,8,8"), 2, "--bbox")
    _fails(run("serve", "ftp://example/layer"), 1, "serve", "ftp")
    busy = _free_port()
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", busy))
        taken.listen()
        _fails(run("serve", layers[1], "--port", str(busy)), 1, "serve", str(busy))
