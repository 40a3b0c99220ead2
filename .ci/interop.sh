#!/usr/bin/env bash
# Proof with software we did not write (issue 5): a real Schema Registry implementation
# and an independent consumer read what wabridge writes to a real Kafka broker.
#
#   1. Apicurio Registry (from Maven Central, in-memory storage) on 127.0.0.1, Confluent-
#      compatible API at /apis/ccompat/v7; if it cannot run, the reason is printed and the
#      in-process registry of `wabridge dev` (srfake) is used instead.
#   2. The real binary: `wabridge dev` against $KAFKA_BROKERS and that registry, topics named
#      per run; one send command (`wabridge send`, answered by the built-in 360dialog
#      stand-in, which posts sent/delivered/read status webhooks back), one command that is
#      not JSON (raw bytes with a command-id header, by interop/produce_raw.py: rejected and
#      dead-lettered), one inbound-message webhook, one webhook carrying a change-level
#      error (inbound/testdata/change_errors.json) and one Calling API webhook (a user's call,
#      inbound/testdata/call_user_connect.json) posted to /webhook; one webhook whose only message
#      cannot be mapped (inbound/testdata/message_timestamp_out_of_range.json, with a token,
#      Authorization and Cookie header), and `wabridge dlq list` reading both dead letters.
#   3. interop/check_events.py: Python confluent-kafka (librdkafka) with its
#      SchemaRegistryClient and AvroDeserializer reads the result, status, message,
#      webhook-event and dead-letter topics from the beginning and checks the field values
#      against what was sent.
#   4. SIGTERM to wabridge: it must exit 0.
#
# Usage (by hand):  eval "$(deploy/local-kafka.sh up)"; bash .ci/interop.sh
# Needs: KAFKA_BROKERS, go, curl, Python 3.9-3.13, and for Apicurio Java 21+ and mvn.
# Caches in ${WABRIDGE_CACHE:-~/.cache/wabridge}: interop-venv/, apicurio-registry-VERSION/.
# Environment:
#   INTEROP_REGISTRY=auto|apicurio|srfake   auto (default): Apicurio, else srfake;
#                                           apicurio: fail when Apicurio cannot run
#   APICURIO_VERSION (3.3.3)  APICURIO_JAVA (a java 21+)  APICURIO_START_TIMEOUT (120 s)
#   INTEROP_PYTHON (python3.11, else python3)  INTEROP_TIMEOUT (60 s for the consumer)
#   INTEROP_KEEP=1  keep the temp dir (logs) after the run
set -euo pipefail
cd "$(dirname "$0")/.."

: "${KAFKA_BROKERS:?must name a running broker, e.g. eval \"\$(deploy/local-kafka.sh up)\"}"

CACHE="${WABRIDGE_CACHE:-${HOME:-/tmp}/.cache/wabridge}"
APICURIO_VERSION="${APICURIO_VERSION:-3.3.3}"
APICURIO_START_TIMEOUT="${APICURIO_START_TIMEOUT:-120}"
INTEROP_REGISTRY="${INTEROP_REGISTRY:-auto}"
INTEROP_TIMEOUT="${INTEROP_TIMEOUT:-60}"
MVN="${MVN:-mvn}"
VENV="$CACHE/interop-venv"
APICURIO_DIR="$CACHE/apicurio-registry-$APICURIO_VERSION"

T0=$(date +%s%N)
elapsed() { local d=$((($(date +%s%N) - ${1:-$T0}) / 100000000)); printf '%d.%ds' $((d / 10)) $((d % 10)); }
say() { printf '== %s\n' "$*"; }
note() { printf '   %s\n' "$*"; }
die() { printf 'interop: error: %s\n' "$*" >&2; exit 1; }

case "$INTEROP_REGISTRY" in auto | apicurio | srfake) ;; *) die "INTEROP_REGISTRY=$INTEROP_REGISTRY: want auto, apicurio or srfake" ;; esac
command -v curl >/dev/null || die "curl not found"
command -v go >/dev/null || die "go not found"

mkdir -p "$CACHE"
tmp="$(mktemp -d "${TMPDIR:-/tmp}/wabridge-interop.XXXXXX")"
PIDS=()         # processes this script started, stopped in reverse order on exit
SHELL_PASSED=0
SHELL_FAILED=0

stop_pid() { # PID NAME: TERM, up to 30 s, then KILL
  local pid="$1" name="$2" i t
  kill -0 "$pid" 2>/dev/null || return 0
  t=$(date +%s%N)
  kill -TERM "$pid" 2>/dev/null || true
  for i in $(seq 1 300); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  if kill -0 "$pid" 2>/dev/null; then
    note "$name (pid $pid) still running 30 s after TERM: KILL"
    kill -KILL "$pid" 2>/dev/null || true
  fi
  wait "$pid" 2>/dev/null || true
  note "stopped $name (pid $pid) in $(elapsed "$t")"
}

stop_all() {
  local i
  for ((i = ${#PIDS[@]} - 1; i >= 0; i--)); do
    stop_pid "${PIDS[$i]%%:*}" "${PIDS[$i]#*:}"
  done
  PIDS=()
}

cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  stop_all
  if [[ $rc -ne 0 ]]; then
    for f in "$tmp"/wabridge.log "$tmp"/apicurio.log; do
      [[ -s "$f" ]] || continue
      echo "--- last lines of $(basename "$f")" >&2
      tail -n 40 "$f" >&2
    done
  fi
  if [[ "${INTEROP_KEEP:-}" == 1 ]]; then
    echo "interop: kept $tmp" >&2
  else
    rm -rf "$tmp"
  fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

check() { # DESCRIPTION CONDITION-RESULT(0/1) [DETAIL]
  if [[ "$2" == 0 ]]; then
    SHELL_PASSED=$((SHELL_PASSED + 1)); echo "ok   $1${3:+  ($3)}"
  else
    SHELL_FAILED=$((SHELL_FAILED + 1)); echo "FAIL $1${3:+  ($3)}"
  fi
}

# ------------------------------------------------------------------ python venv (cached)

find_python() {
  local p
  for p in "${INTEROP_PYTHON:-}" python3.11 python3; do
    { [[ -n "$p" ]] && command -v "$p" >/dev/null; } || continue
    if "$p" -c 'import sys; sys.exit(0 if (3, 9) <= sys.version_info[:2] <= (3, 13) else 1)' 2>/dev/null; then
      command -v "$p"; return 0
    fi
  done
  return 1
}

setup_venv() {
  local py stamp
  py="$(find_python)" || die "no Python 3.9-3.13 found (set INTEROP_PYTHON)"
  stamp="$("$py" -c 'import sys; print(sys.version)' | head -n 1) $(sha256sum <interop/requirements.txt | cut -d' ' -f1)"
  if [[ -f "$VENV/.complete" && "$(cat "$VENV/.complete")" == "$stamp" ]] && "$VENV/bin/python" -c 'import confluent_kafka' 2>/dev/null; then
    note "reusing $VENV"
    return 0
  fi
  note "creating $VENV with $py"
  rm -rf "$VENV"
  "$py" -m venv "$VENV"
  if ! "$VENV/bin/python" -m pip install --no-input -q --disable-pip-version-check -r interop/requirements.txt >"$tmp/pip.log" 2>&1; then
    cat "$tmp/pip.log" >&2
    die "pip could not install interop/requirements.txt"
  fi
  printf '%s\n' "$stamp" >"$VENV/.complete"
}

# Prints N free TCP ports on 127.0.0.1 (all bound at once, so distinct).
free_ports() {
  "$VENV/bin/python" - "$1" <<'EOF'
import socket, sys
socks = []
for _ in range(int(sys.argv[1])):
    s = socket.socket(); s.bind(("127.0.0.1", 0)); socks.append(s)
print(" ".join(str(s.getsockname()[1]) for s in socks))
EOF
}

# waits up to SECONDS for URL to answer 2xx while PID lives; fails otherwise.
wait_http() { # URL PID SECONDS
  local url="$1" pid="$2" deadline=$(($(date +%s) + $3))
  while (($(date +%s) < deadline)); do
    kill -0 "$pid" 2>/dev/null || return 2
    curl -sf -o /dev/null --max-time 2 "$url" && return 0
    sleep 0.3
  done
  return 1
}

# ------------------------------------------------------------------ Apicurio Registry

APICURIO_FAIL=""   # why Apicurio could not run
APICURIO_JAVA_BIN=""

find_java21() {
  local j major
  for j in "${APICURIO_JAVA:-}" "${JAVA_HOME:+$JAVA_HOME/bin/java}" "$(command -v java || true)" /usr/lib/jvm/*/bin/java; do
    [[ -n "$j" && -x "$j" ]] || continue
    major="$("$j" -version 2>&1 | sed -n '1s/.*version "\([0-9]*\).*/\1/p')"
    if [[ -n "$major" && "$major" -ge 21 ]]; then
      APICURIO_JAVA_BIN="$j"; return 0
    fi
  done
  return 1
}

fetch_apicurio() {
  [[ -f "$APICURIO_DIR/.complete" && -f "$APICURIO_DIR/quarkus-run.jar" ]] && return 0
  command -v "$MVN" >/dev/null || { APICURIO_FAIL="mvn not found (set MVN); needed once to fetch Apicurio Registry"; return 1; }
  local dl unpack t
  t=$(date +%s%N)
  dl="$tmp/apicurio-dl"; mkdir -p "$dl"
  note "fetching io.apicurio:apicurio-registry-app:$APICURIO_VERSION:tar.gz:all (the Quarkus fast-jar distribution) with maven"
  # The plugin version is the one deploy/kafka/pom.xml uses (already in the local repo there).
  if ! "$MVN" -B -q -Dstyle.color=never org.apache.maven.plugins:maven-dependency-plugin:3.8.1:copy \
      -Dartifact="io.apicurio:apicurio-registry-app:$APICURIO_VERSION:tar.gz:all" \
      -DoutputDirectory="$dl" >"$tmp/mvn.log" 2>&1; then
    APICURIO_FAIL="maven could not fetch io.apicurio:apicurio-registry-app:$APICURIO_VERSION:tar.gz:all: $(sed 's/\x1b\[[0-9;]*m//g' "$tmp/mvn.log" | grep -m1 'ERROR' || tail -n 1 "$tmp/mvn.log")"
    return 1
  fi
  unpack="$(mktemp -d "$CACHE/apicurio.tmp.XXXXXX")"
  if ! tar -xzf "$dl/apicurio-registry-app-$APICURIO_VERSION-all.tar.gz" -C "$unpack" || [[ ! -f "$unpack/quarkus-run.jar" ]]; then
    rm -rf "$unpack"
    APICURIO_FAIL="the Apicurio $APICURIO_VERSION archive has no quarkus-run.jar"
    return 1
  fi
  echo "$APICURIO_VERSION" >"$unpack/.complete"
  rm -rf "$APICURIO_DIR" "$dl"
  mv "$unpack" "$APICURIO_DIR"
  note "cached $(du -sh "$APICURIO_DIR" | cut -f1) in $APICURIO_DIR ($(elapsed "$t"))"
}

# A fresh JVM answers its first writes slowly (class loading, JIT, the first H2 inserts):
# on a loaded 2-core machine wabridge's first registration then ran into its 10 s HTTP
# timeout. One register + look-up under a subject of its own warms those paths first.
warm_up_registry() {
  local t subj="interop-warmup-value" code
  t=$(date +%s%N)
  code="$(curl -sS -o /dev/null -w '%{http_code}' --max-time 60 -H 'Content-Type: application/vnd.schemaregistry.v1+json' \
    --data '{"schema": "{\"type\":\"record\",\"name\":\"Warmup\",\"fields\":[{\"name\":\"n\",\"type\":\"long\"}]}"}' \
    "$REGISTRY/subjects/$subj/versions" || true)"
  curl -sS -o /dev/null --max-time 60 "$REGISTRY/subjects/$subj/versions/1" || true
  note "warm-up: registered $subj (HTTP $code) in $(elapsed "$t")"
}

start_apicurio() {
  if ! find_java21; then
    APICURIO_FAIL="no Java 21+ found (Apicurio Registry $APICURIO_VERSION is built for Java 21; set APICURIO_JAVA): $(java -version 2>&1 | head -n 1)"
    return 1
  fi
  # One fetch at a time per cache (two runs on one machine share it); the reason of a
  # failure comes back through a file, since the lock needs a subshell.
  rm -f "$tmp/apicurio.fail"
  if ! (flock 9; fetch_apicurio || { printf '%s' "$APICURIO_FAIL" >"$tmp/apicurio.fail"; exit 1; }) 9>"$CACHE/apicurio.lock"; then
    APICURIO_FAIL="$(cat "$tmp/apicurio.fail" 2>/dev/null || echo "fetching Apicurio failed")"
    return 1
  fi
  local ports port mport pid t rc=0 java_major
  # Short-lived JVM on 2 shared cores: C1 only, and a class-data archive (AppCDS) that the
  # first run writes into the cache at exit and later runs map (about half the start time).
  java_major="$("$APICURIO_JAVA_BIN" -version 2>&1 | sed -n '1s/.*version "\([0-9]*\).*/\1/p')"
  ports="$(free_ports 2)"; port="${ports% *}"; mport="${ports#* }"
  mkdir -p "$tmp/apicurio-tmp"
  t=$(date +%s%N)
  # In-memory H2 storage (the default of the distribution), bound to 127.0.0.1 only.
  (cd "$tmp" && exec env QUARKUS_HTTP_HOST=127.0.0.1 QUARKUS_HTTP_PORT="$port" \
    QUARKUS_MANAGEMENT_HOST=127.0.0.1 QUARKUS_MANAGEMENT_PORT="$mport" \
    "$APICURIO_JAVA_BIN" -Xmx384m -XX:+UseSerialGC -XX:TieredStopAtLevel=1 \
    -XX:+AutoCreateSharedArchive -XX:SharedArchiveFile="$APICURIO_DIR/cds-java$java_major.jsa" \
    -Djava.io.tmpdir="$tmp/apicurio-tmp" -jar "$APICURIO_DIR/quarkus-run.jar") >"$tmp/apicurio.log" 2>&1 &
  pid=$!
  PIDS+=("$pid:Apicurio Registry")
  REGISTRY="http://127.0.0.1:$port/apis/ccompat/v7"
  wait_http "$REGISTRY/subjects" "$pid" "$APICURIO_START_TIMEOUT" || rc=$?
  case $rc in
    0) APICURIO_START="$(elapsed "$t")"
       note "Apicurio Registry $APICURIO_VERSION ($("$APICURIO_JAVA_BIN" -version 2>&1 | head -n 1)), pid $pid, answered GET /subjects after $APICURIO_START"
       note "$(grep -m1 -o 'apicurio-registry-app .* started in [0-9.]*s' "$tmp/apicurio.log" || true)"
       warm_up_registry
       return 0 ;;
    2) APICURIO_FAIL="Apicurio exited during start: $(grep -m1 -E 'ERROR|Exception' "$tmp/apicurio.log" || tail -n 1 "$tmp/apicurio.log")" ;;
    *) APICURIO_FAIL="Apicurio did not answer GET $REGISTRY/subjects within ${APICURIO_START_TIMEOUT}s" ;;
  esac
  stop_pid "$pid" "Apicurio Registry"
  return 1
}

# ------------------------------------------------------------------ 1. tools

say "python venv for the independent consumer (interop/requirements.txt)"
t=$(date +%s%N)
(
  flock 9
  setup_venv
) 9>"$CACHE/interop-venv.lock"
note "$("$VENV/bin/python" -c 'import sys, confluent_kafka, fastavro; print("Python", sys.version.split()[0], "| confluent-kafka", confluent_kafka.__version__, "| librdkafka", confluent_kafka.libversion()[0], "| fastavro", fastavro.__version__)') ($(elapsed "$t"))"

say "go build ./cmd/wabridge"
t=$(date +%s%N)
go build -o "$tmp/wabridge" ./cmd/wabridge
note "built $tmp/wabridge ($(elapsed "$t"))"

say "schema registry"
REGISTRY=""
REGISTRY_KIND=""
APICURIO_START=""
if [[ "$INTEROP_REGISTRY" != srfake ]]; then
  if start_apicurio; then
    REGISTRY_KIND="Apicurio Registry $APICURIO_VERSION"
  else
    echo "interop: Apicurio Registry cannot run here: $APICURIO_FAIL" >&2
    [[ "$INTEROP_REGISTRY" == apicurio ]] && die "INTEROP_REGISTRY=apicurio and Apicurio cannot run"
    REGISTRY=""
  fi
fi
read -r HTTP_PORT ADMIN_PORT STANDIN_PORT SRFAKE_PORT <<<"$(free_ports 4)"
REGISTRY_ARGS=()
if [[ -z "$REGISTRY" ]]; then
  if [[ -n "$APICURIO_FAIL" ]]; then
    REGISTRY_KIND="srfake (wabridge dev's in-process registry; FALLBACK, Apicurio could not run: $APICURIO_FAIL)"
  else
    REGISTRY_KIND="srfake (wabridge dev's in-process registry; INTEROP_REGISTRY=srfake)"
  fi
  REGISTRY="http://127.0.0.1:$SRFAKE_PORT"
  REGISTRY_ARGS=(--registry-port "$SRFAKE_PORT")
  note "using $REGISTRY_KIND"
else
  REGISTRY_ARGS=(--registry-url "$REGISTRY")
fi

# ------------------------------------------------------------------ 2. wabridge dev

RUN_ID="$(date +%s)-$$"
T_COMMANDS="interop.$RUN_ID.commands"
T_RESULTS="interop.$RUN_ID.results"
T_MESSAGES="interop.$RUN_ID.messages"
T_STATUSES="interop.$RUN_ID.statuses"
T_DLQ="interop.$RUN_ID.dlq"
T_WEBHOOK_EVENTS="interop.$RUN_ID.webhook-events"
# Internal state topics per run too, so every run starts from empty state: every run sends
# the command id interop-1, and a ledger or window state left by an earlier run must not
# change what this one sees.
T_LEDGER="interop.$RUN_ID.ledger"
T_WINDOWS="interop.$RUN_ID.windows"
T_OPTIN="interop.$RUN_ID.optin"
TOKEN="$("$VENV/bin/python" -c 'import secrets; print(secrets.token_hex(16))')"
COMMAND_ID="interop-1"
TO="15550001111"
BAD_COMMAND_ID="interop-bad-1"   # a command that is not JSON: rejected and dead-lettered
BAD_KEY="15550003333"
# Webhook carrying one change-level error (value.errors[]): a WebhookEvent. The fixture is
# posted byte for byte, so its event_id must be the one inbound's golden file records.
EVENT_FIXTURE="inbound/testdata/change_errors"
# Calling API webhook (field calls): a user-initiated connect, a typed call WebhookEvent.
CALL_FIXTURE="inbound/testdata/call_user_connect"

say "wabridge dev against $KAFKA_BROKERS and $REGISTRY (topics interop.$RUN_ID.*)"
t=$(date +%s%N)
# Only the stand-in may answer POST /messages here: no real API key, whatever the caller's env holds.
env -u D360_API_KEY -u D360_BASE_URL -u SCHEMA_REGISTRY_URL -u SCHEMA_REGISTRY_USER -u SCHEMA_REGISTRY_PASSWORD \
  -u WABRIDGE_ONLY -u WEBHOOK_TOKEN_HEADER -u WABRIDGE_WEBHOOK_PATH \
  WEBHOOK_TOKEN="$TOKEN" \
  WABRIDGE_TOPIC_COMMANDS="$T_COMMANDS" WABRIDGE_TOPIC_RESULTS="$T_RESULTS" \
  WABRIDGE_TOPIC_MESSAGES="$T_MESSAGES" WABRIDGE_TOPIC_STATUSES="$T_STATUSES" WABRIDGE_TOPIC_DLQ="$T_DLQ" \
  WABRIDGE_TOPIC_WEBHOOK_EVENTS="$T_WEBHOOK_EVENTS" WABRIDGE_TOPIC_LEDGER="$T_LEDGER" \
  WABRIDGE_TOPIC_WINDOWS="$T_WINDOWS" WABRIDGE_TOPIC_OPTIN="$T_OPTIN" \
  WABRIDGE_GROUP_ID="wabridge-interop-$RUN_ID" WABRIDGE_STARTUP_TIMEOUT="${WABRIDGE_STARTUP_TIMEOUT:-60s}" \
  "$tmp/wabridge" dev --brokers "$KAFKA_BROKERS" "${REGISTRY_ARGS[@]}" \
  --http-addr "127.0.0.1:$HTTP_PORT" --admin-addr "127.0.0.1:$ADMIN_PORT" --standin-port "$STANDIN_PORT" \
  >"$tmp/wabridge.log" 2>&1 &
WB_PID=$!
PIDS+=("$WB_PID:wabridge")
rc=0; wait_http "http://127.0.0.1:$ADMIN_PORT/readyz" "$WB_PID" 90 || rc=$?
check "wabridge dev ready (GET /readyz)" "$rc" "pid $WB_PID, $(elapsed "$t")"
[[ $rc == 0 ]] || die "wabridge dev did not become ready (rc $rc)"
rc=0; subjects="$(curl -sSf --max-time 10 "$REGISTRY/subjects" 2>&1)" || rc=$?
check "registry answers GET /subjects: $REGISTRY_KIND" "$rc" "$REGISTRY: $subjects"

say "send command $COMMAND_ID to $T_COMMANDS"
rc=0; out="$("$tmp/wabridge" send --brokers "$KAFKA_BROKERS" --topic "$T_COMMANDS" --to "$TO" --text "interop hello" --command-id "$COMMAND_ID" 2>&1)" || rc=$?
check "wabridge send --command-id $COMMAND_ID" "$rc" "$out"

say "command that is not JSON to $T_COMMANDS (raw bytes, header command-id: $BAD_COMMAND_ID)"
# `wabridge send` validates, so another producer writes it: Python confluent-kafka, acks=all.
# A second header carries bytes that are not UTF-8, to show headers are kept as bytes.
rc=0; out="$("$VENV/bin/python" interop/produce_raw.py --brokers "$KAFKA_BROKERS" --topic "$T_COMMANDS" \
  --key "$BAD_KEY" --value "not json" --header "command-id=$BAD_COMMAND_ID" --header-hex "interop-bytes=00ff0a" \
  --out "$tmp/bad-command.json" 2>&1)" || rc=$?
check "produce 'not json' with header command-id $BAD_COMMAND_ID" "$rc" "$out"

say "inbound-message webhook to http://127.0.0.1:$HTTP_PORT/webhook"
WAMID="wamid.INTEROP$(printf '%s' "$RUN_ID" | tr -dc '0-9')"
"$VENV/bin/python" - "$tmp/webhook.json" "$WAMID" <<'EOF'
import json, sys, time
path, wamid = sys.argv[1], sys.argv[2]
body = {
    "object": "whatsapp_business_account",
    "entry": [{
        "id": "109876543210987",
        "changes": [{
            "field": "messages",
            "value": {
                "messaging_product": "whatsapp",
                "metadata": {"display_phone_number": "15550009999", "phone_number_id": "100000000000001"},
                "contacts": [{"profile": {"name": "Interop Tester"}, "wa_id": "15550002222"}],
                "messages": [{
                    "from": "15550002222",
                    "id": wamid,
                    "timestamp": str(int(time.time()) - 5),
                    "type": "text",
                    "text": {"body": "interop inbound: hola, ¿listo? 📦"},
                }],
            },
        }],
    }],
}
with open(path, "w", encoding="utf-8") as f:
    json.dump(body, f, ensure_ascii=False, indent=2)
EOF
post_webhook() { # FILE: POSTs it with the token; sets code (the HTTP status) and rc (0 only for 200)
  rc=0; code="$(curl -sS -o "$1.out" -w '%{http_code}' --max-time 15 -H 'Content-Type: application/json' \
    -H "X-Webhook-Token: $TOKEN" --data-binary @"$1" "http://127.0.0.1:$HTTP_PORT/webhook")" || rc=$?
  [[ "$code" == 200 ]] || rc=1
}
post_webhook "$tmp/webhook.json"
check "POST /webhook with X-Webhook-Token answered 200" "$rc" "HTTP $code, message $WAMID"

say "change-level error webhook ($EVENT_FIXTURE.json) to http://127.0.0.1:$HTTP_PORT/webhook"
cp "$EVENT_FIXTURE.json" "$tmp/webhook-event.json"
post_webhook "$tmp/webhook-event.json"
check "POST /webhook with a change-level error answered 200" "$rc" "HTTP $code"

say "Calling API webhook ($CALL_FIXTURE.json) to http://127.0.0.1:$HTTP_PORT/webhook"
cp "$CALL_FIXTURE.json" "$tmp/call.json"
post_webhook "$tmp/call.json"
check "POST /webhook with a user's call answered 200" "$rc" "HTTP $code"

# ------------------------------------------------------------------ 3. independent consumer

BAD_HOOK_FIXTURE="inbound/testdata/message_timestamp_out_of_range"
say "webhook whose message cannot be mapped ($BAD_HOOK_FIXTURE.json), with secrets in its headers"
cp "$BAD_HOOK_FIXTURE.json" "$tmp/bad-webhook.json"
AUTHZ="Bearer interop-$TOKEN-authz"
COOKIE="session=interop-$TOKEN-cookie"
rc=0; code="$(curl -sS -o /dev/null -D "$tmp/bad-webhook.headers" -w '%{http_code}' --max-time 15 \
  -H 'Content-Type: application/json' -H 'User-Agent: wabridge-interop' -H "X-Webhook-Token: $TOKEN" \
  -H "Authorization: $AUTHZ" -H "Cookie: $COOKIE" \
  --data-binary @"$tmp/bad-webhook.json" "http://127.0.0.1:$HTTP_PORT/webhook")" || rc=$?
[[ "$code" == 200 ]] && grep -qi '^Wabridge-Dead-Letter: dlq:webhook:' "$tmp/bad-webhook.headers" || rc=1
check "POST /webhook with an unmappable message answered 200 naming its dead letter" "$rc" "HTTP $code"

say "wabridge dlq list against the real broker"
rc=0; out="$("$tmp/wabridge" dlq list -o json --brokers "$KAFKA_BROKERS" --topic "$T_DLQ" --registry-url "$REGISTRY" 2>&1)" || rc=$?
n_dl="$(grep -c '"event_id"' <<<"$out" || true)"
[[ "$n_dl" == 2 ]] && grep -q '"source":"webhook"' <<<"$out" && grep -q '"source":"command"' <<<"$out" || rc=1
check "wabridge dlq list: the command's and the webhook's dead letter" "$rc" "$n_dl listed"

say "independent consumer: confluent-kafka + SchemaRegistryClient + AvroDeserializer"
t=$(date +%s%N)
rc=0
"$VENV/bin/python" interop/check_events.py --brokers "$KAFKA_BROKERS" --registry "$REGISTRY" \
  --commands "$T_COMMANDS" --results "$T_RESULTS" --statuses "$T_STATUSES" --messages "$T_MESSAGES" \
  --webhook-events "$T_WEBHOOK_EVENTS" --dlq "$T_DLQ" \
  --command-id "$COMMAND_ID" --to "$TO" --bad-command "$tmp/bad-command.json" --webhook "$tmp/webhook.json" \
  --webhook-event "$tmp/webhook-event.json" --webhook-event-golden "$EVENT_FIXTURE.golden" \
  --call-webhook "$tmp/call.json" --call-golden "$CALL_FIXTURE.golden" --timeout "$INTEROP_TIMEOUT" \
  --bad-webhook "$tmp/bad-webhook.json" --secret "$TOKEN" --secret "$AUTHZ" --secret "$COOKIE" \
  | tee "$tmp/consumer.out" || rc=$?
note "consumer took $(elapsed "$t")"
c_line="$(grep -E '^consumer: [0-9]+ passed, [0-9]+ failed$' "$tmp/consumer.out" || echo 'consumer: 0 passed, 1 failed')"
C_PASSED="$(sed -E 's/^consumer: ([0-9]+) passed.*/\1/' <<<"$c_line")"
C_FAILED="$(sed -E 's/.* ([0-9]+) failed$/\1/' <<<"$c_line")"
if [[ $rc -ne 0 && "$C_FAILED" == 0 ]]; then C_FAILED=1; fi

# ------------------------------------------------------------------ 4. SIGTERM

say "SIGTERM to wabridge (pid $WB_PID)"
t=$(date +%s%N)
kill -TERM "$WB_PID" 2>/dev/null || true
for _ in $(seq 1 300); do kill -0 "$WB_PID" 2>/dev/null || break; sleep 0.1; done
if kill -0 "$WB_PID" 2>/dev/null; then
  check "wabridge exits after SIGTERM" 1 "still running after 30 s"
else
  rc=0; wait "$WB_PID" || rc=$?
  check "wabridge exits 0 after SIGTERM" "$rc" "exit $rc after $(elapsed "$t")"
fi
warns="$(grep -c 'level=WARN' "$tmp/wabridge.log" || true)"
errors="$(grep -c 'level=ERROR' "$tmp/wabridge.log" || true)"
note "wabridge log: $errors error(s), $warns warning(s)"
{ grep 'level=ERROR' "$tmp/wabridge.log" | head -n 10; grep 'level=WARN' "$tmp/wabridge.log" | head -n 3; } | cut -c1-300 | sed 's/^/     /' || true

if [[ "${REGISTRY_ARGS[0]:-}" == "--registry-url" ]]; then # a real registry (the fallback one stopped with wabridge)
say "wabridge schemas check against $REGISTRY_KIND (the registry's own compatibility rules)"
rc=0; out="$(WABRIDGE_TOPIC_RESULTS="$T_RESULTS" WABRIDGE_TOPIC_MESSAGES="$T_MESSAGES" WABRIDGE_TOPIC_STATUSES="$T_STATUSES" \
  WABRIDGE_TOPIC_DLQ="$T_DLQ" WABRIDGE_TOPIC_COMMANDS="$T_COMMANDS" WABRIDGE_TOPIC_WEBHOOK_EVENTS="$T_WEBHOOK_EVENTS" \
  "$tmp/wabridge" schemas check "${REGISTRY_ARGS[@]}" 2>&1)" || rc=$?
check "current schemas compatible with the registered subjects" "$rc" "$(echo "$out" | tr '\t\n' ' ;')"
# registry_follows NAME SUBJECT LEVEL RELEASED: registers the released schema file under a fresh
# subject with compatibility LEVEL, asks the real registry whether schemas/NAME.avsc may follow it,
# then (negative control) whether the same schema changed by the Python expression in $BREAK (on
# the parsed schema s) may, which must be refused.
registry_follows() {
  local name="$1" subj="$2" level="$3" released="$4" rc=0 rc2=0 ok res bad
  curl -sSf --max-time 10 -X POST -H 'Content-Type: application/vnd.schemaregistry.v1+json' \
    --data "$("$VENV/bin/python" -c 'import json,sys; print(json.dumps({"schema": open(sys.argv[1]).read()}))' "$released")" \
    "$REGISTRY/subjects/$subj/versions" >/dev/null || rc=$?
  curl -sS --max-time 10 -X PUT -H 'Content-Type: application/vnd.schemaregistry.v1+json' \
    --data "{\"compatibility\":\"$level\"}" "$REGISTRY/config/$subj" >/dev/null || true
  res="$(curl -sSf --max-time 10 -X POST -H 'Content-Type: application/vnd.schemaregistry.v1+json' \
    --data "$("$VENV/bin/python" -c 'import json,sys; print(json.dumps({"schema": open(sys.argv[1]).read()}))' "schemas/$name.avsc")" \
    "$REGISTRY/compatibility/subjects/$subj/versions/latest")" || rc2=$?
  ok=1; [[ $rc == 0 && $rc2 == 0 && "$res" == *'"is_compatible":true'* ]] && ok=0
  check "registry: current $name schema is $level compatible with released $ver" "$ok" "$res"
  bad="$(curl -sS --max-time 10 -X POST -H 'Content-Type: application/vnd.schemaregistry.v1+json' \
    --data "$("$VENV/bin/python" -c 'import json,sys; s=json.load(open(sys.argv[1])); exec(sys.argv[2]); print(json.dumps({"schema": json.dumps(s)}))' "schemas/$name.avsc" "$BREAK")" \
    "$REGISTRY/compatibility/subjects/$subj/versions/latest")" || true
  ok=1; [[ "$bad" == *'"is_compatible":false'* ]] && ok=0
  check "registry refuses a $name schema $ver could not follow (negative control: $BREAK)" "$ok" "$bad"
}
for v in schemas/testdata/v*/; do
  ver="$(basename "$v")"
  # The current schema must read every released version's data; a field added without a default
  # must be refused.
  BREAK='s["fields"].append({"name":"required_new","type":"string"})' \
    registry_follows send_result "interop-$RUN_ID-$ver-send-result-value" BACKWARD "$v/send_result.avsc"
  # Webhook events gained typed calls after v2: readers on either schema read the other's records
  # (FULL = backward and forward), so consumers upgrade when they like. Without raw (no default in
  # the released schema), released readers could not read the records: refused.
  if [[ -f "$v/webhook_event.avsc" ]]; then
    BREAK='s["fields"]=[f for f in s["fields"] if f["name"]!="raw"]' \
      registry_follows webhook_event "interop-$RUN_ID-$ver-webhook-event-value" FULL "$v/webhook_event.avsc"
  fi
  # Dead letters gained original_kind and failures after v2, with defaults: FULL as well. Without
  # original (no default in the released schema), released readers could not read them: refused.
  if [[ -f "$v/dead_letter.avsc" ]]; then
    BREAK='s["fields"]=[f for f in s["fields"] if f["name"]!="original"]' \
      registry_follows dead_letter "interop-$RUN_ID-$ver-dead-letter-value" FULL "$v/dead_letter.avsc"
  fi
done
fi

stop_all # the registry; so that the summary below is the last line
say "registry: $REGISTRY_KIND${APICURIO_START:+ (answered after $APICURIO_START)}; total $(elapsed)"
PASSED=$((SHELL_PASSED + C_PASSED))
FAILED=$((SHELL_FAILED + C_FAILED))
echo "interop: $PASSED passed, $FAILED failed"
[[ $FAILED == 0 ]]
