"""Broadcast flood against the two Pekko IO servers of tests/pekko: who gets what.

Each server broadcasts N messages as fast as its actor can go, to a few greenclient
clients in this process, then closes every client; each client counts what it
received until the end of its connection. The plain server writes each message
with one plain ``Write``; the recommended one queues and writes with acks.

Run from the repository's top folder (needs Maven and a JDK)::

    python scripts/pekko_flood.py --messages 100000 --clients 3 --runs 3
"""

from __future__ import annotations

import argparse
import shutil
import sys
import time
from pathlib import Path

import greenclient  # first: patches the standard library for green threads

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.scala_server import (
    ServerProcess,
    build_pekko_servers,
    pekko_server_argv,
)


def flood_once(java: str, classpath: str, kind: str, messages: int, clients: int) -> str:
    """One flood against one server; returns a line of the table."""
    server = ServerProcess(pekko_server_argv(java, classpath, kind), name=kind).start()
    try:
        group = [
            greenclient.connect(server.host, server.port, connect_timeout=10)
            for _ in range(clients)
        ]
        server.wait_clients(clients)
        started = time.monotonic()
        refused = server.flood(messages)
        server.close_clients()
        counts = []
        in_order = True
        for client in group:
            seqs = [message["seq"] for message in client]
            in_order = in_order and seqs == list(range(len(seqs)))
            counts.append(len(seqs))
            client.close()
        seconds = time.monotonic() - started
    finally:
        server.stop()
    return (
        f"{kind:<12} N={messages:<8,} clients={clients}  received per client: "
        f"{', '.join(f'{c:,}' for c in sorted(counts))}  refused Writes (CommandFailed): "
        f"{', '.join(f'{r:,}' for r in refused)}  every byte written delivered in order: "
        f"{'yes' if in_order and sorted(counts) == sorted(messages - r for r in refused) else 'NO'}"
        f"  {seconds:.2f} s"
    )


def main(argv: list[str] | None = None) -> int:
    """Run the floods and print one line per run; returns the exit status."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=100_000, help="N (default 100,000)")
    parser.add_argument("--clients", type=int, default=3, help="clients (default 3)")
    parser.add_argument("--runs", type=int, default=3, help="runs per server (default 3)")
    args = parser.parse_args(argv)
    mvn, java = shutil.which("mvn"), shutil.which("java")
    if mvn is None or java is None:
        print(
            "pekko_flood: needs Maven and a JDK (apt-get install maven default-jdk-headless)",
            file=sys.stderr,
        )
        return 1
    classpath = build_pekko_servers(mvn)
    try:
        for kind in ("pekko-plain", "pekko"):
            for _ in range(args.runs):
                print(flood_once(java, classpath, kind, args.messages, args.clients), flush=True)
    except KeyboardInterrupt:
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
