"""When to try connecting again, and whether to: the reconnect policy. No I/O.

:class:`ReconnectPolicy` is the setting (frozen); :class:`Backoff` is the state
of one client's retrying: it is told when a connection came up or went down and
what each failed attempt raised, and answers with the next delay or ``None``
(give up). It reads the time only through the ``clock`` it is given and draws
jitter only from the ``rng`` it is given, so tests drive it with a fake clock
and no sleeps. :func:`is_retryable` is the one place that decides which errors
retrying can fix.
"""

from __future__ import annotations

import math
import random
import socket
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

from . import _checks
from .errors import ConnectError

__all__ = ["Backoff", "ReconnectPolicy", "is_retryable"]

#: getaddrinfo errors that say the name does not exist (retrying cannot help);
#: EAI_AGAIN (temporary failure) stays retryable.
_FINAL_GAI_ERRORS: Final = frozenset(
    getattr(socket, name)
    for name in ("EAI_NONAME", "EAI_FAIL", "EAI_SERVICE", "EAI_NODATA", "EAI_ADDRFAMILY")
    if hasattr(socket, name)
)


def is_retryable(exc: BaseException) -> bool:
    """Return True when trying again later may succeed where ``exc`` failed.

    Final (False): a certificate that does not verify, a name that does not
    resolve or is not a valid host name (``UnicodeError`` for ``"a..b"``), an
    invalid argument (``ValueError``, ``TypeError``), and anything that is not an
    I/O error. Retryable (True): every other ``OSError`` (refused, reset,
    unreachable, timed out) and every other ``ssl.SSLError`` (an EOF or reset
    during the handshake included). A :class:`~greenclient.ConnectError` carries
    the answer in its ``retryable`` attribute.
    """
    if isinstance(exc, ConnectError):
        return exc.retryable
    if isinstance(exc, ssl.SSLCertVerificationError):
        return False
    if isinstance(exc, socket.gaierror):
        return exc.errno not in _FINAL_GAI_ERRORS
    return isinstance(exc, OSError)  # ssl.SSLError and TimeoutError are OSErrors


@dataclass(frozen=True)
class ReconnectPolicy:
    """How the client reconnects: exponential backoff with full jitter.

    The n-th consecutive attempt (n = 0, 1, ...) waits a random time between 0
    and ``min(max_delay, initial_delay * multiplier ** n)``. The count goes back
    to 0 only after a connection has stayed up for ``reset_after`` seconds, so a
    server that accepts and drops at once still sees growing delays.

    Args:
        initial_delay: the cap of the first delay, in seconds.
        max_delay: the largest delay, in seconds.
        multiplier: growth of the cap per failed attempt.
        max_attempts: give up after this many consecutive failed attempts
            (None: no limit).
        max_elapsed: give up after trying for this many seconds since the
            connection was lost (None: no limit); no delay sleeps past it.
        reset_after: seconds a connection must stay up to reset the backoff.
        retry_initial: ``connect()`` retries the first connection too, with the
            same policy, before it raises ``ConnectError``.
        seed: seed of the jitter's random numbers, for reproducible delays
            (None: seeded from the OS).

    Raises:
        TypeError: an argument is not a number (or None where allowed).
        ValueError: a time is negative or not finite, the multiplier is below 1,
            or ``max_attempts`` is negative.

    Errors that retrying cannot fix (see :func:`is_retryable`) end the retries
    at once.
    """

    initial_delay: float = 0.1
    max_delay: float = 30.0
    multiplier: float = 2.0
    max_attempts: int | None = None
    max_elapsed: float | None = None
    reset_after: float = 5.0
    retry_initial: bool = False
    seed: int | str | bytes | None = None

    def __post_init__(self) -> None:
        _checks.seconds("initial_delay", self.initial_delay, zero=True)
        _checks.seconds("max_delay", self.max_delay, zero=True)
        _checks.factor("multiplier", self.multiplier)
        _checks.optional_whole("max_attempts", self.max_attempts, minimum=0)
        _checks.optional_seconds("max_elapsed", self.max_elapsed, zero=True, infinite=True)
        _checks.seconds("reset_after", self.reset_after, zero=True, infinite=True)
        if self.seed is not None:
            _checks.instance("seed", self.seed, (int, str, bytes), "an int, str or bytes")

    def delay(self, attempt: int, rng: random.Random | None = None) -> float:
        """Return the wait before attempt number ``attempt`` (0-based)."""
        try:
            growth = self.multiplier ** min(attempt, 64)
        except OverflowError:  # a huge multiplier: past any cap
            growth = math.inf
        cap = (
            self.max_delay
            if growth == math.inf
            else min(self.max_delay, self.initial_delay * growth)
        )
        return (rng or random).uniform(0.0, cap)


# Clients without a seed share one generator: 2.5 KB each adds up over
# thousands of connections.
_SHARED_RNG: Final = random.Random()


class Backoff:
    """The retrying state of one client under a :class:`ReconnectPolicy`.

    The client calls :meth:`up` when a connection opens, :meth:`down` when it is
    lost (or :meth:`start` before retrying the first connection), then
    :meth:`next_delay` before each attempt, passing what the previous attempt
    raised. ``delays`` lists the delays handed out, most recent last (at most
    100).

    Args:
        policy: the policy to follow.
        clock: seconds from a monotonic clock (default ``time.monotonic``).
        rng: source of the jitter (default: seeded from ``policy.seed``, or one
            generator shared by every unseeded client).
    """

    def __init__(
        self,
        policy: ReconnectPolicy,
        *,
        clock: Callable[[], float] = time.monotonic,
        rng: random.Random | None = None,
    ):
        self.policy = policy
        self._clock = clock
        if rng is None:
            rng = _SHARED_RNG if policy.seed is None else random.Random(policy.seed)
        self._rng = rng
        #: index of the next delay: grows with every attempt, back to 0 only
        #: after a connection stayed up reset_after seconds
        self.attempt = 0
        self.delays: list[float] = []
        self._up_since: float | None = None
        self._lost_at = clock()
        self._failures = 0
        self._first_is_immediate = False

    def start(self) -> None:
        """The first connection is about to be tried: its first attempt waits for nothing."""
        self._lost_at = self._clock()
        self._failures = 0
        self._first_is_immediate = True

    def up(self) -> None:
        """A connection opened."""
        self._up_since = self._clock()

    def down(self) -> None:
        """The connection was lost; the next attempt waits a delay."""
        now = self._clock()
        if self._up_since is not None and now - self._up_since >= self.policy.reset_after:
            self.attempt = 0
        self._up_since = None
        self._lost_at = now
        self._failures = 0
        self._first_is_immediate = False

    def next_delay(self, error: BaseException | None = None) -> float | None:
        """Return the seconds to wait before the next attempt, or None to give up.

        Args:
            error: what the previous attempt raised; None before the first
                attempt since :meth:`start` or :meth:`down`.

        Returns:
            None when ``error`` is final (:func:`is_retryable`), when
            ``max_attempts`` consecutive attempts failed, or when ``max_elapsed``
            seconds have passed since the loss. Otherwise a delay, never past
            the ``max_elapsed`` deadline (0.0 for the first attempt after
            :meth:`start`).
        """
        policy = self.policy
        now = self._clock()
        if error is not None:
            self._failures += 1
            if not is_retryable(error):
                return None
            if policy.max_attempts is not None and self._failures >= policy.max_attempts:
                return None
            if policy.max_elapsed is not None and now - self._lost_at >= policy.max_elapsed:
                return None
        elif self._first_is_immediate:
            self._first_is_immediate = False
            return 0.0
        delay = policy.delay(self.attempt, self._rng)
        if policy.max_elapsed is not None:
            # Never sleep past the deadline; the last attempt comes at it.
            delay = max(0.0, min(delay, self._lost_at + policy.max_elapsed - now))
        self.attempt += 1
        del self.delays[:-99]
        self.delays.append(delay)
        return delay
