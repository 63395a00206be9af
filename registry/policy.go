package registry

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
)

// VersionPolicy says which of a model's version folders are served, as
// Triton's version_policy does. In config.yaml it is `all`, `latest: N`
// or `specific: [1, 3]`.
type VersionPolicy struct {
	All      bool
	Latest   int     // serve the N highest versions (when not All or Specific)
	Specific []int64 // serve exactly these
}

// UnmarshalJSON reads the three forms.
func (p *VersionPolicy) UnmarshalJSON(b []byte) error {
	if bytes.Equal(bytes.TrimSpace(b), []byte(`"all"`)) {
		*p = VersionPolicy{All: true}
		return nil
	}
	var raw struct {
		Latest   *int    `json:"latest"`
		Specific []int64 `json:"specific"`
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&raw); err != nil {
		return fmt.Errorf("expected all, {latest: N} or {specific: [..]}: %v", err)
	}
	switch {
	case raw.Latest != nil && raw.Specific != nil:
		return fmt.Errorf("give latest or specific, not both")
	case raw.Latest != nil:
		if *raw.Latest < 1 {
			return fmt.Errorf("latest: %d, expected at least 1", *raw.Latest)
		}
		*p = VersionPolicy{Latest: *raw.Latest}
	case len(raw.Specific) > 0:
		for _, v := range raw.Specific {
			if v < 1 {
				return fmt.Errorf("specific: version %d, expected positive integers", v)
			}
		}
		*p = VersionPolicy{Specific: raw.Specific}
	default:
		return fmt.Errorf("expected all, {latest: N} or {specific: [..]}")
	}
	return nil
}

// Select picks the versions to serve from those on disk (ascending).
func (p VersionPolicy) Select(onDisk []int64) []int64 {
	switch {
	case p.All:
		return onDisk
	case len(p.Specific) > 0:
		var out []int64
		for _, v := range onDisk {
			if slices.Contains(p.Specific, v) {
				out = append(out, v)
			}
		}
		return out
	}
	n := max(p.Latest, 1)
	if len(onDisk) <= n {
		return onDisk
	}
	return onDisk[len(onDisk)-n:]
}
