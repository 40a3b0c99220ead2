package inbound_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/wabridge/wabridge/inbound"
	"github.com/wabridge/wabridge/window"
)

// callLog records, in order, the windows a handler opens and its writes to
// Kafka; it is a WindowRecorder and a Publisher.
type callLog struct {
	steps   []string
	failWin error
}

func (l *callLog) Inbound(_ context.Context, m window.Inbound) error {
	if l.failWin != nil {
		return l.failWin
	}
	l.steps = append(l.steps, fmt.Sprintf("window %s %v %d", m.Number, m.Users, m.At.Unix()))
	return nil
}

func (l *callLog) Closed(context.Context, string, string, time.Time) error { return nil }

func (l *callLog) ChangeConsent(context.Context, string, string, window.Change) error { return nil }

func (l *callLog) WriteMessages(_ context.Context, msgs ...kafka.Message) error {
	l.steps = append(l.steps, fmt.Sprintf("publish %d", len(msgs)))
	return nil
}

func TestHandlerRecordsTheWindowOfAUsersCall(t *testing.T) {
	for _, tc := range []struct {
		fixture string
		want    []string
	}{
		// The user's call opens the window before the webhook's records are
		// written, as a message does.
		{"call_user_connect", []string{"window 100000000000001 [15550001111 ] 1760003000", "publish 1"}},
		{"call_bsuid_only", []string{"window 100000000000001 [ US.13491208655302741918] 1760003400", "publish 1"}},
		// The end of the call, and calls the business placed, open nothing.
		{"call_user_terminate", []string{"publish 1"}},
		{"call_business_connect", []string{"publish 1"}},
		{"call_statuses", []string{"publish 3"}},
	} {
		t.Run(tc.fixture, func(t *testing.T) {
			body, err := os.ReadFile(filepath.Join("testdata", tc.fixture+".json"))
			if err != nil {
				t.Fatal(err)
			}
			log := &callLog{}
			h := newUnitHandler(t, log, func(c *inbound.Config) { c.Window = log })
			if rec := post(h, string(body), nil); rec.Code != http.StatusOK {
				t.Fatalf("HTTP %d %s", rec.Code, rec.Body)
			}
			if fmt.Sprint(log.steps) != fmt.Sprint(tc.want) {
				t.Errorf("steps %q, want %q", log.steps, tc.want)
			}
		})
	}
	t.Run("a window that cannot be recorded fails the webhook", func(t *testing.T) {
		body, err := os.ReadFile(filepath.Join("testdata", "call_user_connect.json"))
		if err != nil {
			t.Fatal(err)
		}
		log := &callLog{failWin: errors.New("broker down")}
		h := newUnitHandler(t, log, func(c *inbound.Config) { c.Window = log })
		if rec := post(h, string(body), nil); rec.Code != http.StatusServiceUnavailable {
			t.Fatalf("HTTP %d, want 503 so that 360dialog retries", rec.Code)
		}
		if len(log.steps) != 0 {
			t.Errorf("steps %q, want nothing published", log.steps)
		}
	})
}
