package reports

import "time"

// Progress is how far a run has got: what every consumer of the updater
// (summary.json, the metrics push, the progress line or display) is told.
type Progress struct {
	// Elapsed is the time since this session started.
	Elapsed time.Duration
	// Final is set on the last call, after the run ended.
	Final bool
	// Total is the number of rows expected (0: unknown, e.g. stdin).
	Total int
	// Done is the rows with an outcome (or planned), every session of the
	// run; Counts are a run's by outcome.
	Done   int
	Counts Counts
	// Requests, Reads, Writes, Retries and RateLimited count this
	// session's requests.
	Requests, Reads, Writes, Retries, RateLimited int64
	// ByStatus counts this session's answers by HTTP status (0: none).
	ByStatus map[int]int64
	// Rate is the request rate in force (+Inf: unlimited), Workers the
	// pool's size.
	Rate     float64
	Workers  int
	InFlight int // requests sent and not yet answered
	// Stopping is set once the run has been told to stop.
	Stopping bool
	// Summary is the run's settled summary, on the final call only.
	Summary *Summary
}

// Updater calls its consumers with the run's progress, each at its own
// interval, from one loop: one snapshot a tick, however many consumers.
// Stop calls every consumer once more with the final state.
type Updater struct {
	// Snapshot returns the progress now.
	Snapshot  func() Progress
	consumers []consumer
	stop      chan struct{}
	done      chan struct{}
}

type consumer struct {
	every time.Duration
	fn    func(Progress)
}

// Every adds a consumer called every d while the run goes, and once by
// Stop. d of 0 or less calls it only from Stop.
func (u *Updater) Every(d time.Duration, fn func(Progress)) {
	u.consumers = append(u.consumers, consumer{every: d, fn: fn})
}

// Start starts the loop.
func (u *Updater) Start() {
	u.stop, u.done = make(chan struct{}), make(chan struct{})
	go u.loop()
}

// Halt ends the loop: no snapshot is taken after it returns, so the run's
// state may change under it. Stop halts it too.
func (u *Updater) Halt() {
	select {
	case <-u.stop:
	default:
		close(u.stop)
	}
	<-u.done
}

// Stop ends the loop, and calls every consumer with final (Final set).
func (u *Updater) Stop(final Progress) {
	u.Halt()
	final.Final = true
	for _, c := range u.consumers {
		c.fn(final)
	}
}

func (u *Updater) loop() {
	defer close(u.done)
	tick := time.Duration(0)
	for _, c := range u.consumers {
		if c.every > 0 && (tick == 0 || c.every < tick) {
			tick = c.every
		}
	}
	if tick == 0 {
		<-u.stop
		return
	}
	next := make([]time.Duration, len(u.consumers))
	for i, c := range u.consumers {
		next[i] = c.every
	}
	t := time.NewTicker(tick)
	defer t.Stop()
	start := time.Now()
	for {
		select {
		case <-u.stop:
			return
		case <-t.C:
		}
		elapsed := time.Since(start)
		var p *Progress
		for i, c := range u.consumers {
			if c.every <= 0 || elapsed < next[i]-tick/2 {
				continue
			}
			next[i] = elapsed + c.every
			if p == nil {
				s := u.Snapshot()
				p = &s
			}
			c.fn(*p)
		}
	}
}
