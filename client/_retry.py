"""How often and how soon a failed attempt is tried again.

``[client]`` gives every provider's default; a provider whose site documents its own
rule declares it (``Provider.documented_retry``), and ``[providers.NAME]`` overrides either.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

__all__ = ["RetryPolicy"]


@dataclass(frozen=True)
class RetryPolicy:
    """``retries`` extra attempts; the delay before the n-th starts at ``backoff`` and
    doubles up to ``backoff_max``. With ``jitter`` each delay is drawn from its upper
    half, so callers that failed together do not come back together."""

    retries: int = 3
    backoff: float = 0.5
    backoff_max: float = 8.0
    jitter: bool = True

    def __post_init__(self) -> None:
        if self.retries < 0 or self.backoff < 0 or self.backoff_max < 0:
            raise ValueError("retries and delays cannot be negative")

    @property
    def attempts(self) -> int:
        """How many attempts in all."""
        return self.retries + 1

    def delay(self, failures: int, rng: Callable[[], float]) -> float:
        """Seconds to wait after the ``failures``-th failed attempt."""
        ceiling = min(self.backoff * 2 ** (failures - 1), self.backoff_max)
        return float(ceiling * (0.5 + 0.5 * rng())) if self.jitter else float(ceiling)
