"""greenclient: JSON messages over TCP for eventlet applications.

Importing greenclient calls ``eventlet.monkey_patch()`` first, so import it
before anything that creates locks, sockets or threads. Then::

    import greenclient

    with greenclient.connect("localhost", 8000) as client:
        client.send({"action": "move", "x": 1})
        for message in client:
            print(message)

The architecture, one module each: :mod:`~greenclient.framing` and
:mod:`~greenclient.codec` (no I/O) are joined by :mod:`~greenclient.protocol`;
:mod:`~greenclient.events` and :mod:`~greenclient.backoff` are plain values and
policies; :mod:`~greenclient.transport` (opening, error mapping),
:mod:`~greenclient.inbox` (the incoming queue), :mod:`~greenclient.outbox` (the
writer) and :mod:`~greenclient.client` (lifecycle, runner, API) hold everything
eventlet-specific;
:mod:`~greenclient.errors` is the exception tree; :mod:`~greenclient.server` is
the reference server; :mod:`~greenclient.demo` the demo program. Above the queue:
:mod:`~greenclient.routing` (no I/O) and :mod:`~greenclient.messaging` carry
request/reply and handlers, :mod:`~greenclient.typed` the msgspec codec (``typed``
extra), :mod:`~greenclient.testing` the test kit for applications.
"""

import warnings

from . import _cli

if _cli.is_own_command():
    # greenclient-demo and python -m greenclient[.server] are applications: their
    # users need not see eventlet's notice to developers. Imported as a library,
    # greenclient leaves warnings to the application.
    warnings.filterwarnings("ignore", message=r"\s*Eventlet is deprecated")

import eventlet

eventlet.monkey_patch()

from .client import (  # noqa: E402
    END,
    Connected,
    ConnectionState,
    Disconnected,
    GreenClient,
    KeepAlive,
    ReconnectPolicy,
    Stats,
    connect,
)
from .codec import BytesCodec, Codec, JsonCodec, TextCodec  # noqa: E402
from .errors import (  # noqa: E402
    ConnectError,
    ConnectionClosed,
    ConnectionLost,
    DecodeError,
    EncodeError,
    FrameTooLarge,
    GreenClientError,
    JSONStreamError,
    PartialFrame,
    ProtocolError,
    ReadIdleTimeout,
    RequestTimeout,
    SendTimeout,
)
from .framing import (  # noqa: E402
    DelimiterFramer,
    Framer,
    JSONStreamFramer,
    LengthPrefixFramer,
)
from .protocol import MessageProtocol  # noqa: E402

__version__ = "0.1.0"

__all__ = [
    "END",
    "BytesCodec",
    "Codec",
    "ConnectError",
    "Connected",
    "ConnectionClosed",
    "ConnectionLost",
    "ConnectionState",
    "DecodeError",
    "DelimiterFramer",
    "Disconnected",
    "EncodeError",
    "FrameTooLarge",
    "Framer",
    "GreenClient",
    "GreenClientError",
    "JSONStreamError",
    "JSONStreamFramer",
    "JsonCodec",
    "KeepAlive",
    "LengthPrefixFramer",
    "MessageProtocol",
    "PartialFrame",
    "ProtocolError",
    "ReadIdleTimeout",
    "ReconnectPolicy",
    "RequestTimeout",
    "SendTimeout",
    "Stats",
    "TextCodec",
    "connect",
]
