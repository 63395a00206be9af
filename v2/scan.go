package v2

import (
	"strconv"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/sluice-serving/sluice/tensor"
)

// scanner reads JSON from a byte slice without reflection. It reads only
// what the v2 protocol sends; each method leaves i after what it read.
type scanner struct {
	b        []byte
	i        int
	depth    int // objects and arrays open around i
	maxDepth int // the most that may be open: Limits.MaxDepth
}

// enter opens one level of nesting, refusing one past maxDepth: every
// recursive reader goes through it (or, in skip and "data", checks the
// same bound), so no body can make the decoder recurse without end.
func (s *scanner) enter() error {
	if s.depth >= s.maxDepth {
		return s.deep()
	}
	s.depth++
	return nil
}

func (s *scanner) deep() error {
	return s.errorf("JSON is nested more than %d levels deep, the limit (max_depth)", s.maxDepth)
}

func (s *scanner) errorf(format string, args ...any) error {
	return tensor.Errorf(tensor.InvalidArgument, "malformed JSON at byte %d: "+format, append([]any{s.i}, args...)...)
}

// peek skips white space and returns the next byte, or 0 at the end.
func (s *scanner) peek() byte {
	for s.i < len(s.b) {
		switch c := s.b[s.i]; c {
		case ' ', '\n', '\t', '\r':
			s.i++
		default:
			return c
		}
	}
	return 0
}

func (s *scanner) consume(c byte) bool {
	if s.peek() == c {
		s.i++
		return true
	}
	return false
}

func (s *scanner) expect(c byte) error {
	if !s.consume(c) {
		if s.i >= len(s.b) {
			return s.errorf("expected %q, found the end", c)
		}
		return s.errorf("expected %q, found %q", c, s.b[s.i])
	}
	return nil
}

// end checks that nothing but white space follows the value.
func (s *scanner) end() error {
	if s.peek() != 0 {
		return s.errorf("unexpected %q after the JSON value", s.b[s.i])
	}
	return nil
}

// object calls fn for each key, with the scanner on the key's value; fn
// must read that value.
func (s *scanner) object(fn func(key []byte) error) error {
	if err := s.expect('{'); err != nil {
		return err
	}
	if err := s.enter(); err != nil {
		return err
	}
	defer func() { s.depth-- }()
	if s.consume('}') {
		return nil
	}
	for {
		key, err := s.str()
		if err != nil {
			return err
		}
		if err := s.expect(':'); err != nil {
			return err
		}
		if err := fn(key); err != nil {
			return err
		}
		if s.consume(',') {
			continue
		}
		return s.expect('}')
	}
}

// array calls fn for each element, with the scanner on the element.
func (s *scanner) array(fn func() error) error {
	if err := s.expect('['); err != nil {
		return err
	}
	if err := s.enter(); err != nil {
		return err
	}
	defer func() { s.depth-- }()
	if s.consume(']') {
		return nil
	}
	for {
		if err := fn(); err != nil {
			return err
		}
		if s.consume(',') {
			continue
		}
		return s.expect(']')
	}
}

// str reads a string. Without escapes it returns a slice of the input;
// with them, a fresh unescaped copy.
func (s *scanner) str() ([]byte, error) {
	if err := s.expect('"'); err != nil {
		return nil, err
	}
	start := s.i
	for s.i < len(s.b) {
		c := s.b[s.i]
		switch {
		case c == '"':
			s.i++
			return s.b[start : s.i-1], nil
		case c == '\\':
			return s.unescape(start)
		case c < 0x20:
			return nil, s.errorf("control character %#02x in a string", c)
		}
		s.i++
	}
	return nil, s.errorf("unterminated string")
}

func (s *scanner) unescape(start int) ([]byte, error) {
	out := append([]byte(nil), s.b[start:s.i]...)
	for s.i < len(s.b) {
		c := s.b[s.i]
		switch {
		case c == '"':
			s.i++
			return out, nil
		case c < 0x20:
			return nil, s.errorf("control character %#02x in a string", c)
		case c != '\\':
			out = append(out, c)
			s.i++
			continue
		}
		if s.i+1 >= len(s.b) {
			break
		}
		esc := s.b[s.i+1]
		s.i += 2
		switch esc {
		case '"', '\\', '/':
			out = append(out, esc)
		case 'b':
			out = append(out, '\b')
		case 'f':
			out = append(out, '\f')
		case 'n':
			out = append(out, '\n')
		case 'r':
			out = append(out, '\r')
		case 't':
			out = append(out, '\t')
		case 'u':
			r, err := s.unicodeEscape()
			if err != nil {
				return nil, err
			}
			out = utf8.AppendRune(out, r)
		default:
			return nil, s.errorf("invalid escape \\%c", esc)
		}
	}
	return nil, s.errorf("unterminated string")
}

// unicodeEscape reads the hex of \uXXXX (and a low surrogate after it).
func (s *scanner) unicodeEscape() (rune, error) {
	r, ok := s.hex4()
	if !ok {
		return 0, s.errorf("invalid \\u escape")
	}
	if utf16.IsSurrogate(r) && s.i+1 < len(s.b) && s.b[s.i] == '\\' && s.b[s.i+1] == 'u' {
		s.i += 2
		lo, ok := s.hex4()
		if !ok {
			return 0, s.errorf("invalid \\u escape")
		}
		return utf16.DecodeRune(r, lo), nil
	}
	return r, nil
}

func (s *scanner) hex4() (rune, bool) {
	if s.i+4 > len(s.b) {
		return 0, false
	}
	v, err := strconv.ParseUint(string(s.b[s.i:s.i+4]), 16, 32)
	s.i += 4
	return rune(v), err == nil
}

// number returns the span of a JSON number, checked against its grammar.
func (s *scanner) number() ([]byte, error) {
	s.peek()
	start := s.i
	if s.i < len(s.b) && s.b[s.i] == '-' {
		s.i++
	}
	if !s.digits() {
		return nil, s.errorf("expected a number")
	}
	if s.i < len(s.b) && s.b[s.i] == '.' {
		s.i++
		if !s.digits() {
			return nil, s.errorf("expected digits after the decimal point")
		}
	}
	if s.i < len(s.b) && (s.b[s.i] == 'e' || s.b[s.i] == 'E') {
		s.i++
		if s.i < len(s.b) && (s.b[s.i] == '+' || s.b[s.i] == '-') {
			s.i++
		}
		if !s.digits() {
			return nil, s.errorf("expected digits in the exponent")
		}
	}
	return s.b[start:s.i], nil
}

func (s *scanner) digits() bool {
	start := s.i
	for s.i < len(s.b) && s.b[s.i] >= '0' && s.b[s.i] <= '9' {
		s.i++
	}
	return s.i > start
}

// literal reads true, false or null.
func (s *scanner) literal() (string, error) {
	s.peek()
	for _, w := range [...]string{"true", "false", "null"} {
		if len(s.b)-s.i >= len(w) && string(s.b[s.i:s.i+len(w)]) == w {
			s.i += len(w)
			return w, nil
		}
	}
	return "", s.errorf("expected a value")
}

// value reads any JSON value into Go values: string, float64 or int64,
// bool, nil, tensor.Parameters for objects and []any for arrays. Its
// recursion is bounded by object and array, which enter a level each.
func (s *scanner) value() (any, error) {
	switch c := s.peek(); {
	case c == '"':
		b, err := s.str()
		return string(b), err
	case c == '{':
		p := tensor.Parameters{}
		err := s.object(func(key []byte) error {
			v, err := s.value()
			p[string(key)] = v
			return err
		})
		return p, err
	case c == '[':
		var a []any
		err := s.array(func() error {
			v, err := s.value()
			a = append(a, v)
			return err
		})
		return a, err
	case c == '-' || (c >= '0' && c <= '9'):
		return s.numberValue()
	}
	w, err := s.literal()
	switch w {
	case "true":
		return true, nil
	case "false":
		return false, nil
	}
	return nil, err
}

func (s *scanner) numberValue() (any, error) {
	n, err := s.number()
	if err != nil {
		return nil, err
	}
	if i, err := strconv.ParseInt(string(n), 10, 64); err == nil {
		return i, nil
	}
	f, err := strconv.ParseFloat(string(n), 64)
	if err != nil {
		return nil, s.errorf("number %s out of range", n)
	}
	return f, nil
}

// params reads a "parameters" object, calling fn with each key and its
// value as value reads it; a caller that wants one key need not build the
// whole map.
func (s *scanner) params(fn func(key []byte, v any)) error {
	if s.peek() != '{' {
		return s.errorf("\"parameters\" must be an object")
	}
	return s.object(func(key []byte) error {
		v, err := s.value()
		if err == nil {
			fn(key, v)
		}
		return err
	})
}
