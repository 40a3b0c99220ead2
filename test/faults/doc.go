// Package faults attacks wabridge's promises on a real Apache Kafka broker:
// the broker killed, restarted, stalled; wabridge killed; the 360dialog API
// stalling and flapping. Each scenario drives the built binary as a user
// would, checks what reached the API (the d360test stand-in's record of
// requests) and what reached the topics (a consumer of its own), and logs
// lost / duplicated / out-of-order / answer-time figures.
//
// The tests skip unless WABRIDGE_FAULTS=1, KAFKA_BROKERS names a broker that
// deploy/local-kafka.sh started and KAFKA_STATE_DIR is that broker's state
// dir (the tests kill, stop, start, pause and resume it):
//
//	export KAFKA_STATE_DIR=/tmp/wabridge-faults
//	eval "$(deploy/local-kafka.sh up)"
//	WABRIDGE_FAULTS=1 go test -count=1 -v -timeout 30m ./test/faults/
//
// WABRIDGE_FAULTS=short runs the short version CI runs (the broker-crash and
// inbound-outage scenarios). WABRIDGE_FAULTS_LOGS=DIR keeps the output of
// every wabridge process a test starts in DIR/<test>-<pid>.log (else it is
// logged only when the test fails); WABRIDGE_FAULTS_OUTAGE (e.g. 3s) sets
// how long the outbound broker crash and stall last (15 s). docs/faults.md holds the figures of
// the last run.
package faults
