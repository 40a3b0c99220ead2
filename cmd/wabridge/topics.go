package main

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/wabridge/wabridge/internal/kafkaio"
)

// TopicsCmd describes (and creates) the bridge's topics and shows the
// outbound consumer group's lag.
type TopicsCmd struct {
	Create bool   `help:"Create every missing topic the bridge uses first, as run does at start: commands, results, messages, statuses, webhook events and dead letters (--topic-partitions, --topic-replication), the compacted windows and opt-in topics, and the send ledger (as many partitions as the command topic)."`
	Output string `short:"o" default:"table" enum:"table,json" help:"table or json."`

	KafkaFlags       `embed:""`
	TopicCommands    string `env:"WABRIDGE_TOPIC_COMMANDS" default:"wabridge.commands" help:"Topic of send commands."`
	TopicResults     string `env:"WABRIDGE_TOPIC_RESULTS" default:"wabridge.results" help:"Topic of send results."`
	TopicMessages    string `env:"WABRIDGE_TOPIC_MESSAGES" default:"wabridge.messages" help:"Topic of inbound messages."`
	TopicStatuses    string `env:"WABRIDGE_TOPIC_STATUSES" default:"wabridge.statuses" help:"Topic of message statuses."`
	TopicDeadLetter  string `env:"WABRIDGE_TOPIC_DLQ" default:"wabridge.dlq" help:"Dead-letter topic."`
	TopicEvents      string `name:"topic-webhook-events" env:"WABRIDGE_TOPIC_WEBHOOK_EVENTS" default:"wabridge.webhook-events" help:"Topic of webhook events."`
	TopicLedger      string `env:"WABRIDGE_TOPIC_LEDGER" default:"wabridge.ledger" help:"Send ledger topic."`
	TopicWindows     string `env:"WABRIDGE_TOPIC_WINDOWS" default:"wabridge.windows" help:"Compacted topic of customer service windows."`
	TopicOptin       string `env:"WABRIDGE_TOPIC_OPTIN" default:"wabridge.optin" help:"Compacted topic of the opt-in registry."`
	TopicPartitions  int32  `env:"WABRIDGE_TOPIC_PARTITIONS" default:"6" help:"Partitions of topics created with --create."`
	TopicReplication int16  `env:"WABRIDGE_TOPIC_REPLICATION" default:"-1" help:"Replication factor of topics created with --create (-1: broker default)."`
	GroupID          string `env:"WABRIDGE_GROUP_ID" default:"wabridge-outbound" help:"Consumer group of the outbound half."`
}

// Help is shown by --help.
func (TopicsCmd) Help() string {
	return `Describes the bridge's topics (partitions, replication, in-sync replicas, records held, the configs that matter) and the outbound consumer group's lag per partition of the command topic. Topic names come from the same environment variables as run.

Examples:

    wabridge topics
    wabridge topics --create --topic-partitions 12 --topic-replication 3
    WABRIDGE_TOPIC_COMMANDS=team-a.commands wabridge topics -o json`
}

// topicConfigKeys are the configs shown in the table.
var topicConfigKeys = []string{"cleanup.policy", "retention.ms", "retention.bytes", "min.insync.replicas", "max.message.bytes", "compression.type"}

type topicReport struct {
	Topic             string            `json:"topic"`
	Role              string            `json:"role"`
	Exists            bool              `json:"exists"`
	Created           bool              `json:"created,omitempty"`
	Partitions        int               `json:"partitions"`
	ReplicationFactor int               `json:"replication_factor"`
	UnderReplicated   []int32           `json:"under_replicated_partitions,omitempty"`
	Leaderless        []int32           `json:"leaderless_partitions,omitempty"`
	Records           int64             `json:"records"`
	Configs           map[string]string `json:"configs,omitempty"`
	Overrides         []string          `json:"overrides,omitempty"`
	Note              string            `json:"note,omitempty"`
}

type lagReport struct {
	Group      string         `json:"group"`
	State      string         `json:"state"`
	Members    int            `json:"members"`
	Topic      string         `json:"topic"`
	Partitions []partitionLag `json:"partitions"`
	Total      int64          `json:"total_lag"`
	Error      string         `json:"error,omitempty"`
}

type partitionLag struct {
	Partition int32  `json:"partition"`
	Committed int64  `json:"committed"`
	End       int64  `json:"end"`
	Lag       int64  `json:"lag"`
	Member    string `json:"member,omitempty"`
}

// topology is every topic of the bridge, named by the same variables as run.
func (c *TopicsCmd) topology() kafkaio.Topology {
	return kafkaio.Topology{
		Names: kafkaio.TopicNames{
			Commands: c.TopicCommands, Results: c.TopicResults, Messages: c.TopicMessages, Statuses: c.TopicStatuses,
			WebhookEvents: c.TopicEvents, DeadLetter: c.TopicDeadLetter, Ledger: c.TopicLedger,
			Windows: c.TopicWindows, Optin: c.TopicOptin,
		},
		Partitions: c.TopicPartitions, ReplicationFactor: c.TopicReplication,
	}
}

// Run describes.
func (c *TopicsCmd) Run(ctx context.Context, g *Globals) error {
	conn, err := c.conn(g)
	if err != nil {
		return err
	}
	adm, err := conn.AdminClient()
	if err != nil {
		return err
	}
	defer adm.Close()
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := kafkaio.Ping(ctx, adm); err != nil {
		return fmt.Errorf("kafka at %v not reachable: %w", conn.Brokers, err)
	}

	topo := c.topology()
	topics := topo.Topics()
	var created []string
	if c.Create {
		// As run does: the event topics plain, the windows and opt-in
		// topics compacted, the ledger with the command topic's partitions.
		if created, err = topo.Ensure(ctx, adm); err != nil {
			return err
		}
	}
	names := make([]string, 0, len(topics))
	for _, t := range topics {
		names = append(names, t.Name)
	}
	details, err := adm.ListTopics(ctx, names...)
	if err != nil {
		return fmt.Errorf("describing topics: %w", err)
	}
	starts, err := adm.ListStartOffsets(ctx, names...)
	if err != nil {
		return fmt.Errorf("listing start offsets: %w", err)
	}
	ends, err := adm.ListEndOffsets(ctx, names...)
	if err != nil {
		return fmt.Errorf("listing end offsets: %w", err)
	}
	var existing []string
	for _, n := range names {
		if d, ok := details[n]; ok && d.Err == nil {
			existing = append(existing, n)
		}
	}
	configs := map[string]kadm.ResourceConfig{}
	if len(existing) > 0 {
		rcs, err := adm.DescribeTopicConfigs(ctx, existing...)
		if err == nil {
			for _, rc := range rcs {
				if rc.Err == nil {
					configs[rc.Name] = rc
				}
			}
		} else {
			g.Logger.Warn("describing topic configs", "err", err)
		}
	}

	var reports []topicReport
	for _, t := range topics {
		rep := topicReport{Topic: t.Name, Role: string(t.Role), Created: slices.Contains(created, t.Name)}
		d, ok := details[t.Name]
		if !ok || d.Err != nil {
			switch {
			case t.Role == kafkaio.RoleLedger:
				rep.Note = "missing: the outbound half creates it at start, or wabridge topics --create (compacted, as many partitions as the command topic)"
			default:
				rep.Note = "missing: wabridge topics --create, or run with --create-topics, makes it"
			}
			reports = append(reports, rep)
			continue
		}
		rep.Exists = true
		rep.Partitions = len(d.Partitions)
		for _, p := range d.Partitions.Sorted() {
			rep.ReplicationFactor = max(rep.ReplicationFactor, len(p.Replicas))
			if len(p.ISR) < len(p.Replicas) {
				rep.UnderReplicated = append(rep.UnderReplicated, p.Partition)
			}
			if p.Leader < 0 {
				rep.Leaderless = append(rep.Leaderless, p.Partition)
			}
			s, _ := starts.Lookup(t.Name, p.Partition)
			e, _ := ends.Lookup(t.Name, p.Partition)
			if s.Err == nil && e.Err == nil {
				rep.Records += e.Offset - s.Offset
			}
		}
		if rc, ok := configs[t.Name]; ok {
			rep.Configs = map[string]string{}
			for _, cfg := range rc.Configs {
				if cfg.Value == nil {
					continue
				}
				if cfg.Source == kmsg.ConfigSourceDynamicTopicConfig {
					rep.Overrides = append(rep.Overrides, cfg.Key)
				}
				if slices.Contains(topicConfigKeys, cfg.Key) || cfg.Source == kmsg.ConfigSourceDynamicTopicConfig {
					rep.Configs[cfg.Key] = *cfg.Value
				}
			}
			slices.Sort(rep.Overrides)
		}
		reports = append(reports, rep)
	}

	lag := lagReport{Group: c.GroupID, Topic: c.TopicCommands}
	lags, err := adm.Lag(ctx, c.GroupID)
	switch {
	case err != nil:
		lag.Error = err.Error()
	default:
		l := lags[c.GroupID]
		lag.State, lag.Members = l.State, len(l.Members)
		if e := l.Error(); e != nil {
			lag.Error = e.Error()
		}
		for _, ml := range l.Lag.Sorted() {
			if ml.Topic != c.TopicCommands {
				continue
			}
			pl := partitionLag{Partition: ml.Partition, Committed: ml.Commit.At, End: ml.End.Offset, Lag: ml.Lag}
			if ml.Member != nil {
				// A static member's name is its instance id (WABRIDGE_INSTANCE_ID).
				pl.Member = ml.Member.ClientID + " " + ml.Member.ClientHost
				if ml.Member.InstanceID != nil {
					pl.Member = *ml.Member.InstanceID
				}
			}
			lag.Partitions = append(lag.Partitions, pl)
			if ml.Lag > 0 {
				lag.Total += ml.Lag
			}
		}
	}

	if c.Output == "json" {
		return writeJSON(g.Stdout, map[string]any{"topics": reports, "consumer_group": lag})
	}
	tw := tabwriter.NewWriter(g.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "TOPIC\tROLE\tPARTITIONS\tREPLICATION\tRECORDS\tCONFIGS (* set on the topic)")
	for _, r := range reports {
		if !r.Exists {
			fmt.Fprintf(tw, "%s\t%s\t-\t-\t-\t%s\n", r.Topic, r.Role, r.Note)
			continue
		}
		var cfgs []string
		keys := make([]string, 0, len(r.Configs))
		for k := range r.Configs {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for _, k := range keys {
			mark := ""
			if slices.Contains(r.Overrides, k) {
				mark = "*"
			}
			cfgs = append(cfgs, k+"="+r.Configs[k]+mark)
		}
		repl := fmt.Sprint(r.ReplicationFactor)
		if len(r.UnderReplicated) > 0 {
			repl += fmt.Sprintf(" (under-replicated: %v)", r.UnderReplicated)
		}
		if len(r.Leaderless) > 0 {
			repl += fmt.Sprintf(" (no leader: %v)", r.Leaderless)
		}
		name := r.Topic
		if r.Created {
			name += " (created)"
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%d\t%s\n", name, r.Role, r.Partitions, repl, r.Records, strings.Join(cfgs, " "))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintln(g.Stdout)
	if lag.Error != "" && len(lag.Partitions) == 0 {
		fmt.Fprintf(g.Stdout, "consumer group %s: %s\n", lag.Group, lag.Error)
		return nil
	}
	if len(lag.Partitions) == 0 {
		fmt.Fprintf(g.Stdout, "consumer group %s (%s, %d members): no committed offsets on %s yet\n", lag.Group, orDash(lag.State), lag.Members, lag.Topic)
		return nil
	}
	fmt.Fprintf(g.Stdout, "consumer group %s (%s, %d members) on %s: total lag %d\n", lag.Group, orDash(lag.State), lag.Members, lag.Topic, lag.Total)
	tw = tabwriter.NewWriter(g.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "PARTITION\tCOMMITTED\tEND\tLAG\tMEMBER")
	for _, p := range lag.Partitions {
		committed := fmt.Sprint(p.Committed)
		if p.Committed < 0 {
			committed = "-"
		}
		fmt.Fprintf(tw, "%d\t%s\t%d\t%d\t%s\n", p.Partition, committed, p.End, p.Lag, orDash(p.Member))
	}
	return tw.Flush()
}

func orDash(s string) string {
	if strings.TrimSpace(s) == "" {
		return "-"
	}
	return s
}
