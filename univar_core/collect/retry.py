"""Retries with exponential backoff and jitter for transient failures (rate limits, 5xx, timeouts).

A server's Retry-After is honoured (capped at ``max_delay_s``). What counts as transient is the
caller's decision (``is_transient``); everything else is raised at once.
"""
from __future__ import annotations

import random
import time
from dataclasses import dataclass
from typing import Callable, TypeVar

T = TypeVar("T")


@dataclass(frozen=True)
class RetryPolicy:
    retries: int = 5            # attempts after the first
    base_delay_s: float = 1.0   # first wait; doubles each time
    max_delay_s: float = 30.0

    def delay(self, attempt: int, retry_after: float | None = None) -> float:
        """Seconds to wait before retry number ``attempt`` (1-based)."""
        if retry_after is not None and retry_after >= 0:
            return min(retry_after, self.max_delay_s)
        wait = min(self.base_delay_s * 2 ** (attempt - 1), self.max_delay_s)
        return wait * random.uniform(0.5, 1.0)   # jitter: concurrent workers do not retry in lockstep


class RetriesExhausted(Exception):
    """The last attempt failed too; ``last`` is its error, ``attempts`` how many were made."""

    def __init__(self, last: BaseException, attempts: int):
        super().__init__(str(last))
        self.last = last
        self.attempts = attempts


def call_with_retries(fn: Callable[[], T], policy: RetryPolicy, *,
                      is_transient: Callable[[BaseException], bool],
                      retry_after: Callable[[BaseException], float | None] = lambda err: None,
                      on_retry: Callable[[int, BaseException, float], None] | None = None,
                      sleep: Callable[[float], None] = time.sleep) -> T:
    """fn(), retried on transient errors; raises RetriesExhausted after the last, other errors at once."""
    attempt = 0
    while True:
        try:
            return fn()
        except Exception as err:  # noqa: BLE001 - classified just below
            if not is_transient(err):
                raise
            attempt += 1
            if attempt > policy.retries:
                raise RetriesExhausted(err, attempt) from err
            wait = policy.delay(attempt, retry_after(err))
            if on_retry is not None:
                on_retry(attempt, err, wait)
            sleep(wait)
