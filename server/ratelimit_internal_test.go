package server

import (
	"errors"
	"strings"
	"testing"
	"time"
)

// The limits take the time as a parameter, so these tests step a clock of
// their own and never sleep.
func TestLimitRefusesWithTheReservationDelay(t *testing.T) {
	t0 := time.Unix(1_000_000, 0)
	l := newLimit(`api key "a"`, RateLimit{Rate: 50, Burst: 1})
	tests := []struct {
		name  string
		at    time.Time
		retry string // "" when admitted
	}{
		{"the burst", t0, ""},
		{"at once after", t0, "1"}, // 20ms away, rounded up to 1s
		{"a token later", t0.Add(20 * time.Millisecond), ""},
		{"again at once", t0.Add(20 * time.Millisecond), "1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := l.take(tt.at)
			var rl *rateLimited
			switch {
			case tt.retry == "" && err != nil:
				t.Errorf("refused: %v", err)
			case tt.retry != "" && !errors.As(err, &rl):
				t.Errorf("err = %v, want a rate limit", err)
			case tt.retry != "" && (rl.retryAfter() != tt.retry || !strings.Contains(err.Error(), `api key "a": 50 calls/s`)):
				t.Errorf("Retry-After %s, error %q", rl.retryAfter(), err)
			}
		})
	}
}

func TestRetryAfterRoundsUp(t *testing.T) {
	for wait, want := range map[time.Duration]string{time.Millisecond: "1", 1500 * time.Millisecond: "2", 3 * time.Second: "3"} {
		if got := (&rateLimited{wait: wait}).retryAfter(); got != want {
			t.Errorf("wait %v: Retry-After %s, want %s", wait, got, want)
		}
	}
}

// A call the model's limit refuses must not spend the key's token.
func TestModelRefusalGivesTheKeyTokenBack(t *testing.T) {
	a, err := newAccess(Config{
		APIKeys:         "- {name: k, key: secret, rate: 1, burst: 1}",
		ModelRateLimits: map[string]RateLimit{"hot": {Rate: 1, Burst: 1}},
	})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Unix(1_000_000, 0)
	a.models["hot"].take(now) // the model's only token, spent elsewhere
	if err := a.admit([]byte("secret"), "hot", now); err == nil || !strings.Contains(err.Error(), `model "hot"`) {
		t.Fatalf("err = %v, want the model's limit", err)
	}
	if err := a.admit([]byte("secret"), "cold", now); err != nil {
		t.Errorf("the key's token was spent by a refused call: %v", err)
	}
}

func TestKeysAreKeptAsHashesOnly(t *testing.T) {
	kr, err := loadKeys(Config{APIKeys: "- {name: k, key: plain-secret}"})
	if err != nil {
		t.Fatal(err)
	}
	if k, err := kr.authenticate([]byte("plain-secret")); err != nil || k.name != "k" {
		t.Fatalf("authenticate = %v, %v", k, err)
	}
	if got := strings.Join([]string{kr.keys[0].name, string(kr.keys[0].hash[:])}, ""); strings.Contains(got, "plain-secret") {
		t.Errorf("the keyring keeps the plaintext key")
	}
}

func TestKeyListErrorsShowNoKey(t *testing.T) {
	for name, list := range map[string]string{
		"both forms":     "- {name: a, key: sekrit-1, key_sha256: sekrit-1}",
		"bad hash":       "- {name: a, key_sha256: sekrit-1}",
		"no name":        "- {key: sekrit-1}",
		"wrong type":     "- {name: a, key: sekrit-1, models: sekrit-1}",
		"duplicate":      "- {name: a, key: sekrit-1}\n- {name: b, key: sekrit-1}",
		"negative rate":  "- {name: a, key: sekrit-1, rate: -1}",
		"misspelt field": "- {name: a, kee: sekrit-1}",
	} {
		t.Run(name, func(t *testing.T) {
			_, err := loadKeys(Config{APIKeys: list})
			if err == nil || strings.Contains(err.Error(), "sekrit") || !strings.Contains(err.Error(), "server.api_keys") && !strings.Contains(err.Error(), "api key") {
				t.Errorf("err = %v, want one naming the entry without the key", err)
			}
		})
	}
}
