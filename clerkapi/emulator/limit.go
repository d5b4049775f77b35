package emulator

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// LimitShape is how a rate limit counts requests against its limit of N per window.
type LimitShape int

// The limit shapes. Clerk documents its limits as N requests per 10 s without saying how it
// counts them, so each shape is one way a real limiter does it.
const (
	// LimitDefault is LimitFixed, or LimitSliding when Config.Sliding is set.
	LimitDefault LimitShape = iota
	// LimitFixed allows N in each window, windows aligned to multiples of the window's length
	// from the Unix epoch, as a Redis INCR+EXPIRE limiter does. A client can get 2N through in
	// a span of one window that straddles two.
	LimitFixed
	// LimitSliding allows at most N in any span of the window's length.
	LimitSliding
	// LimitTokenBucket refills tokens at N per window, up to a burst, and takes one per
	// request; it starts full.
	LimitTokenBucket
	numShapes
)

var shapeNames = [numShapes]string{"default", "fixed", "sliding", "token-bucket"}

// String returns the shape's flag name, such as "token-bucket".
func (l LimitShape) String() string {
	if l >= 0 && l < numShapes {
		return shapeNames[l]
	}
	return "LimitShape(" + strconv.Itoa(int(l)) + ")"
}

// ParseLimitShape returns the shape named s (case-insensitive), as String spells it.
func ParseLimitShape(s string) (LimitShape, error) {
	for i, name := range shapeNames {
		if strings.EqualFold(s, name) {
			return LimitShape(i), nil
		}
	}
	return LimitDefault, fmt.Errorf("unknown limit shape %q (want one of %s)", s, strings.Join(shapeNames[1:], ", "))
}

// MarshalText encodes the shape as its name.
func (l LimitShape) MarshalText() ([]byte, error) {
	if l < 0 || l >= numShapes {
		return nil, fmt.Errorf("invalid limit shape %d", int(l))
	}
	return []byte(shapeNames[l]), nil
}

// UnmarshalText decodes a shape name written by MarshalText.
func (l *LimitShape) UnmarshalText(b []byte) error {
	v, err := ParseLimitShape(string(b))
	if err != nil {
		return err
	}
	*l = v
	return nil
}

// rule is one limit as New resolved it from Config.
type rule struct {
	shape LimitShape // never LimitDefault
	limit int        // 0: unlimited
	size  time.Duration
	burst int // token bucket only
}

// newRule resolves a limit's settings; Validate has checked them.
func newRule(shape LimitShape, sliding bool, limit int, size time.Duration, burst int) rule {
	if size == 0 {
		size = 10 * time.Second
	}
	if shape == LimitDefault {
		shape = LimitFixed
		if sliding {
			shape = LimitSliding
		}
	}
	if burst == 0 {
		burst = limit
	}
	return rule{shape: shape, limit: limit, size: size, burst: burst}
}

// minBurst is one second's worth of a limit of n per size, rounded up: a token bucket's
// smallest burst.
func minBurst(n int, size time.Duration) int {
	if size <= time.Second {
		return n
	}
	return int((int64(n)*int64(time.Second) + int64(size) - 1) / int64(size))
}

// checkLimit is Validate's check of one limit's settings.
func checkLimit(name string, shape LimitShape, sliding bool, limit int, size time.Duration, burst int) error {
	switch {
	case limit < 0:
		return fmt.Errorf("%s limit is negative", name)
	case size < 0:
		return fmt.Errorf("%s window is negative", name)
	case shape < 0 || shape >= numShapes:
		return fmt.Errorf("%s shape: unknown shape %d", name, int(shape))
	case sliding && shape != LimitDefault && shape != LimitSliding:
		return fmt.Errorf("%s shape is %v, but Sliding is set", name, shape)
	case burst < 0:
		return fmt.Errorf("%s burst is negative", name)
	case burst > 0 && shape != LimitTokenBucket:
		return fmt.Errorf("%s burst is set, but the shape is not token-bucket", name)
	}
	if burst > 0 && limit > 0 {
		if size == 0 {
			size = 10 * time.Second
		}
		if lo := minBurst(limit, size); burst < lo || burst > limit {
			return fmt.Errorf("%s burst is %d, want one second's worth to one window's worth: %d to %d", name, burst, lo, limit)
		}
	}
	return nil
}

// window counts requests against one limit. The zero value is ready to use; callers serialise
// access.
type window struct {
	start int64   // fixed: start of the current window, in Unix nanoseconds
	count int     // fixed: requests accepted in the current window
	ring  []int64 // sliding: times of accepted requests, oldest at head
	head  int
	n     int

	bucket tokenBucket
}

// admit records a request at now if r allows it. Otherwise it reports how long until r would
// allow one. Refused requests are not counted.
func (w *window) admit(now time.Time, r rule) (ok bool, wait time.Duration) {
	if r.shape == LimitTokenBucket {
		return w.bucket.take(now.UnixNano(), r)
	}
	return w.take(now, r.limit, r.size, r.shape == LimitSliding)
}

// take records a request at now if the fixed or sliding limit allows it. Otherwise it reports
// how long until the limit would allow one.
func (w *window) take(now time.Time, limit int, size time.Duration, sliding bool) (ok bool, wait time.Duration) {
	t := now.UnixNano()
	d := int64(size)
	if !sliding {
		start := t - t%d
		if t%d < 0 {
			start -= d
		}
		if start != w.start {
			w.start, w.count = start, 0
		}
		if w.count < limit {
			w.count++
			return true, 0
		}
		return false, time.Duration(start + d - t)
	}
	if w.ring == nil {
		w.ring = make([]int64, limit)
	}
	for w.n > 0 && w.ring[w.head] <= t-d {
		w.head = (w.head + 1) % len(w.ring)
		w.n--
	}
	if w.n < len(w.ring) {
		w.ring[(w.head+w.n)%len(w.ring)] = t
		w.n++
		return true, 0
	}
	return false, time.Duration(w.ring[w.head] + d - t)
}

// tokenBucket holds its tokens as credit in exact integers: a token is worth size (in
// nanoseconds) of credit, and credit grows by limit per nanosecond, so that a rate of limit
// per size needs no division.
type tokenBucket struct {
	credit int64 // up to burst*size
	last   int64 // Unix nanoseconds credit was counted to
	primed bool  // false: full, as a bucket nobody has used
}

func (b *tokenBucket) take(t int64, r rule) (bool, time.Duration) {
	size, full := int64(r.size), int64(r.burst)*int64(r.size)
	if !b.primed {
		b.primed, b.credit, b.last = true, full, t
	}
	if el := t - b.last; el > 0 {
		// Compare before multiplying: a long idle time times the rate overflows.
		if el >= (full-b.credit+int64(r.limit)-1)/int64(r.limit) {
			b.credit = full
		} else {
			b.credit += el * int64(r.limit)
		}
		b.last = t
	}
	if b.credit >= size {
		b.credit -= size
		return true, 0
	}
	need := size - b.credit
	return false, time.Duration((need + int64(r.limit) - 1) / int64(r.limit))
}

// retryAfter is the Retry-After value for a wait: whole seconds, rounded up, at least 1.
func retryAfter(wait time.Duration) int64 {
	s := int64((wait + time.Second - 1) / time.Second)
	return max(s, 1)
}
