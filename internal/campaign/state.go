package campaign

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"time"
)

// The progress file of a campaign.

// StateHeader is the first line of a progress file.
type StateHeader struct {
	Campaign  string    `json:"campaign"`
	Template  string    `json:"template"`
	Language  string    `json:"language"`
	Input     string    `json:"input"`
	StartedAt time.Time `json:"started_at"`
}

// State is the campaign's progress file: a JSON header line, then one
// recipient per line, appended when Kafka acknowledged its command. A lock
// file beside it keeps two runs of one campaign apart.
type State struct {
	path   string
	Header StateHeader
	done   keySet
	// Loaded is how many recipients the file listed when opened.
	Loaded  int
	pending []string // found in the command topic only; written by writeHeader

	mu        sync.Mutex
	f         *os.File
	w         *bufio.Writer
	lastFlush time.Time
	lock      string
}

// OpenState takes the campaign's lock and reads its progress file, if there is
// one; a file of another campaign is refused.
func OpenState(path string, want StateHeader) (*State, error) {
	st := &State{path: path, Header: want, done: keySet{}, lock: path + ".lock"}
	if err := st.takeLock(); err != nil {
		return nil, err
	}
	if b, err := os.ReadFile(path); err == nil {
		first, rest, _ := bytes.Cut(b, []byte("\n"))
		var h StateHeader
		if err := json.Unmarshal(first, &h); err != nil {
			st.releaseLock()
			return nil, fmt.Errorf("progress file %s is not one of wabridge bulk (%v); move it away or name another with --state", path, err)
		}
		if h.Campaign != want.Campaign {
			st.releaseLock()
			return nil, fmt.Errorf("progress file %s belongs to campaign %q, not %q; name another with --state", path, h.Campaign, want.Campaign)
		}
		st.Header.StartedAt = h.StartedAt
		for _, line := range bytes.Split(rest, []byte("\n")) {
			if k := strings.TrimSpace(string(line)); k != "" {
				st.done[RecipientHash(k)] = 0
				st.Loaded++
			}
		}
	} else if !errors.Is(err, os.ErrNotExist) {
		st.releaseLock()
		return nil, fmt.Errorf("progress file: %w", err)
	}
	return st, nil
}

// Produced returns every recipient the progress file lists (by this run
// or earlier ones), by RecipientHash, each false; call it after Produce,
// which synced the file. The in-memory set is released.
func (st *State) Produced() (map[uint64]bool, error) {
	st.done = nil
	f, err := os.Open(st.path)
	if err != nil {
		return nil, fmt.Errorf("progress file: %w", err)
	}
	defer f.Close()
	out := map[uint64]bool{}
	sc := bufio.NewScanner(f)
	for first := true; sc.Scan(); first = false {
		if k := strings.TrimSpace(sc.Text()); k != "" && !first {
			out[RecipientHash(k)] = false
		}
	}
	return out, sc.Err()
}

// writeHeader rewrites the file with the header and the recipients known
// so far (from the file and the command topic), then keeps it open to
// append.
func (st *State) WriteHeader() error {
	tmp := st.path + ".tmp"
	f, err := os.Create(tmp)
	if err != nil {
		return fmt.Errorf("progress file: %w", err)
	}
	w := bufio.NewWriter(f)
	h, _ := json.Marshal(st.Header)
	w.Write(append(h, '\n'))
	if b, err := os.ReadFile(st.path); err == nil {
		if _, rest, ok := bytes.Cut(b, []byte("\n")); ok {
			w.Write(rest)
			if len(rest) > 0 && rest[len(rest)-1] != '\n' {
				w.WriteByte('\n')
			}
		}
	}
	if err := w.Flush(); err != nil {
		f.Close()
		return fmt.Errorf("progress file: %w", err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("progress file: %w", err)
	}
	f.Close()
	if err := os.Rename(tmp, st.path); err != nil {
		return fmt.Errorf("progress file: %w", err)
	}
	st.f, err = os.OpenFile(st.path, os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		return fmt.Errorf("progress file: %w", err)
	}
	st.w = bufio.NewWriterSize(st.f, 64<<10)
	// Recipients found only in the command topic are added as well.
	for _, k := range st.pending {
		st.w.WriteString(k + "\n")
	}
	st.pending = nil
	return nil
}

// has reports whether key was produced by an earlier run. done is not
// written while a pass runs.
func (st *State) has(key string) bool {
	_, ok := st.done[RecipientHash(key)]
	return ok
}

// add records an acknowledged recipient (called from producer callbacks).
func (st *State) add(key string) {
	st.mu.Lock()
	defer st.mu.Unlock()
	st.w.WriteString(key)
	st.w.WriteByte('\n')
	if time.Since(st.lastFlush) > time.Second {
		st.w.Flush()
		st.lastFlush = time.Now()
	}
}

// sync flushes and syncs the file.
func (st *State) sync() error {
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.w == nil {
		return nil
	}
	if err := st.w.Flush(); err != nil {
		return fmt.Errorf("progress file: %w", err)
	}
	return st.f.Sync()
}

func (st *State) Close() {
	_ = st.sync()
	if st.f != nil {
		st.f.Close()
	}
	st.releaseLock()
}

type lockInfo struct {
	PID  int       `json:"pid"`
	Host string    `json:"host"`
	At   time.Time `json:"at"`
}

// takeLock creates the lock file; a lock left by a process of this host
// that is gone is taken over.
func (st *State) takeLock() error {
	host, _ := os.Hostname()
	me, _ := json.Marshal(lockInfo{PID: os.Getpid(), Host: host, At: time.Now().UTC()})
	for attempt := 0; attempt < 2; attempt++ {
		f, err := os.OpenFile(st.lock, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o644)
		if err == nil {
			_, err = f.Write(me)
			f.Close()
			return err
		}
		if !errors.Is(err, os.ErrExist) {
			return fmt.Errorf("lock file: %w", err)
		}
		b, _ := os.ReadFile(st.lock)
		var other lockInfo
		_ = json.Unmarshal(b, &other)
		if other.Host == host && other.PID > 0 && !processAlive(other.PID) {
			_ = os.Remove(st.lock) // its owner is gone (a crash)
			continue
		}
		return fmt.Errorf("another run of this campaign holds %s (pid %d on %s since %s); if it is gone, delete the file", st.lock, other.PID, other.Host, other.At.Format(time.RFC3339))
	}
	return fmt.Errorf("could not take the lock %s", st.lock)
}

func (st *State) releaseLock() { _ = os.Remove(st.lock) }

func processAlive(pid int) bool {
	p, err := os.FindProcess(pid)
	if err != nil {
		return false
	}
	if runtime.GOOS == "windows" {
		return true // FindProcess opened it: it exists
	}
	err = p.Signal(syscall.Signal(0))
	return err == nil || errors.Is(err, os.ErrPermission) || errors.Is(err, syscall.EPERM)
}
