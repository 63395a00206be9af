package config

import (
	"flag"
	"io"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

func parse(t *testing.T, args ...string) *flag.FlagSet {
	t.Helper()
	fs := flag.NewFlagSet("test", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	Flags(fs)
	if err := fs.Parse(args); err != nil {
		t.Fatal(err)
	}
	return fs
}

func TestShippedExampleEqualsDefaults(t *testing.T) {
	example := filepath.Join("..", "sluice.example.yaml")
	got, err := Load(parse(t, "-config", example), nil)
	if err != nil {
		t.Fatal(err)
	}
	if want := Default(); !reflect.DeepEqual(got, want) {
		t.Errorf("sluice.example.yaml gives\n%+v\ndefaults are\n%+v", got, want)
	}
}

func TestLayersOverrideInOrder(t *testing.T) {
	env := []string{"SLUICE_SERVER_MAX_BODY_BYTES=2048", "SLUICE_SERVER_ADDR=127.0.0.1:1", "ONNXRUNTIME_LIB=/opt/ort.so", "PATH=/bin"}
	got, err := Load(parse(t, "-server.addr", "127.0.0.1:9000", "-server.infer_timeout", "5s"), env)
	if err != nil {
		t.Fatal(err)
	}
	if got.Server.Addr != "127.0.0.1:9000" {
		t.Errorf("flag should beat env: addr = %q", got.Server.Addr)
	}
	if got.Server.MaxBodyBytes != 2048 || got.Server.InferTimeout != 5*time.Second || got.Runtime.Library != "/opt/ort.so" {
		t.Errorf("got %+v", got)
	}
}

// TestCoordinationEndpointsAsAList: a flag or SLUICE_ variable gives the
// etcd endpoints comma-separated.
func TestCoordinationEndpointsAsAList(t *testing.T) {
	got, err := Load(parse(t, "-coordination.endpoints", "http://etcd-0:2379,http://etcd-1:2379"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if e := got.Coordination.Endpoints; len(e) != 2 || e[1] != "http://etcd-1:2379" || !got.Coordination.Enabled() {
		t.Errorf("endpoints from a flag: %q", e)
	}
	got, err = Load(parse(t), []string{"SLUICE_COORDINATION_ENDPOINTS=https://etcd:2379", "SLUICE_COORDINATION_REPLICA=pod-a"})
	if err != nil {
		t.Fatal(err)
	}
	if e := got.Coordination.Endpoints; len(e) != 1 || e[0] != "https://etcd:2379" || got.Coordination.Replica != "pod-a" {
		t.Errorf("from the environment: %+v", got.Coordination)
	}
	if got, err := Load(parse(t), nil); err != nil || got.Coordination.Enabled() {
		t.Errorf("by default a replica is alone: %+v, %v", got.Coordination, err)
	}
}

func TestBadConfigurationNamesTheKey(t *testing.T) {
	tests := []struct {
		name string
		args []string
		env  []string
		want string
	}{
		{"bad duration", []string{"-server.read_timeout", "soon"}, nil, "read_timeout"},
		{"negative timeout", []string{"-server.idle_timeout", "-1s"}, nil, "server.idle_timeout"},
		{"bad addr", []string{"-server.addr", "nowhere"}, nil, "server.addr"},
		{"small body", []string{"-server.max_body_bytes", "10"}, nil, "server.max_body_bytes"},
		{"bad level", []string{"-log.level", "loud"}, nil, "log.level"},
		{"unknown env", nil, []string{"SLUICE_SERVER_PORT=1"}, "SLUICE_SERVER_PORT"},
		{"missing file", []string{"-config", "/nonexistent.yaml"}, nil, "/nonexistent.yaml"},
		{"unknown file key", []string{"-config", filepath.Join("testdata", "unknown-key.yaml")}, nil, "srever"},
		{"endpoint not a URL", []string{"-coordination.endpoints", "etcd:2379"}, nil, "coordination.endpoints"},
		{"lease under a second", []string{"-coordination.endpoints", "http://etcd:2379", "-coordination.lease_ttl", "500ms"}, nil, "coordination.lease_ttl"},
		{"no drift interval", []string{"-drift.interval", "0s"}, nil, "drift.interval"},
		{"negative webhook timeout", nil, []string{"SLUICE_DRIFT_WEBHOOK_TIMEOUT=-1s"}, "drift.webhook_timeout"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Load(parse(t, tt.args...), tt.env)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("err = %v, want one naming %q", err, tt.want)
			}
		})
	}
}

// TestDriftWebhookTokenFromTheEnvironment: the token that authenticates
// triggers comes from the environment as any key does, so it need not sit
// in a file.
func TestDriftWebhookTokenFromTheEnvironment(t *testing.T) {
	got, err := Load(parse(t, "-drift.interval", "250ms"), []string{"SLUICE_DRIFT_WEBHOOK_TOKEN=tok"})
	if err != nil {
		t.Fatal(err)
	}
	if got.Drift.WebhookToken != "tok" || got.Drift.Interval != 250*time.Millisecond || got.Drift.WebhookTimeout != 5*time.Second {
		t.Errorf("drift: %+v", got.Drift)
	}
}

func TestEveryKeyIsDescribed(t *testing.T) {
	for _, k := range defaults().Keys() {
		if descriptions[k] == "" {
			t.Errorf("key %s has no description for -help", k)
		}
	}
}
