package campaign

import (
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/schollz/progressbar/v3"
)

// Progress shows how far a pass is.
type Progress interface {
	SetMax(n int64)
	Set(n int64)
	Add(n int)
	Describe(s string)
	Finish() // done: the bar shows 100 % and the line ends
	Abort()  // stopped early: the bar stays where it is and the line ends
}

// NewProgress returns the progress display of a pass named what over total
// rows (or bytes of the file when total < 0): mode "bar" draws a bar on a
// terminal, "lines" prints a status line every 10 s (logs, CI, pipes),
// "never" shows nothing.
func NewProgress(mode string, w io.Writer, what string, total int64) Progress {
	switch mode {
	case "never":
		return noProgress{}
	case "lines":
		return &lineProgress{w: w, what: what, max: total, start: time.Now(), bytes: total < 0}
	}
	bytesMode := total < 0
	b := &barProgress{w: w, what: what, start: time.Now(), bytes: bytesMode}
	opts := []progressbar.Option{
		progressbar.OptionSetWriter(w),
		progressbar.OptionSetDescription(what),
		progressbar.OptionSetPredictTime(true),
		progressbar.OptionSetElapsedTime(true),
		progressbar.OptionThrottle(200 * time.Millisecond),
		progressbar.OptionSetWidth(30),
		progressbar.OptionShowElapsedTimeOnFinish(),
		// The line ends when the bar completes (or is left), so what is
		// printed next starts on a line of its own.
		progressbar.OptionOnCompletion(func() { fmt.Fprintln(w) }),
	}
	if bytesMode {
		opts = append(opts, progressbar.OptionShowBytes(true))
		total = 1
	} else {
		opts = append(opts, progressbar.OptionShowCount())
	}
	b.bar = progressbar.NewOptions64(total, opts...)
	return b
}

type noProgress struct{}

func (noProgress) SetMax(int64)    {}
func (noProgress) Set(int64)       {}
func (noProgress) Add(int)         {}
func (noProgress) Describe(string) {}
func (noProgress) Finish()         {}
func (noProgress) Abort()          {}

// barProgress is a progress bar. The rate is its own, shown once a second
// has passed: the bar's first samples, taken over microseconds, would show
// hundreds of thousands of rows per second.
type barProgress struct {
	bar   *progressbar.ProgressBar
	w     io.Writer
	what  string
	bytes bool

	mu    sync.Mutex
	start time.Time
	n     int64
	desc  string
	shown time.Time
}

func (b *barProgress) SetMax(n int64) { b.bar.ChangeMax64(n) }

func (b *barProgress) Set(n int64) {
	b.mu.Lock()
	b.n = n
	b.describeLocked(false)
	b.mu.Unlock()
	_ = b.bar.Set64(n)
}

func (b *barProgress) Add(n int) {
	b.mu.Lock()
	b.n += int64(n)
	b.describeLocked(false)
	b.mu.Unlock()
	_ = b.bar.Add(n)
}

func (b *barProgress) Describe(s string) {
	b.mu.Lock()
	b.desc = s
	b.describeLocked(true)
	b.mu.Unlock()
}

// describeLocked sets the bar's description: what, the rate once a second
// has passed, and the caller's description.
func (b *barProgress) describeLocked(force bool) {
	now := time.Now()
	if b.bar.IsFinished() || !force && now.Sub(b.shown) < 200*time.Millisecond {
		return // a finished bar drawn again would lose its line end
	}
	b.shown = now
	d := b.what
	if el := now.Sub(b.start).Seconds(); el >= 1 && !b.bytes {
		d += fmt.Sprintf(" (%.0f rows/s)", float64(b.n)/el)
	}
	if b.desc != "" {
		d += " " + b.desc
	}
	b.bar.Describe(d)
}

func (b *barProgress) Finish() {
	if !b.bar.IsFinished() {
		_ = b.bar.Finish()
	}
}

func (b *barProgress) Abort() {
	if !b.bar.IsFinished() {
		_ = b.bar.Exit() // ends the line (OptionOnCompletion)
	}
}

// lineProgress prints a status line every 10 s.
type lineProgress struct {
	w     io.Writer
	what  string
	bytes bool

	mu    sync.Mutex
	max   int64
	n     int64
	desc  string
	start time.Time
	last  time.Time
}

func (l *lineProgress) SetMax(n int64) { l.mu.Lock(); l.max = n; l.mu.Unlock() }
func (l *lineProgress) Set(n int64)    { l.mu.Lock(); l.n = n; l.tick(); l.mu.Unlock() }
func (l *lineProgress) Add(n int)      { l.mu.Lock(); l.n += int64(n); l.tick(); l.mu.Unlock() }
func (l *lineProgress) Describe(s string) {
	l.mu.Lock()
	l.desc = s
	l.mu.Unlock()
}
func (l *lineProgress) Finish() {}
func (l *lineProgress) Abort()  {}

func (l *lineProgress) tick() {
	if time.Since(l.last) < 10*time.Second {
		return
	}
	if l.last.IsZero() {
		l.last = time.Now()
		return
	}
	l.last = time.Now()
	el := time.Since(l.start).Seconds()
	unit := "rows"
	if l.bytes {
		unit = "bytes"
	}
	line := fmt.Sprintf("%s: %d/%d %s (%.0f/s)", l.what, l.n, l.max, unit, float64(l.n)/el)
	if l.n > 0 && l.max > l.n {
		line += fmt.Sprintf(", about %s left", (time.Duration(float64(l.max-l.n)/float64(l.n)*el) * time.Second).Round(time.Second))
	}
	if l.desc != "" {
		line += "; " + l.desc
	}
	fmt.Fprintln(l.w, line)
}
