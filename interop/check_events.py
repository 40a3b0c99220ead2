#!/usr/bin/env python3
"""Independent consumer: read what wabridge wrote with software we did not write.

Confluent's Python client (librdkafka) reads the result, status, message, webhook-event
and dead-letter topics from the beginning; its SchemaRegistryClient and AvroDeserializer
decode the values (Confluent wire format: magic byte 0, 4-byte schema id, Avro binary) with
the writer schema fetched from the registry. The script then checks the decoded field values
against what .ci/interop.sh sent: one send command, one command that is not JSON (written
raw by interop/produce_raw.py), one inbound-message webhook, one webhook carrying a
change-level error, one Calling API webhook (a user's call) and one webhook whose only
message cannot be mapped (its dead letter: the request body byte for byte, the failed path,
no secret header).

Prints one line per check ("ok ..." or "FAIL ..."), then "consumer: N passed, M failed".
Exit status 0 only when nothing failed. Every wait is bounded by --timeout.
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import json
import re
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
    p.add_argument("--webhook-events", required=True, help="webhook-event topic")
    p.add_argument("--dlq", required=True, help="dead-letter topic: must hold exactly the bad command's dead letter")
    p.add_argument("--command-id", required=True)
    p.add_argument("--to", required=True, help="recipient of the send command (digits)")
    p.add_argument("--bad-command", required=True,
                   help="produce_raw.py's description of the command that is not JSON")
    p.add_argument("--webhook", required=True, help="file with the inbound webhook body that was posted")
    p.add_argument("--webhook-event", required=True,
                   help="file with the posted webhook body carrying one change-level error (value.errors[0])")
    p.add_argument("--webhook-event-golden",
                   help="the .golden beside the fixture that body was copied from: its event_id must match")
    p.add_argument("--call-webhook", required=True,
                   help="file with the posted Calling API webhook (field calls, one user-initiated connect)")
    p.add_argument("--call-golden", help="the .golden beside the fixture that body was copied from: its event_id must match")
    p.add_argument("--bad-webhook",
                   help="file with a posted webhook body whose only message cannot be mapped: its dead letter "
                        "must hold the body byte for byte, the failed part's path, and no secret header")
    p.add_argument("--bad-webhook-path", default="entry[0].changes[0].value.messages[0]",
                   help="path of the part of --bad-webhook that fails")
    p.add_argument("--secret", action="append", default=[],
                   help="a secret sent with --bad-webhook (token, Authorization, ...): must appear nowhere in its dead letter")
    p.add_argument("--timeout", type=float, default=60.0, help="seconds to wait for all records")
    a = p.parse_args()

    with open(a.webhook, encoding="utf-8") as f:
        hook = json.load(f)
    entry = hook["entry"][0]
    value = entry["changes"][0]["value"]
    posted = value["messages"][0]
    contact = value["contacts"][0]
    meta = value["metadata"]

    with open(a.webhook_event, encoding="utf-8") as f:
        ev_hook = json.load(f)
    ev_entry = ev_hook["entry"][0]
    ev_change = ev_entry["changes"][0]
    ev_value = ev_change["value"]
    ev_error = ev_value["errors"][0]
    golden_event_id = None
    if a.webhook_event_golden:
        with open(a.webhook_event_golden, encoding="utf-8") as f:
            golden_event_id = json.load(f)["items"][0]["event_id"]

    with open(a.call_webhook, encoding="utf-8") as f:
        call_hook = json.load(f)
    call_value = call_hook["entry"][0]["changes"][0]["value"]
    posted_call = call_value["calls"][0]
    call_golden_id = None
    if a.call_golden:
        with open(a.call_golden, encoding="utf-8") as f:
            call_golden_id = json.load(f)["items"][0]["event_id"]

    bad_hook = None
    if a.bad_webhook:
        with open(a.bad_webhook, "rb") as f:
            bad_hook = f.read()

    with open(a.bad_command, encoding="utf-8") as f:
        bad = json.load(f)
    bad_key = bytes.fromhex(bad["key_hex"])
    bad_value = bytes.fromhex(bad["value_hex"])
    bad_headers = [(h["key"], bytes.fromhex(h["value_hex"])) for h in bad["headers"]]
    bad_id = next((v.decode() for k, v in bad_headers if k == "command-id"), None)

    c = Checks()
    registry = SchemaRegistryClient({"url": a.registry, "timeout": 10})
    deserializer = AvroDeserializer(registry)

    # The registry holds one subject per topic (topic-name strategy), and every
    # record's wire-format schema id is the one the registry gives for it.
    topics = [a.results, a.statuses, a.messages, a.webhook_events, a.dlq]
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
    # Results: the send command's and the bad command's (rejected).
    n_dlq = 2 if bad_hook is not None else 1  # the bad command's, and the bad webhook's
    want_counts = {a.results: 2, a.statuses: 3, a.messages: 1, a.webhook_events: 2, a.dlq: n_dlq}
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

    # Wire format of every record: magic byte 0 and the registry's id for the subject,
    # and the headers a consumer routes by without decoding.
    kinds = {a.results: "send_result", a.statuses: "message_status", a.messages: "inbound_message",
             a.webhook_events: "webhook_event", a.dlq: "dead_letter"}
    for t in topics:
        for msg, raw, _ in got[t]:
            magic, sid = (raw[0], struct.unpack(">I", raw[1:5])[0]) if len(raw) >= 5 else (None, None)
            kind, ctype = header(msg, "event-kind"), header(msg, "content-type")
            c.ok(f"{t}[{msg.partition()}]@{msg.offset()} wire format",
                 magic == 0 and sid == subject_ids.get(t) and kind == kinds[t]
                 and ctype == "application/vnd.confluent.avro",
                 f"magic {magic}, schema id {sid}, registry id {subject_ids.get(t)}, "
                 f"event-kind {kind} (want {kinds[t]}), content-type {ctype}")

    # --- the send result
    message_id = None
    for msg, _, r in got[a.results]:
        if r.get("command_id") != a.command_id:
            continue
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

    c.ok(f"result of {a.command_id} read", any(r.get("command_id") == a.command_id for _, _, r in got[a.results]))

    # --- the command that is not JSON: a rejected result ...
    bad_pos = (bad["topic"], bad["partition"], bad["offset"])
    c.ok("bad command was written with a command-id header", bool(bad_id), repr(bad_headers))
    bad_results = [(msg, r) for msg, _, r in got[a.results] if r.get("command_id") == bad_id]
    c.ok(f"rejected result of {bad_id} read", len(bad_results) == 1, f"got {len(bad_results)}")
    for msg, r in bad_results:
        err = r.get("error") or {}
        c.fields(f"rejected result {r.get('event_id')}", r, {
            "event_id": f"result:{bad_id}",
            "command_id": bad_id,
            "outcome": "rejected",
            "message_id": None,
            "wa_id": None,
            "source_topic": bad_pos[0],
            "source_partition": bad_pos[1],
            "source_offset": bad_pos[2],
        }, extra=f"attempts={r.get('attempts')}")
        c.ok("rejected result error: reason invalid_command, details name the JSON parse failure",
             err.get("reason") == "invalid_command" and "not a JSON object" in (err.get("details") or ""),
             f"reason={err.get('reason')!r}, details={err.get('details')!r}")
        c.ok("rejected result key is the command's key", msg.key() == bad_key, repr(msg.key()))

    # ... and the dead letter, holding the original bytes and headers.
    n = dlq_count(a.brokers, a.dlq)
    c.ok(f"{a.dlq}: exactly {n_dlq} dead letter(s)", n == n_dlq and len(got[a.dlq]) == n_dlq,
         f"{n} record(s) by the watermarks, {len(got[a.dlq])} read" if n >= 0 else "topic not found")
    for msg, _, r in got[a.dlq]:
        if r.get("source") != "command":
            continue
        reason = r.get("reason") or ""
        c.fields(f"dead letter {r.get('event_id')}", r, {
            "event_id": "dlq:command:%s/%d/%d" % bad_pos,
            "source": "command",
            "command_id": bad_id,
            "source_topic": bad_pos[0],
            "source_partition": bad_pos[1],
            "source_offset": bad_pos[2],
            "chunk": None,
        }, extra=f"content_type={r.get('content_type')}")
        c.ok("dead letter original is the produced bytes", r.get("original") == bad_value,
             f"{r.get('original')!r}, want {bad_value!r}")
        got_headers = [(h.get("key"), h.get("value")) for h in r.get("headers") or []]
        c.ok("dead letter headers are the original headers, in order", got_headers == bad_headers,
             f"{got_headers!r}, want {bad_headers!r}")
        c.ok("dead letter reason names the JSON parse failure",
             reason.startswith("invalid_command") and "not a JSON object" in reason, repr(reason))
        c.ok("dead letter dead_at is a UTC datetime (timestamp-millis)", is_utc_datetime(r.get("dead_at")),
             repr(r.get("dead_at")))
        c.ok("dead letter key is the command's key", msg.key() == bad_key, repr(msg.key()))
        want_h = {"dlq-source": "command", "dlq-reason": reason, "dlq-source-topic": bad_pos[0],
                  "dlq-source-partition": str(bad_pos[1]), "dlq-source-offset": str(bad_pos[2]),
                  "command-id": bad_id}
        bad_h = {k: header(msg, k) for k, v in want_h.items() if header(msg, k) != v}
        c.ok("dead letter headers dlq-source, dlq-reason, dlq-source-topic/partition/offset, command-id",
             not bad_h, f"differ: {bad_h!r}" if bad_h else ", ".join(f"{k}={v}" for k, v in want_h.items() if k != "dlq-reason"))

    # ... and the webhook whose message cannot be mapped: one dead letter for the request.
    if bad_hook is not None:
        check_webhook_dead_letter(c, a, bad_hook, [(m, raw, r) for m, raw, r in got[a.dlq] if r.get("source") == "webhook"])

    # --- the change-level error posted to /webhook
    by_type: dict[str, list] = {}
    for item in got[a.webhook_events]:
        by_type.setdefault(item[2].get("event_type"), []).append(item)
    c.ok("webhook events: one change_error and one call",
         sorted(by_type) == ["call", "change_error"] and all(len(v) == 1 for v in by_type.values()),
         repr({k: len(v) for k, v in by_type.items()}))
    for msg, _, r in by_type.get("change_error", []):
        eid = r.get("event_id") or ""
        c.fields(f"webhook event {eid}", r, {
            "event_type": "change_error",
            "field": ev_change["field"],
            "value_key": "errors",
            "waba_id": ev_entry["id"],
            "entry_time": None,
            "phone_number_id": ev_value["metadata"]["phone_number_id"],
            "display_phone_number": ev_value["metadata"]["display_phone_number"],
            "wa_id": None,
            "user_id": None,
            "profile_name": None,
            "timestamp": None,
            "user_preference": None,
            "template_status": None,
            "mapping_error": None,
            "call": None,
        })
        c.fields("webhook event error", r.get("error") or {}, {
            "code": ev_error["code"],
            "title": ev_error["title"],
            "message": ev_error["message"],
            "details": ev_error["error_data"]["details"],
            "href": ev_error["href"],
        })
        c.ok("webhook event event_id is event: + 32 hex digits", re.fullmatch(r"event:[0-9a-f]{32}", eid) is not None,
             repr(eid))
        if golden_event_id is not None:
            c.ok("webhook event event_id equals the Go golden's for the same fixture", eid == golden_event_id,
                 f"{eid!r}, golden {golden_event_id!r}")
        c.ok("webhook event header event-id is the event_id", header(msg, "event-id") == eid,
             repr(header(msg, "event-id")))
        try:
            raw_item = json.loads(r.get("raw") or "")
        except ValueError:
            raw_item = None
        c.ok("webhook event raw is the posted errors[0] JSON", raw_item == ev_error, repr(r.get("raw"))[:120])
        c.ok("webhook event received_at is a UTC datetime", is_utc_datetime(r.get("received_at")),
             repr(r.get("received_at")))
        c.ok("webhook event key is the phone_number_id",
             msg.key() == ev_value["metadata"]["phone_number_id"].encode(), repr(msg.key()))

    # --- the user's call posted to /webhook (field calls): a typed CallEvent in a WebhookEvent
    contact = call_value["contacts"][0]
    for msg, _, r in by_type.get("call", []):
        eid = r.get("event_id") or ""
        c.fields(f"call event {eid}", r, {
            "event_type": "call",
            "field": "calls",
            "value_key": "calls",
            "waba_id": call_hook["entry"][0]["id"],
            "phone_number_id": call_value["metadata"]["phone_number_id"],
            "wa_id": posted_call["from"],
            "user_id": None,
            "profile_name": contact["profile"]["name"],
            "timestamp": dt.datetime.fromtimestamp(int(posted_call["timestamp"]), dt.timezone.utc),
            "mapping_error": None,
        })
        call = r.get("call") or {}
        c.fields("call event call", call, {
            "call_id": posted_call["id"],
            "event": "connect",
            "direction": "user_initiated",
            "opens_window": True,
            "from": posted_call["from"],
            "to": posted_call["to"],
            "status": None,
            "duration_seconds": None,
            "sdp_type": posted_call["session"]["sdp_type"],
            "sdp": posted_call["session"]["sdp"],
            "errors": [],
        })
        c.ok("call event event_id is event: + 32 hex digits", re.fullmatch(r"event:[0-9a-f]{32}", eid) is not None, repr(eid))
        if call_golden_id is not None:
            c.ok("call event event_id equals the Go golden's for the same fixture", eid == call_golden_id,
                 f"{eid!r}, golden {call_golden_id!r}")
        c.ok("call event key is the caller's wa_id (as the caller's messages are keyed)",
             msg.key() == posted_call["from"].encode(), repr(msg.key()))
        try:
            raw_item = json.loads(r.get("raw") or "")
        except ValueError:
            raw_item = None
        c.ok("call event raw is the posted calls[0] JSON", raw_item == posted_call, repr(r.get("raw"))[:120])

    print(f"consumer: {c.passed} passed, {c.failed} failed", flush=True)
    return 0 if c.failed == 0 and decode_errors == 0 else 1


def check_webhook_dead_letter(c: Checks, a, body: bytes, dls: list) -> None:
    """The dead letter of a webhook request: the body byte for byte, the failed part's path,
    the request headers without any secret, and a deterministic id and key."""
    c.ok("webhook dead letters: exactly one for the request", len(dls) == 1, f"got {len(dls)}")
    digest = hashlib.sha256(body).hexdigest()
    for msg, raw, r in dls:
        c.fields(f"webhook dead letter {r.get('event_id')}", r, {
            "event_id": f"dlq:webhook:{digest[:32]}",
            "source": "webhook",
            "command_id": None,
            "source_topic": None,
            "original_kind": "request_body",
            "content_type": "application/json",
            "chunk": None,
        })
        c.ok("webhook dead letter original is the posted body, byte for byte", r.get("original") == body,
             f"{len(r.get('original') or b'')} bytes, want {len(body)}")
        failures = r.get("failures") or []
        c.ok("webhook dead letter names the failed part's path",
             [f.get("path") for f in failures] == [a.bad_webhook_path] and failures[0].get("reason"),
             repr(failures))
        c.ok("webhook dead letter reason starts with the path", (r.get("reason") or "").startswith(a.bad_webhook_path),
             repr(r.get("reason")))
        kept = {h.get("key"): h.get("value") for h in r.get("headers") or []}
        c.ok("webhook dead letter keeps the request headers (User-Agent, Content-Type)",
             kept.get("User-Agent") == b"wabridge-interop" and kept.get("Content-Type") == b"application/json",
             repr(sorted(kept)))
        leaked = [s for s in a.secret if s.encode() in raw or s.encode() in (msg.key() or b"")
                  or any(s.encode() in (v or b"") for _, v in msg.headers() or [])]
        c.ok(f"webhook dead letter holds none of the {len(a.secret)} secrets sent (token, Authorization, cookie)",
             not leaked and bool(a.secret), f"leaked: {leaked!r}" if leaked else ", ".join(sorted(kept)))
        c.ok("webhook dead letter key is the body's hash (32 hex digits)", msg.key() == digest[:32].encode(), repr(msg.key()))
        c.ok("webhook dead letter headers dlq-source webhook, event-id",
             header(msg, "dlq-source") == "webhook" and header(msg, "event-id") == r.get("event_id"),
             f"dlq-source={header(msg, 'dlq-source')}, event-id={header(msg, 'event-id')}")


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
