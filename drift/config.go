package drift

import (
	"fmt"
	"time"
)

// Config is drift monitoring's part of the server configuration (koanf
// key drift); each model's own settings are its config.yaml drift section.
type Config struct {
	// Interval is how often windows move on and are judged; a model's slot
	// (window/slots) shorter than it moves on at most once per interval.
	Interval time.Duration `koanf:"interval"`
	// WebhookTimeout bounds one attempt to deliver a trigger.
	WebhookTimeout time.Duration `koanf:"webhook_timeout"`
	// WebhookToken, when set, is sent as "Authorization: Bearer <token>".
	WebhookToken string `koanf:"webhook_token"`
	// Source is the CloudEvents source of the triggers; empty:
	// /sluice/<host name> alone, or <coordination.prefix>/fleet in a fleet,
	// where every replica sends as one source (a new leader's retry is then
	// the same event to a receiver that drops duplicates).
	Source string `koanf:"source"`
}

// DefaultConfig judges every second and gives a webhook five seconds.
func DefaultConfig() Config {
	return Config{Interval: time.Second, WebhookTimeout: 5 * time.Second}
}

// Validate names the key that is wrong.
func (c Config) Validate() error {
	switch {
	case c.Interval <= 0:
		return fmt.Errorf("drift.interval: %v, expected a positive duration", c.Interval)
	case c.WebhookTimeout <= 0:
		return fmt.Errorf("drift.webhook_timeout: %v, expected a positive duration", c.WebhookTimeout)
	}
	return nil
}
