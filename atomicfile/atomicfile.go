// Package atomicfile writes files so that a crash or a concurrent reader
// sees the old content or the new, never part of one: through a temporary
// file in the same folder, synced, then renamed over the target.
package atomicfile

import (
	"os"
	"path/filepath"
)

// Write replaces path's content with b, making its folder when needed.
func Write(path string, b []byte) error {
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
