package registry

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// saved is what persists for a model: its traffic and its rollout.
type saved struct {
	Traffic Traffic        `json:"traffic"`
	Rollout *RolloutStatus `json:"rollout,omitempty"`
}

func (r *Registry) stateDir() string { return filepath.Join(r.cfg.Path, ".sluice") }

// save writes a model's traffic and rollout beside the repository, through
// a temporary file and a rename, so a crash leaves the old state or the new.
func (r *Registry) save(name string) {
	st, t, err := r.rolloutLocked(name)
	if err != nil {
		return
	}
	s := saved{Traffic: t}
	if st.State != "" {
		s.Rollout = &st
	}
	b, _ := json.MarshalIndent(s, "", "  ")
	if err := writeAtomic(filepath.Join(r.stateDir(), name+".json"), b); err != nil {
		r.log.Error("saving rollout state", "model", name, "err", err)
	}
}

func writeAtomic(path string, b []byte) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	f, err := os.CreateTemp(filepath.Dir(path), ".tmp-*")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name())
	if _, err := f.Write(b); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(f.Name(), path)
}

// restoreRollouts reads saved traffic and rollouts before the first load,
// so pinned versions load and a rollout resumes at the step it was on.
func (r *Registry) restoreRollouts() {
	entries, err := os.ReadDir(r.stateDir())
	if err != nil {
		return
	}
	for _, e := range entries {
		name, ok := strings.CutSuffix(e.Name(), ".json")
		if !ok || strings.HasPrefix(name, ".") {
			continue
		}
		b, err := os.ReadFile(filepath.Join(r.stateDir(), e.Name()))
		var s saved
		if err == nil {
			err = json.Unmarshal(b, &s)
		}
		if err != nil {
			r.log.Error("reading saved rollout state", "file", e.Name(), "err", err)
			continue
		}
		r.setTraffic(name, s.Traffic)
		switch {
		case s.Rollout != nil && (s.Rollout.State == RolloutProgressing || s.Rollout.State == RolloutPaused):
			st := *s.Rollout
			st.StepStarted = time.Now() // measurements start afresh
			r.resume(name, st)
			r.log.Info("rollout resumed", "model", name, "step", st.Step, "weight", st.Weight, "state", st.State)
		case s.Rollout != nil:
			r.mu.Lock()
			r.entryLocked(name).last = s.Rollout
			r.mu.Unlock()
		}
	}
}
