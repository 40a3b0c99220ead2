package app

import (
	"strings"
	"testing"
)

func validConfig() Config {
	return Config{
		Brokers:     []string{"127.0.0.1:9092"},
		RegistryURL: "http://127.0.0.1:8081",
		APIBaseURL:  "http://127.0.0.1:8090",
		APIKey:      "key",
		WebhookPath: "/webhook",
		Topics: Topics{
			Commands: "c", Results: "r", Messages: "m", Statuses: "s", DeadLetter: "d", Ledger: "l", WebhookEvents: "e",
			Partitions: 1, ReplicationFactor: 1,
		},
		Window: WindowConfig{WindowTopic: "w", OptinTopic: "o", WindowMode: "off"},
	}
}

func TestCheckCommandTopicOfItsOwn(t *testing.T) {
	valid := validConfig()
	if err := valid.Check(); err != nil {
		t.Fatalf("Check of a valid config = %v, want nil", err)
	}
	for name, set := range map[string]func(*Config){
		"results":     func(c *Config) { c.Topics.Results = c.Topics.Commands },
		"dead-letter": func(c *Config) { c.Topics.DeadLetter = c.Topics.Commands },
		"ledger":      func(c *Config) { c.Topics.Ledger = c.Topics.Commands },
		"messages":    func(c *Config) { c.Topics.Messages = c.Topics.Commands },
		"window":      func(c *Config) { c.Window.WindowTopic = c.Topics.Commands },
	} {
		t.Run(name, func(t *testing.T) {
			c := validConfig()
			set(&c)
			err := c.Check()
			if err == nil || !strings.Contains(err.Error(), name+` topic "c" is also the command topic`) {
				t.Fatalf("Check = %v, want the %s topic named as the command topic", err, name)
			}
		})
	}
}
