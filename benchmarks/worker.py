"""One client in its own process: ``python worker.py CLIENT``, driven by bench.py.

Commands arrive as JSON lines on stdin; replies go as JSON lines to the original stdout (the
worker then points fd 1 at stderr, so whatever a library prints cannot corrupt the protocol).

* ``{"cmd": "open", "url": U}`` opens a read handle (untimed)
* ``{"cmd": "read", "box": B, "ref": {...}}``: one timed read of B, checked against the reference
* ``{"cmd": "cutouts", "boxes": [...], "ref": {...}}``: many small reads, timed as one call
* ``{"cmd": "write", "url": U, "compress": C, "box": B, "input": NPY}``: open (untimed), one timed
  write of the array in NPY (loaded once, before the peak is reset), close (untimed)
* ``{"cmd": "quit"}``

Each timed call is preceded by ``gc.collect()`` and a reset of the peak RSS of this process and
its live descendants (``5 > /proc/PID/clear_refs``); the reply carries the seconds, VmHWM of
this process and the summed VmHWM of its descendants (aiovolume's decode pool) after the call,
and for reads a verdict of the check (``problem``: None or what is wrong), which is made
after the measurement. The reference is memory-mapped only for the check and unmapped before
the next call, so it never counts in a peak.
"""

from __future__ import annotations

import gc
import json
import os
import resource
import sys
import time
import traceback
from typing import Any

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import clear_peak, descendants, vm_kib  # noqa: E402


def _as_xyz(out: Any) -> np.ndarray:
    arr = np.asarray(out)
    if arr.ndim == 4 and arr.shape[3] == 1:
        arr = arr[..., 0]
    return arr


def check(outs: list[Any], boxes: list[Any], ref: dict[str, Any]) -> str | None:
    """None if every output equals the reference voxels of its box, else what is wrong."""
    refs: dict[str, np.ndarray] = {}
    try:
        bad = zeros = 0
        detail = ""
        for out, (lo, hi) in zip(outs, boxes):
            arr = _as_xyz(out)
            want_shape = tuple(b - a for a, b in zip(lo, hi))
            if arr.shape != want_shape:
                return f"shape {np.shape(out)}, expected {(*want_shape, 1)}"
            if str(arr.dtype) != ref["dtype"]:
                return f"dtype {arr.dtype}, expected {ref['dtype']}"
            order = "F" if (arr.flags.f_contiguous and not arr.flags.c_contiguous) else "C"
            if order not in refs:
                refs[order] = np.load(ref[order], mmap_mode="r")
            want = refs[order][lo[0]:hi[0], lo[1]:hi[1], lo[2]:hi[2]]
            if not np.array_equal(arr, want):
                bad += 1
                if not arr.any():
                    zeros += 1
                elif not detail:
                    n = int(np.count_nonzero(arr != want))
                    detail = f"{n} of {arr.size} voxels differ"
        if not bad:
            return None
        if zeros == bad:
            return "zeros" if len(boxes) == 1 else f"zeros in {zeros} of {len(boxes)} cutouts"
        return detail if len(boxes) == 1 else f"{bad} of {len(boxes)} cutouts wrong ({zeros} all zeros; e.g. {detail})"
    finally:
        refs.clear()  # unmaps the reference before the next call


class Peak:
    """Peak RSS of this process and its descendants around one call."""

    def __init__(self) -> None:
        self.method = "VmHWM after clear_refs" if clear_peak("self") else "ru_maxrss (cumulative: clear_refs refused)"

    def reset(self) -> None:
        gc.collect()
        if self.method.startswith("VmHWM"):
            clear_peak("self")
            for pid in descendants():
                clear_peak(pid)

    def read(self) -> tuple[int, int]:
        if self.method.startswith("VmHWM"):
            own = vm_kib("self")
        else:
            own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return own, sum(vm_kib(pid) for pid in descendants())


def main() -> int:
    name = sys.argv[1]
    proto = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    import warnings

    warnings.filterwarnings("ignore")
    from clients import FACTORIES

    def reply(**msg: Any) -> None:
        proto.write((json.dumps(msg) + "\n").encode())
        proto.flush()

    try:
        client = FACTORIES[name]()
    except Exception as exc:
        traceback.print_exc()
        reply(error=f"{type(exc).__name__}: {exc}")
        return 1
    peak = Peak()
    reply(ready=True, pid=os.getpid(), rss_method=peak.method)
    handle: Any = None
    inputs: dict[str, np.ndarray] = {}
    for line in sys.stdin:
        msg = json.loads(line)
        cmd = msg["cmd"]
        if cmd == "quit":
            break
        try:
            if cmd == "open":
                if handle is not None:
                    client.close(handle)
                handle = client.open(msg["url"], cache_bytes=msg.get("cache_bytes", 0))
                reply(ok=True)
                continue
            if cmd == "write":
                path = msg["input"]
                if path not in inputs:
                    inputs.clear()
                    inputs[path] = np.load(path)
                data = inputs[path]
                h = client.open(msg["url"], write=True, compress=msg["compress"])
                box = msg["box"]
                peak.reset()
                t0 = time.perf_counter()
                client.write(h, box, data)
                dt = time.perf_counter() - t0
                own, kids = peak.read()
                client.close(h)
                reply(seconds=dt, problem=None, hwm_self_kib=own, hwm_kids_kib=kids)
                continue
            boxes = msg["boxes"] if cmd == "cutouts" else [msg["box"]]
            peak.reset()
            t0 = time.perf_counter()
            if cmd == "cutouts":
                outs = client.cutouts(handle, boxes)
            else:
                outs = [client.read(handle, boxes[0])]
            dt = time.perf_counter() - t0
            own, kids = peak.read()
            problem = check(outs, boxes, msg["ref"])
            del outs
            reply(seconds=dt, problem=problem, hwm_self_kib=own, hwm_kids_kib=kids)
        except Exception as exc:
            traceback.print_exc()
            reply(error=f"{type(exc).__name__}: {str(exc)[:300]}")
    if handle is not None:
        try:
            client.close(handle)
        except Exception:
            pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
