"""Progress bars (``progress=True``): one tqdm bar per download, upload, delete or transfer.

The bar counts chunks done out of the chunks the call touches (tqdm shows chunks/s, we add MiB/s). It closes
itself when the count reaches the total, and the caller closes it in a ``finally`` so a failed
or cancelled call leaves no bar open. Without tqdm installed, no bar (never an error).
"""

from __future__ import annotations

from typing import Any


class ProgressBar:
    """A tqdm bar as the ``on_progress(n)`` callback the pipeline takes."""

    def __init__(self, total: int, desc: str, chunk_bytes: int = 0, **tqdm_args: Any) -> None:
        from tqdm import tqdm

        self.total = int(total)
        self.chunk_bytes = chunk_bytes
        self.bar = tqdm(total=self.total, desc=desc, unit="chunk", **tqdm_args)
        self.closed = False

    def __call__(self, n: int) -> None:
        if self.closed:
            return
        if self.chunk_bytes:  # bytes/s beside chunks/s (decoded bytes of full chunks, an estimate at edges)
            elapsed = self.bar.format_dict.get("elapsed") or 0
            if elapsed > 0:
                rate = (self.bar.n + n) * self.chunk_bytes / elapsed / 2**20
                self.bar.set_postfix_str(f"{rate:.1f} MiB/s", refresh=False)
        self.bar.update(n)
        if self.bar.n >= self.total:
            self.close()

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self.bar.close()


def progress_bar(enabled: bool, total: int, desc: str, chunk_bytes: int = 0) -> ProgressBar | None:
    """A bar when ``enabled`` and tqdm is installed, else None (the pipeline then reports nothing).
    ``chunk_bytes``: decoded bytes of one chunk, for a MiB/s figure."""
    if not enabled:
        return None
    try:
        return ProgressBar(total, desc, chunk_bytes)
    except ImportError:
        return None


def close_bar(bar: Any) -> None:
    """Close ``bar`` if it is one of ours (the ``on_progress`` of a finished or failed call)."""
    if isinstance(bar, ProgressBar):
        bar.close()
