package v2

import (
	"math"
	"strconv"
	"unsafe"
)

// pow10 holds the powers of ten that float64 represents exactly.
var pow10 = [...]float64{1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10,
	1e11, 1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22}

// fastFloat converts a JSON number span exactly when its significand fits
// in 53 bits and its exponent in ±22 (Clinger's fast path: one exact
// conversion and one correctly rounded multiply or divide). ok is false
// when the number needs the general algorithm.
func fastFloat(b []byte) (f float64, ok bool) {
	f, n, ok := fastFloatAt(b, 0)
	return f, ok && n == len(b)
}

// fastFloatAt reads a JSON number starting at b[i] in one pass, returning
// it and the index after it; ok is false for anything off the fast path,
// malformed numbers included, which the caller then reads the slow way.
func fastFloatAt(b []byte, i int) (f float64, end int, ok bool) {
	neg := i < len(b) && b[i] == '-'
	if neg {
		i++
	}
	var mant uint64
	exp, digits, start := 0, 0, i
	for ; i < len(b) && b[i]-'0' < 10; i++ {
		mant = mant*10 + uint64(b[i]-'0')
		if mant != 0 {
			digits++
		}
	}
	if i == start {
		return 0, i, false
	}
	if i < len(b) && b[i] == '.' {
		i++
		fstart := i
		for ; i < len(b) && b[i]-'0' < 10; i++ {
			mant = mant*10 + uint64(b[i]-'0')
			exp--
			if mant != 0 {
				digits++
			}
		}
		if i == fstart {
			return 0, i, false
		}
	}
	if digits > 15 {
		return 0, i, false
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		e, n, ok := exponentAt(b, i+1)
		if !ok {
			return 0, i, false
		}
		exp, i = exp+e, n
	}
	f = float64(mant)
	switch {
	case mant == 0:
	case exp < -22 || exp > 22:
		return 0, i, false
	case exp < 0:
		f /= pow10[-exp]
	default:
		f *= pow10[exp]
	}
	if neg {
		f = -f
	}
	return f, i, true
}

// exponentAt reads an exponent's sign and up to three digits.
func exponentAt(b []byte, i int) (e, end int, ok bool) {
	neg := false
	if i < len(b) && (b[i] == '+' || b[i] == '-') {
		neg = b[i] == '-'
		i++
	}
	start := i
	for ; i < len(b) && b[i]-'0' < 10; i++ {
		e = e*10 + int(b[i]-'0')
	}
	if i == start || i-start > 3 {
		return 0, i, false
	}
	if neg {
		e = -e
	}
	return e, i, true
}

// parseFloat64 converts a JSON number span to the nearest float64.
func parseFloat64(b []byte) (float64, error) {
	if f, ok := fastFloat(b); ok {
		return f, nil
	}
	return strconv.ParseFloat(unsafe.String(&b[0], len(b)), 64)
}

// parseFloat32 converts a JSON number span to the nearest float32. Going
// through float64 rounds twice; that differs from rounding once only when
// the float64 lands exactly halfway between two float32s (or among their
// subnormals), and those cases take the general algorithm.
func parseFloat32(b []byte) (float32, error) {
	if f, ok := fastFloat(b); ok && float32Exact(f) {
		return float32(f), nil
	}
	f, err := strconv.ParseFloat(unsafe.String(&b[0], len(b)), 32)
	return float32(f), err
}

// float32Exact reports whether narrowing f gives the float32 nearest the
// decimal f was read from: f must not sit exactly halfway between two
// float32s, nor among float32 subnormals or past their range.
func float32Exact(f float64) bool {
	a := math.Abs(f)
	return math.Float64bits(f)&(1<<29-1) != 1<<28 && (a == 0 || a >= 0x1p-126) && a < math.MaxFloat32
}

// parseInt converts an integer span to int64, refusing fractions.
func parseInt(b []byte) (int64, bool) {
	neg := b[0] == '-'
	if neg {
		b = b[1:]
	}
	u, ok := parseUint(b)
	if !ok {
		return 0, false
	}
	if neg {
		if u > 1<<63 {
			return 0, false
		}
		return -int64(u), true
	}
	if u > math.MaxInt64 {
		return 0, false
	}
	return int64(u), true
}

// parseUint converts a span of decimal digits, refusing overflow.
func parseUint(b []byte) (uint64, bool) {
	if len(b) == 0 {
		return 0, false
	}
	var u uint64
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		d := uint64(c - '0')
		if u > (math.MaxUint64-d)/10 {
			return 0, false
		}
		u = u*10 + d
	}
	return u, true
}
