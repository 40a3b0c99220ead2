// Package bulk_bench measures `wabridge bulk`, the built binary as an
// operator runs it: rows per second through validation (--dry-run) and
// through producing to Kafka, and the process's peak memory, for generated
// contact lists of 100,000 and 400,000 rows (the second shows how memory
// grows with the file: only by the set of recipients, 8 bytes of key each
// plus the map's overhead, since rows are streamed).
//
//	go test ./bench/bulk/ -run XXX -bench . -benchtime 1x
//	KAFKA_BROKERS=127.0.0.1:9092 go test ./bench/bulk/ -run XXX -bench . -benchtime 1x
//
// Producing goes to an in-process kfake broker unless KAFKA_BROKERS names a
// real one; --rate 0 lifts the tool's throttle. Peak memory is the child
// process's VmHWM (Linux), read while it runs.
package bulk_bench

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/wabridge/wabridge/internal/d360/d360test"
	"github.com/wabridge/wabridge/internal/kafkatest"
)

func build(b *testing.B) string {
	b.Helper()
	bin := filepath.Join(b.TempDir(), "wabridge")
	cmd := exec.Command("go", "build", "-o", bin, "../../cmd/wabridge")
	cmd.Stderr = os.Stderr
	if err := cmd.Run(); err != nil {
		b.Fatalf("building wabridge: %v", err)
	}
	return bin
}

// contacts writes a CSV of n rows: phone, first_name, order_id.
func contacts(b *testing.B, dir string, n int) string {
	b.Helper()
	path := filepath.Join(dir, fmt.Sprintf("contacts-%d.csv", n))
	f, err := os.Create(path)
	if err != nil {
		b.Fatal(err)
	}
	w := bufio.NewWriter(f)
	w.WriteString("phone,first_name,order_id\n")
	for i := range n {
		fmt.Fprintf(w, "+49 151 %08d,\"Name, %d\",%d\n", i, i, 100000+i)
	}
	if err := w.Flush(); err != nil {
		b.Fatal(err)
	}
	if err := f.Close(); err != nil {
		b.Fatal(err)
	}
	return path
}

type run struct {
	wall    time.Duration
	maxRSS  int64 // KiB
	stderr  string
	rowRate float64 // the tool's own rows/s for the pass
}

var (
	validatedRE = regexp.MustCompile(`(\d+) rows, (\d+) valid.*validated in ([0-9.]+[a-zµ]+)`)
	producedRE  = regexp.MustCompile(`produced (\d+) commands to \S+ in ([0-9.]+[a-zµ]+)`)
)

func runBulk(b *testing.B, bin string, args ...string) run {
	b.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), "D360_API_KEY=")
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	t0 := time.Now()
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	// VmHWM of the child, read while it runs. Not getrusage's ru_maxrss:
	// Go starts children with vfork, and exec carries the parent's high-water
	// mark (this process holds the kfake broker) into the child's.
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	var hwm int64
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	var err error
loop:
	for {
		select {
		case err = <-done:
			break loop
		case <-tick.C:
			if v := vmHWM(cmd.Process.Pid); v > hwm {
				hwm = v
			}
		}
	}
	r := run{wall: time.Since(t0), stderr: out.String(), maxRSS: hwm}
	if err != nil {
		b.Fatalf("wabridge %v: %v\n%s", args, err, out.String())
	}
	return r
}

// vmHWM is the peak resident set of pid in KiB (Linux), 0 when unknown or
// while pid is still the forked copy of this process (before its exec of
// wabridge completes, /proc shows this process's figures).
func vmHWM(pid int) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	var name string
	var hwm int64
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "Name:"); ok {
			name = strings.TrimSpace(v)
		}
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			hwm, _ = strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
		}
	}
	if name != "wabridge" {
		return 0
	}
	return hwm
}

func rate(b *testing.B, re *regexp.Regexp, out string) float64 {
	b.Helper()
	m := re.FindStringSubmatch(out)
	if m == nil {
		b.Fatalf("no %s in:\n%s", re, out)
	}
	n, _ := strconv.Atoi(m[1])
	d, err := time.ParseDuration(m[len(m)-1])
	if err != nil || d <= 0 {
		b.Fatalf("duration %q: %v", m[len(m)-1], err)
	}
	return float64(n) / d.Seconds()
}

func BenchmarkBulk(b *testing.B) {
	bin := build(b)
	dir := b.TempDir()
	def := filepath.Join(dir, "templates.json")
	js, err := json.Marshal(d360test.DefaultTemplates())
	if err != nil {
		b.Fatal(err)
	}
	if err := os.WriteFile(def, js, 0o644); err != nil {
		b.Fatal(err)
	}
	common := func(file, campaign string) []string {
		return []string{"bulk", file, "--campaign=" + campaign, "--template=order_update", "--language=en_US",
			"--param=header=order_id", "--param=body.1=first_name", "--set=body.2=on its way", "--param=button.0=order_id",
			"--template-def=" + def, "--progress=never", "--rejects=" + filepath.Join(dir, campaign+".rejects.csv"),
			"--state=" + filepath.Join(dir, campaign+".state")}
	}
	brokers := kafkatest.Brokers(b)
	backend := kafkatest.Backend()

	for _, n := range []int{100_000, 400_000} {
		file := contacts(b, dir, n)
		st, _ := os.Stat(file)
		b.Run(fmt.Sprintf("dry-run/%dk", n/1000), func(b *testing.B) {
			for range b.N {
				r := runBulk(b, bin, append(common(file, "dry"), "--dry-run")...)
				rr := rate(b, validatedRE, r.stderr)
				b.ReportMetric(rr, "rows/s")
				b.ReportMetric(float64(r.maxRSS)/1024, "peak-RSS-MiB")
				b.Logf("%d rows (%.1f MiB file), --dry-run: %.0f rows/s validated, process %.2fs wall, peak RSS %.1f MiB",
					n, float64(st.Size())/(1<<20), rr, r.wall.Seconds(), float64(r.maxRSS)/1024)
			}
		})
		b.Run(fmt.Sprintf("produce-%s/%dk", backend, n/1000), func(b *testing.B) {
			for i := range b.N {
				topic := kafkatest.Topic(b, "commands")
				kafkatest.CreateTopics(b, brokers, 6, topic)
				campaign := fmt.Sprintf("bench-%d-%d-%d", n, i, time.Now().UnixNano())
				r := runBulk(b, bin, append(common(file, campaign), "--rate=0", "--brokers="+strings.Join(brokers, ","), "--topic="+topic)...)
				pr := rate(b, producedRE, r.stderr)
				b.ReportMetric(pr, "rows/s")
				b.ReportMetric(float64(r.maxRSS)/1024, "peak-RSS-MiB")
				b.Logf("%d rows, produced to %s: %.0f rows/s (validation pass included in wall), process %.2fs wall, peak RSS %.1f MiB",
					n, backend, pr, r.wall.Seconds(), float64(r.maxRSS)/1024)
			}
		})
	}
}
