package runtime

import "testing"

func TestSharesSessions(t *testing.T) {
	cpu, cuda := Placement{Provider: ProviderCPU, GPU: -1}, Placement{Provider: ProviderCUDA, GPU: 0}
	tests := []struct {
		name    string
		mode    string
		threads int
		at      Placement
		want    bool
	}{
		{"auto on the cpu", SessionsAuto, 1, cpu, true},
		{"auto on the cpu with an intra-op pool", SessionsAuto, 4, cpu, false},
		{"auto on cuda", SessionsAuto, 1, cuda, false},
		{"shared with an intra-op pool", SessionsShared, 4, cpu, true},
		{"shared on cuda", SessionsShared, 1, cuda, true},
		{"per instance", SessionsPerInstance, 1, cpu, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := DefaultSessionConfig()
			c.SessionMode, c.IntraOpThreads = tt.mode, tt.threads
			if got := c.shares(tt.at); got != tt.want {
				t.Errorf("shares = %v, want %v", got, tt.want)
			}
		})
	}
}
