package tensor

import "time"

// Parameters are the free-form "parameters" objects of the v2 protocol.
// Values are string, float64, int64, bool or nested Parameters.
type Parameters map[string]any

// Request is one decoded inference request.
type Request struct {
	ID         string
	Inputs     []Tensor
	Outputs    []OutputRequest // empty asks for every output
	Parameters Parameters
	// Timeout, when positive, bounds the call's wait as a deadline on its
	// context would, counted from when the model admits it. A front door
	// sets its own limit here rather than on a context: a context deadline
	// costs a timer and four allocations per call.
	Timeout time.Duration
}

// OutputRequest names an output the caller wants and how.
type OutputRequest struct {
	Name   string
	Binary bool // Triton's binary_data: raw bytes after the JSON header
}

// Response is the result of one inference request.
type Response struct {
	ModelName    string
	ModelVersion string
	ID           string
	Outputs      []Tensor
}

// Input returns the request's input with the given name, or nil.
func (r *Request) Input(name string) *Tensor {
	for i := range r.Inputs {
		if r.Inputs[i].Name == name {
			return &r.Inputs[i]
		}
	}
	return nil
}
