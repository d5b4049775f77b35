package emulator

import (
	"bytes"
	"context"
	"sync"
	"time"
)

// lateWrites tracks the writes FaultApplyLate has yet to apply.
type lateWrites struct {
	mu      sync.Mutex
	pending int
	idle    chan struct{} // closed while pending is 0
}

func (l *lateWrites) init() {
	l.idle = make(chan struct{})
	close(l.idle)
}

func (l *lateWrites) add() {
	l.mu.Lock()
	if l.pending == 0 {
		l.idle = make(chan struct{})
	}
	l.pending++
	l.mu.Unlock()
}

func (l *lateWrites) done() {
	l.mu.Lock()
	if l.pending--; l.pending == 0 {
		close(l.idle)
	}
	l.mu.Unlock()
}

func (l *lateWrites) pendingCount() int64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return int64(l.pending)
}

// applyLate answers a valid write that FaultApplyLate picked: nothing, until the client gives
// up, and the write applied Config.LateDelay after the request arrived, whether or not the
// client is still waiting. The per-user limit was taken on arrival, as Clerk would.
func (s *Server) applyLate(c *call, rec *record, fields [3]span, merge bool) {
	c.fault = FaultApplyLate
	s.st.faults[FaultApplyLate].Add(1)
	body := bytes.Clone(c.body) // c.body goes back to the pool
	logIdx, logGen := c.logIdx, c.logGen
	s.late.add()
	time.AfterFunc(time.Until(c.start.Add(s.cfg.LateDelay)), func() {
		defer s.late.done()
		rec.mu.Lock()
		s.store(rec, body, fields, merge, false, s.now())
		rec.mu.Unlock()
		s.st.applied.Add(1)
		if logIdx >= 0 {
			s.logMu.Lock()
			if logGen == s.logGen {
				s.log[logIdx].Applied = true
			}
			s.logMu.Unlock()
		}
	})
	s.hang(c)
}

// WaitLateWrites waits until every write FaultApplyLate has picked so far is applied, or ctx
// ends. Late writes are applied on time even after Close.
func (s *Server) WaitLateWrites(ctx context.Context) error {
	s.late.mu.Lock()
	idle := s.late.idle
	s.late.mu.Unlock()
	select {
	case <-idle:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
