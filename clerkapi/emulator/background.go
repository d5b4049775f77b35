package emulator

import (
	"time"
)

// background is another client sharing the instance's budget (Config.BackgroundLoad): evenly
// spaced requests that take from the instance limit at their own times. They are counted when
// the instance limit is next consulted, in time order before the request that consults it, so
// no goroutine runs them.
type background struct {
	period  int64 // nanoseconds between requests; 0: no background load
	next    int64 // Unix nanoseconds of the next one
	started bool
}

func newBackground(perSecond float64) background {
	if perSecond <= 0 {
		return background{}
	}
	return background{period: max(1, int64(float64(time.Second)/perSecond))}
}

// catchUp runs the background requests due by now. The caller holds instMu.
//
// The first call only starts the clock. Requests older than two windows are skipped, not run:
// for fixed and sliding windows they could not change what the limit allows now, and a long
// idle spell (or a fake clock's jump) would otherwise run them by the million.
func (s *Server) catchUp(now time.Time) {
	bg := &s.bg
	if bg.period == 0 {
		return
	}
	t := now.UnixNano()
	if !bg.started || t < bg.next-bg.period {
		// Also when the clock went back: a fake clock set to an earlier time restarts it.
		bg.started, bg.next = true, t+bg.period
		return
	}
	if horizon := 2 * int64(s.instRule.size); t-bg.next > horizon {
		bg.next += (t - horizon - bg.next) / bg.period * bg.period
	}
	for ; bg.next <= t; bg.next += bg.period {
		s.countBackground(s.inst.admit(time.Unix(0, bg.next), s.instRule))
	}
}

func (s *Server) countBackground(ok bool, _ time.Duration) {
	if ok {
		s.st.background.Add(1)
	} else {
		s.st.backgroundLimited.Add(1)
	}
}

// ConsumeInstance has another client take n requests' worth of the instance limit now, as n
// requests would but without their HTTP; it stops at the first the limit refuses and returns
// how many it took. Without an InstanceLimit it takes nothing and returns n.
func (s *Server) ConsumeInstance(n int) int {
	if s.instRule.limit == 0 {
		return n
	}
	now := s.now()
	s.instMu.Lock()
	defer s.instMu.Unlock()
	s.catchUp(now)
	for i := range n {
		ok, _ := s.inst.admit(now, s.instRule)
		s.countBackground(ok, 0)
		if !ok {
			return i
		}
	}
	return n
}

// backgroundCounts brings the background load up to now and returns its counts.
func (s *Server) backgroundCounts() (admitted, limited int64) {
	if s.bg.period > 0 {
		now := s.now()
		s.instMu.Lock()
		s.catchUp(now)
		s.instMu.Unlock()
	}
	return s.st.background.Load(), s.st.backgroundLimited.Load()
}
