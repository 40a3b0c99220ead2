// Package deploy checks the deployment files against the binary they deploy:
// the container image (Dockerfile), the local stack (docker-compose.yml) and
// the Kubernetes manifests (kubernetes/, built with kustomize). There is no
// Docker engine or cluster here, so what can be proved is proved without one:
// every file decodes strictly into its schema, and the invariants that make a
// deployment work hold (probes on endpoints the binary serves, only
// environment variables it reads, non-root, grace periods longer than the
// shutdown grace, ...).
//
// TestMain builds cmd/wabridge once, with the Dockerfile's own build flags,
// and reads every subcommand's --help: the environment variables and their
// defaults come from the binary, not from a list kept here.
//
// That wabridge exits 0 on SIGTERM after finishing its work is proved on the
// real binary by cmd/wabridge/e2e_test.go (proc.stop); it is not repeated here.
package deploy

import (
	"bytes"
	"context"
	"debug/elf"
	"encoding/json"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/compose-spec/compose-go/v2/cli"
	"github.com/compose-spec/compose-go/v2/types"
	"github.com/moby/patternmatcher"
	"github.com/moby/patternmatcher/ignorefile"
)

const (
	// testVersion and testCommit are stamped into the test binary through the
	// Dockerfile's ldflags; `wabridge version` must print them.
	testVersion = "v0.0.0-deploytest"
	testCommit  = "0123456789abcdef"
	// wabridgeImage is the image repository the manifests use for wabridge.
	wabridgeImage = "ghcr.io/wabridge/wabridge"
	// monitoringNamespace is where the manifests expect Prometheus.
	monitoringNamespace = "monitoring"
)

var (
	binary     string                  // the wabridge built by TestMain
	binarySize int64                   // its size in bytes
	commands   map[string]*commandHelp // subcommand -> its flags, from --help
	dockerfile *dockerFile             // deploy/Dockerfile, parsed
)

func TestMain(m *testing.M) {
	code, err := setup(m)
	if err != nil {
		fmt.Fprintln(os.Stderr, "deploy tests:", err)
		os.Exit(1)
	}
	os.Exit(code)
}

func setup(m *testing.M) (int, error) {
	var err error
	dockerfile, err = parseDockerfile("Dockerfile")
	if err != nil {
		return 0, err
	}
	dir, err := os.MkdirTemp("", "wabridge-deploy")
	if err != nil {
		return 0, err
	}
	defer os.RemoveAll(dir)
	binary = filepath.Join(dir, "wabridge")
	if err := buildLikeDockerfile(dockerfile, binary); err != nil {
		return 0, err
	}
	st, err := os.Stat(binary)
	if err != nil {
		return 0, err
	}
	binarySize = st.Size()
	commands = map[string]*commandHelp{}
	for _, c := range []string{"run", "dev", "send", "tail"} {
		h, err := readHelp(binary, c)
		if err != nil {
			return 0, err
		}
		commands[c] = h
	}
	return m.Run(), nil
}

// buildLikeDockerfile builds ../cmd/wabridge with the go build flags of the
// Dockerfile's build stage, VERSION and COMMIT set to the test values.
func buildLikeDockerfile(d *dockerFile, out string) error {
	run := d.goBuild()
	if run == "" {
		return fmt.Errorf("Dockerfile: no RUN with `go build` in the build stage")
	}
	m := regexp.MustCompile(`-ldflags\s+"([^"]*)"`).FindStringSubmatch(run)
	if m == nil {
		return fmt.Errorf("Dockerfile: go build has no -ldflags \"...\": %s", run)
	}
	ldflags := strings.NewReplacer("${VERSION}", testVersion, "${COMMIT}", testCommit).Replace(m[1])
	args := []string{"build", "-ldflags", ldflags, "-o", out}
	if strings.Contains(run, "-trimpath") {
		args = append(args, "-trimpath")
	}
	args = append(args, "../cmd/wabridge")
	cmd := exec.Command("go", args...)
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("go %s: %w", strings.Join(args, " "), err)
	}
	return nil
}

// commandHelp is what `wabridge <cmd> --help` says about the flags.
type commandHelp struct {
	name string
	// env maps each environment variable the command reads to the flag's
	// default ("" when it has none).
	env map[string]string
}

var (
	helpFlagLine = regexp.MustCompile(`^\s+(?:-\w, )?--(?:\[no-\])?([a-z0-9-]+)(?:=(\S+))?`)
	helpEnv      = regexp.MustCompile(`\(\$([A-Z][A-Z0-9_]*)\)`)
	placeholder  = regexp.MustCompile(`^[A-Z][A-Z0-9:=,._-]*$`)
)

// readHelp runs `wabridge <cmd> --help` with an empty environment (so that
// nothing of the test's own environment shows up as a default) and parses it.
func readHelp(bin, name string) (*commandHelp, error) {
	cmd := exec.Command(bin, name, "--help")
	cmd.Env = []string{}
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("%s %s --help: %w", bin, name, err)
	}
	h := &commandHelp{name: name, env: map[string]string{}}
	var entry strings.Builder
	var def string
	flush := func() {
		for _, m := range helpEnv.FindAllStringSubmatch(entry.String(), -1) {
			h.env[m[1]] = def
		}
		entry.Reset()
		def = ""
	}
	for _, line := range strings.Split(string(out), "\n") {
		if m := helpFlagLine.FindStringSubmatch(line); m != nil {
			flush()
			def = m[2]
			if unq, err := strconv.Unquote(def); err == nil {
				def = unq
			} else if placeholder.MatchString(def) {
				def = ""
			}
		}
		entry.WriteString(line)
		entry.WriteString("\n")
	}
	flush()
	if len(h.env) < 2 {
		return nil, fmt.Errorf("%s --help names %d environment variables; is the ($VAR) format still kong's?\n%s", name, len(h.env), out)
	}
	return h, nil
}

// reads reports whether the command reads the environment variable.
func (h *commandHelp) reads(name string) bool { _, ok := h.env[name]; return ok }

// bridges reports whether the command runs the bridge (and so its listeners).
func (h *commandHelp) bridges() bool { return h.name == "run" || h.name == "dev" }

// goRuntimeEnv are variables the Go runtime reads in any Go binary.
var goRuntimeEnv = map[string]bool{"GOMEMLIMIT": true, "GOMAXPROCS": true, "GOGC": true, "GODEBUG": true, "GOTRACEBACK": true}

// config is the effective configuration of one wabridge process: the
// command's defaults overridden by the environment it is given.
type config struct {
	cmd *commandHelp
	env map[string]string
	set map[string]bool // variables set explicitly (not defaults)
}

func newConfig(cmd *commandHelp) *config {
	c := &config{cmd: cmd, env: map[string]string{}, set: map[string]bool{}}
	for k, v := range cmd.env {
		c.env[k] = v
	}
	return c
}

// setVar sets an environment variable, failing the test if the command
// does not read it.
func (c *config) setVar(t *testing.T, where, name, value string) {
	t.Helper()
	if !c.cmd.reads(name) && !goRuntimeEnv[name] {
		t.Errorf("%s: sets %s, which `wabridge %s` does not read (`wabridge %s --help` lists what it reads)", where, name, c.cmd.name, c.cmd.name)
	}
	c.env[name] = value
	c.set[name] = true
}

// halves are the halves a bridge process runs.
func (c *config) runsInbound() bool  { return c.cmd.bridges() && c.env["WABRIDGE_ONLY"] != "outbound" }
func (c *config) runsOutbound() bool { return c.cmd.bridges() && c.env["WABRIDGE_ONLY"] != "inbound" }

// listenAddr is where a bridge listens, as `dev` and `run` resolve it:
// dev turns the default all-interfaces address into loopback.
func (c *config) listenAddr(t *testing.T, name string) (host string, port int) {
	t.Helper()
	addr := c.env[name]
	if c.cmd.name == "dev" && addr == c.cmd.env[name] {
		addr = "127.0.0.1" + addr
	}
	h, p, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatalf("%s=%q: %v", name, addr, err)
	}
	port, err = strconv.Atoi(p)
	if err != nil || port == 0 {
		t.Fatalf("%s=%q: want a fixed port", name, addr)
	}
	return h, port
}

func (c *config) duration(t *testing.T, name string) time.Duration {
	t.Helper()
	d, err := time.ParseDuration(c.env[name])
	if err != nil {
		t.Fatalf("%s=%q: %v", name, c.env[name], err)
	}
	return d
}

func (c *config) int(t *testing.T, name string) int {
	t.Helper()
	n, err := strconv.Atoi(c.env[name])
	if err != nil {
		t.Fatalf("%s=%q: %v", name, c.env[name], err)
	}
	return n
}

// hostPorts returns the host:port pairs of a comma-separated broker list.
func hostPorts(t *testing.T, list string) []string {
	t.Helper()
	var out []string
	for _, b := range strings.Split(list, ",") {
		if _, _, err := net.SplitHostPort(strings.TrimSpace(b)); err != nil {
			t.Fatalf("broker %q: %v", b, err)
		}
		out = append(out, strings.TrimSpace(b))
	}
	return out
}

// urlHostPort returns the host and the port (explicit or the scheme's) of a URL.
func urlHostPort(t *testing.T, raw string) (string, int) {
	t.Helper()
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		t.Fatalf("URL %q: want an absolute URL (%v)", raw, err)
	}
	p := u.Port()
	if p == "" {
		p = map[string]string{"http": "80", "https": "443"}[u.Scheme]
	}
	n, err := strconv.Atoi(p)
	if err != nil {
		t.Fatalf("URL %q: no port", raw)
	}
	return u.Hostname(), n
}

func allInterfaces(host string) bool { return host == "" || host == "0.0.0.0" || host == "::" }

// ---------------------------------------------------------------------------
// The binary and its help

func TestHelpListsTheSettingsTheManifestsRelyOn(t *testing.T) {
	run := commands["run"]
	for _, v := range []string{"KAFKA_BROKERS", "SCHEMA_REGISTRY_URL", "D360_API_KEY", "WEBHOOK_TOKEN", "WABRIDGE_ONLY",
		"WABRIDGE_HTTP_ADDR", "WABRIDGE_ADMIN_ADDR", "WABRIDGE_SHUTDOWN_GRACE", "WABRIDGE_STARTUP_TIMEOUT",
		"WABRIDGE_GROUP_ID", "WABRIDGE_TOPIC_COMMANDS", "WABRIDGE_TOPIC_PARTITIONS", "WABRIDGE_RATE"} {
		if !run.reads(v) {
			t.Errorf("`wabridge run --help` no longer names %s", v)
		}
	}
	for name, want := range map[string]string{"WABRIDGE_ADMIN_ADDR": ":9090", "WABRIDGE_HTTP_ADDR": ":8080", "WABRIDGE_SHUTDOWN_GRACE": "10s", "WABRIDGE_GROUP_ID": "wabridge-outbound", "WABRIDGE_TOPIC_COMMANDS": "wabridge.commands"} {
		if got := run.env[name]; got != want {
			t.Logf("note: default of %s is now %q (was %q when the manifests were written)", name, got, want)
		}
	}
	if !commands["dev"].reads("WABRIDGE_DEV_KAFKA_PORT") || run.reads("WABRIDGE_DEV_KAFKA_PORT") {
		t.Errorf("dev-only settings should be read by dev only")
	}
}

// ---------------------------------------------------------------------------
// Dockerfile

type dockerInstr struct {
	cmd  string // upper case: FROM, RUN, ...
	args string
}

type dockerStage struct {
	from, name string
	instrs     []dockerInstr
}

type dockerFile struct {
	globalArgs map[string]string
	stages     []*dockerStage
}

func parseDockerfile(path string) (*dockerFile, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	d := &dockerFile{globalArgs: map[string]string{}}
	var logical []string
	var cur strings.Builder
	for _, line := range strings.Split(string(data), "\n") {
		trimmed := strings.TrimSpace(line)
		if strings.HasPrefix(trimmed, "#") || (trimmed == "" && cur.Len() == 0) {
			continue
		}
		if strings.HasSuffix(trimmed, "\\") {
			cur.WriteString(strings.TrimSuffix(trimmed, "\\"))
			cur.WriteString(" ")
			continue
		}
		cur.WriteString(trimmed)
		logical = append(logical, cur.String())
		cur.Reset()
	}
	for _, l := range logical {
		cmd, args, _ := strings.Cut(l, " ")
		in := dockerInstr{cmd: strings.ToUpper(cmd), args: strings.TrimSpace(args)}
		if in.cmd == "FROM" {
			f := strings.Fields(in.args)
			st := &dockerStage{}
			for i := 0; i < len(f); i++ {
				switch {
				case strings.HasPrefix(f[i], "--"):
				case strings.EqualFold(f[i], "AS") && i+1 < len(f):
					st.name = f[i+1]
					i++
				default:
					st.from = f[i]
				}
			}
			d.stages = append(d.stages, st)
			continue
		}
		if len(d.stages) == 0 {
			if in.cmd == "ARG" {
				k, v, _ := strings.Cut(in.args, "=")
				d.globalArgs[k] = v
			}
			continue
		}
		st := d.stages[len(d.stages)-1]
		st.instrs = append(st.instrs, in)
	}
	if len(d.stages) < 2 {
		return nil, fmt.Errorf("%s: want a multi-stage build, found %d stage(s)", path, len(d.stages))
	}
	return d, nil
}

func (d *dockerFile) final() *dockerStage { return d.stages[len(d.stages)-1] }

// goBuild returns the RUN instruction of a build stage that runs go build.
func (d *dockerFile) goBuild() string {
	for _, st := range d.stages[:len(d.stages)-1] {
		for _, in := range st.instrs {
			if in.cmd == "RUN" && strings.Contains(in.args, "go build") {
				return in.args
			}
		}
	}
	return ""
}

func (st *dockerStage) last(cmd string) string {
	v := ""
	for _, in := range st.instrs {
		if in.cmd == cmd {
			v = in.args
		}
	}
	return v
}

func (st *dockerStage) args() map[string]string {
	m := map[string]string{}
	for _, in := range st.instrs {
		if in.cmd == "ARG" {
			for _, f := range strings.Fields(in.args) {
				k, v, _ := strings.Cut(f, "=")
				m[k] = v
			}
		}
	}
	return m
}

// imageTag splits an image reference into repository, tag and digest.
func imageTag(ref string) (repo, tag, digest string) {
	repo, digest, _ = strings.Cut(ref, "@")
	if i := strings.LastIndex(repo, ":"); i > strings.LastIndex(repo, "/") {
		repo, tag = repo[:i], repo[i+1:]
	}
	return repo, tag, digest
}

// checkPinned fails unless the image names a tag other than latest, or a digest.
func checkPinned(t *testing.T, where, ref string) {
	t.Helper()
	_, tag, digest := imageTag(ref)
	switch {
	case strings.Contains(ref, "$"):
		t.Errorf("%s: image %q is not a literal reference", where, ref)
	case tag == "" && digest == "":
		t.Errorf("%s: image %q names neither a tag nor a digest", where, ref)
	case tag == "latest":
		t.Errorf("%s: image %q uses the tag latest", where, ref)
	}
}

func TestDockerfile(t *testing.T) {
	d := dockerfile
	build := d.stages[0]

	// The builder's Go is the one go.mod asks for: the golang image sets
	// GOTOOLCHAIN=local, so an older one would refuse to build.
	gomod, err := os.ReadFile("../go.mod")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^go (\S+)$`).FindSubmatch(gomod)
	if m == nil {
		t.Fatal("go.mod has no go line")
	}
	if got := d.globalArgs["GO_VERSION"]; got != string(m[1]) {
		t.Errorf("Dockerfile ARG GO_VERSION=%s, go.mod says go %s", got, m[1])
	}
	if build.from != "golang:${GO_VERSION}" {
		t.Errorf("build stage FROM %s, want golang:${GO_VERSION}", build.from)
	}

	run := d.goBuild()
	for _, want := range []string{"CGO_ENABLED=0", "-trimpath", "-X main.version=${VERSION}", "-X main.commit=${COMMIT}", "./cmd/wabridge"} {
		if !strings.Contains(run, want) {
			t.Errorf("the go build RUN lacks %q: %s", want, run)
		}
	}
	args := build.args()
	for _, a := range []string{"VERSION", "COMMIT"} {
		if _, ok := args[a]; !ok {
			t.Errorf("build stage declares no ARG %s", a)
		}
	}

	fin := d.final()
	checkPinned(t, "final stage", fin.from)
	repo, tag, _ := imageTag(fin.from)
	if !(fin.from == "scratch" || strings.HasPrefix(repo, "gcr.io/distroless/static") && strings.HasPrefix(tag, "nonroot")) {
		t.Errorf("final stage FROM %s: want gcr.io/distroless/static-*:nonroot or scratch", fin.from)
	}
	user := fin.last("USER")
	uid, gid, _ := strings.Cut(user, ":")
	if n, err := strconv.Atoi(uid); err != nil || n == 0 {
		t.Errorf("final stage USER %q: want a numeric non-root uid (Kubernetes' runAsNonRoot can only verify a numeric one)", user)
	} else if n != 65532 {
		t.Errorf("final stage USER %q: the manifests run as 65532", user)
	}
	if gid != "" {
		if n, err := strconv.Atoi(gid); err != nil || n == 0 {
			t.Errorf("final stage USER %q: want a numeric non-root gid", user)
		}
	}
	var entry []string
	if err := json.Unmarshal([]byte(fin.last("ENTRYPOINT")), &entry); err != nil || len(entry) != 1 {
		t.Fatalf("ENTRYPOINT %q: want the exec form [\"/wabridge\"]", fin.last("ENTRYPOINT"))
	}
	copied := false
	for _, in := range fin.instrs {
		if in.cmd == "COPY" && strings.HasPrefix(in.args, "--from=") && strings.HasSuffix(in.args, " "+entry[0]) {
			copied = true
		}
	}
	if !copied {
		t.Errorf("final stage does not COPY --from the build stage to the ENTRYPOINT %s", entry[0])
	}
	var cmd []string
	if err := json.Unmarshal([]byte(fin.last("CMD")), &cmd); err != nil || len(cmd) == 0 || commands[cmd[0]] == nil {
		t.Errorf("CMD %q: want the exec form of a wabridge subcommand", fin.last("CMD"))
	}
	for _, in := range fin.instrs {
		if in.cmd == "RUN" {
			t.Errorf("final stage RUNs %q: distroless has no shell", in.args)
		}
	}

	// EXPOSE names the ports `run` listens on by default.
	c := newConfig(commands["run"])
	_, http := c.listenAddr(t, "WABRIDGE_HTTP_ADDR")
	_, admin := c.listenAddr(t, "WABRIDGE_ADMIN_ADDR")
	exposed := strings.Fields(fin.last("EXPOSE"))
	slices.Sort(exposed)
	want := []string{strconv.Itoa(http), strconv.Itoa(admin)}
	slices.Sort(want)
	if !slices.Equal(exposed, want) {
		t.Errorf("EXPOSE %v, want the default webhook and admin ports %v", exposed, want)
	}
}

// TestImageBinary checks the binary built with the Dockerfile's flags: the
// version and commit are stamped, and it is static (it runs on distroless
// static or scratch, which have no libc).
func TestImageBinary(t *testing.T) {
	out, err := exec.Command(binary, "version").Output()
	if err != nil {
		t.Fatal(err)
	}
	want := fmt.Sprintf("wabridge %s (commit %s)\n", testVersion, testCommit)
	if string(out) != want {
		t.Errorf("wabridge version printed %q, want %q: the Dockerfile's -X flags do not reach main.version / main.commit", out, want)
	}
	f, err := elf.Open(binary)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			t.Error("the binary asks for a dynamic loader: it would not start on distroless static")
		}
	}
	if libs, _ := f.ImportedLibraries(); len(libs) > 0 {
		t.Errorf("the binary needs shared libraries %v", libs)
	}
	t.Logf("static binary: %.1f MB (%d bytes); the image is that plus the distroless static base (~2 MB)", float64(binarySize)/1e6, binarySize)
}

// TestDockerignore checks that deploy/Dockerfile.dockerignore keeps every
// file the build needs: the packages of cmd/wabridge in this module, their
// embedded files, go.mod and go.sum.
func TestDockerignore(t *testing.T) {
	f, err := os.Open("Dockerfile.dockerignore")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	patterns, err := ignorefile.ReadAll(f)
	if err != nil {
		t.Fatal(err)
	}
	pm, err := patternmatcher.New(patterns)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("go", "list", "-deps", "-json=ImportPath,Dir,GoFiles,EmbedFiles,Module", "../cmd/wabridge")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux")
	out, err := cmd.Output()
	if err != nil {
		t.Fatal(err)
	}
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	needed := []string{"go.mod", "go.sum"}
	dec := json.NewDecoder(bytes.NewReader(out))
	for dec.More() {
		var p struct {
			ImportPath, Dir     string
			GoFiles, EmbedFiles []string
			Module              *struct{ Main bool }
		}
		if err := dec.Decode(&p); err != nil {
			t.Fatal(err)
		}
		if p.Module == nil || !p.Module.Main {
			continue
		}
		rel, err := filepath.Rel(root, p.Dir)
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range append(p.GoFiles, p.EmbedFiles...) {
			needed = append(needed, filepath.ToSlash(filepath.Join(rel, f)))
		}
	}
	if len(needed) < 10 {
		t.Fatalf("go list found only %v", needed)
	}
	for _, f := range needed {
		if ex, err := pm.MatchesOrParentMatches(f); err != nil {
			t.Fatal(err)
		} else if ex {
			t.Errorf("Dockerfile.dockerignore excludes %s, which the build needs", f)
		}
	}
}

// ---------------------------------------------------------------------------
// docker-compose.yml

func loadCompose(t *testing.T, env ...string) *types.Project {
	t.Helper()
	opts, err := cli.NewProjectOptions([]string{"../docker-compose.yml"},
		cli.WithWorkingDirectory(".."),
		cli.WithEnv(env),
		cli.WithDiscardEnvFile,
		cli.WithInterpolation(true),
		cli.WithConsistency(true),
		cli.WithResolvedPaths(true),
	)
	if err != nil {
		t.Fatal(err)
	}
	p, err := opts.LoadProject(context.Background())
	if err != nil {
		t.Fatalf("compose-go cannot load docker-compose.yml: %v", err)
	}
	return p
}

func TestCompose(t *testing.T) {
	p := loadCompose(t)
	if p.Name != "wabridge" {
		t.Errorf("project name %q", p.Name)
	}
	for _, want := range []string{"kafka", "schema-registry", "wabridge", "events"} {
		if _, ok := p.Services[want]; !ok {
			t.Errorf("no service %s", want)
		}
	}
	root, _ := filepath.Abs("..")
	bridges := map[string]*config{}
	for name, s := range p.Services {
		where := "docker-compose.yml: " + name
		if s.Image != "" && s.Build == nil {
			checkPinned(t, where, s.Image)
		}
		for dep, d := range s.DependsOn {
			if d.Condition == types.ServiceConditionHealthy {
				if hc := p.Services[dep].HealthCheck; hc == nil || len(hc.Test) == 0 || hc.Disable {
					t.Errorf("%s waits for %s to be healthy, which has no health check", where, dep)
				}
			}
		}
		if s.Build == nil {
			continue
		}
		// Built from the Dockerfile: wabridge.
		if s.Build.Context != root || s.Build.Dockerfile != "deploy/Dockerfile" {
			t.Errorf("%s: build %s / %s, want the repository root and deploy/Dockerfile", where, s.Build.Context, s.Build.Dockerfile)
		}
		for a := range s.Build.Args {
			if _, ok := dockerfile.stages[0].args()[a]; !ok {
				t.Errorf("%s: build arg %s is not an ARG of the Dockerfile's build stage", where, a)
			}
		}
		if len(s.Command) == 0 || commands[s.Command[0]] == nil {
			t.Fatalf("%s: command %v is not a wabridge subcommand", where, s.Command)
		}
		c := newConfig(commands[s.Command[0]])
		for k, v := range s.Environment {
			val := ""
			if v != nil {
				val = *v
			}
			c.setVar(t, where, k, val)
		}
		if !s.ReadOnly {
			t.Errorf("%s: read_only is not set", where)
		}
		if !slices.Contains(s.CapDrop, "ALL") {
			t.Errorf("%s: cap_drop does not drop ALL", where)
		}
		if !slices.Contains(s.SecurityOpt, "no-new-privileges:true") {
			t.Errorf("%s: security_opt lacks no-new-privileges:true", where)
		}
		if s.User != "" {
			uid, _, _ := strings.Cut(s.User, ":")
			if n, err := strconv.Atoi(uid); err != nil || n == 0 {
				t.Errorf("%s: user %q is not a numeric non-root uid", where, s.User)
			}
		}
		// Kafka and the registry named the way the other services listen.
		for _, b := range hostPorts(t, c.env["KAFKA_BROKERS"]) {
			if !strings.Contains(envString(p.Services["kafka"].Environment, "KAFKA_ADVERTISED_LISTENERS"), "//"+b) {
				t.Errorf("%s: KAFKA_BROKERS %s is not an advertised listener of kafka", where, b)
			}
		}
		if h, port := urlHostPort(t, c.env["SCHEMA_REGISTRY_URL"]); p.Services[h].Name == "" || !strings.Contains(envString(p.Services[h].Environment, "SCHEMA_REGISTRY_LISTENERS"), ":"+strconv.Itoa(port)) {
			t.Errorf("%s: SCHEMA_REGISTRY_URL %s is not where schema-registry listens", where, c.env["SCHEMA_REGISTRY_URL"])
		}
		if !c.cmd.bridges() {
			continue
		}
		bridges[name] = c
		for _, dep := range []string{"kafka", "schema-registry"} {
			if d, ok := s.DependsOn[dep]; !ok || d.Condition != types.ServiceConditionHealthy {
				t.Errorf("%s: should start once %s is healthy (depends_on condition service_healthy)", where, dep)
			}
		}
		if s.StopGracePeriod == nil || time.Duration(*s.StopGracePeriod) <= c.duration(t, "WABRIDGE_SHUTDOWN_GRACE") {
			t.Errorf("%s: stop_grace_period must be longer than WABRIDGE_SHUTDOWN_GRACE (%s); docker's default 10s kills mid-shutdown", where, c.env["WABRIDGE_SHUTDOWN_GRACE"])
		}
		if r := c.int(t, "WABRIDGE_TOPIC_REPLICATION"); r > 1 {
			t.Errorf("%s: WABRIDGE_TOPIC_REPLICATION %d with one broker", where, r)
		}
		// Published ports are ones it listens on, on every interface.
		listening := map[int]string{}
		for _, v := range []string{"WABRIDGE_HTTP_ADDR", "WABRIDGE_ADMIN_ADDR"} {
			h, port := c.listenAddr(t, v)
			if !allInterfaces(h) {
				t.Errorf("%s: %s resolves to %s: unreachable through a published port", where, v, net.JoinHostPort(h, strconv.Itoa(port)))
			}
			listening[port] = v
		}
		for _, pc := range s.Ports {
			if _, ok := listening[int(pc.Target)]; !ok {
				t.Errorf("%s: publishes container port %d, which wabridge does not listen on", where, pc.Target)
			}
		}
	}
	if len(bridges) != 1 {
		t.Fatalf("want exactly one service running the bridge, got %d", len(bridges))
	}
	// The event printer reads the topics the bridge writes.
	ev := p.Services["events"]
	if ev.Command[0] != "tail" {
		t.Fatalf("events runs %v, want tail", ev.Command)
	}
	var b *config
	for _, c := range bridges {
		b = c
	}
	topics := map[string]bool{}
	for _, v := range []string{"WABRIDGE_TOPIC_RESULTS", "WABRIDGE_TOPIC_STATUSES", "WABRIDGE_TOPIC_MESSAGES", "WABRIDGE_TOPIC_DLQ"} {
		topics[b.env[v]] = true
	}
	for _, tp := range ev.Command[1:] {
		if !strings.HasPrefix(tp, "-") && !topics[tp] {
			t.Errorf("events tails %s, which the bridge does not write", tp)
		}
	}
	if ev.Restart != types.RestartPolicyOnFailure {
		t.Errorf("events: restart %q; tail exits until the bridge has created the topics", ev.Restart)
	}
}

func envString(m types.MappingWithEquals, k string) string {
	if v := m[k]; v != nil {
		return *v
	}
	return ""
}

// TestComposeRealAPI: with D360_API_KEY in the shell, the bridge gets it.
func TestComposeRealAPI(t *testing.T) {
	p := loadCompose(t, "D360_API_KEY=k", "D360_BASE_URL=https://waba-sandbox.360dialog.io/v1")
	env := p.Services["wabridge"].Environment
	if env["D360_API_KEY"] == nil || *env["D360_API_KEY"] != "k" || *env["D360_BASE_URL"] != "https://waba-sandbox.360dialog.io/v1" {
		t.Errorf("D360_API_KEY / D360_BASE_URL from the shell do not reach wabridge: %v %v", env["D360_API_KEY"], env["D360_BASE_URL"])
	}
	p = loadCompose(t)
	if got := *p.Services["wabridge"].Environment["D360_BASE_URL"]; got != commands["dev"].env["D360_BASE_URL"] {
		t.Errorf("D360_BASE_URL defaults to %q in compose, %q in wabridge", got, commands["dev"].env["D360_BASE_URL"])
	}
}
