#!/usr/bin/env bash
# Run a real single-node Apache Kafka broker (KRaft, combined broker+controller)
# on 127.0.0.1 from jars fetched from Maven Central (deploy/kafka/pom.xml).
# No Docker, no Kafka tarball: only java (17+) and mvn are needed.
#
#   deploy/local-kafka.sh up       start (or reuse) the broker; prints export KAFKA_BROKERS=127.0.0.1:PORT
#   deploy/local-kafka.sh down     stop it and remove its state dir (idempotent)
#   deploy/local-kafka.sh status   tell whether it runs (exit 0) or not (exit 1)
#   deploy/local-kafka.sh env      print export KAFKA_BROKERS=... of the running broker
#   deploy/local-kafka.sh fetch    only fill the jar cache
#   deploy/local-kafka.sh kill     SIGKILL the broker, keep its data (a crash)
#   deploy/local-kafka.sh stop     stop the broker cleanly, keep its data
#   deploy/local-kafka.sh start    start the killed/stopped broker again with its data, same port
#   deploy/local-kafka.sh pause    SIGSTOP the broker (a stall: connections open, no answers)
#   deploy/local-kafka.sh resume   SIGCONT a paused broker
#
# Typical use:  eval "$(deploy/local-kafka.sh up)"; ...; deploy/local-kafka.sh down
# Only the export lines go to stdout (KAFKA_BROKERS, and KAFKA_SECURE_* with
# KAFKA_SECURE=1: a SASL_SSL listener, see deploy/kafka/README.md); the rest goes to stderr.
# See deploy/kafka/README.md for the environment variables.
set -euo pipefail

SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
POM="$SCRIPT_DIR/kafka/pom.xml"

pom_version() {
  sed -n 's:.*<kafka\.version>\([^<]*\)</kafka\.version>.*:\1:p' "$POM" | head -n 1
}

KAFKA_VERSION="${KAFKA_VERSION:-$(pom_version)}"
CACHE_ROOT="${WABRIDGE_CACHE:-${HOME:-/tmp}/.cache/wabridge}"
LIBS_DIR="$CACHE_ROOT/kafka-$KAFKA_VERSION/libs"
STATE_DIR="${KAFKA_STATE_DIR:-${TMPDIR:-/tmp}/wabridge-kafka}"
STATE_DIR="${STATE_DIR%/}"
START_TIMEOUT="${KAFKA_START_TIMEOUT:-60}"
STOP_TIMEOUT="${KAFKA_STOP_TIMEOUT:-15}"
HEAP_OPTS="${KAFKA_HEAP_OPTS:--Xmx512m -Xms128m}"
MVN="${MVN:-mvn}"

MARKER="$STATE_DIR/.wabridge-kafka"
PID_FILE="$STATE_DIR/kafka.pid"
ADDR_FILE="$STATE_DIR/brokers"
CONFIG="$STATE_DIR/server.properties"
LOG4J_CONFIG="$STATE_DIR/log4j2.properties"
LOG_FILE="$STATE_DIR/kafka.log"
DATA_DIR="$STATE_DIR/data"

log() { printf 'local-kafka: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

usage() {
  cat >&2 <<EOF
usage: $(basename "$0") up|down|status|env|fetch|kill|stop|start|pause|resume

  up      start a single-node KRaft Kafka $KAFKA_VERSION on 127.0.0.1 (reuses a running one)
          and print export KAFKA_BROKERS=127.0.0.1:PORT on stdout
  down    stop it (TERM, then KILL after ${STOP_TIMEOUT}s) and remove $STATE_DIR
  status  say whether it runs; exit 0 if it does, 1 if not
  env     print export KAFKA_BROKERS=... of the running broker, for: eval "\$($(basename "$0") env)"
  fetch   only download the jars into $LIBS_DIR
  kill    SIGKILL the broker and keep its data (a crash)
  stop    stop the broker cleanly and keep its data
  start   start the killed or stopped broker again with its data, on the same port;
          prints export KAFKA_BROKERS=... like up
  pause   SIGSTOP the broker: connections stay open, nothing answers (a stall)
  resume  SIGCONT a paused broker
EOF
}

# ---------------------------------------------------------------- java + jars

JAVA_BIN=""
find_java() {
  if [[ -n "${JAVA:-}" ]]; then
    JAVA_BIN="$JAVA"
  elif [[ -n "${JAVA_HOME:-}" && -x "$JAVA_HOME/bin/java" ]]; then
    JAVA_BIN="$JAVA_HOME/bin/java"
  elif command -v java >/dev/null 2>&1; then
    JAVA_BIN="$(command -v java)"
  else
    die "no java found (set JAVA or JAVA_HOME; Kafka $KAFKA_VERSION needs Java 17+)"
  fi
  local line major
  line="$("$JAVA_BIN" -version 2>&1 | head -n 1)" || die "cannot run $JAVA_BIN"
  major="$(sed -n 's/.*version "\([0-9]*\).*/\1/p' <<<"$line")"
  if [[ "$major" == 1 ]]; then major=8; fi # 1.8.0_xxx
  if [[ -z "$major" || "$major" -lt 17 ]]; then
    die "$JAVA_BIN is '$line'; Kafka $KAFKA_VERSION needs Java 17+ (set JAVA or JAVA_HOME)"
  fi
}

# Content stamp of the jar set: changes when the pom or the version changes.
libs_stamp() {
  printf '%s\n%s\n' "$KAFKA_VERSION" "$(sha256sum <"$POM")"
}

libs_complete() {
  [[ -f "$LIBS_DIR/.complete" ]] &&
    [[ "$(cat "$LIBS_DIR/.complete")" == "$(libs_stamp)" ]] &&
    [[ -f "$LIBS_DIR/kafka_2.13-$KAFKA_VERSION.jar" ]]
}

fetch_libs() {
  if libs_complete; then
    return 0
  fi
  [[ -f "$POM" ]] || die "missing $POM"
  command -v "$MVN" >/dev/null 2>&1 || die "mvn not found (set MVN); needed once to fetch the Kafka jars"
  local parent tmp
  parent="$(dirname "$LIBS_DIR")"
  mkdir -p "$parent"
  tmp="$(mktemp -d "$parent/libs.tmp.XXXXXX")"
  log "fetching Kafka $KAFKA_VERSION jars with maven into $LIBS_DIR"
  # mvn's output (and its stray colour escapes) must not reach our stdout.
  if ! "$MVN" -q -B -f "$POM" -Dkafka.version="$KAFKA_VERSION" \
      dependency:copy-dependencies -DoutputDirectory="$tmp" >&2; then
    rm -rf "$tmp"
    die "maven could not fetch the Kafka $KAFKA_VERSION jars"
  fi
  [[ -f "$tmp/kafka_2.13-$KAFKA_VERSION.jar" ]] || { rm -rf "$tmp"; die "maven did not produce kafka_2.13-$KAFKA_VERSION.jar"; }
  libs_stamp >"$tmp/.complete"
  rm -rf "$LIBS_DIR"
  mv "$tmp" "$LIBS_DIR"
  log "jar cache ready: $(du -sh "$LIBS_DIR" | cut -f1) in $LIBS_DIR"
}

# ---------------------------------------------------------------- process state

# Prints the PID of our running broker, or fails.
running_pid() {
  [[ -f "$PID_FILE" ]] || return 1
  local pid
  pid="$(tr -dc '0-9' <"$PID_FILE")"
  [[ -n "$pid" ]] || return 1
  kill -0 "$pid" 2>/dev/null || return 1
  # Guard against a recycled PID: it must be our kafka.Kafka with our config.
  if [[ -r "/proc/$pid/cmdline" ]]; then
    local cmd
    cmd="$(tr '\0' ' ' <"/proc/$pid/cmdline")"
    [[ "$cmd" == *kafka.Kafka*"$CONFIG"* ]] || return 1
  fi
  printf '%s\n' "$pid"
}

broker_addr() {
  [[ -f "$ADDR_FILE" ]] || return 1
  local addr
  addr="$(head -n 1 "$ADDR_FILE")"
  [[ -n "$addr" ]] || return 1
  printf '%s\n' "$addr"
}

port_open() {
  # bash's /dev/tcp; the subshell closes the socket again.
  (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null
}

# Three distinct free TCP ports on 127.0.0.1, printed as "PORT CPORT SPORT"
# (client listener, controller, secured client listener).
free_ports() {
  if [[ -n "${KAFKA_PORT:-}" && -n "${KAFKA_CONTROLLER_PORT:-}" ]]; then
    printf '%s %s %s\n' "$KAFKA_PORT" "$KAFKA_CONTROLLER_PORT" "${KAFKA_SECURE_PORT:-$((KAFKA_PORT + 2))}"
    return 0
  fi
  if command -v python3 >/dev/null 2>&1; then
    python3 - <<'EOF'
import socket
socks = []
for _ in range(3):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind(("127.0.0.1", 0))
    socks.append(s)
print(" ".join(str(s.getsockname()[1]) for s in socks))
for s in socks:
    s.close()
EOF
    return 0
  fi
  # Fallback: random ports in the dynamic range that nobody listens on.
  local ports=() p i
  for ((i = 0; i < 300 && ${#ports[@]} < 3; i++)); do
    p=$((49152 + (RANDOM * 32768 + RANDOM) % 16000))
    if [[ "${ports[*]:-}" != *"$p"* ]] && ! port_open 127.0.0.1 "$p"; then
      ports+=("$p")
    fi
  done
  [[ ${#ports[@]} -eq 3 ]] || die "found no free ports"
  printf '%s %s %s\n' "${ports[0]}" "${ports[1]}" "${ports[2]}"
}

# A Kafka cluster id: 16 random bytes, url-safe base64 without padding, not starting with '-'.
cluster_id() {
  local id="" i
  if command -v python3 >/dev/null 2>&1; then
    for ((i = 0; i < 10; i++)); do
      id="$(python3 -c 'import base64,os;print(base64.urlsafe_b64encode(os.urandom(16)).decode().rstrip("="))')"
      [[ "$id" != -* ]] && break
    done
  fi
  if [[ -z "$id" || "$id" == -* ]]; then
    id="$("$JAVA_BIN" -cp "$LIBS_DIR/*" kafka.tools.StorageTool random-uuid 2>/dev/null | tail -n 1)"
  fi
  [[ -n "$id" ]] || die "could not make a cluster id"
  printf '%s\n' "$id"
}

# Stop the process with this PID: TERM, wait up to STOP_TIMEOUT s, then KILL.
stop_pid() {
  local pid="$1" i
  kill -TERM "$pid" 2>/dev/null || return 0
  for ((i = 0; i < STOP_TIMEOUT * 5; i++)); do
    kill -0 "$pid" 2>/dev/null || return 0
    sleep 0.2
  done
  log "broker (pid $pid) still up after ${STOP_TIMEOUT}s; sending KILL"
  kill -KILL "$pid" 2>/dev/null || return 0
  for ((i = 0; i < 50; i++)); do
    kill -0 "$pid" 2>/dev/null || return 0
    sleep 0.1
  done
  die "could not stop pid $pid"
}

# Remove the state dir, but only if it is ours (it has our marker) or does not exist.
remove_state_dir() {
  [[ -e "$STATE_DIR" ]] || return 0
  if [[ ! -f "$MARKER" ]]; then
    log "not removing $STATE_DIR: it has no $(basename "$MARKER") marker, so it may not be ours"
    return 0
  fi
  rm -rf -- "$STATE_DIR"
}

# ---------------------------------------------------------------- secured mode

SECURE_ENV="$STATE_DIR/secure.env"
SECURE_DIR="$STATE_DIR/tls"
SECURE_USER="${KAFKA_SECURE_USER:-wabridge}"
SECURE_PASSWORD=""

# The environment a client needs: KAFKA_BROKERS, and in secured mode the
# SASL_SSL listener, its CA file and the SCRAM user (prefixed KAFKA_SECURE_ so
# that a plaintext client in the same shell is not switched to TLS).
print_env() {
  printf 'export KAFKA_BROKERS=%s\n' "$1"
  if [[ -f "$SECURE_ENV" ]]; then
    cat "$SECURE_ENV"
  fi
}

# A CA and a broker certificate for 127.0.0.1/localhost made with the JDK's
# keytool, a PKCS12 keystore and truststore for the broker, the CA as PEM for
# clients, and a random SCRAM password. Writes $SECURE_ENV.
make_secure() {
  local sport="$1" kt storepass
  kt="$(dirname "$JAVA_BIN")/keytool"
  [[ -x "$kt" ]] || kt="$(command -v keytool)" || die "keytool not found next to $JAVA_BIN"
  mkdir -p "$SECURE_DIR"
  storepass="$(od -An -N12 -tx1 /dev/urandom | tr -d ' \n')"
  SECURE_PASSWORD="$(od -An -N12 -tx1 /dev/urandom | tr -d ' \n')"
  local ca="$SECURE_DIR/ca.p12" ks="$SECURE_DIR/broker.p12" ts="$SECURE_DIR/truststore.p12"
  local -a q=(-storetype PKCS12 -storepass "$storepass" -keypass "$storepass")
  log "making a CA and a broker certificate with keytool in $SECURE_DIR"
  "$kt" -genkeypair -alias ca -keyalg EC -groupname secp256r1 -dname "CN=wabridge local test CA" \
    -ext bc:c -validity 30 -keystore "$ca" "${q[@]}" >/dev/null 2>&1 || die "keytool: CA key failed"
  "$kt" -exportcert -rfc -alias ca -keystore "$ca" -storepass "$storepass" >"$SECURE_DIR/ca.pem" 2>/dev/null ||
    die "keytool: CA export failed"
  "$kt" -genkeypair -alias broker -keyalg EC -groupname secp256r1 -dname "CN=localhost" \
    -validity 30 -keystore "$ks" "${q[@]}" >/dev/null 2>&1 || die "keytool: broker key failed"
  "$kt" -certreq -alias broker -keystore "$ks" -storepass "$storepass" 2>/dev/null |
    "$kt" -gencert -alias ca -keystore "$ca" -storepass "$storepass" -rfc -validity 30 \
      -ext "san=ip:127.0.0.1,dns:localhost" -ext ku:c=digitalSignature,keyEncipherment -ext eku=serverAuth \
      >"$SECURE_DIR/broker.pem" 2>/dev/null || die "keytool: signing the broker certificate failed"
  "$kt" -importcert -noprompt -alias ca -file "$SECURE_DIR/ca.pem" -keystore "$ks" "${q[@]}" >/dev/null 2>&1 ||
    die "keytool: importing the CA into the broker keystore failed"
  "$kt" -importcert -noprompt -alias broker -file "$SECURE_DIR/broker.pem" -keystore "$ks" "${q[@]}" >/dev/null 2>&1 ||
    die "keytool: importing the broker certificate failed"
  "$kt" -importcert -noprompt -alias ca -file "$SECURE_DIR/ca.pem" -keystore "$ts" "${q[@]}" >/dev/null 2>&1 ||
    die "keytool: truststore failed"
  printf '%s\n' "$storepass" >"$SECURE_DIR/storepass"
  chmod 600 "$SECURE_DIR/storepass"
  cat >"$SECURE_ENV" <<EOF
export KAFKA_SECURE_BROKERS=127.0.0.1:$sport
export KAFKA_SECURE_CA_FILE=$SECURE_DIR/ca.pem
export KAFKA_SECURE_USER=$SECURE_USER
export KAFKA_SECURE_PASSWORD=$SECURE_PASSWORD
EOF
  chmod 600 "$SECURE_ENV"
}

# Listener settings of secured mode, appended to $CONFIG (later keys win): a
# SASL_SSL listener with SCRAM-SHA-256, SCRAM-SHA-512 and PLAIN for one user,
# and OAUTHBEARER with unsigned test tokens.
secure_configs() {
  local port="$1" cport="$2" sport="$3" storepass
  storepass="$(cat "$SECURE_DIR/storepass")"
  cat <<EOF

# Secured mode (KAFKA_SECURE=1): a SASL_SSL listener beside the plaintext one.
listeners=PLAINTEXT://127.0.0.1:$port,CONTROLLER://127.0.0.1:$cport,SASL_SSL://127.0.0.1:$sport
advertised.listeners=PLAINTEXT://127.0.0.1:$port,SASL_SSL://127.0.0.1:$sport
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT,SASL_SSL:SASL_SSL
sasl.enabled.mechanisms=SCRAM-SHA-256,SCRAM-SHA-512,PLAIN,OAUTHBEARER
listener.name.sasl_ssl.scram-sha-256.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;
listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;
listener.name.sasl_ssl.plain.sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required user_$SECURE_USER="$SECURE_PASSWORD";
# OAUTHBEARER with Kafka's unsecured validator: any unsigned token (alg "none") with sub and
# exp claims is accepted. For testing a client's token flow only, never for a real cluster.
listener.name.sasl_ssl.oauthbearer.sasl.jaas.config=org.apache.kafka.common.security.oauthbearer.OAuthBearerLoginModule required unsecuredLoginStringClaim_sub="broker";
ssl.keystore.type=PKCS12
ssl.keystore.location=$SECURE_DIR/broker.p12
ssl.keystore.password=$storepass
ssl.key.password=$storepass
ssl.truststore.type=PKCS12
ssl.truststore.location=$SECURE_DIR/truststore.p12
ssl.truststore.password=$storepass
ssl.client.auth=none
EOF
}

# ---------------------------------------------------------------- commands

# Start the broker of $CONFIG (storage already formatted) and wait until it
# listens on 127.0.0.1:$1; print export KAFKA_BROKERS=... on success.
launch() {
  local port="$1" pid addr from
  local java_log=(-Dlog4j2.configurationFile="$LOG4J_CONFIG")
  local -a heap=() jvm_opts=()
  read -r -a heap <<<"$HEAP_OPTS"
  if [[ -n "${KAFKA_JVM_OPTS:-}" ]]; then
    read -r -a jvm_opts <<<"$KAFKA_JVM_OPTS"
  fi
  log "starting Kafka $KAFKA_VERSION on 127.0.0.1:$port, log $LOG_FILE"
  # Readiness is read from the log lines this start writes, not an earlier run's.
  from=$(wc -l <"$LOG_FILE" 2>/dev/null || echo 0)
  # stdin/stdout/stderr all detached, so `$(local-kafka.sh up)` returns at once.
  nohup "$JAVA_BIN" "${heap[@]}" "${jvm_opts[@]}" \
    -XX:+UseG1GC -XX:MaxGCPauseMillis=20 -XX:+ExitOnOutOfMemoryError \
    -Djava.awt.headless=true "${java_log[@]}" \
    -cp "$LIBS_DIR/*" kafka.Kafka "$CONFIG" \
    </dev/null >>"$LOG_FILE" 2>&1 &
  pid=$!
  printf '%s\n' "$pid" >"$PID_FILE"

  # Ready = the server logged that it started AND the port accepts connections.
  local i started=0
  for ((i = 0; i < START_TIMEOUT * 5; i++)); do
    kill -0 "$pid" 2>/dev/null || fail_start "" "the broker exited during startup"
    if ((!started)) && tail -n +"$((from + 1))" "$LOG_FILE" | grep -q 'Kafka Server started'; then
      started=1
    fi
    if ((started)) && port_open 127.0.0.1 "$port"; then
      addr="127.0.0.1:$port"
      printf '%s\n' "$addr" >"$ADDR_FILE"
      log "ready after ~$((i / 5))s (pid $pid)"
      print_env "$addr"
      return 0
    fi
    sleep 0.2
  done
  fail_start "$pid" "the broker was not ready within ${START_TIMEOUT}s"
}


write_configs() {
  local port="$1" cport="$2"
  cat >"$CONFIG" <<EOF
# Written by deploy/local-kafka.sh: single-node KRaft broker+controller for local use and CI.
process.roles=broker,controller
node.id=1
controller.quorum.bootstrap.servers=127.0.0.1:$cport
listeners=PLAINTEXT://127.0.0.1:$port,CONTROLLER://127.0.0.1:$cport
advertised.listeners=PLAINTEXT://127.0.0.1:$port
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
log.dirs=$DATA_DIR

# One node: every internal topic has replication factor 1 and few partitions.
offsets.topic.replication.factor=1
offsets.topic.num.partitions=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
transaction.state.log.num.partitions=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
share.coordinator.state.topic.num.partitions=1
default.replication.factor=1
min.insync.replicas=1

group.initial.rebalance.delay.ms=0
auto.create.topics.enable=false
delete.topic.enable=true
num.partitions=1

# Small footprint.
num.network.threads=2
num.io.threads=2
background.threads=2
num.recovery.threads.per.data.dir=1
log.segment.bytes=16777216
log.retention.hours=24
log.cleaner.threads=1
log.cleaner.dedupe.buffer.size=16777216
EOF
  if [[ -n "${KAFKA_EXTRA_CONFIG:-}" ]]; then
    printf '\n# From KAFKA_EXTRA_CONFIG (later keys win).\n%s\n' "$KAFKA_EXTRA_CONFIG" >>"$CONFIG"
  fi
  cat >"$LOG4J_CONFIG" <<'EOF'
status = warn
appender.console.type = Console
appender.console.name = STDOUT
appender.console.layout.type = PatternLayout
appender.console.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = info
rootLogger.appenderRef.stdout.ref = STDOUT
logger.request.name = kafka.request.logger
logger.request.level = warn
EOF
}

fail_start() {
  local pid="$1" why="$2"
  log "error: $why"
  if [[ -f "$LOG_FILE" ]]; then
    log "last 40 lines of $LOG_FILE:"
    tail -n 40 "$LOG_FILE" >&2 || true
    local first
    first="$(grep -m 3 -E ' (ERROR|FATAL) ' "$LOG_FILE" || true)"
    if [[ -n "$first" ]]; then
      log "first errors in the log:"
      printf '%s\n' "$first" >&2
    fi
  fi
  if [[ -n "$pid" ]]; then
    stop_pid "$pid" || true
  fi
  rm -f "$PID_FILE" "$ADDR_FILE"
  exit 1
}

cmd_up() {
  local pid addr
  if pid="$(running_pid)" && addr="$(broker_addr)"; then
    log "already running (pid $pid) at $addr"
    print_env "$addr"
    return 0
  fi

  if pid="$(running_pid)"; then
    log "a broker (pid $pid) runs without a recorded address (still starting or broken); stopping it"
    stop_pid "$pid"
  fi

  find_java
  fetch_libs

  if [[ -e "$STATE_DIR" && ! -f "$MARKER" ]] && [[ -n "$(ls -A "$STATE_DIR" 2>/dev/null)" ]]; then
    die "$STATE_DIR exists, is not empty and is not ours; set KAFKA_STATE_DIR elsewhere"
  fi
  # A leftover of a dead broker: start from scratch.
  if [[ -f "$PID_FILE" ]]; then
    log "removing stale state in $STATE_DIR"
  fi
  remove_state_dir
  mkdir -p "$STATE_DIR" "$DATA_DIR"
  : >"$MARKER"

  local port cport sport cid
  read -r port cport sport <<<"$(free_ports)"
  [[ "$port" =~ ^[0-9]+$ && "$cport" =~ ^[0-9]+$ && "$sport" =~ ^[0-9]+$ &&
    "$port" != "$cport" && "$sport" != "$port" && "$sport" != "$cport" ]] ||
    die "bad ports: '$port $cport $sport'"
  local -a scram=()
  write_configs "$port" "$cport"
  if [[ "${KAFKA_SECURE:-}" == 1 ]]; then
    make_secure "$sport"
    secure_configs "$port" "$cport" "$sport" >>"$CONFIG"
    scram=(--add-scram "SCRAM-SHA-256=[name=$SECURE_USER,password=$SECURE_PASSWORD]"
      --add-scram "SCRAM-SHA-512=[name=$SECURE_USER,password=$SECURE_PASSWORD]")
  fi
  cid="$(cluster_id)"

  local java_log=(-Dlog4j2.configurationFile="$LOG4J_CONFIG")
  log "formatting storage (cluster id $cid)"
  if ! "$JAVA_BIN" "${java_log[@]}" -cp "$LIBS_DIR/*" kafka.tools.StorageTool \
      format --cluster-id "$cid" --config "$CONFIG" --standalone --ignore-formatted \
      "${scram[@]}" >>"$LOG_FILE" 2>&1; then
    fail_start "" "storage format failed"
  fi

  launch "$port"
}

cmd_down() {
  local pid
  if pid="$(running_pid)"; then
    log "stopping broker (pid $pid)"
    stop_pid "$pid"
  else
    log "no broker running"
  fi
  remove_state_dir
}

# The port of the broker's client listener, from its config (kept across kill/start).
config_port() {
  [[ -f "$CONFIG" ]] || return 1
  sed -n 's/^advertised\.listeners=PLAINTEXT:\/\/127\.0\.0\.1:\([0-9]*\).*$/\1/p' "$CONFIG" | tail -n 1
}

# Fault injection: the same broker killed, stopped, restarted with its data, paused.
cmd_kill() {
  local pid
  pid="$(running_pid)" || die "no broker running"
  log "killing broker (pid $pid) with SIGKILL; its data stays in $DATA_DIR"
  kill -KILL "$pid"
  while kill -0 "$pid" 2>/dev/null; do sleep 0.1; done
  rm -f "$PID_FILE"
}

cmd_stop() {
  local pid
  pid="$(running_pid)" || die "no broker running"
  log "stopping broker (pid $pid); its data stays in $DATA_DIR"
  stop_pid "$pid"
  rm -f "$PID_FILE"
}

cmd_start() {
  local pid port
  if pid="$(running_pid)"; then
    die "the broker runs already (pid $pid)"
  fi
  [[ -f "$MARKER" && -f "$CONFIG" ]] || die "no stopped broker in $STATE_DIR (start a new one with: $(basename "$0") up)"
  port="$(config_port)" || true
  [[ -n "$port" ]] || die "cannot read the port from $CONFIG"
  find_java
  fetch_libs
  launch "$port"
}

cmd_signal() {
  local sig="$1" what="$2" pid
  pid="$(running_pid)" || die "no broker running"
  log "$what broker (pid $pid)"
  kill "-$sig" "$pid"
}

cmd_status() {
  local pid addr
  if pid="$(running_pid)" && addr="$(broker_addr)"; then
    printf 'running: pid %s, KAFKA_BROKERS=%s, state %s\n' "$pid" "$addr" "$STATE_DIR"
    return 0
  fi
  if pid="$(running_pid)"; then
    printf 'starting: pid %s, state %s\n' "$pid" "$STATE_DIR"
    return 1
  fi
  printf 'not running (state dir %s)\n' "$STATE_DIR"
  return 1
}

cmd_env() {
  local addr
  if running_pid >/dev/null && addr="$(broker_addr)"; then
    print_env "$addr"
    return 0
  fi
  die "no broker running (start one with: $(basename "$0") up)"
}

main() {
  if [[ $# -ne 1 ]]; then
    usage
    exit 2
  fi
  [[ -n "$KAFKA_VERSION" ]] || die "cannot read <kafka.version> from $POM"
  [[ "$START_TIMEOUT" =~ ^[0-9]+$ && "$STOP_TIMEOUT" =~ ^[0-9]+$ ]] ||
    die "KAFKA_START_TIMEOUT and KAFKA_STOP_TIMEOUT must be whole seconds"
  case "$1" in
    up) cmd_up ;;
    down) cmd_down ;;
    status) cmd_status ;;
    env) cmd_env ;;
    fetch) fetch_libs && log "jars in $LIBS_DIR" ;;
    kill) cmd_kill ;;
    stop) cmd_stop ;;
    start) cmd_start ;;
    pause) cmd_signal STOP pausing ;;
    resume) cmd_signal CONT resuming ;;
    -h | --help | help) usage ;;
    *)
      usage
      exit 2
      ;;
  esac
}

main "$@"
