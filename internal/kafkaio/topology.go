package kafkaio

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
)

// Role is what wabridge uses a topic for.
type Role string

// The roles of wabridge's topics, in the order Topology.Topics lists them.
const (
	RoleCommands      Role = "commands"
	RoleResults       Role = "results"
	RoleMessages      Role = "messages"
	RoleStatuses      Role = "statuses"
	RoleWebhookEvents Role = "webhook events"
	RoleDeadLetters   Role = "dead letters"
	RoleLedger        Role = "send ledger"
	RoleWindows       Role = "windows"
	RoleOptin         Role = "opt-in"
)

// Roles lists every role, in order.
var Roles = []Role{RoleCommands, RoleResults, RoleMessages, RoleStatuses, RoleWebhookEvents, RoleDeadLetters, RoleLedger, RoleWindows, RoleOptin}

// TopicNames are the configured names of wabridge's topics
// (WABRIDGE_TOPIC_*).
type TopicNames struct {
	Commands, Results, Messages, Statuses, WebhookEvents, DeadLetter, Ledger, Windows, Optin string
}

// Name returns the topic name of role r.
func (n TopicNames) Name(r Role) string {
	switch r {
	case RoleCommands:
		return n.Commands
	case RoleResults:
		return n.Results
	case RoleMessages:
		return n.Messages
	case RoleStatuses:
		return n.Statuses
	case RoleWebhookEvents:
		return n.WebhookEvents
	case RoleDeadLetters:
		return n.DeadLetter
	case RoleLedger:
		return n.Ledger
	case RoleWindows:
		return n.Windows
	case RoleOptin:
		return n.Optin
	}
	return ""
}

// Topology is every topic wabridge uses: its name, role, partitions and
// configs. `run`, `dev` and `wabridge topics --create` create topics from
// it, the window state and the outbound ledger take their topics' specs
// from it, and `wabridge topics` describes what it lists.
type Topology struct {
	Names TopicNames
	// Partitions and ReplicationFactor of the topics created (-1: the
	// broker's default replication factor). The ledger is the exception:
	// it has as many partitions as the command topic.
	Partitions        int32
	ReplicationFactor int16
}

// Topic returns the spec of role r's topic. The ledger's Partitions is 0
// (as many as the command topic: Ensure looks them up).
func (t Topology) Topic(r Role) Topic {
	spec := Topic{Name: t.Names.Name(r), Role: r, Partitions: t.Partitions, ReplicationFactor: t.ReplicationFactor}
	switch r {
	case RoleWindows:
		spec.Configs = WindowTopicConfigs()
	case RoleOptin:
		spec.Configs = OptinTopicConfigs()
	case RoleLedger:
		spec.Configs = LedgerTopicConfigs()
		spec.Partitions = 0
	}
	return spec
}

// Topics returns the spec of every topic, in the order of Roles.
func (t Topology) Topics() []Topic {
	out := make([]Topic, 0, len(Roles))
	for _, r := range Roles {
		out = append(out, t.Topic(r))
	}
	return out
}

// Check reports the first topic name that cannot work: an empty one, or a
// topic wabridge writes to that is also the command topic (the outbound half
// would read its own output back as commands: a dead letter of a dead letter
// of ...).
func (t Topology) Check() error {
	for _, r := range Roles {
		if t.Names.Name(r) == "" {
			return fmt.Errorf("%s topic name is empty", r)
		}
	}
	for _, r := range Roles[1:] {
		if n := t.Names.Name(r); n == t.Names.Commands {
			return fmt.Errorf("%s topic %q is also the command topic: give it a topic of its own", r, n)
		}
	}
	if t.Partitions < 1 {
		return fmt.Errorf("topic partitions %d: want at least 1", t.Partitions)
	}
	if t.ReplicationFactor == 0 || t.ReplicationFactor < -1 {
		return fmt.Errorf("topic replication factor %d: want -1 (broker default) or at least 1", t.ReplicationFactor)
	}
	return nil
}

// Ensure creates the missing topics of roles (all of them when none is
// given) and returns the names it created. A ledger is created after the
// other topics with the command topic's partition count; an existing ledger
// with fewer partitions than the command topic is an error.
func (t Topology) Ensure(ctx context.Context, adm *kadm.Client, roles ...Role) ([]string, error) {
	if len(roles) == 0 {
		roles = Roles
	}
	var specs []Topic
	seen := map[string]bool{}
	ledger := false
	for _, r := range roles {
		if r == RoleLedger {
			ledger = true
			continue
		}
		if s := t.Topic(r); !seen[s.Name] {
			seen[s.Name] = true
			specs = append(specs, s)
		}
	}
	created, err := EnsureTopics(ctx, adm, specs)
	if err != nil || !ledger {
		return created, err
	}
	more, err := t.ensureLedger(ctx, adm)
	return append(created, more...), err
}

// ensureLedger creates the ledger with the command topic's partitions, or
// checks an existing one has at least as many.
func (t Topology) ensureLedger(ctx context.Context, adm *kadm.Client) ([]string, error) {
	cmds, ledger := t.Names.Commands, t.Names.Ledger
	td, err := adm.ListTopics(ctx, cmds, ledger)
	if err != nil {
		return nil, fmt.Errorf("describing topics %s and %s: %w", cmds, ledger, err)
	}
	c, ok := td[cmds]
	if !ok || c.Err != nil {
		var cause error = errors.New("it does not exist")
		if ok {
			cause = c.Err
		}
		return nil, fmt.Errorf("command topic %q, which sizes the ledger: %w", cmds, cause)
	}
	n := int32(len(c.Partitions))
	if l, ok := td[ledger]; ok && l.Err == nil {
		if int32(len(l.Partitions)) < n {
			return nil, fmt.Errorf("ledger topic %q has %d partitions, fewer than the %d of command topic %q: add partitions to it", ledger, len(l.Partitions), n, cmds)
		}
		return nil, nil
	}
	spec := t.Topic(RoleLedger)
	spec.Partitions = n
	return EnsureTopics(ctx, adm, []Topic{spec})
}

// The configs of the topics wabridge keeps state in (Topology.Topic).

// WindowTopicConfigs: compacted (the last message per user is the window)
// and deleted after two windows' length, in hourly segments, so a restore
// reads little.
func WindowTopicConfigs() map[string]*string {
	return map[string]*string{
		"cleanup.policy":      ptr("compact,delete"),
		"retention.ms":        ptr(ms(48 * time.Hour)),
		"segment.ms":          ptr(ms(time.Hour)),
		"delete.retention.ms": ptr(ms(time.Hour)),
	}
}

// OptinTopicConfigs: compacted only; a consent record never expires.
func OptinTopicConfigs() map[string]*string {
	return map[string]*string{"cleanup.policy": ptr("compact")}
}

// LedgerTopicConfigs: the send ledger, compacted and kept 7 days. It needs
// as many partitions as the command topic.
func LedgerTopicConfigs() map[string]*string {
	return map[string]*string{"cleanup.policy": ptr("compact,delete"), "retention.ms": ptr(ms(7 * 24 * time.Hour))}
}

func ptr(s string) *string { return &s }

func ms(d time.Duration) string { return strconv.FormatInt(d.Milliseconds(), 10) }
