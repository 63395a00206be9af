package rollout

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"

	"github.com/sluice-serving/sluice/atomicfile"
	"github.com/sluice-serving/sluice/registry"
)

// saved is what persists for a model: its traffic and its rollout.
type saved struct {
	Traffic registry.Traffic `json:"traffic"`
	Rollout *Status          `json:"rollout,omitempty"`
}

// save writes a model's traffic and rollout, through a temporary file and
// a rename, so a crash leaves the old state or the new; under m.mu.
func (c *Controller) save(name string, m *model) {
	t, err := c.models.Traffic(name)
	if err != nil {
		return
	}
	s := saved{Traffic: t, Rollout: m.view.Load()}
	b, _ := json.MarshalIndent(s, "", "  ")
	if err := atomicfile.Write(filepath.Join(c.dir, name+".json"), b); err != nil {
		c.log.Error("saving rollout state", "model", name, "err", err)
	}
}

// Restore applies saved traffic and resumes saved rollouts at the step they
// were on, with fresh measurements. It runs after the registry's first
// load: versions the saved traffic names load then, whatever the version
// policy says.
func (c *Controller) Restore(ctx context.Context) {
	entries, err := os.ReadDir(c.dir)
	if err != nil {
		return
	}
	for _, e := range entries {
		name, ok := strings.CutSuffix(e.Name(), ".json")
		if !ok || strings.HasPrefix(name, ".") {
			continue
		}
		b, err := os.ReadFile(filepath.Join(c.dir, e.Name()))
		var s saved
		if err == nil {
			err = json.Unmarshal(b, &s)
		}
		if err != nil {
			c.log.Error("reading saved rollout state", "file", e.Name(), "err", err)
			continue
		}
		c.restore(ctx, name, s)
	}
}

func (c *Controller) restore(ctx context.Context, name string, s saved) {
	if err := c.models.SetTraffic(ctx, name, s.Traffic); err != nil {
		c.log.Error("restoring saved traffic", "model", name, "err", err)
	}
	if s.Rollout == nil {
		return
	}
	m := c.model(name)
	m.mu.Lock()
	defer m.mu.Unlock()
	st := *s.Rollout
	if !st.live() {
		m.last = &st
		c.publish(m, st, Shadows{})
		return
	}
	st.StepStarted = c.now() // measurements start afresh
	if err := c.install(ctx, m, st); err != nil {
		c.log.Error("resuming a saved rollout", "model", name, "err", err)
		return
	}
	c.log.Info("rollout resumed", "model", name, "step", st.Step, "weight", st.Weight, "state", st.State)
}
