package runtime

import "fmt"

// Placement is where one instance runs: a provider and, for the GPU
// providers, a CUDA device id (-1 on the CPU).
type Placement struct {
	Provider string
	GPU      int
}

func (p Placement) String() string {
	if p.GPU < 0 {
		return p.Provider
	}
	return fmt.Sprintf("%s:%d", p.Provider, p.GPU)
}

// gpus is the device list the config places sessions on: [0] when none
// is named.
func (c SessionConfig) gpus() []int {
	if len(c.GPUs) == 0 {
		return []int{0}
	}
	return c.GPUs
}

// Sessions is how many instances the config makes, and so the most
// sessions: instances, times the GPUs for a GPU provider. Instances that
// share a session (SessionMode) make fewer.
func (c SessionConfig) Sessions() int {
	if c.Provider == ProviderCPU {
		return c.Instances
	}
	return c.Instances * len(c.gpus())
}

// Plan says where each instance of a config goes. GPU sessions take the
// devices in turn (0, 1, 0, 1 for instances 2 on gpus [0, 1]) so that the
// first sessions of a version, the ones a lightly loaded batcher keeps
// busy, are already spread over every GPU. It is pure: it looks at no
// device.
func Plan(c SessionConfig) []Placement {
	if c.Provider == ProviderCPU {
		return cpuPlan(c.Instances)
	}
	gpus := c.gpus()
	out := make([]Placement, 0, c.Sessions())
	for range c.Instances {
		for _, g := range gpus {
			out = append(out, Placement{Provider: c.Provider, GPU: g})
		}
	}
	return out
}

// cpuPlan is n sessions on the CPU.
func cpuPlan(n int) []Placement {
	out := make([]Placement, n)
	for i := range out {
		out[i] = Placement{Provider: ProviderCPU, GPU: -1}
	}
	return out
}
