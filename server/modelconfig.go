package server

import (
	"encoding/base64"
	"encoding/json"
	"maps"
	"math"
	"slices"
	"strconv"

	"github.com/valyala/fasthttp"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// The model configuration extension: a version's configuration
// (registry.Version.TritonConfig) in the JSON form Triton's config
// endpoint answers with, so that perf_analyzer and tritonclient's
// get_model_config find what they look for: field names as in
// model_config.proto, enums by name, every scalar, list and map printed
// even when empty (protobuf's always_print_primitive_fields), sub-messages
// only when set, and 64-bit integers as JSON numbers, as Triton prints
// dims ("dims":[16]) where protojson would print strings ("16").

func (s *Server) modelConfig(ctx *fasthttp.RequestCtx, r route) {
	v, err := s.models.Lookup(r.model, r.version)
	if err != nil {
		writeError(ctx, err)
		return
	}
	ctx.SetStatusCode(fasthttp.StatusOK)
	ctx.SetContentType("application/json")
	ctx.SetBody(tritonJSON(nil, v.TritonConfig()))
}

// tritonJSON appends m in Triton's JSON form to b.
func tritonJSON(b []byte, m proto.Message) []byte {
	return appendMessage(b, m.ProtoReflect())
}

// appendMessage writes the fields in the order model_config.proto
// declares them.
func appendMessage(b []byte, m protoreflect.Message) []byte {
	b = append(b, '{')
	fields := m.Descriptor().Fields()
	first := true
	for i := range fields.Len() {
		fd := fields.Get(i)
		if fd.HasPresence() && !m.Has(fd) {
			continue // an unset sub-message, or a oneof's other choices
		}
		if !first {
			b = append(b, ',')
		}
		first = false
		b = appendString(b, string(fd.Name()))
		b = append(b, ':')
		b = appendField(b, fd, m.Get(fd))
	}
	return append(b, '}')
}

func appendField(b []byte, fd protoreflect.FieldDescriptor, v protoreflect.Value) []byte {
	switch {
	case fd.IsList():
		b = append(b, '[')
		for i := range v.List().Len() {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendValue(b, fd, v.List().Get(i))
		}
		return append(b, ']')
	case fd.IsMap():
		return appendMap(b, fd, v.Map())
	}
	return appendValue(b, fd, v)
}

// appendMap writes a map with its keys sorted, so the same configuration
// always reads the same.
func appendMap(b []byte, fd protoreflect.FieldDescriptor, m protoreflect.Map) []byte {
	keys := map[string]protoreflect.MapKey{}
	m.Range(func(k protoreflect.MapKey, _ protoreflect.Value) bool {
		keys[k.String()] = k
		return true
	})
	b = append(b, '{')
	for i, k := range slices.Sorted(maps.Keys(keys)) {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendString(b, k)
		b = append(b, ':')
		b = appendValue(b, fd.MapValue(), m.Get(keys[k]))
	}
	return append(b, '}')
}

// appendValue writes one singular value of fd's kind.
func appendValue(b []byte, fd protoreflect.FieldDescriptor, v protoreflect.Value) []byte {
	switch fd.Kind() {
	case protoreflect.MessageKind, protoreflect.GroupKind:
		return appendMessage(b, v.Message())
	case protoreflect.EnumKind:
		if ev := fd.Enum().Values().ByNumber(v.Enum()); ev != nil {
			return appendString(b, string(ev.Name()))
		}
		return strconv.AppendInt(b, int64(v.Enum()), 10)
	case protoreflect.BoolKind:
		return strconv.AppendBool(b, v.Bool())
	case protoreflect.StringKind:
		return appendString(b, v.String())
	case protoreflect.BytesKind:
		return appendString(b, base64.StdEncoding.EncodeToString(v.Bytes()))
	case protoreflect.FloatKind:
		return appendFloat(b, v.Float(), 32)
	case protoreflect.DoubleKind:
		return appendFloat(b, v.Float(), 64)
	case protoreflect.Uint32Kind, protoreflect.Fixed32Kind, protoreflect.Uint64Kind, protoreflect.Fixed64Kind:
		return strconv.AppendUint(b, v.Uint(), 10)
	}
	return strconv.AppendInt(b, v.Int(), 10) // the signed integer kinds
}

// appendFloat writes a number, or protobuf JSON's names for the values
// JSON has no number for.
func appendFloat(b []byte, f float64, bits int) []byte {
	switch {
	case math.IsNaN(f):
		return append(b, `"NaN"`...)
	case math.IsInf(f, 1):
		return append(b, `"Infinity"`...)
	case math.IsInf(f, -1):
		return append(b, `"-Infinity"`...)
	}
	return strconv.AppendFloat(b, f, 'g', -1, bits)
}

func appendString(b []byte, s string) []byte {
	q, _ := json.Marshal(s) // a string always encodes
	return append(b, q...)
}
