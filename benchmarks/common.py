"""Helpers shared by the benchmark scripts: logging, rows of timings, /proc readers, the
environment header (versions, CPU), and the JSON-lines protocol of the client workers.

Only the standard library and numpy are imported here, so a worker process that imports this
module does not pull any client library in.
"""

from __future__ import annotations

import importlib.metadata
import os
import platform
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

TICK = os.sysconf("SC_CLK_TCK")


RESULTS_DIR = Path(__file__).resolve().parent / "results"


def save_report(name: str, text: str) -> Path:
    """Print a markdown report and keep it as ``benchmarks/results/<name>.md``."""
    print(text)
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    path = RESULTS_DIR / f"{name}.md"
    path.write_text(text)
    return path


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def usable_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1


# ------------------------------------------------------------------------------------------
# one client's results in one scenario
# ------------------------------------------------------------------------------------------
@dataclass
class Row:
    client: str
    times: list[float] = field(default_factory=list)
    status: str = "ok"             # "ok", "WRONG: ...", "n/a ...", "error: ..."
    note: str = ""                 # e.g. "raw only, n/c"
    wrong_runs: int = 0
    skip: bool = False             # no further calls (warm-up failed)
    rss_self_mib: list[float] = field(default_factory=list)   # VmHWM of the worker, per call
    rss_kids_mib: list[float] = field(default_factory=list)   # sum of its descendants' VmHWM
    rss_method: str = ""
    cpu_s: list[float] = field(default_factory=list)          # client-process CPU per call (bench_s3)
    server_cpu_s: list[float] = field(default_factory=list)   # latency server CPU per call
    stored_bytes: list[int] = field(default_factory=list)
    stored_files: str = ""

    @property
    def ok(self) -> bool:
        return self.status == "ok" and bool(self.times)

    @property
    def median(self) -> float | None:
        return statistics.median(self.times) if self.times else None

    @property
    def peak_rss_mib(self) -> float | None:
        """Largest self + descendants peak over the calls (an upper bound: shared pages twice)."""
        if not self.rss_self_mib:
            return None
        return max(s + k for s, k in zip(self.rss_self_mib, self.rss_kids_mib))


def check_array(out: Any, ref: Any) -> str | None:
    """None if ``out`` (x, y, z[, 1]) equals ``ref`` (x, y, z), else a short description."""
    import numpy as np

    arr = np.asarray(out)
    if arr.ndim == 4 and arr.shape[3] == 1:
        arr = arr[..., 0]
    if arr.shape != ref.shape or arr.dtype != ref.dtype:
        return f"shape/dtype {arr.shape} {arr.dtype}, expected {ref.shape} {ref.dtype}"
    if np.array_equal(arr, ref):
        return None
    return "zeros" if not arr.any() else f"{int(np.count_nonzero(arr != ref))} of {arr.size} voxels differ"


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# ------------------------------------------------------------------------------------------
# /proc
# ------------------------------------------------------------------------------------------
def _stat_fields(pid: int) -> list[str]:
    with open(f"/proc/{pid}/stat") as f:
        return f.read().rsplit(")", 1)[1].split()


def proc_cpu_s(pid: int, with_children: bool = False) -> float:
    """utime + stime of ``pid`` (+ its reaped children's) in seconds, from /proc/<pid>/stat."""
    f = _stat_fields(pid)
    ticks = int(f[11]) + int(f[12])
    if with_children:
        ticks += int(f[13]) + int(f[14])
    return ticks / TICK


def proc_cpu_precise_s(pid: int) -> float:
    """On-CPU seconds of every thread of ``pid`` from /proc/PID/task/*/schedstat (nanoseconds;
    /proc/PID/stat counts 10 ms ticks), falling back to utime + stime."""
    try:
        total = 0
        for tid in os.listdir(f"/proc/{pid}/task"):
            try:
                with open(f"/proc/{pid}/task/{tid}/schedstat") as f:
                    total += int(f.read().split()[0])
            except (OSError, ValueError, IndexError):
                continue  # a thread that just exited
        if total:
            return total / 1e9
    except OSError:
        pass
    return proc_cpu_s(pid)


def descendants(root: int | None = None) -> list[int]:
    """Live descendant pids of ``root`` (default: this process)."""
    root = os.getpid() if root is None else root
    children: dict[int, list[int]] = {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            ppid = int(_stat_fields(int(d))[1])
        except (OSError, ValueError, IndexError):
            continue
        children.setdefault(ppid, []).append(int(d))
    out, stack = [], list(children.get(root, []))
    while stack:
        pid = stack.pop()
        out.append(pid)
        stack.extend(children.get(pid, []))
    return out


def vm_kib(pid: int | str, key: str = "VmHWM") -> int:
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith(key + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def clear_peak(pid: int | str = "self") -> bool:
    """Reset VmHWM to the current RSS (``echo 5 > /proc/PID/clear_refs``); False if refused."""
    try:
        with open(f"/proc/{pid}/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


class CpuMeter:
    """Noise indicator: CPU used by *other* processes while a scenario ran.

    busy = non-idle CPU time of the whole machine (/proc/stat); ours = this process, its reaped
    children (os.times) and its live descendants (utime+stime+cutime+cstime from /proc), which
    include the client workers, their decode pools and the latency server; steal = vCPU time
    the hypervisor gave to other guests.
    """

    def sample(self) -> tuple[float, float, float, float]:
        with open("/proc/stat") as f:
            v = [int(x) for x in f.readline().split()[1:]]
        user, nice, system, _idle, _iowait, irq, softirq, steal = (v + [0] * 8)[:8]
        busy = (user + nice + system + irq + softirq) / TICK
        t = os.times()
        ours = t.user + t.system + t.children_user + t.children_system
        for pid in descendants():
            try:
                ours += proc_cpu_s(pid, with_children=True)
            except (OSError, ValueError, IndexError):
                pass
        return time.perf_counter(), busy, ours, steal / TICK

    @staticmethod
    def others(a: tuple[float, ...], b: tuple[float, ...]) -> tuple[float, float, float]:
        """(wall s, other processes' average cores, steal average cores) between two samples."""
        wall = max(b[0] - a[0], 1e-9)
        return wall, max(0.0, (b[1] - a[1]) - (b[2] - a[2])) / wall, (b[3] - a[3]) / wall


# ------------------------------------------------------------------------------------------
# environment
# ------------------------------------------------------------------------------------------
def versions(packages: tuple[str, ...] = ("aiovolume", "numpy", "cloud-volume", "cloud-files", "tensorstore",
                                          "imagecodecs", "compressed-segmentation", "deflate", "aiohttp")) -> dict[str, str]:
    out = {}
    for p in packages:
        try:
            out[p] = importlib.metadata.version(p)
        except importlib.metadata.PackageNotFoundError:
            out[p] = "not installed"
    return out


def git_commit(path: str) -> str:
    """The checkout's commit, with "+dirty" if tracked files under src/ differ from it."""
    try:
        sha = subprocess.run(["git", "-C", path, "rev-parse", "--short=12", "HEAD"], capture_output=True,
                             text=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", path, "status", "--porcelain", "--untracked-files=no", "--", "src"],
                               capture_output=True, text=True).stdout.strip()
        return sha + (" + uncommitted changes in src/" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown (not a git checkout)"


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def mem_total_gib() -> float:
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    except (ValueError, OSError):
        return float("nan")
