package main

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/wabridge/wabridge/internal/kafkatest"
)

func TestTopicsCreateDescribeAndLag(t *testing.T) {
	brokers := kafkatest.Brokers(t)
	names := map[string]string{}
	args := []string{"topics", "--brokers=" + strings.Join(brokers, ","), "--topic-partitions=2"}
	for _, role := range []string{"commands", "results", "messages", "statuses", "webhook-events", "dlq", "ledger", "windows", "optin"} {
		names[role] = kafkatest.Topic(t, role)
		flag := map[string]string{"dlq": "dead-letter"}[role]
		if flag == "" {
			flag = role
		}
		args = append(args, "--topic-"+flag+"="+names[role])
	}
	group := kafkatest.Topic(t, "group")
	args = append(args, "--group-id="+group)
	ctx := testCtx(t)

	r := runCLI(t, ctx, args...)
	if r.code != 0 || strings.Count(r.stdout, "missing") != 9 || !strings.Contains(r.stdout, "wabridge topics --create") || !strings.Contains(r.stdout, "outbound half creates it") {
		t.Fatalf("before --create: exit %d err %v\n%s", r.code, r.err, r.stdout)
	}

	r = runCLI(t, ctx, append(args, "--create")...)
	if r.code != 0 || strings.Count(r.stdout, "(created)") != 9 || strings.Count(r.stdout, "missing") != 0 {
		t.Fatalf("--create: exit %d err %v\n%s", r.code, r.err, r.stdout)
	}
	// The state topics are created as run creates them: compacted, and the
	// ledger with the command topic's partitions.
	for role, want := range map[string]string{"windows": "compact,delete", "optin": "compact", "ledger": "compact,delete"} {
		line := grep(r.stdout, names[role])
		if !strings.Contains(line, "cleanup.policy="+want) || (role == "ledger" && !strings.Contains(line, " 2 ")) {
			t.Errorf("%s topic after --create: %q, want cleanup.policy=%s (ledger: 2 partitions)", role, line, want)
		}
	}

	// Five commands, a consumer of the group that commits two of them.
	var msgs []kafka.Message
	for i := range 5 {
		msgs = append(msgs, kafka.Message{Key: []byte(fmt.Sprint(i)), Value: []byte("{}")})
	}
	kafkatest.Produce(t, brokers, names["commands"], msgs...)
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	offs := kadm.Offsets{}
	ends, err := kadm.NewClient(cl).ListEndOffsets(ctx, names["commands"])
	if err != nil {
		t.Fatal(err)
	}
	var total int64
	ends.Each(func(o kadm.ListedOffset) {
		total += o.Offset
		offs.Add(kadm.Offset{Topic: o.Topic, Partition: o.Partition, At: 0, LeaderEpoch: -1})
	})
	// Commit offset 0 everywhere but one record of the fullest partition.
	var fullest kadm.ListedOffset
	ends.Each(func(o kadm.ListedOffset) {
		if o.Offset > fullest.Offset {
			fullest = o
		}
	})
	offs.Add(kadm.Offset{Topic: fullest.Topic, Partition: fullest.Partition, At: 1, LeaderEpoch: -1})
	if _, err := kadm.NewClient(cl).CommitOffsets(ctx, group, offs); err != nil {
		t.Fatal(err)
	}

	r = runCLI(t, ctx, append(args, "-o", "json")...)
	if r.code != 0 {
		t.Fatalf("json: exit %d err %v", r.code, r.err)
	}
	var rep struct {
		Topics []topicReport `json:"topics"`
		Group  lagReport     `json:"consumer_group"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil {
		t.Fatalf("%v\n%s", err, r.stdout)
	}
	if rep.Topics[0].Role != "commands" || rep.Topics[0].Partitions != 2 || rep.Topics[0].Records != 5 || !rep.Topics[0].Exists || len(rep.Topics) != 9 || !rep.Topics[8].Exists {
		t.Errorf("topics = %+v", rep.Topics)
	}
	if rep.Group.Group != group || len(rep.Group.Partitions) != 2 || rep.Group.Total != total-1 {
		t.Errorf("lag = %+v, want 2 partitions and total %d", rep.Group, total-1)
	}

	r = runCLI(t, ctx, args...)
	t.Logf("wabridge topics:\n%s", r.stdout)
	if !strings.Contains(r.stdout, fmt.Sprintf("total lag %d", total-1)) || !strings.Contains(r.stdout, "PARTITION  COMMITTED") {
		t.Errorf("table:\n%s", r.stdout)
	}
}

func TestTopicsUnreachableKafka(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	r := runCLI(t, ctx, "topics", fmt.Sprintf("--brokers=127.0.0.1:%d", freePort(t)))
	if r.code != 1 || !strings.Contains(r.err.Error(), "not reachable") {
		t.Errorf("exit %d err %v", r.code, r.err)
	}
}
