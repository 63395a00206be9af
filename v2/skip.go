package v2

import "bytes"

// skip reads past one value of any kind without building it: a tensor's
// "data" seen before its datatype is skipped here and parsed later.
func (s *scanner) skip() error {
	var objs uint64 // bit d is set when nesting level d is an object
	depth := 0
	for {
		c := s.peek()
		switch {
		case c == '{' || c == '[':
			if s.depth+depth >= s.maxDepth || depth == maxSkipDepth {
				return s.deep()
			}
			s.i++
			objs &^= 1 << depth
			if c == '{' {
				objs |= 1 << depth
			}
			depth++
			if s.peek() != '}' && s.peek() != ']' {
				if c == '{' {
					if err := s.key(); err != nil {
						return err
					}
				}
				continue // to the first element
			}
		case c == '"':
			if err := s.skipString(); err != nil {
				return err
			}
		case c == '-' || (c >= '0' && c <= '9'):
			if _, err := s.number(); err != nil {
				return err
			}
		default:
			if _, err := s.literal(); err != nil {
				return err
			}
		}
		more, err := s.afterValue(&depth, objs)
		if err != nil || !more {
			return err
		}
	}
}

// skipArray is skip with a fast path for the common deferred "data": a flat
// array of numbers, whose end is the first ']' when no '[' or '"' comes
// before it. It does not check the numbers; the later parse does.
func (s *scanner) skipArray() error {
	if s.peek() == '[' {
		rest := s.b[s.i+1:]
		if end := bytes.IndexByte(rest, ']'); end >= 0 {
			span := rest[:end]
			if bytes.IndexByte(span, '[') < 0 && bytes.IndexByte(span, '"') < 0 {
				s.i += end + 2
				return nil
			}
		}
	}
	return s.skip()
}

// afterValue reads what follows a value: closing brackets, then either a
// ',' (and a key inside an object), reporting more = true, or the end of
// the outermost value.
func (s *scanner) afterValue(depth *int, objs uint64) (more bool, err error) {
	for *depth > 0 {
		inObj := objs&(1<<(*depth-1)) != 0
		if s.consume(',') {
			if inObj {
				return true, s.key()
			}
			return true, nil
		}
		closer := byte(']')
		if inObj {
			closer = '}'
		}
		if err := s.expect(closer); err != nil {
			return false, err
		}
		*depth--
	}
	return false, nil
}

// key reads an object key and its colon.
func (s *scanner) key() error {
	if s.peek() != '"' {
		return s.errorf("expected a string key")
	}
	if err := s.skipString(); err != nil {
		return err
	}
	return s.expect(':')
}

func (s *scanner) skipString() error {
	s.i++ // opening quote
	for s.i < len(s.b) {
		switch c := s.b[s.i]; {
		case c == '"':
			s.i++
			return nil
		case c == '\\':
			s.i += 2
			continue
		case c < 0x20:
			return s.errorf("control character %#02x in a string", c)
		}
		s.i++
	}
	return s.errorf("unterminated string")
}
