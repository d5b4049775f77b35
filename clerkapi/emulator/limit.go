package emulator

import "time"

// window counts requests against a limit of n per size, either in fixed windows aligned to
// the clock's zero (as a Redis INCR+EXPIRE limiter does) or in a sliding window that holds
// the times of the last n accepted requests. Rejected requests are not counted. The zero
// value is ready to use; callers serialise access.
type window struct {
	start int64   // fixed: start of the current window, in Unix nanoseconds
	count int     // fixed: requests accepted in the current window
	ring  []int64 // sliding: times of accepted requests, oldest at head
	head  int
	n     int
}

// take records a request at now if the limit allows it. Otherwise it reports how long until
// the limit would allow one.
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

// retryAfter is the Retry-After value for a wait: whole seconds, rounded up, at least 1.
func retryAfter(wait time.Duration) int64 {
	s := int64((wait + time.Second - 1) / time.Second)
	return max(s, 1)
}
