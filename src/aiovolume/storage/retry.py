"""The only retry layer: transient storage failures are retried here and nowhere else.

Backends classify what they see: they raise :class:`TransientError` for 408/429/5xx and for
bodies that are truncated or fail a checksum, :class:`~aiovolume.exceptions.AuthenticationError`
for 401/403 (never retried, never "missing"), and return None only for a real 404. Connection
resets and timeouts from aiohttp are transient too. Everything else propagates at once.
"""

from __future__ import annotations

import asyncio
import datetime
import email.utils
import math
import random
import time
from typing import Awaitable, Callable, TypeVar

import aiohttp

from ..exceptions import (  # noqa: F401  (TransientError, RetriesExhausted: re-exported)
    AuthenticationError, IntegrityError, RetriesExhausted, StorageError, TransientError,
)
from ..options import RetryPolicy

T = TypeVar("T")


_TRANSIENT = (
    TransientError, IntegrityError, aiohttp.ClientConnectionError, aiohttp.ClientPayloadError,
    asyncio.TimeoutError, TimeoutError, ConnectionError,
)


def is_transient(exc: BaseException) -> bool:
    if isinstance(exc, AuthenticationError):
        return False
    return isinstance(exc, _TRANSIENT)


def parse_retry_after(value: str | None) -> float | None:
    """Seconds from a Retry-After header: delta-seconds (``"5"``, ``"0.05"``) or an HTTP-date.

    None when absent or unreadable (the caller falls back to its own backoff).
    """
    if not value or not value.strip():
        return None
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value.strip())
        except (TypeError, ValueError, IndexError):
            return None
        if when.tzinfo is None:  # RFC 9110 dates are GMT
            when = when.replace(tzinfo=datetime.timezone.utc)
        seconds = when.timestamp() - time.time()
    if not math.isfinite(seconds):
        return None
    return max(0.0, seconds)


class RetryBudget:
    """A token bucket shared by one store's operations, so thousands of concurrent requests
    cannot turn an outage into a retry storm (botocore's retry quota).

    Each retry takes ``cost`` tokens. A success gives back ``refund`` tokens, or ``cost`` when
    it came after retries (botocore returns the retry's capacity), so a steady trickle of
    faults (a 15% fault rate costs about 0.9 tokens per operation) never drains the bucket,
    while an outage, where nothing succeeds, does.
    """

    def __init__(self, capacity: int = 500, cost: int = 5, refund: int = 1) -> None:
        self.capacity, self.cost, self.refund = capacity, cost, refund
        self.tokens = capacity

    def take(self) -> bool:
        if self.tokens < self.cost:
            return False
        self.tokens -= self.cost
        return True

    def succeed(self, retried: bool = False) -> None:
        self.tokens = min(self.capacity, self.tokens + (self.cost if retried else self.refund))


def backoff_delay(policy: RetryPolicy, attempt: int, exc: BaseException, rng: random.Random | None = None) -> float:
    """Seconds to wait after failed ``attempt`` (1-based): Retry-After, else full jitter."""
    retry_after = getattr(exc, "retry_after", None)
    if retry_after is not None:
        return min(float(retry_after), policy.max_delay)
    base = policy.throttle_base_delay if getattr(exc, "throttled", False) else policy.base_delay
    return (rng or random).uniform(0, min(policy.max_delay, base * 2 ** (attempt - 1)))


async def call_with_retries(
    op: Callable[[], Awaitable[T]],
    *,
    policy: RetryPolicy,
    what: str,
    budget: RetryBudget | None = None,
    sleep: Callable[[float], Awaitable[object]] = asyncio.sleep,
) -> T:
    """Await ``op()`` until it succeeds, retrying transient failures per ``policy``.

    ``what`` names the operation and key for the error (no credentials: URLs are redacted
    by the caller). Raises :class:`RetriesExhausted` naming the attempts when retries run out.
    """
    start = time.monotonic()
    attempt = 0
    while True:
        attempt += 1
        try:
            result = await op()
        except Exception as exc:
            if not is_transient(exc):
                raise
            elapsed = time.monotonic() - start
            delay = backoff_delay(policy, attempt, exc)
            out_of_time = elapsed + delay >= policy.deadline
            if attempt >= policy.max_attempts or out_of_time or (budget is not None and not budget.take()):
                why = "deadline" if out_of_time else ("retry budget" if attempt < policy.max_attempts else "attempts")
                raise RetriesExhausted(
                    f"{what}: failed after {attempt} attempt(s) in {elapsed:.1f}s ({why} exhausted); "
                    f"last error: {type(exc).__name__}: {exc}",
                    attempt,
                ) from exc
            await sleep(delay)
            continue
        if budget is not None:
            budget.succeed(retried=attempt > 1)
        return result
