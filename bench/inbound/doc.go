// Package inboundbench measures the webhook listener end to end: HTTP POSTs
// from a load generator in its own process, through inbound.Handler, Avro
// encoding with ids from a schema registry, and kafkaio's writer (acks=all)
// into a Kafka broker (a kfake broker in its own process, or KAFKA_BROKERS).
// It compares the rate with a bare net/http handler measured by the same
// load generator in the same run, and reports the bridge process's peak RSS.
//
// It is a test behind an environment variable, so that go test ./... stays
// fast:
//
//	WABRIDGE_BENCH=1 go test ./bench/inbound -run TestWebhookLoad -v -timeout 20m
//
// The bare handler and the bridge at 64 senders are measured in alternating
// rounds, so that other load on the (shared) machine hits both alike.
//
// Knobs (environment): WABRIDGE_BENCH_DURATION (per phase, default 10s),
// WABRIDGE_BENCH_WARMUP (default 2s), WABRIDGE_BENCH_ROUNDS (default 3),
// WABRIDGE_BENCH_PARTITIONS (default 6), WABRIDGE_BENCH_SWEEP (concurrency
// levels of the saturation sweep, default 1,4,16,64,128,256; "off" to skip),
// WABRIDGE_BENCH_WRITERS (producer variants to compare, default "kafkaio":
// kafkaio.Conn.NewWriter as wabridge builds it; "batch<N>" and "batch<N>ms" change
// its BatchSize or BatchTimeout; "kgo" and "kgo<N>ms" are franz-go's producer
// with that linger; e.g. "kafkaio,batch100,kgo"),
// WABRIDGE_BENCH_CPUPROFILE (a file for the CPU profile of the main
// 64-sender phase), WABRIDGE_BENCH_GOGC and WABRIDGE_BENCH_GOMEMLIMIT_MIB
// (garbage collector settings of the bridge process only),
// WABRIDGE_BENCH_BROKER_PID (to report a real broker's CPU time),
// WABRIDGE_BENCH_BROKER_WARMUP (load before measuring a real broker, whose
// JIT compiler needs it; default 20s),
// KAFKA_BROKERS (a real broker instead of kfake).
package inboundbench
