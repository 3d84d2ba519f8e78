"""compressed_segmentation decodes in threads by default, so validation must stop every bad stream.

The C decoder trusts the offsets in its input; a stream that slips past ``validate`` could make it
read outside the buffer and take the whole process down. Thousands of corrupted streams go
through validate + decode in a child process: each must decode or raise DecodingError, and the
child must exit cleanly (a crash shows up as a signal exit code).
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

HERE = os.path.dirname(os.path.abspath(__file__))  # the child imports cseg_corruptions from here

CHILD = textwrap.dedent(
    """
    import sys
    import numpy as np
    sys.path.insert(0, sys.argv[1])
    from cseg_corruptions import corrupt, streams
    from aiovolume.codecs import decode_chunk
    from aiovolume.exceptions import DecodingError

    rng = np.random.default_rng(1234)
    outcomes = {"decoded": 0, "refused": 0}
    for fmt, shape, channels, good in streams(rng):
        for trial in range(1500):
            bad = corrupt(good, rng, trial % 5)
            try:
                out = decode_chunk(bad, fmt, shape)
                assert out.shape == (*shape, channels)
                outcomes["decoded"] += 1
            except DecodingError:
                outcomes["refused"] += 1
    print(outcomes["decoded"], outcomes["refused"])
    """
)


def test_corrupted_cseg_streams_never_crash_the_decoder():
    proc = subprocess.run([sys.executable, "-c", CHILD, HERE], capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, f"decoder crashed or failed (exit {proc.returncode}): {proc.stderr[-2000:]}"
    decoded, refused = map(int, proc.stdout.split())
    assert decoded + refused == 3 * 1500
    assert refused > 1500  # most corruptions are caught, not decoded into garbage silently
