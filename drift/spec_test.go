package drift

import (
	"math"
	"reflect"
	"strings"
	"testing"
	"time"

	"sigs.k8s.io/yaml"

	"github.com/sluice-serving/sluice/registry"
)

func TestParseSpec(t *testing.T) {
	tests := []struct {
		name string
		raw  string
		want func(*Spec)
		err  string // a part of the error; "" for none
	}{
		{"absent is the defaults", "", func(*Spec) {}, ""},
		{"empty object", "{}", func(*Spec) {}, ""},
		{"some keys over the defaults", "window: 3s\nslots: 3\nmin_rows: 300\ntrigger:\n  drifting_for: 1s\n  webhook: http://127.0.0.1:8090/\n",
			func(s *Spec) {
				s.Window, s.Slots, s.MinRows = registry.Duration(3*time.Second), 3, 300
				s.Trigger.DriftingFor, s.Trigger.Webhook = registry.Duration(time.Second), "http://127.0.0.1:8090/"
			}, ""},
		{"one threshold of two", "psi: {drifting: 0.5}\n", func(s *Spec) { s.PSI.Drifting = 0.5 }, ""},
		{"json", `{"sample_rate":0.25,"ks":{"warn":0.05,"drifting":0.3}}`, func(s *Spec) { s.SampleRate, s.KS = 0.25, Thresholds{0.05, 0.3} }, ""},
		{"unknown key", "windwo: 5m\n", nil, "windwo"},
		{"unknown nested key", "trigger: {webhok: x}\n", nil, "webhok"},
		{"a slot under a second", "window: 5s\nslots: 10\n", nil, "drift.window"},
		{"no slots", "slots: 0\n", nil, "drift.slots"},
		{"too many slots", "slots: 1000\nwindow: 1h\n", nil, "drift.slots"},
		{"not a duration", "window: 10\n", nil, "duration"},
		{"zero sample rate", "sample_rate: 0\n", nil, "drift.sample_rate"},
		{"sample rate over 1", "sample_rate: 1.5\n", nil, "drift.sample_rate"},
		{"a vanishing sample rate", "sample_rate: 1e-12\n", nil, "drift.sample_rate"},
		{"NaN sample rate", "sample_rate: .nan\n", nil, "drift"},
		{"no rows per call", "max_rows_per_call: 0\n", nil, "drift.max_rows_per_call"},
		{"negative min rows", "min_rows: -1\n", nil, "drift.min_rows"},
		{"warn above drifting", "psi: {warn: 0.3}\n", nil, "drift.psi.drifting"},
		{"zero warn", "ks: {warn: 0}\n", nil, "drift.ks.warn"},
		{"ks past 1", "ks: {drifting: 1.5}\n", nil, "drift.ks.drifting"},
		{"infinite psi", "psi: {drifting: .inf}\n", nil, "drift"},
		{"negative drifting_for", "trigger: {drifting_for: -1s}\n", nil, "drift.trigger.drifting_for"},
		{"negative cooldown", "trigger: {cooldown: -1h}\n", nil, "drift.trigger.cooldown"},
		{"webhook not a URL", "trigger: {webhook: 'pipeline watch'}\n", nil, "drift.trigger.webhook"},
		{"webhook of another scheme", "trigger: {webhook: 'ftp://host/x'}\n", nil, "drift.trigger.webhook"},
		{"a list", "- 1\n", nil, "drift"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var raw []byte
			if tt.raw != "" {
				raw = []byte(tt.raw)
			}
			got, err := ParseSpec(raw, DefaultSpec())
			if cerr := CheckConfig(raw); (cerr == nil) != (err == nil) {
				t.Errorf("CheckConfig says %v where ParseSpec says %v", cerr, err)
			}
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("ParseSpec(%q) = %+v, %v; want an error naming %q", tt.raw, got, err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseSpec(%q): %v", tt.raw, err)
			}
			want := DefaultSpec()
			tt.want(&want)
			if !reflect.DeepEqual(got, want) {
				t.Errorf("ParseSpec(%q)\n got %+v\nwant %+v", tt.raw, got, want)
			}
		})
	}
}

func TestSpecDerived(t *testing.T) {
	s := DefaultSpec()
	if s.Slot() != time.Minute || s.every() != 1 {
		t.Errorf("defaults: slot %v, every %d; want 1m and every call", s.Slot(), s.every())
	}
	for rate, every := range map[float64]int64{1: 1, 0.5: 2, 0.1: 10, 0.3: 4, 0.01: 100} {
		s.SampleRate = rate
		if got := s.every(); got != every {
			t.Errorf("sample_rate %v: every %d calls, want %d", rate, got, every)
		}
	}
}

func TestConfigValidate(t *testing.T) {
	if err := DefaultConfig().Validate(); err != nil {
		t.Fatalf("defaults: %v", err)
	}
	for key, c := range map[string]Config{
		"drift.interval":        {WebhookTimeout: time.Second},
		"drift.webhook_timeout": {Interval: time.Second, WebhookTimeout: -time.Second},
	} {
		if err := c.Validate(); err == nil || !strings.Contains(err.Error(), key) {
			t.Errorf("%+v: %v, want an error naming %s", c, err, key)
		}
	}
}

// FuzzParseSpec: ParseSpec never panics and never changes its base; a
// spec it accepts keeps every invariant Validate states and round-trips
// through YAML; CheckConfig agrees with it; an error names the drift
// section.
func FuzzParseSpec(f *testing.F) {
	for _, s := range []string{
		"", "{}", "window: 10m\nslots: 10\n", "window: 3s\nslots: 3\nmin_rows: 300\n",
		"sample_rate: 0.5\nmax_rows_per_call: 8\n", "psi: {warn: 0.2, drifting: 0.4}\nks: {warn: 0.1, drifting: 1}\n",
		"trigger: {webhook: 'http://127.0.0.1:8090/events', drifting_for: 1m, cooldown: 0s}\n",
		`{"window":"1h","slots":60}`, "window: 1s\nslots: 2\n", "slots: -1\n", "sample_rate: .inf\n",
		"psi: {warn: .nan}\n", "min_rows: 1e30\n", "trigger: {webhook: ':'}\n", "trigger: 1\n", "- a\n", "{", "null", "~",
		"window: 10m\nwindow: 5m\n", "&a {slots: 2}",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		base := DefaultSpec()
		s, err := ParseSpec(raw, base)
		if !reflect.DeepEqual(base, DefaultSpec()) {
			t.Fatalf("ParseSpec(%q) changed its base to %+v", raw, base)
		}
		if cerr := CheckConfig(raw); (cerr == nil) != (err == nil) {
			t.Fatalf("ParseSpec(%q) error %v, CheckConfig error %v", raw, err, cerr)
		}
		if err != nil {
			if !strings.HasPrefix(err.Error(), "drift") {
				t.Fatalf("ParseSpec(%q): error %q does not name the drift section", raw, err)
			}
			return
		}
		checkSpec(t, raw, s)
		out, err := yaml.Marshal(s)
		if err != nil {
			t.Fatalf("ParseSpec(%q) = %+v, which does not encode: %v", raw, s, err)
		}
		back, err := ParseSpec(out, Spec{})
		if err != nil || !reflect.DeepEqual(back, s) {
			t.Fatalf("ParseSpec(%q) = %+v, encoded as %q, reads back as %+v, %v", raw, s, out, back, err)
		}
	})
}

// checkSpec states Validate's invariants directly, so that a NaN cannot
// slip through a comparison that is false for it.
func checkSpec(t *testing.T, raw []byte, s Spec) {
	t.Helper()
	finite := func(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }
	ok := s.Slots >= 1 && s.Slots <= maxSlots && s.Slot() >= minSlot &&
		s.SampleRate > 0 && s.SampleRate <= 1 && s.every() >= 1 && s.every() <= maxEvery &&
		s.MaxRowsPerCall >= 1 && s.MinRows >= 0 &&
		s.PSI.Warn > 0 && s.PSI.Drifting >= s.PSI.Warn && finite(s.PSI.Drifting) &&
		s.KS.Warn > 0 && s.KS.Drifting >= s.KS.Warn && s.KS.Drifting <= 1 &&
		s.Trigger.DriftingFor >= 0 && s.Trigger.Cooldown >= 0
	if !ok {
		t.Fatalf("ParseSpec(%q) accepted %+v, which breaks an invariant", raw, s)
	}
}
