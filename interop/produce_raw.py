#!/usr/bin/env python3
"""Produce one record of raw bytes with Confluent's Python client, bypassing every check.

.ci/interop.sh uses it for a command wabridge must refuse: `wabridge send` validates what it
writes, so a value that is not JSON has to come from another producer. The record goes out
with acks=all; once the broker acknowledged it, a JSON description of exactly what was
written (topic, partition, offset, key, value and headers, bytes as hex) is written to
--out, for interop/check_events.py to compare the dead letter with.

Exit status 0 only when the broker acknowledged the record within --timeout.
"""

from __future__ import annotations

import argparse
import json
import sys

from confluent_kafka import KafkaException, Producer


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--brokers", required=True)
    p.add_argument("--topic", required=True)
    p.add_argument("--key", required=True, help="record key (UTF-8)")
    p.add_argument("--value", required=True, help="record value (UTF-8), written as is")
    p.add_argument("--header", action="append", default=[], metavar="KEY=VALUE",
                   help="record header (UTF-8), in order; repeatable")
    p.add_argument("--header-hex", action="append", default=[], metavar="KEY=HEX",
                   help="record header whose value is the given bytes (hex), after the --header ones")
    p.add_argument("--out", required=True, help="file for the JSON description of the written record")
    p.add_argument("--timeout", type=float, default=30.0)
    a = p.parse_args()

    headers: list[tuple[str, bytes]] = []
    for h in a.header:
        k, sep, v = h.partition("=")
        if not sep:
            p.error(f"--header {h!r}: want KEY=VALUE")
        headers.append((k, v.encode()))
    for h in a.header_hex:
        k, sep, v = h.partition("=")
        if not sep:
            p.error(f"--header-hex {h!r}: want KEY=HEX")
        headers.append((k, bytes.fromhex(v)))
    key, value = a.key.encode(), a.value.encode()

    delivered: list = []
    producer = Producer({
        "bootstrap.servers": a.brokers,
        "acks": "all",
        "enable.idempotence": True,
        "client.id": "wabridge-interop-raw-producer",
        "message.timeout.ms": int(a.timeout * 1000),
    })
    try:
        producer.produce(a.topic, key=key, value=value, headers=headers,
                         on_delivery=lambda err, msg: delivered.append((err, msg)))
    except (KafkaException, BufferError) as e:
        print(f"produce: {e}", file=sys.stderr)
        return 1
    left = producer.flush(a.timeout)
    if left or not delivered:
        print(f"produce: not acknowledged within {a.timeout}s", file=sys.stderr)
        return 1
    err, msg = delivered[0]
    if err is not None:
        print(f"produce: {err}", file=sys.stderr)
        return 1
    desc = {
        "topic": msg.topic(), "partition": msg.partition(), "offset": msg.offset(),
        "key_hex": key.hex(), "value_hex": value.hex(),
        "headers": [{"key": k, "value_hex": v.hex()} for k, v in headers],
    }
    with open(a.out, "w", encoding="utf-8") as f:
        json.dump(desc, f, indent=2)
    print(f"{msg.topic()}/{msg.partition()}/{msg.offset()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
