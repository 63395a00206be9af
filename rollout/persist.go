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

// Saved is a model's state of record: its traffic and its rollout (live,
// or the latest ended), as the file holds it and the fleet's store does.
type Saved struct {
	Traffic registry.Traffic `json:"traffic"`
	Rollout *Status          `json:"rollout,omitempty"`
}

// saveFile writes a model's state through a temporary file and a rename,
// so a crash leaves the old state or the new.
func (c *Controller) saveFile(name string, s Saved) {
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
		var s Saved
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

func (c *Controller) restore(ctx context.Context, name string, s Saved) {
	if s.Rollout != nil && s.Rollout.live() {
		st := *s.Rollout
		st.StepStarted = c.now() // measurements start afresh
		s.Rollout = &st
	}
	m := c.model(name)
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := c.apply(ctx, m, name, s); err != nil {
		c.log.Error("restoring saved rollout state", "model", name, "err", err)
		return
	}
	if st := s.Rollout; st != nil && st.live() {
		c.log.Info("rollout resumed", "model", name, "step", st.Step, "weight", st.Weight, "state", st.State)
	}
}
