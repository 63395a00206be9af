package v2_test

import (
	"strconv"
	"strings"
	"testing"

	"github.com/sluice-serving/sluice/tensor"
	"github.com/sluice-serving/sluice/v2"
)

// inputsBody is a request with n one-element INT8 inputs and the given
// outputs list (without brackets).
func inputsBody(n int, outputs string) string {
	ins := make([]string, n)
	for i := range ins {
		ins[i] = `{"name":"x` + strconv.Itoa(i) + `","datatype":"INT8","shape":[1],"data":[1]}`
	}
	return `{"inputs":[` + strings.Join(ins, ",") + `],"outputs":[` + outputs + `]}`
}

func outputsList(n int) string {
	outs := make([]string, n)
	for i := range outs {
		outs[i] = `{"name":"y` + strconv.Itoa(i) + `"}`
	}
	return strings.Join(outs, ",")
}

// shapeBody is a request with one INT8 input of the given shape and data.
func shapeBody(shape, data string) string {
	return `{"inputs":[{"name":"x","datatype":"INT8","shape":[` + shape + `],"data":` + data + `}]}`
}

func nested(n int, inner string) string {
	return strings.Repeat("[", n) + inner + strings.Repeat("]", n)
}

// Nesting counts the top-level object as level 1: parameters open level
// 2, inputs and a tensor levels 2 and 3.
func TestDecodeRequestLimits(t *testing.T) {
	small := v2.Limits{MaxInputs: 2, MaxOutputs: 1, MaxRank: 2, MaxElements: 10, MaxDepth: 5}
	tests := []struct {
		name      string
		limits    v2.Limits
		body      string
		headerLen int
		kind      tensor.Kind // 0 (Internal): accepted
		msg       string
	}{
		{"64 inputs", v2.Limits{}, inputsBody(64, ""), -1, 0, ""},
		{"65 inputs", v2.Limits{}, inputsBody(65, ""), -1, tensor.InvalidArgument, "request has more than 64 inputs, the limit (max_inputs)"},
		{"64 outputs", v2.Limits{}, inputsBody(1, outputsList(64)), -1, 0, ""},
		{"65 outputs", v2.Limits{}, inputsBody(1, outputsList(65)), -1, tensor.InvalidArgument, "request has more than 64 outputs, the limit (max_outputs)"},
		{"rank 8", v2.Limits{}, shapeBody("1,1,1,1,1,1,1,1", "[1]"), -1, 0, ""},
		{"rank 9", v2.Limits{}, shapeBody("1,1,1,1,1,1,1,1,1", "[1]"), -1, tensor.InvalidArgument, `input "x": shape has more than 8 dimensions, the limit (max_rank)`},
		{"2^28 elements", v2.Limits{}, shapeBody("16384,16384", "[]"), -1, 0, ""},
		{"2^28+1 elements", v2.Limits{}, shapeBody("268435457", "[]"), -1, tensor.TooLarge, `input "x": shape beginning [268435457] has more than 268435456 elements, the limit (max_elements)`},
		{"product past the limit", v2.Limits{}, shapeBody("16384,16385", "[]"), -1, tensor.TooLarge, `shape beginning [16384,16385] has more than 268435456 elements`},
		{"product past int64", v2.Limits{}, shapeBody("4294967296,4294967296,4294967296", "[]"), -1, tensor.TooLarge, `shape beginning [4294967296] has more than 268435456 elements`},
		{"dimension past int64", v2.Limits{}, shapeBody("9223372036854775808", "[]"), -1, tensor.InvalidArgument, `shape dimension 9223372036854775808 is not a non-negative integer (dimension 0)`},
		{"zero dimension hides nothing", v2.Limits{}, shapeBody("0,268435457", "[]"), -1, tensor.TooLarge, `shape beginning [0,268435457] has more than`},
		{"zero dimension", v2.Limits{}, shapeBody("0,8", "[]"), -1, 0, ""},
		{"-1 dimension", v2.Limits{}, shapeBody("1,-1", "[1]"), -1, tensor.InvalidArgument, `input "x": shape dimension -1 is not a non-negative integer (dimension 1)`},
		{"negative dimension", v2.Limits{}, shapeBody("-7", "[1]"), -1, tensor.InvalidArgument, `input "x": shape dimension -7 is not a non-negative integer (dimension 0)`},
		{"parameters 64 deep", v2.Limits{}, `{"inputs":[],"parameters":{"p":` + nested(62, "") + `}}`, -1, tensor.InvalidArgument, "request has no inputs"},
		{"parameters 65 deep", v2.Limits{}, `{"inputs":[],"parameters":{"p":` + nested(63, "") + `}}`, -1, tensor.InvalidArgument, "JSON is nested more than 64 levels deep, the limit (max_depth)"},
		{"unknown key 64 deep", v2.Limits{}, `{"inputs":[],"x":` + nested(63, "1") + `}`, -1, tensor.InvalidArgument, "request has no inputs"},
		{"unknown key 65 deep", v2.Limits{}, `{"inputs":[],"x":` + nested(64, "1") + `}`, -1, tensor.InvalidArgument, "nested more than 64 levels deep, the limit (max_depth)"},
		{"data 64 deep", v2.Limits{}, shapeBody("1", nested(61, "1")), -1, 0, ""},
		{"data 65 deep", v2.Limits{}, shapeBody("1", nested(62, "1")), -1, tensor.InvalidArgument, `input "x": malformed JSON at byte 121: JSON is nested more than 64 levels deep, the limit (max_depth)`},
		{"deferred data 65 deep", v2.Limits{}, `{"inputs":[{"data":` + nested(62, "1") + `,"name":"x","datatype":"INT8","shape":[1]}]}`, -1, tensor.InvalidArgument, "nested more than 64 levels deep"},
		{"deep object of strings", v2.Limits{}, `{"inputs":[],"x":` + strings.Repeat(`{"a":`, 64) + `1` + strings.Repeat("}", 64) + `}`, -1, tensor.InvalidArgument, "nested more than 64 levels deep"},
		{"header length -5", v2.Limits{}, shapeBody("1", "[1]"), -5, tensor.InvalidArgument, "Inference-Header-Content-Length is -5 but must be between 0 and the body's 66 bytes"},
		{"header length past the body", v2.Limits{}, shapeBody("1", "[1]"), 67, tensor.InvalidArgument, "Inference-Header-Content-Length is 67 but the body has only 66 bytes"},
		{"small: 3 inputs", small, inputsBody(3, ""), -1, tensor.InvalidArgument, "request has more than 2 inputs, the limit (max_inputs)"},
		{"small: 2 outputs", small, inputsBody(1, outputsList(2)), -1, tensor.InvalidArgument, "request has more than 1 outputs, the limit (max_outputs)"},
		{"small: rank 3", small, shapeBody("1,1,1", "[1]"), -1, tensor.InvalidArgument, "shape has more than 2 dimensions, the limit (max_rank)"},
		{"small: 11 elements", small, shapeBody("11", "[]"), -1, tensor.TooLarge, "has more than 10 elements, the limit (max_elements)"},
		{"small: data 6 deep", small, shapeBody("1", nested(3, "1")), -1, tensor.InvalidArgument, "nested more than 5 levels deep, the limit (max_depth)"},
		{"small: data 5 deep", small, shapeBody("1", nested(2, "1")), -1, 0, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			call := v2.Call{Limits: tt.limits}
			err := v2.DecodeRequest([]byte(tt.body), tt.headerLen, &call)
			if tt.kind == 0 {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			if err == nil || tensor.KindOf(err) != tt.kind || !strings.Contains(err.Error(), tt.msg) {
				t.Fatalf("err = %v (kind %v), want %v containing %q", err, tensor.KindOf(err), tt.kind, tt.msg)
			}
		})
	}
}

// A pooled Call keeps its limits across Reset, so the server sets them once.
func TestResetKeepsLimits(t *testing.T) {
	call := v2.Call{Limits: v2.Limits{MaxInputs: 1}}
	call.Reset()
	if err := v2.DecodeRequest([]byte(inputsBody(2, "")), -1, &call); err == nil || !strings.Contains(err.Error(), "more than 1 inputs") {
		t.Errorf("after Reset: %v, want the 1-input limit", err)
	}
}

// A response carries every output a model has, of the rank it declares:
// the request limits on counts and rank do not apply to it.
func TestDecodeResponseIsNotBoundByRequestLimits(t *testing.T) {
	outs := make([]string, 65)
	for i := range outs {
		outs[i] = `{"name":"y` + strconv.Itoa(i) + `","datatype":"INT8","shape":[1,1,1,1,1,1,1,1,1,1],"data":[1]}`
	}
	r, err := v2.DecodeResponse([]byte(`{"outputs":[`+strings.Join(outs, ",")+`]}`), -1)
	if err != nil || len(r.Outputs) != 65 {
		t.Fatalf("DecodeResponse = %v, %v; want 65 outputs of rank 10", r, err)
	}
	_, err = v2.DecodeResponse([]byte(`{"outputs":[],"x":`+nested(64, "")+`}`), -1)
	if tensor.KindOf(err) != tensor.InvalidArgument || !strings.Contains(err.Error(), "nested more than 64 levels deep") {
		t.Errorf("deep response: %v, want the depth limit", err)
	}
}

func TestLimitsValidate(t *testing.T) {
	tests := []struct {
		name   string
		limits v2.Limits
		msg    string // "" for valid
	}{
		{"defaults", v2.DefaultLimits(), ""},
		{"zero takes the defaults", v2.Limits{}, ""},
		{"negative", v2.Limits{MaxRank: -1}, "must not be negative"},
		{"depth past the scanner", v2.Limits{MaxDepth: 65}, "max_depth 65: at most 64 is supported"},
		{"elements past 2^48", v2.Limits{MaxElements: 1<<48 + 1}, "at most 2^48 is supported"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.limits.Validate()
			if tt.msg == "" && err != nil || tt.msg != "" && (err == nil || !strings.Contains(err.Error(), tt.msg)) {
				t.Errorf("Validate() = %v, want %q", err, tt.msg)
			}
		})
	}
}

// The defaults are what the issue and the docs promise.
func TestDefaultLimits(t *testing.T) {
	want := v2.Limits{MaxInputs: 64, MaxOutputs: 64, MaxRank: 8, MaxElements: 1 << 28, MaxDepth: 64}
	if got := v2.DefaultLimits(); got != want {
		t.Errorf("DefaultLimits() = %+v, want %+v", got, want)
	}
}
