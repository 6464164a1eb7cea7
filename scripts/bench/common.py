"""What every benchmark process shares: the traffic, limits, memory readings, results.

Imports neither eventlet nor greenclient at module level, so the orchestrator,
the servers and the plain workers (which must never be monkey-patched) can
use it. A green worker calls :func:`import_greenclient` first.

Every message carries ``"seq"``: 0, 1, 2, ... in stream order, so that every
consumer can check that it received all messages, in order.
"""

from __future__ import annotations

import functools
import importlib
import json
import os
import resource
import signal
import socket
import sys
import time
import warnings
from collections.abc import Callable
from types import ModuleType
from typing import Any, Final, Literal, TypeAlias

__all__ = [
    "DELIMITER",
    "HOST",
    "Kind",
    "SeqCheck",
    "chunked",
    "cpu_seconds",
    "current_rss",
    "emit",
    "encode_message",
    "fan_out_message",
    "import_greenclient",
    "install_deadline",
    "invalid_flood",
    "large_frame",
    "peak_rss",
    "raise_nofile",
    "stream",
]

HOST: Final = "127.0.0.1"
DELIMITER: Final = b"~"
RESULT_PREFIX: Final = "RESULT "

#: ``ascii``: plain English chat; ``utf8``: every message has multi-byte
#: characters (a chunk boundary often splits one); ``mixed``: one message in
#: four is non-ASCII, the traffic of the end-to-end sections.
Kind: TypeAlias = Literal["ascii", "utf8", "mixed"]

_ASCII_TEXTS: Final = (
    "hello there, how are you doing today?",
    "meet at the north gate at noon, bring the map",
    "ok",
    "the score is 3 to 1, we are winning",
)
_UTF8_TEXTS: Final = (
    "olá, tudo bem? café às três 🎉",
    "你好，今天过得怎么样？",
    "привет, как дела? всё хорошо",
    "zoë’s naïve café — größer",
)
_USERS_ASCII: Final = ("ana", "bob", "carol", "dave")
_USERS_UTF8: Final = ("李雷", "олег", "zoë", "søren")


def encode_message(seq: int, kind: Kind) -> bytes:
    """Return the JSON bytes (no delimiter) of message ``seq``; about 90 bytes.

    Never contains the delimiter, so every framing splits it the same way.
    """
    non_ascii = kind == "utf8" or (kind == "mixed" and seq % 4 == 3)
    return b'{"seq":%d%s' % (seq, _rest(non_ascii, seq % 4, (seq // 4) % 4))


@functools.cache
def _rest(non_ascii: bool, user: int, text: int) -> bytes:
    """Everything after the ``seq`` of a message: the same for many messages."""
    users, texts = (_USERS_UTF8, _UTF8_TEXTS) if non_ascii else (_USERS_ASCII, _ASCII_TEXTS)
    message = {"type": "chat", "room": "lobby", "user": users[user], "text": texts[text]}
    body = json.dumps(message, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    return b"," + body[1:]


def stream(count: int, kind: Kind) -> bytes:
    """Return ``count`` messages, each followed by the delimiter, as one byte string."""
    return DELIMITER.join([encode_message(seq, kind) for seq in range(count)]) + DELIMITER


def fan_out_message(seq: int) -> bytes:
    """Return one framed message of the fan-out section (about 100 bytes)."""
    body = {"seq": seq, "type": "news", "text": "server broadcast to every client, number"}
    return json.dumps(body, separators=(",", ":")).encode("ascii") + DELIMITER


def large_frame(size: int) -> bytes:
    """Return one JSON frame of exactly ``size`` bytes followed by the delimiter."""
    head, tail = b'{"seq":0,"blob":"', b'"}'
    filler = size - len(head) - len(tail)
    if filler < 0:
        raise ValueError("frame too small")
    return head + b"a" * filler + tail + DELIMITER


def invalid_flood(count: int) -> bytes:
    """Return ``count`` invalid frames (``x~`` each), then one valid message (``seq`` 0).

    Every invalid frame must be reported as an error; the valid one must still arrive.
    """
    return b"x~" * count + encode_message(0, "ascii") + DELIMITER


def chunked(data: bytes, size: int) -> list[bytes]:
    """Split ``data`` into pieces of ``size`` bytes (the last may be shorter)."""
    return [data[i : i + size] for i in range(0, len(data), size)]


class SeqCheck:
    """Counts messages and checks that their ``seq`` runs 0, 1, 2, ... with no gap.

    For hot loops the variants inline the same test; this class is for the rest.
    """

    def __init__(self) -> None:
        self.received = 0
        self.out_of_order = 0
        self.expected = 0

    def __call__(self, seq: Any) -> None:
        if seq != self.expected:
            self.out_of_order += 1
            self.expected = seq if isinstance(seq, int) else self.expected
        self.expected += 1
        self.received += 1

    def report(self, sent: int) -> dict[str, Any]:
        return report_seq(sent, self.received, self.out_of_order)


def report_seq(sent: int, received: int, out_of_order: int) -> dict[str, Any]:
    """The common ``received`` / ``lost`` / ``in_order`` fields of a result."""
    return {
        "sent": sent,
        "received": received,
        "lost": sent - received,
        "out_of_order": out_of_order,
        "in_order": out_of_order == 0 and received == sent,
    }


def raise_nofile(wanted: int) -> int:
    """Raise the soft limit of open files towards ``wanted`` (never above the hard limit).

    Returns the soft limit now in force.
    """
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
    if target > soft:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        return target
    return soft


def current_rss() -> int:
    """Resident set size of this process now, in bytes."""
    try:
        with open("/proc/self/statm", "rb") as statm:
            return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        # Not Linux: psutil (from the bench extra) knows how to ask.
        psutil = importlib.import_module("psutil")
        rss: int = psutil.Process().memory_info().rss
        return rss


def peak_rss() -> int:
    """Highest resident set size of this process so far, in bytes."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    # Linux reports kibibytes, macOS bytes.
    return peak if sys.platform == "darwin" else peak * 1024


def cpu_seconds() -> float:
    """User plus system CPU time of this process (all its threads), in seconds."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def import_greenclient() -> ModuleType:
    """Import greenclient (which monkey-patches this process) and return it.

    A green worker calls this before anything else. eventlet's deprecation
    warning is not shown: the benchmark is one of greenclient's own commands.
    """
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r"\s*Eventlet is deprecated")
        return importlib.import_module("greenclient")


def emit(result: dict[str, Any]) -> None:
    """Print a worker's result as the one line the orchestrator reads."""
    sys.stdout.write(RESULT_PREFIX + json.dumps(result) + "\n")
    sys.stdout.flush()


def install_deadline(seconds: float) -> None:
    """End this process with SIGALRM after ``seconds``, whatever it is doing.

    The orchestrator also kills workers that overrun; this second bound holds
    even if the orchestrator itself dies.
    """
    signal.signal(signal.SIGALRM, signal.SIG_DFL)
    signal.alarm(max(1, int(seconds + 0.999)))


def timed(function: Callable[[], Any]) -> tuple[float, Any]:
    """Run ``function``; return (seconds it took, what it returned)."""
    start = time.perf_counter()
    value = function()
    return time.perf_counter() - start, value


class Control:
    """The line-based control connection of a ``fanout`` server.

    A plain socket in OS-thread workers, a green one in greenclient's (there the
    socket module is patched before this is used).
    """

    def __init__(self, port: int, timeout: float):
        self.sock = socket.create_connection((HOST, port), timeout=timeout)
        self.file = self.sock.makefile("rb")

    def ask(self, command: str, answer: str) -> str:
        self.sock.sendall(command.encode("ascii") + b"\n")
        line = self.file.readline().decode("ascii").strip()
        if not line.startswith(answer):
            raise RuntimeError(f"server answered {line!r} to {command!r}")
        return line

    def close(self) -> None:
        self.file.close()
        self.sock.close()
