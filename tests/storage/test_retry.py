"""Unit tests of the one retry layer (storage/retry.py). No real waiting: ``sleep=`` records."""

from __future__ import annotations

import asyncio
import email.utils
import random
import time
import types

import aiohttp
import pytest

from aiovolume.exceptions import AuthenticationError, IntegrityError, StorageError
from aiovolume.options import RetryPolicy
from aiovolume.storage import retry
from aiovolume.storage.retry import (
    RetriesExhausted, RetryBudget, TransientError, backoff_delay, call_with_retries, is_transient,
    parse_retry_after,
)

POLICY = RetryPolicy(max_attempts=6, base_delay=0.5, throttle_base_delay=1.0, max_delay=32.0, deadline=300.0)
WHAT = "GET http://127.0.0.1:1/ds/layer/4_4_40/0-64_0-64_0-64"


class Script:
    """An operation that fails with the given exceptions, then returns ``result``."""

    def __init__(self, *failures: BaseException, result: object = "ok") -> None:
        self.failures = list(failures)
        self.result = result
        self.calls = 0

    async def __call__(self) -> object:
        self.calls += 1
        if self.failures:
            raise self.failures.pop(0)
        return self.result


class Sleeps(list):
    async def __call__(self, seconds: float) -> None:
        self.append(seconds)


async def test_success_after_transient_failures() -> None:
    op, sleeps = Script(TransientError("503"), TransientError("500")), Sleeps()
    assert await call_with_retries(op, policy=POLICY, what=WHAT, sleep=sleeps) == "ok"
    assert op.calls == 3 and len(sleeps) == 2
    assert 0 <= sleeps[0] <= 0.5 and 0 <= sleeps[1] <= 1.0  # full jitter, doubling


async def test_attempt_cap_names_what_and_attempts() -> None:
    failures = [TransientError(f"HTTP 503 try {i}") for i in range(10)]
    op, sleeps = Script(*failures), Sleeps()
    with pytest.raises(RetriesExhausted) as info:
        await call_with_retries(op, policy=POLICY, what=WHAT, sleep=sleeps)
    err = info.value
    assert isinstance(err, StorageError) and err.attempts == 6 and op.calls == 6 and len(sleeps) == 5
    assert str(err).startswith(f"{WHAT}: failed after 6 attempt(s)")
    assert "attempts exhausted" in str(err) and "HTTP 503 try 5" in str(err)  # the last error
    assert err.__cause__ is not None and "try 5" in str(err.__cause__)


async def test_deadline(monkeypatch: pytest.MonkeyPatch) -> None:
    clock = [1000.0]
    monkeypatch.setattr(retry, "time", types.SimpleNamespace(monotonic=lambda: clock[0], time=time.time))

    async def sleep(seconds: float) -> None:
        clock[0] += seconds

    policy = RetryPolicy(max_attempts=100, deadline=10.0, max_delay=32.0)
    op = Script(*[TransientError("slow down", retry_after=3.0) for _ in range(100)])
    with pytest.raises(RetriesExhausted, match=r"failed after 4 attempt\(s\) in 9\.0s \(deadline exhausted\)") as info:
        await call_with_retries(op, policy=policy, what=WHAT, sleep=sleep)
    assert info.value.attempts == 4 and clock[0] == 1009.0  # a 4th wait would end past the deadline


async def test_retry_after_is_honoured_and_capped() -> None:
    sleeps = Sleeps()
    op = Script(TransientError("429", retry_after=2.5, throttled=True), TransientError("503", retry_after=600.0))
    await call_with_retries(op, policy=POLICY, what=WHAT, sleep=sleeps)
    assert sleeps == [2.5, 32.0]  # the server's wait, at most max_delay


def test_backoff_delay_full_jitter_and_throttle_base() -> None:
    rng = random.Random(0)
    plain, throttled = TransientError("500"), TransientError("503", throttled=True)
    for attempt in range(1, 10):
        d = backoff_delay(POLICY, attempt, plain, rng)
        assert 0 <= d <= min(32.0, 0.5 * 2 ** (attempt - 1))
        t = backoff_delay(POLICY, attempt, throttled, rng)
        assert 0 <= t <= min(32.0, 1.0 * 2 ** (attempt - 1))
    assert max(backoff_delay(POLICY, 20, plain, rng) for _ in range(200)) > 16  # capped at 32, spread out


@pytest.mark.parametrize(
    "exc",
    [ValueError("bad"), StorageError("HTTP 400"), KeyError("k"), AuthenticationError("HTTP 403 Forbidden")],
    ids=["ValueError", "StorageError", "KeyError", "AuthenticationError"],
)
async def test_non_transient_errors_raise_at_once(exc: Exception) -> None:
    op, sleeps = Script(exc), Sleeps()
    with pytest.raises(type(exc)) as info:
        await call_with_retries(op, policy=POLICY, what=WHAT, sleep=sleeps)
    assert info.value is exc and op.calls == 1 and sleeps == []


def test_authentication_error_is_never_transient() -> None:
    class Odd(AuthenticationError, TransientError):  # even if something mixes them up
        pass

    assert not is_transient(AuthenticationError("403"))
    assert not is_transient(Odd("403"))


@pytest.mark.parametrize(
    "exc",
    [
        TransientError("503"),
        IntegrityError("md5 mismatch"),
        aiohttp.ClientPayloadError("truncated"),
        aiohttp.ServerDisconnectedError(),
        aiohttp.ClientConnectionError("refused"),
        asyncio.TimeoutError(),
        ConnectionResetError(),
    ],
    ids=lambda e: type(e).__name__,
)
async def test_transient_kinds_are_retried(exc: Exception) -> None:
    assert is_transient(exc)
    op = Script(exc)
    assert await call_with_retries(op, policy=POLICY, what=WHAT, sleep=Sleeps()) == "ok"
    assert op.calls == 2


async def test_cancellation_is_not_retried() -> None:
    op = Script(asyncio.CancelledError())
    with pytest.raises(asyncio.CancelledError):
        await call_with_retries(op, policy=POLICY, what=WHAT, sleep=Sleeps())
    assert op.calls == 1


async def test_budget_exhaustion_stops_retries() -> None:
    budget = RetryBudget(capacity=10, cost=5, refund=1)
    op = Script(*[TransientError("503") for _ in range(10)])
    with pytest.raises(RetriesExhausted, match=r"failed after 3 attempt\(s\).*retry budget exhausted") as info:
        await call_with_retries(op, policy=POLICY, what=WHAT, budget=budget, sleep=Sleeps())
    assert info.value.attempts == 3 and budget.tokens == 0
    # an empty budget means no retries at all, for every operation sharing it
    op2 = Script(TransientError("503"))
    with pytest.raises(RetriesExhausted, match=r"failed after 1 attempt\(s\)"):
        await call_with_retries(op2, policy=POLICY, what=WHAT, budget=budget, sleep=Sleeps())


async def test_budget_refills_on_success() -> None:
    budget = RetryBudget(capacity=20, cost=5, refund=1)
    await call_with_retries(Script(TransientError("503")), policy=POLICY, what=WHAT, budget=budget, sleep=Sleeps())
    assert budget.tokens == 20  # took 5 for the retry, got 5 back for the retried success
    budget.tokens = 12
    await call_with_retries(Script(), policy=POLICY, what=WHAT, budget=budget, sleep=Sleeps())
    assert budget.tokens == 13  # a first-try success refunds 1
    budget.tokens = 20
    await call_with_retries(Script(), policy=POLICY, what=WHAT, budget=budget, sleep=Sleeps())
    assert budget.tokens == 20  # never above capacity


async def test_budget_survives_a_steady_15pct_fault_rate() -> None:
    rng = random.Random(3)
    budget = RetryBudget()
    for _ in range(5000):
        failures = []
        while rng.random() < 0.15:
            failures.append(TransientError("503"))
        await call_with_retries(Script(*failures[:5]), policy=POLICY, what=WHAT, budget=budget, sleep=Sleeps())
    assert budget.tokens > budget.capacity // 2


@pytest.mark.parametrize(
    ("value", "expected"),
    [("5", 5.0), ("0.05", 0.05), (" 2 ", 2.0), ("0", 0.0), ("-3", 0.0), (None, None), ("", None), ("  ", None),
     ("soon", None), ("inf", None), ("nan", None)],
)
def test_parse_retry_after(value: str | None, expected: float | None) -> None:
    assert parse_retry_after(value) == expected


def test_parse_retry_after_http_date() -> None:
    future = email.utils.formatdate(time.time() + 30, usegmt=True)
    seconds = parse_retry_after(future)
    assert seconds is not None and 25 < seconds <= 31
    past = email.utils.formatdate(time.time() - 30, usegmt=True)
    assert parse_retry_after(past) == 0.0
    assert parse_retry_after("Wed, 99 Foo 2015 07:28:00 GMT") is None
