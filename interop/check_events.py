#!/usr/bin/env python3
"""Independent consumer: read what wabridge wrote with software we did not write.

Confluent's Python client (librdkafka) reads the result, status and message topics
from the beginning; its SchemaRegistryClient and AvroDeserializer decode the values
(Confluent wire format: magic byte 0, 4-byte schema id, Avro binary) with the writer
schema fetched from the registry. The script then checks the decoded field values
against what .ci/interop.sh sent: one send command, and one inbound-message webhook.

Prints one line per check ("ok ..." or "FAIL ..."), then "consumer: N passed, M failed".
Exit status 0 only when nothing failed. Every wait is bounded by --timeout.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import struct
import sys
import time
import uuid

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaException, TopicPartition
from confluent_kafka.schema_registry import SchemaRegistryClient
from confluent_kafka.schema_registry.avro import AvroDeserializer
from confluent_kafka.serialization import MessageField, SerializationContext


class Checks:
    def __init__(self) -> None:
        self.passed = 0
        self.failed = 0

    def ok(self, what: str, cond: bool, detail: str = "") -> bool:
        if cond:
            self.passed += 1
            print(f"ok   {what}" + (f"  ({detail})" if detail else ""), flush=True)
        else:
            self.failed += 1
            print(f"FAIL {what}" + (f"  ({detail})" if detail else ""), flush=True)
        return cond

    def fields(self, what: str, rec: dict, want: dict, extra: str = "") -> bool:
        """One line per record: every field of want must equal rec's."""
        bad = [f"{k}={rec.get(k)!r}, want {v!r}" for k, v in want.items() if rec.get(k) != v]
        shown = ", ".join(f"{k}={rec.get(k)}" for k in want)
        return self.ok(what, not bad, "; ".join(bad) if bad else (shown + (", " + extra if extra else "")))


def is_utc_datetime(v: object) -> bool:
    return isinstance(v, dt.datetime) and v.tzinfo is not None and v.utcoffset() == dt.timedelta(0)


def header(msg, name: str) -> str | None:
    for k, v in msg.headers() or []:
        if k == name:
            return v.decode() if isinstance(v, (bytes, bytearray)) else v
    return None


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--brokers", required=True)
    p.add_argument("--registry", required=True, help="Confluent-compatible registry base URL")
    p.add_argument("--commands", required=True, help="command topic the send command went to")
    p.add_argument("--results", required=True, help="result topic")
    p.add_argument("--statuses", required=True, help="status topic")
    p.add_argument("--messages", required=True, help="inbound message topic")
    p.add_argument("--dlq", help="dead-letter topic: checked to be empty")
    p.add_argument("--command-id", required=True)
    p.add_argument("--to", required=True, help="recipient of the send command (digits)")
    p.add_argument("--webhook", required=True, help="file with the inbound webhook body that was posted")
    p.add_argument("--timeout", type=float, default=60.0, help="seconds to wait for all records")
    a = p.parse_args()

    with open(a.webhook, encoding="utf-8") as f:
        hook = json.load(f)
    entry = hook["entry"][0]
    value = entry["changes"][0]["value"]
    posted = value["messages"][0]
    contact = value["contacts"][0]
    meta = value["metadata"]

    c = Checks()
    registry = SchemaRegistryClient({"url": a.registry, "timeout": 10})
    deserializer = AvroDeserializer(registry)

    # The registry holds one subject per topic (topic-name strategy), and every
    # record's wire-format schema id is the one the registry gives for it.
    topics = [a.results, a.statuses, a.messages]
    subject_ids: dict[str, int] = {}
    try:
        subjects = registry.get_subjects()
    except Exception as e:  # noqa: BLE001 - report any client error as a failed check
        c.ok("registry lists subjects", False, f"{type(e).__name__}: {e}")
        subjects = []
    for t in topics:
        subj = f"{t}-value"
        if c.ok(f"registry has subject {subj}", subj in subjects):
            rs = registry.get_latest_version(subj)
            subject_ids[t] = rs.schema_id
            avro = json.loads(rs.schema.schema_str)
            print(f"     {subj}: version {rs.version}, schema id {rs.schema_id}, "
                  f"{avro.get('namespace')}.{avro.get('name')}", flush=True)

    # --- consume until everything expected was seen, or the deadline.
    consumer = Consumer({
        "bootstrap.servers": a.brokers,
        "group.id": f"wabridge-interop-{uuid.uuid4().hex[:12]}",
        "auto.offset.reset": "earliest",
        "enable.auto.commit": False,
        "client.id": "wabridge-interop-check",
    })
    # Assign every partition from the beginning: no group coordination, nothing committed.
    try:
        md = consumer.list_topics(timeout=10)
        consumer.assign([TopicPartition(t, pid, OFFSET_BEGINNING)
                         for t in topics if t in md.topics for pid in md.topics[t].partitions])
    except KafkaException as e:
        c.ok("list topics", False, str(e))
    got: dict[str, list] = {t: [] for t in topics}
    want_counts = {a.results: 1, a.statuses: 3, a.messages: 1}
    deadline = time.monotonic() + a.timeout
    decode_errors = 0
    try:
        while time.monotonic() < deadline and any(len(got[t]) < n for t, n in want_counts.items()):
            msg = consumer.poll(0.5)
            if msg is None:
                continue
            if msg.error():
                # UNKNOWN_TOPIC_OR_PART can show up briefly; anything else is reported.
                print(f"     consumer: {msg.error()}", flush=True)
                continue
            raw = msg.value()
            try:
                rec = deserializer(raw, SerializationContext(msg.topic(), MessageField.VALUE))
            except Exception as e:  # noqa: BLE001
                decode_errors += 1
                c.ok(f"decode {msg.topic()}[{msg.partition()}]@{msg.offset()}", False, f"{type(e).__name__}: {e}")
                continue
            got[msg.topic()].append((msg, raw, rec))
    finally:
        consumer.close()
    waited = a.timeout - max(0.0, deadline - time.monotonic())
    for t, n in want_counts.items():
        c.ok(f"{t}: {n} record(s) read", len(got[t]) == n, f"got {len(got[t])} within {waited:.1f}s")

    # Wire format of every record: magic byte 0 and the registry's id for the subject.
    for t in topics:
        for msg, raw, _ in got[t]:
            magic, sid = (raw[0], struct.unpack(">I", raw[1:5])[0]) if len(raw) >= 5 else (None, None)
            c.ok(f"{t}@{msg.offset()} wire format", magic == 0 and sid == subject_ids.get(t),
                 f"magic {magic}, schema id {sid}, registry id {subject_ids.get(t)}, "
                 f"event-kind {header(msg, 'event-kind')}, content-type {header(msg, 'content-type')}")

    # --- the send result
    message_id = None
    for msg, _, r in got[a.results]:
        message_id = r.get("message_id")
        c.fields(f"result {r.get('event_id')}", r, {
            "event_id": f"result:{a.command_id}",
            "command_id": a.command_id,
            "outcome": "accepted",
            "wa_id": a.to,
            "error": None,
            "source_topic": a.commands,
        }, extra=f"message_id={message_id}, attempts={r.get('attempts')}")
        c.ok("result message_id is a wamid", isinstance(message_id, str) and message_id.startswith("wamid."), repr(message_id))
        c.ok("result produced_at is a UTC datetime (timestamp-millis)", is_utc_datetime(r.get("produced_at")),
             repr(r.get("produced_at")))
        c.ok("result key is the recipient", msg.key() == a.to.encode(), repr(msg.key()))
        c.ok("result header event-kind", header(msg, "event-kind") == "send_result", repr(header(msg, "event-kind")))

    # --- the three status events the stand-in posted back
    seen = sorted(r.get("status") for _, _, r in got[a.statuses])
    c.ok("statuses are sent, delivered, read", seen == ["delivered", "read", "sent"], repr(seen))
    for msg, _, r in sorted(got[a.statuses], key=lambda x: x[2].get("timestamp") or dt.datetime.min.replace(tzinfo=dt.timezone.utc)):
        st = r.get("status")
        c.fields(f"status {st}", r, {
            "command_id": a.command_id,
            "biz_opaque_callback_data": a.command_id,
            "message_id": message_id,
            "recipient_id": a.to,
        }, extra=f"event_id={r.get('event_id')}")
        c.ok(f"status {st} event_id", r.get("event_id", "").startswith(f"status:{message_id}:{st}:"), repr(r.get("event_id")))
        c.ok(f"status {st} timestamp, received_at are UTC datetimes",
             is_utc_datetime(r.get("timestamp")) and is_utc_datetime(r.get("received_at")),
             f"timestamp={r.get('timestamp')!r}, received_at={r.get('received_at')!r}")
        c.ok(f"status {st} raw is the status JSON", _raw_field(r, "status") == st)

    # --- the inbound message posted to /webhook
    want_ts = dt.datetime.fromtimestamp(int(posted["timestamp"]), tz=dt.timezone.utc)
    for msg, _, r in got[a.messages]:
        c.fields(f"message {r.get('event_id')}", r, {
            "event_id": f"message:{meta['phone_number_id']}:{posted['id']}",
            "message_id": posted["id"],
            "phone_number_id": meta["phone_number_id"],
            "display_phone_number": meta["display_phone_number"],
            "waba_id": entry["id"],
            "wa_id": contact["wa_id"],
            "profile_name": contact["profile"]["name"],
            "type": "text",
            "text": posted["text"]["body"],
        })
        c.ok("message timestamp decodes to the posted time (timestamp-millis)",
             is_utc_datetime(r.get("timestamp")) and r.get("timestamp") == want_ts,
             f"{r.get('timestamp')!r}, want {want_ts!r}")
        c.ok("message received_at is a UTC datetime", is_utc_datetime(r.get("received_at")), repr(r.get("received_at")))
        c.ok("message raw is the posted message JSON", _raw_field(r, "id") == posted["id"])
        c.ok("message key is the wa_id", msg.key() == contact["wa_id"].encode(), repr(msg.key()))
        c.ok("message header event-kind", header(msg, "event-kind") == "inbound_message", repr(header(msg, "event-kind")))

    # --- nothing went to the dead-letter topic
    if a.dlq:
        n = dlq_count(a.brokers, a.dlq)
        c.ok(f"{a.dlq}: no dead letters", n == 0, f"{n} record(s)" if n >= 0 else "topic not found")

    print(f"consumer: {c.passed} passed, {c.failed} failed", flush=True)
    return 0 if c.failed == 0 and decode_errors == 0 else 1


def _raw_field(rec: dict, field: str):
    try:
        return json.loads(rec.get("raw") or "").get(field)
    except (ValueError, AttributeError):
        return None


def dlq_count(brokers: str, topic: str) -> int:
    """Records in a topic by its watermarks (-1 when the topic does not exist)."""
    consumer = Consumer({"bootstrap.servers": brokers, "group.id": f"wabridge-interop-{uuid.uuid4().hex[:12]}"})
    try:
        md = consumer.list_topics(topic, timeout=10)
        t = md.topics.get(topic)
        if t is None or t.error is not None:
            return -1
        total = 0
        for pid in t.partitions:
            lo, hi = consumer.get_watermark_offsets(TopicPartition(topic, pid), timeout=10)
            total += hi - lo
        return total
    except KafkaException:
        return -1
    finally:
        consumer.close()


if __name__ == "__main__":
    sys.exit(main())
