"""How fast to go: a token bucket for rates (one per caller in `RateLimiter`), and exponential
backoff with full jitter for retries. Pure: the clock and the random source are handed in (the
monotonic clock by default)."""

import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass
class TokenBucket:
    """`rate` tokens a second, holding at most `burst`."""

    rate: float
    burst: int
    clock: Callable[[], float]
    tokens: float = field(init=False)
    at: float = field(init=False)

    def __post_init__(self) -> None:
        self.tokens, self.at = float(self.burst), self.clock()

    def take(self, reserve: float = 0.0, count: int = 1) -> float:
        """Take `count` tokens (at most `burst`), leaving `reserve` in the bucket: 0 when taken,
        else the seconds to wait before they can be."""
        now = self.clock()
        self.tokens = min(float(self.burst), self.tokens + (now - self.at) * self.rate)
        self.at = now
        if self.tokens - count >= reserve:
            self.tokens -= count
            return 0.0
        return (count + reserve - self.tokens) / self.rate


def backoff(attempt: int, *, base: float = 1.0, cap: float = 300.0, rand: random.Random | None = None) -> float:
    """Exponential backoff with full jitter: uniform in [0, min(cap, base·2^attempt)]."""
    return (rand or random).uniform(0, min(cap, base * 2 ** attempt))


@dataclass
class RateLimiter:
    """A token bucket per caller (a partner, an ops key): `rate` requests a second, bursts up to `burst`."""

    rate: float
    burst: int
    clock: Callable[[], float] = time.monotonic
    _buckets: dict[str, TokenBucket] = field(default_factory=dict)

    def take(self, caller: str) -> float:
        """0 when the request may go ahead, else the seconds to wait before trying again."""
        if caller not in self._buckets:
            self._buckets[caller] = TokenBucket(self.rate, self.burst, self.clock)
        return self._buckets[caller].take()
