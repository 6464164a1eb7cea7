"""The reconnect policy and its state, driven by a fake clock: no sockets, no sleeps."""

from __future__ import annotations

import random
import socket
import ssl

import pytest

import greenclient
from greenclient.backoff import Backoff, ReconnectPolicy, is_retryable


class FakeClock:
    """A monotonic clock that moves only when told to."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


REFUSED = greenclient.ConnectError("refused")


def test_delays_follow_the_policy_with_seeded_jitter() -> None:
    policy = ReconnectPolicy(initial_delay=0.1, max_delay=1.0, multiplier=2.0, seed=3)
    clock = FakeClock()
    backoff = Backoff(policy, clock=clock)
    backoff.up()
    backoff.down()
    delays = [backoff.next_delay(None if i == 0 else REFUSED) for i in range(8)]
    rng = random.Random(3)
    assert delays == [policy.delay(i, rng) for i in range(8)]
    caps = [min(1.0, 0.1 * 2**i) for i in range(8)]
    assert all(d is not None and 0 <= d <= cap for d, cap in zip(delays, caps, strict=True))
    assert backoff.delays == delays


def test_first_attempt_of_the_first_connection_waits_for_nothing() -> None:
    backoff = Backoff(ReconnectPolicy(initial_delay=5.0), clock=FakeClock())
    backoff.start()
    assert backoff.next_delay() == 0.0
    assert backoff.delays == []
    second = backoff.next_delay(REFUSED)
    assert second is not None
    assert 0 <= second <= 5.0


def test_backoff_resets_only_after_reset_after_seconds_up() -> None:
    clock = FakeClock()
    backoff = Backoff(ReconnectPolicy(reset_after=5.0, seed=1), clock=clock)
    for _ in range(3):  # connections that drop at once: the count keeps growing
        backoff.up()
        clock.advance(0.1)
        backoff.down()
        backoff.next_delay()
    assert backoff.attempt == 3
    backoff.up()
    clock.advance(5.0)
    backoff.down()
    assert backoff.attempt == 0


def test_gives_up_after_max_attempts() -> None:
    backoff = Backoff(ReconnectPolicy(max_attempts=3), clock=FakeClock())
    backoff.down()
    assert backoff.next_delay() is not None
    assert backoff.next_delay(REFUSED) is not None
    assert backoff.next_delay(REFUSED) is not None
    assert backoff.next_delay(REFUSED) is None
    assert len(backoff.delays) == 3


def test_max_elapsed_caps_each_delay_then_gives_up() -> None:
    clock = FakeClock()
    policy = ReconnectPolicy(initial_delay=3.0, max_delay=3.0, max_elapsed=1.0, seed=7)
    backoff = Backoff(policy, clock=clock)
    backoff.down()
    first = backoff.next_delay()
    assert first is not None
    assert first <= 1.0
    clock.advance(0.6)
    second = backoff.next_delay(REFUSED)
    assert second is not None
    assert second <= 0.4 + 1e-9
    clock.advance(0.4)
    assert backoff.next_delay(REFUSED) is None


def test_a_final_error_ends_the_retries_at_once() -> None:
    backoff = Backoff(ReconnectPolicy(), clock=FakeClock())
    backoff.down()
    backoff.next_delay()
    final = greenclient.ConnectError("certificate", retryable=False)
    assert backoff.next_delay(final) is None


@pytest.mark.parametrize(
    ("error", "retryable"),
    [
        (ConnectionRefusedError(), True),
        (ConnectionResetError(), True),
        (TimeoutError(), True),
        (ssl.SSLEOFError(8, "EOF occurred in violation of protocol"), True),
        (ssl.SSLZeroReturnError(6, "TLS/SSL connection has been closed"), True),
        (ssl.SSLError(1, "wrong version number"), True),
        (socket.gaierror(socket.EAI_AGAIN, "Temporary failure"), True),
        (ssl.SSLCertVerificationError(1, "certificate verify failed"), False),
        (socket.gaierror(socket.EAI_NONAME, "Name or service not known"), False),
        (UnicodeError("label empty or too long"), False),
        (ValueError("bad argument"), False),
        (TypeError("bad argument"), False),
        (greenclient.ConnectError("x", retryable=False), False),
        (greenclient.ConnectError("x"), True),
    ],
)
def test_what_is_retryable(error: BaseException, retryable: bool) -> None:
    assert is_retryable(error) is retryable


def test_policy_validates_its_numbers() -> None:
    with pytest.raises(ValueError, match="multiplier"):
        ReconnectPolicy(multiplier=0.5)
    with pytest.raises(ValueError, match="initial_delay"):
        ReconnectPolicy(initial_delay=-1)
