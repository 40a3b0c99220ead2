package kafkaio_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/wabridge/wabridge/internal/kafkaio"
	"github.com/wabridge/wabridge/internal/kafkatest"
)

func names(prefix string) kafkaio.TopicNames {
	return kafkaio.TopicNames{
		Commands: prefix + "commands", Results: prefix + "results", Messages: prefix + "messages",
		Statuses: prefix + "statuses", WebhookEvents: prefix + "events", DeadLetter: prefix + "dlq",
		Ledger: prefix + "ledger", Windows: prefix + "windows", Optin: prefix + "optin",
	}
}

// Every role has a topic, with the configs of the topics that keep state.
func TestTopologyTopics(t *testing.T) {
	topo := kafkaio.Topology{Names: names("x."), Partitions: 3, ReplicationFactor: -1}
	got := topo.Topics()
	if len(got) != len(kafkaio.Roles) {
		t.Fatalf("Topics() has %d topics, want one per role (%d)", len(got), len(kafkaio.Roles))
	}
	seen := map[string]bool{}
	for _, tp := range got {
		if tp.Name == "" || seen[tp.Name] {
			t.Errorf("role %s: name %q empty or repeated", tp.Role, tp.Name)
		}
		seen[tp.Name] = true
		policy := ""
		if p := tp.Configs["cleanup.policy"]; p != nil {
			policy = *p
		}
		want, partitions := "", int32(3)
		switch tp.Role {
		case kafkaio.RoleWindows, kafkaio.RoleLedger:
			want = "compact,delete"
		case kafkaio.RoleOptin:
			want = "compact"
		}
		if tp.Role == kafkaio.RoleLedger {
			partitions = 0 // the command topic's count, looked up by Ensure
		}
		if policy != want || tp.Partitions != partitions {
			t.Errorf("role %s: cleanup.policy %q, %d partitions; want %q, %d", tp.Role, policy, tp.Partitions, want, partitions)
		}
	}
}

func TestTopologyCheck(t *testing.T) {
	for _, tc := range []struct {
		name string
		set  func(*kafkaio.Topology)
		want string // "" for no error
	}{
		{"valid", func(*kafkaio.Topology) {}, ""},
		{"results and messages may share a topic", func(tp *kafkaio.Topology) { tp.Names.Messages = tp.Names.Results }, ""},
		{"empty name", func(tp *kafkaio.Topology) { tp.Names.Statuses = "" }, "statuses topic name is empty"},
		{"empty opt-in name", func(tp *kafkaio.Topology) { tp.Names.Optin = "" }, "opt-in topic name is empty"},
		{"dead letters read as commands", func(tp *kafkaio.Topology) { tp.Names.DeadLetter = tp.Names.Commands }, `dead letters topic "x.commands" is also the command topic`},
		{"ledger read as commands", func(tp *kafkaio.Topology) { tp.Names.Ledger = tp.Names.Commands }, `send ledger topic "x.commands" is also the command topic`},
		{"no partitions", func(tp *kafkaio.Topology) { tp.Partitions = 0 }, "topic partitions 0"},
		{"replication 0", func(tp *kafkaio.Topology) { tp.ReplicationFactor = 0 }, "replication factor 0"},
		{"replication -2", func(tp *kafkaio.Topology) { tp.ReplicationFactor = -2 }, "replication factor -2"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			topo := kafkaio.Topology{Names: names("x."), Partitions: 1, ReplicationFactor: -1}
			tc.set(&topo)
			err := topo.Check()
			if tc.want == "" && err != nil || tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)) {
				t.Fatalf("Check() = %v, want %q", err, tc.want)
			}
		})
	}
}

// Ensure creates every topic with its configs, the ledger with the command
// topic's partitions, and refuses a ledger smaller than the command topic.
func TestTopologyEnsure(t *testing.T) {
	brokers := kafkatest.Brokers(t)
	adm, err := kafkaio.Conn{Brokers: brokers}.AdminClient()
	if err != nil {
		t.Fatal(err)
	}
	defer adm.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	prefix := kafkatest.Topic(t, "") + "."
	topo := kafkaio.Topology{Names: names(prefix), Partitions: 2, ReplicationFactor: -1}
	// An existing command topic with 3 partitions: the ledger follows it.
	kafkatest.CreateTopics(t, brokers, 3, topo.Names.Commands)

	created, err := topo.Ensure(ctx, adm)
	if err != nil {
		t.Fatalf("Ensure: %v", err)
	}
	if len(created) != len(kafkaio.Roles)-1 {
		t.Errorf("created %v, want every topic but the existing command topic", created)
	}
	td, err := adm.ListTopics(ctx, created...)
	if err != nil {
		t.Fatal(err)
	}
	for _, tp := range topo.Topics() {
		want := 2
		switch tp.Role {
		case kafkaio.RoleCommands, kafkaio.RoleLedger:
			want = 3
		}
		if got := len(td[tp.Name].Partitions); tp.Role != kafkaio.RoleCommands && got != want {
			t.Errorf("%s topic %s has %d partitions, want %d", tp.Role, tp.Name, got, want)
		}
	}
	rcs, err := adm.DescribeTopicConfigs(ctx, topo.Names.Windows, topo.Names.Optin, topo.Names.Ledger)
	if err != nil {
		t.Fatal(err)
	}
	for _, rc := range rcs {
		for _, c := range rc.Configs {
			if c.Key == "cleanup.policy" && c.Value != nil {
				role := map[string]kafkaio.Role{topo.Names.Windows: kafkaio.RoleWindows, topo.Names.Optin: kafkaio.RoleOptin, topo.Names.Ledger: kafkaio.RoleLedger}[rc.Name]
				if want := *topo.Topic(role).Configs["cleanup.policy"]; *c.Value != want {
					t.Errorf("%s: cleanup.policy %q, want %q", rc.Name, *c.Value, want)
				}
			}
		}
	}

	// Again: nothing to create.
	if again, err := topo.Ensure(ctx, adm); err != nil || len(again) != 0 {
		t.Errorf("Ensure again = %v, %v; want nothing created, no error", again, err)
	}

	// A ledger with fewer partitions than the command topic is refused.
	small := kafkaio.Topology{Names: names(prefix + "small."), Partitions: 1, ReplicationFactor: -1}
	kafkatest.CreateTopics(t, brokers, 4, small.Names.Commands)
	kafkatest.CreateTopics(t, brokers, 2, small.Names.Ledger)
	if _, err := small.Ensure(ctx, adm, kafkaio.RoleLedger); err == nil || !strings.Contains(err.Error(), "has 2 partitions, fewer than the 4") {
		t.Errorf("Ensure of a small ledger = %v, want the partition counts named", err)
	}
	// A ledger needs its command topic.
	lone := kafkaio.Topology{Names: names(prefix + "lone."), Partitions: 1, ReplicationFactor: -1}
	if _, err := lone.Ensure(ctx, adm, kafkaio.RoleLedger); err == nil || !strings.Contains(err.Error(), lone.Names.Commands) {
		t.Errorf("Ensure of a ledger without a command topic = %v, want the command topic named", err)
	}
}
