package pipeline

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"

	"github.com/sluice-serving/sluice/atomicfile"
)

// ManifestFile is the run manifest's name in a run folder.
const ManifestFile = "manifest.json"

// Manifest is a run's record: for every stage that ran, its parameters and
// the files it read and wrote with their content hashes. A workflow engine
// runs each stage as its own job over the same run folder (an artifact
// passed from step to step); the manifest is what lets a stage see that
// its inputs did not change and skip its work.
type Manifest struct {
	Stages map[string]Record `json:"stages"`
}

// Record is one stage's last successful run. Paths are relative to the run
// folder, or absolute for files outside it (the input data, the model
// repository).
type Record struct {
	Params  map[string]string `json:"params"`
	Inputs  map[string]string `json:"inputs"`  // path → sha256
	Outputs map[string]string `json:"outputs"` // path → sha256
}

func readManifest(dir string) (*Manifest, error) {
	m := &Manifest{Stages: map[string]Record{}}
	b, err := os.ReadFile(filepath.Join(dir, ManifestFile))
	if os.IsNotExist(err) {
		return m, nil
	}
	if err != nil {
		return nil, err
	}
	if err := json.Unmarshal(b, m); err != nil {
		return nil, fmt.Errorf("%s: %w", filepath.Join(dir, ManifestFile), err)
	}
	if m.Stages == nil {
		m.Stages = map[string]Record{}
	}
	return m, nil
}

func (m *Manifest) write(dir string) error {
	b, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return err
	}
	return atomicfile.Write(filepath.Join(dir, ManifestFile), append(b, '\n'))
}

// current reports whether a stage's record still describes what it would
// do now: same parameters, same input hashes, and every output still on
// disk with the hash it was written with.
func (r Record) current(params, inputs map[string]string, dir string) bool {
	if !maps.Equal(r.Params, params) || !maps.Equal(r.Inputs, inputs) {
		return false
	}
	for path, sum := range r.Outputs {
		got, err := hashFile(resolve(dir, path))
		if err != nil || got != sum {
			return false
		}
	}
	return len(r.Outputs) > 0
}

// hashFile is a file's sha256, hex.
func hashFile(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// hashAll hashes files named relative to dir (or absolute).
func hashAll(dir string, paths []string) (map[string]string, error) {
	out := make(map[string]string, len(paths))
	for _, p := range paths {
		sum, err := hashFile(resolve(dir, p))
		if err != nil {
			return nil, fmt.Errorf("input %s: %w", p, err)
		}
		out[p] = sum
	}
	return out, nil
}

func resolve(dir, path string) string {
	if filepath.IsAbs(path) {
		return path
	}
	return filepath.Join(dir, path)
}

func writeJSON(path string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	return atomicfile.Write(path, append(b, '\n'))
}

func readJSON(path string, v any) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return nil
}
