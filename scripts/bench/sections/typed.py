"""Typed decoding: msgspec Structs beside dicts from orjson and from the standard library.

One connection, the ``blast`` server's N chat messages of about 90 bytes (the
stream of the one-connection section). Three greenclient variants read them
all, each in its own process, and check every ``seq``:

* ``json``: the default codec, dicts from the standard library's json;
* ``orjson``: ``JsonCodec.orjson()``, dicts;
* ``msgspec``: ``MsgspecCodec`` over a tagged union of three Structs (the
  ``type`` field picks ``Chat``; every field's type is checked as it decodes).

Runs are round-robin; ratios are computed within each run. No goal: the table
says what typing and validating cost (or save) next to plain dicts.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from bench import common, stats
from bench.api import Context, Job, Metric, Section, Summary, Table

NAME = "typed"
VARIANTS: dict[str, str] = {
    "json": "greenclient, json (dicts)",
    "orjson": "greenclient, orjson (dicts)",
    "msgspec": "greenclient, msgspec (tagged Structs, validated)",
}
RATIOS = (("msgspec", "json"), ("msgspec", "orjson"), ("orjson", "json"))

SIZES: dict[str, dict[str, Any]] = {
    "smoke": {"messages": 5_000, "runs": 1},
    "quick": {"messages": 50_000, "runs": 3},
    "full": {"messages": 300_000, "runs": 5},
}


def _msgspec_codec() -> Any:
    import msgspec

    from greenclient.typed import MsgspecCodec

    class Chat(msgspec.Struct, tag="chat", tag_field="type"):
        seq: int
        room: str
        user: str
        text: str

    class Move(msgspec.Struct, tag="move", tag_field="type"):
        seq: int
        x: int
        y: int

    class Score(msgspec.Struct, tag="score", tag_field="type"):
        seq: int
        points: int

    return MsgspecCodec[Chat | Move | Score](Chat | Move | Score)


def job_typed(port: int, messages: int, codec: str) -> dict[str, Any]:
    """Read every message with the ``codec`` variant; messages per second."""
    greenclient = common.import_greenclient()
    import time

    options: dict[str, Any] = {}
    if codec == "orjson":
        options["codec"] = greenclient.JsonCodec.orjson()
    elif codec == "msgspec":
        options["codec"] = _msgspec_codec()
    typed = codec == "msgspec"
    received = out_of_order = expected = 0
    cpu = common.cpu_seconds()
    start = time.perf_counter()
    with greenclient.connect(common.HOST, port, **options) as client:
        for message in client:
            seq = message.seq if typed else message["seq"]
            if seq != expected:
                out_of_order += 1
                expected = seq
            expected += 1
            received += 1
        decode_errors = client.stats.decode_errors
    seconds = time.perf_counter() - start
    result = common.report_seq(messages, received, out_of_order)
    result.update(
        seconds=seconds,
        rate=received / seconds if seconds else 0.0,
        cpu_us_per_message=(common.cpu_seconds() - cpu) / max(1, received) * 1e6,
        decode_errors=decode_errors,
    )
    return result


JOBS = {"typed": Job(job_typed, green=True)}


def run(ctx: Context) -> dict[str, Any]:
    sizes = SIZES[ctx.mode]
    names = list(VARIANTS)
    runs: list[dict[str, Any]] = []
    timeout = ctx.timeout(60 + sizes["messages"] / 20_000)
    with ctx.server(
        ["blast", "--messages", str(sizes["messages"])],
        lifetime=60 + timeout * len(names) * sizes["runs"],
    ) as port:
        for index in range(sizes["runs"]):
            order = names[index % len(names) :] + names[: index % len(names)]
            results: dict[str, Any] = {}
            for name in order:
                results[name] = ctx.worker(
                    NAME,
                    "typed",
                    {"port": port, "messages": sizes["messages"], "codec": name},
                    timeout,
                )
                ctx.step(f"typed: {name}, run {index + 1}/{sizes['runs']}")
            runs.append(results)
    return {"messages": sizes["messages"], "runs": runs}


def summarize(raw: dict[str, Any], sizes: Mapping[str, Any]) -> Summary:
    runs = raw["runs"]
    rows = []
    metrics: dict[str, Metric] = {}
    where = f"{raw['messages']:,} messages, one connection"
    for name, label in VARIANTS.items():
        rate = stats.summarize(stats.column(runs, name, "rate"))
        cpu = stats.summarize(stats.column(runs, name, "cpu_us_per_message"))
        rows.append([label, stats.spread_text(rate, digits=0), stats.spread_text(cpu, digits=2)])
        metrics[f"typed_rate_{name}"] = stats.metric(rate, where + " (messages/s)")
    notes = []
    for numerator, denominator in RATIOS:
        ratio = stats.paired(
            stats.column(runs, numerator, "rate"), stats.column(runs, denominator, "rate")
        )
        notes.append(f"{numerator} / {denominator}: {stats.ratio_text(ratio)}")
        metrics[f"typed_{numerator}_over_{denominator}"] = stats.metric(ratio, where + " (ratio)")
    table = Table(
        title=f"Typed decoding on one connection, {raw['messages']:,} messages of ~90 bytes",
        headers=["variant", "messages/s", "CPU us/message"],
        rows=rows,
        notes=notes,
    )
    return Summary(tables=[table], metrics=metrics)


SECTION = Section(
    name=NAME,
    title="typed decoding",
    sizes=SIZES,
    run=run,
    summarize=summarize,
    jobs=JOBS,
    steps=lambda sizes: len(VARIANTS) * sizes["runs"],
)
