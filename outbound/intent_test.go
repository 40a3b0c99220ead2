package outbound

import (
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"
)

// waveWriter records the waves written and holds each write until told.
type waveWriter struct {
	ws      *waves
	written chan []waveCommand
	release chan struct{}
	wg      sync.WaitGroup
}

func newWaveWriter() *waveWriter {
	ww := &waveWriter{written: make(chan []waveCommand, 16), release: make(chan struct{}, 16)}
	ww.ws = newWavesOf(&ww.wg, func(cmds []waveCommand, done func(error)) {
		ww.written <- slices.Clone(cmds)
		go func() {
			<-ww.release
			done(nil)
		}()
	})
	return ww
}

func (ww *waveWriter) next(t *testing.T) []string {
	t.Helper()
	select {
	case cmds := <-ww.written:
		ww.release <- struct{}{}
		var ids []string
		for _, c := range cmds {
			ids = append(ids, c.ID)
		}
		return ids
	case <-time.After(10 * time.Second):
		t.Fatal("no wave written")
		return nil
	}
}

// Commands join a wave while they wait for their turn; it is written when
// one of them is about to be sent, or when it is full, so one record
// covers them all.
func TestWavesWriteWhenAwaitedOrFull(t *testing.T) {
	ww := newWaveWriter()
	a := ww.ws.join("a", 1)
	ww.ws.join("b", 2)
	ww.ws.join("c", 3)
	ww.ws.await(a)
	if got := ww.next(t); !slices.Equal(got, []string{"a", "b", "c"}) {
		t.Errorf("first wave %v, want [a b c]: every command that joined before one was awaited", got)
	}
	<-a.done
	var full *wave
	for i := range waveTarget {
		full = ww.ws.join(fmt.Sprint("f", i), int64(10+i))
	}
	if got := ww.next(t); len(got) != waveTarget {
		t.Errorf("a wave of %d commands none awaits written as %v, want all %d", waveTarget, got, waveTarget)
	}
	<-full.done
	// Awaiting a written wave writes nothing more.
	ww.ws.await(a)
	last := ww.ws.join("z", 30)
	ww.ws.await(last)
	if got := ww.next(t); !slices.Equal(got, []string{"z"}) {
		t.Errorf("last wave %v, want [z]", got)
	}
	ww.wg.Wait()
	if n := len(ww.written); n != 0 {
		t.Errorf("%d waves more written than asked for", n)
	}
}

// The key queue names each job once, when it becomes ready or next in
// line behind its key's running job: not while deeper in the queue.
func TestKeyQueueTellsTheNextInLine(t *testing.T) {
	gate := make(chan struct{})
	var mu sync.Mutex
	var told []int64
	q := newKeyQueue(func(j *job) { <-gate }, 1)
	q.next = func(j job) {
		mu.Lock()
		told = append(told, j.rec.Offset)
		mu.Unlock()
	}
	for i := range 4 {
		q.submit(keyJob("k", i)) // 0 runs, 1 is next, 2 and 3 wait
	}
	q.submit(keyJob("other", 9)) // ready (no token free)
	mu.Lock()
	if want := []int64{0, 1, 9}; !slices.Equal(told, want) {
		t.Errorf("told %v before any job ran, want %v", told, want)
	}
	mu.Unlock()
	close(gate)
	q.wait()
	if want := []int64{0, 1, 9, 2, 3}; !slices.Equal(told, want) {
		t.Errorf("told %v, want %v: each job once, when the one before it is promoted", told, want)
	}
}

// A wave that falls due while another is on its way to the broker is
// written at once, not after that one's acknowledgement: a command that
// joins just after a wave left waits one round trip, not two.
func TestWavesWriteWhileOneIsOnItsWay(t *testing.T) {
	ww := newWaveWriter()
	a := ww.ws.join("a", 1)
	ww.ws.await(a)
	first := <-ww.written // a is on its way, not acknowledged
	b := ww.ws.join("b", 2)
	ww.ws.await(b)
	select {
	case second := <-ww.written:
		if len(first) != 1 || first[0].ID != "a" || len(second) != 1 || second[0].ID != "b" {
			t.Errorf("waves %v and %v, want [a] and [b]", first, second)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the second wave was not written while the first was unacknowledged")
	}
	ww.release <- struct{}{}
	ww.release <- struct{}{}
	<-a.done
	<-b.done
	// No more than wavesWriting at once: the next waits for a token.
	var held []*wave
	for i := range wavesWriting + 1 {
		wv := ww.ws.join(fmt.Sprint("c", i), int64(10+i))
		ww.ws.await(wv)
		held = append(held, wv)
		if i < wavesWriting {
			<-ww.written
		}
	}
	select {
	case cmds := <-ww.written:
		t.Fatalf("wave %v written with %d unacknowledged", cmds, wavesWriting)
	case <-time.After(50 * time.Millisecond):
	}
	ww.release <- struct{}{}
	if got := ww.next(t); len(got) != 1 || got[0] != fmt.Sprint("c", wavesWriting) {
		t.Errorf("wave after a token was freed: %v", got)
	}
	for range wavesWriting - 1 {
		ww.release <- struct{}{}
	}
	for _, wv := range held {
		<-wv.done
	}
	ww.wg.Wait()
}
