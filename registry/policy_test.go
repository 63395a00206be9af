package registry

import (
	"encoding/json"
	"fmt"
	"testing"

	"sigs.k8s.io/yaml"
)

func TestVersionPolicy(t *testing.T) {
	onDisk := []int64{1, 2, 5, 9}
	tests := []struct {
		yaml string
		want string
		err  bool
	}{
		{"version_policy: all", "[1 2 5 9]", false},
		{"version_policy: {latest: 2}", "[5 9]", false},
		{"version_policy: {latest: 7}", "[1 2 5 9]", false},
		{"version_policy: {specific: [2, 9, 4]}", "[2 9]", false},
		{"", "[9]", false},
		{"version_policy: {latest: 0}", "", true},
		{"version_policy: {latest: 1, specific: [1]}", "", true},
		{"version_policy: newest", "", true},
		{"version_policy: {specific: [0]}", "", true},
	}
	for _, tt := range tests {
		t.Run(tt.yaml, func(t *testing.T) {
			cfg := DefaultModelConfig()
			err := ParseModelConfig([]byte(tt.yaml), &cfg)
			if (err != nil) != tt.err {
				t.Fatalf("err = %v, want error %v", err, tt.err)
			}
			if err == nil {
				if got := fmt.Sprint(cfg.VersionPolicy.Select(onDisk)); got != tt.want {
					t.Errorf("Select = %s, want %s", got, tt.want)
				}
			}
		})
	}
	var d Duration
	if err := json.Unmarshal([]byte(`"2ms"`), &d); err != nil || d != Duration(2e6) {
		t.Errorf("duration 2ms: %v %v", d, err)
	}
	if err := yaml.Unmarshal([]byte(`max_queue_delay: 5`), &struct {
		D Duration `json:"max_queue_delay"`
	}{}); err == nil {
		t.Error("a bare number was accepted as a duration")
	}
}

// A GPU model without an instances key gets one session per GPU, as
// Triton's instance_group count defaults to; a CPU model gets the CPUs.
func TestGPUModelsDefaultToOneInstancePerGPU(t *testing.T) {
	for _, tt := range []struct {
		yaml string
		want int
	}{
		{"provider: cuda\nfallback: cpu\ngpus: [0, 1]\n", 1},
		{"provider: cuda\nfallback: cpu\ninstances: 3\n", 3},
		{"provider: cpu\n", DefaultModelConfig().Instances},
	} {
		cfg := DefaultModelConfig()
		if err := ParseModelConfig([]byte(tt.yaml), &cfg); err != nil || cfg.Instances != tt.want {
			t.Errorf("%q: instances %d, %v; want %d", tt.yaml, cfg.Instances, err, tt.want)
		}
	}
}
