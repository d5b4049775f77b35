package job

import (
	"context"
	"math"
	"strconv"
	"sync"
	"time"

	"github.com/rs/zerolog"
	"golang.org/x/time/rate"
)

// Limiter paces every request to one Clerk instance, reads and writes, on
// a single budget, since Clerk counts both against the same limit. It
// holds the whole pool back when Clerk answers 429, and finds Clerk's
// limit when the configured rate is above it, without assuming how Clerk
// counts: fixed or sliding windows of any length, or a token bucket.
//
// Measure. A 429 pauses every request for its Retry-After; the pause and
// the answers of the requests in flight when it began make an episode,
// judged when the pause ends. Whatever the shape, capacity comes back
// about Retry-After after the limit is met, so what Clerk accepted over
// the run the episode ended, spread over the run plus Retry-After, is the
// limit that run measured. Retry-After is whole seconds, rounded up:
// capacity came back within the second before it, so the measure takes
// half a second back, and is precise only when that second is small
// beside the run.
//
// Cut. A cut sets the rate just under the measure (95%). A probe that
// meets a 429 falls back just under the level that last held (2% under).
// At or under a level that held, a 429 the run does not rule out steps
// down 2%, then twice as far each time it happens again. Evidence that is
// weak cuts little: a lone 429 whose run measures the limit at about the
// pace only nudges, a lone 429 after a long run or contradicted by a later
// request's success may be noise and is let pass once in 30 s, and lone
// 429s asking for one second cannot take the rate under half of what held
// (random ones look the same). Another client using part of the budget
// makes the runs measure what is left.
//
// Probe and hold. After a quiet spell the rate climbs: halfway to the
// level the last cut came from at most, so it brackets the limit, then
// holds within 2% under it; a probe 1% past that edge comes only after 20
// s without a 429, doubling (up to two minutes) each time the edge holds.
// A probe step lasts at least twice the longest Retry-After and the
// longest overshoot cycle seen, so a long window can show an overshoot
// before the next step. Past the edge, steps double from 1% up to the
// configured rate, so the rate recovers when what limited it goes away.
//
// The limiter has no clock of its own but the now it is given; its sleeps
// are real. reserve and admit are Wait's two halves, which a simulation
// drives with its own clock.
type Limiter struct {
	max float64 // the configured rate; +Inf when unlimited
	now func() time.Time
	log zerolog.Logger

	mu         sync.Mutex
	rate       float64       // the pace in force, at most max
	pace       *rate.Limiter // rate with a burst of one: the slots
	epoch      uint64        // bumped when booked slots become void (a pause, a cut)
	pauseUntil time.Time
	last429    time.Time

	// The run: requests sent since the last pause ended (runStart is
	// zero until the first is sent). A run too thin to measure goes on
	// through the pause: the next episode measures both.
	runStart    time.Time
	runAccepted int

	ep          *episode  // the pause being judged, until it ends
	lastEpisode time.Time // when the last episode began
	accepted    int       // every accepted answer
	acceptedAt  int       // accepted when the last episode began
	lastExcused time.Time // when a lone 429 was last let pass
	lastCut     time.Time

	// What the probes found: the limit is between good and bad.
	measured  float64       // the limit the last cut measured, per second (0: none)
	good      float64       // the highest rate held for a probe step without a 429 (0: none)
	strikes   int           // episodes at or under good since a step held
	held      float64       // the highest rate held for a step since a confirmed cut
	weakFrom  float64       // the rate a row of cuts on weak evidence began at (0: none)
	bad       float64       // the lowest rate a cut came from (0: none, or passed since)
	probing   bool          // the rate was raised since the last cut
	quiet     time.Duration // no 429 for this long before the first raise after a cut
	edgeQuiet time.Duration // no 429 for this long before a probe at bad
	step      float64       // the next raise's most, relative
	lastRaise time.Time
	// longestWait is the longest Retry-After seen: a window at least that
	// long may hide a probe's overshoot until it ends, so a probe step
	// lasts at least that.
	longestWait time.Duration
	// longestCycle is the longest time between two episodes that cut
	// (up to maxCycle): overshooting, about a window.
	longestCycle time.Duration
	cuts         int
}

// episode is a pause and what it says about Clerk's limit.
type episode struct {
	began      time.Time // when the first 429 came
	sent       time.Time // when its request was sent
	retryAfter time.Duration
	// The run the episode ended, with the answers of the requests in
	// flight when it began.
	runStart time.Time
	accepted int
	refused  int // 429s: the first one, and those of requests in flight
	// contradictions: requests sent after the first refused one (but
	// before the pause) that Clerk accepted: a limit met refuses them.
	contradictions int
	rate           float64
	// The cycle since the previous episode began, and what was accepted
	// over it (0 when there was none).
	cycle         time.Duration
	cycleAccepted int
}

// Tuning of the limiter; see Limiter.
const (
	cutMargin     = 0.95 // a cut targets this share of the limit measured
	minRate       = 0.5
	minQuiet      = 10 * time.Second
	roughQuiet    = 2 * time.Second
	preciseWithin = 1.2 // a measure's bounds within this ratio is precise
	maxQuiet      = 2 * time.Minute
	raiseEvery    = 2 * time.Second
	minStep       = 0.01
	maxStep       = 0.08
	minEdgeQuiet  = 20 * time.Second
	bracketQuiet  = 5 * time.Second
	probeBack     = 0.02 // a failed probe falls back this far under the step that held
	movedUnder    = 0.9  // a measure this far under the level that held says the limit moved
	noiseMeasure  = 0.9  // a lone 429's run measuring the limit this close to the pace only nudges
	loneFloor     = 0.5  // lone 429s cannot cut under this share of the rate that held
	thinRun       = 3    // accepted answers below which a run is not measured
	loneRun       = 5 * time.Second
	excuseEvery   = 30 * time.Second
	maxCycle      = time.Minute // a longer cycle says nothing of the pace
	roundingBack  = time.Second / 2
	maxRetryAfter = 2 * time.Minute
	unlimitedBack = 2 * time.Minute // quiet this long, an unlimited rate is restored
)

// NewLimiter returns a limiter at perSecond requests a second; 0 or less
// means unlimited (429s can still slow it down).
func NewLimiter(perSecond float64, now func() time.Time, log zerolog.Logger) *Limiter {
	limit := math.Inf(1)
	if perSecond > 0 {
		limit = perSecond
	}
	if now == nil {
		now = time.Now
	}
	t := now()
	return &Limiter{max: limit, rate: limit, pace: newPace(limit), now: now, log: log, quiet: minQuiet,
		edgeQuiet: minEdgeQuiet, step: minStep, lastRaise: t}
}

// newPace returns slots at perSecond (+Inf: unlimited) with a burst of
// one, the first free at once: a pause or a cut starts the slots afresh,
// so requests booked before it owe nothing.
func newPace(perSecond float64) *rate.Limiter {
	return rate.NewLimiter(paceLimit(perSecond), 1)
}

func paceLimit(perSecond float64) rate.Limit {
	if math.IsInf(perSecond, 1) {
		return rate.Inf // rate.Inf is MaxFloat64, not +Inf
	}
	return rate.Limit(perSecond)
}

// Rate returns the rate in force, in requests per second (+Inf when
// unlimited).
func (l *Limiter) Rate() float64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.rate
}

// Cuts returns how many times 429s cut the rate.
func (l *Limiter) Cuts() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.cuts
}

// Wait blocks until a request may leave: after any pause, and at the paced
// rate. No request leaves during a pause, even one whose slot was booked
// before the pause began.
func (l *Limiter) Wait(ctx context.Context) error {
	for {
		at, epoch := l.reserve(l.now())
		if err := sleep(ctx, at.Sub(l.now())); err != nil {
			return err
		}
		if l.admit(l.now(), epoch) {
			return nil
		}
	}
}

// reserve books the next slot at or after now and returns it, with the
// epoch it was booked in.
func (l *Limiter) reserve(now time.Time) (time.Time, uint64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.settle(now)
	at := now
	if l.pauseUntil.After(at) {
		at = l.pauseUntil
	}
	// A burst of one never refuses a reservation of one.
	at = at.Add(l.pace.ReserveN(at, 1).DelayFrom(at))
	return at, l.epoch
}

// admit reports whether a slot booked in epoch may be used at now: no
// pause is on and none began, and the rate was not cut, since it was
// booked. Otherwise the request books again.
func (l *Limiter) admit(now time.Time, epoch uint64) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.settle(now)
	if epoch != l.epoch || now.Before(l.pauseUntil) {
		return false
	}
	if l.runStart.IsZero() {
		l.runStart = now
	}
	return true
}

// Observe notes Clerk's answer to a request sent at sent: its status and
// Retry-After. Answers other than 429 count against Clerk's limit too, so
// they measure what Clerk lets through.
func (l *Limiter) Observe(sent time.Time, status int, retryAfter time.Duration) {
	if status == 0 {
		return // no answer: says nothing about the limit
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	l.settle(now)
	ep := l.ep
	inFlight := ep != nil && !sent.After(ep.began) // sent before the pause began
	if status != 429 {
		l.accepted++
		switch {
		case inFlight:
			ep.accepted++
			if sent.After(ep.sent) {
				ep.contradictions++
			}
		case sent.After(l.lastEpisode):
			l.runAccepted++
		}
		return
	}
	l.last429 = now
	retryAfter = min(max(retryAfter, time.Second), maxRetryAfter)
	l.longestWait = max(l.longestWait, retryAfter)
	switch {
	case inFlight:
		ep.refused++
		if until := now.Add(retryAfter); until.After(l.pauseUntil) {
			l.pauseUntil = until
		}
		return
	case !l.lastEpisode.IsZero() && !sent.After(l.lastEpisode):
		return // in flight when an episode already judged began
	}
	// A new episode: the run is over.
	l.ep = &episode{began: now, sent: sent, retryAfter: retryAfter, runStart: l.runStart,
		accepted: l.runAccepted, refused: 1, rate: l.rate}
	if !l.lastEpisode.IsZero() {
		l.ep.cycle, l.ep.cycleAccepted = now.Sub(l.lastEpisode), l.accepted-l.acceptedAt
	}
	l.lastEpisode, l.acceptedAt = now, l.accepted
	l.pauseUntil = now.Add(retryAfter)
	l.epoch++
	l.pace = newPace(l.rate) // the first slot after the pause is its end
	l.runStart, l.runAccepted = time.Time{}, 0
}

// settle judges the episode whose pause is over, and probes upwards when
// it is time. The caller holds mu.
func (l *Limiter) settle(now time.Time) {
	if ep := l.ep; ep != nil {
		if now.Before(l.pauseUntil) {
			return
		}
		l.ep = nil
		l.judge(now, ep)
		return
	}
	l.maybeRaise(now)
}

// judge decides what an episode says about the limit, and cuts the rate
// as far as that.
func (l *Limiter) judge(now time.Time, ep *episode) {
	m := measure(ep)
	// A lone 429 that a later request contradicts, or after a long run,
	// may be noise, and so may 429s among many more successes of requests
	// sent after them. Over the level that held, a 429 is the probe's
	// answer.
	probeAnswer := l.good > 0 && ep.rate > l.good
	noiseLike := !probeAnswer && (ep.refused == 1 && (ep.contradictions > 0 || m.run >= loneRun) ||
		ep.contradictions > 2*ep.refused)
	if noiseLike && l.excuse(ep) {
		return
	}
	if ep.accepted < thinRun {
		// Too little to measure (Retry-After was too short, say): the
		// next episode measures this run too.
		l.runStart, l.runAccepted = ep.runStart, l.runAccepted+ep.accepted
		return
	}
	if c, ok := l.plan(ep, m, probeAnswer, noiseLike); ok {
		l.cut(now, ep, m, c)
	}
}

// excuse reports whether a noise-like episode only pauses: now and then,
// not soon after a cut; or always at an unlimited rate.
func (l *Limiter) excuse(ep *episode) bool {
	// Soon after a cut, a 429 says the cut was not enough.
	excusable := l.lastCut.IsZero() || ep.began.Sub(l.lastCut) >= loneRun
	if excusable && (l.lastExcused.IsZero() || ep.began.Sub(l.lastExcused) >= excuseEvery) {
		l.lastExcused = ep.began
		l.log.Debug().Str("rate", fmtRate(l.rate)).Str("pause", ep.retryAfter.String()).
			Msg("lone 429 among successes: paused, rate kept")
		return true
	}
	if math.IsInf(l.rate, 1) {
		// Unlimited, with requests in flight that Clerk accepted or a
		// long run behind: nothing to cut from but a guess.
		l.log.Debug().Str("pause", ep.retryAfter.String()).Msg("lone 429 among successes: paused, rate kept")
		return true
	}
	return false
}

// cutPlan is what an episode says to do: the rate to cut to, from cur,
// and the limit it measured.
type cutPlan struct {
	cur, target, limit float64
	// precise: the measure's bounds are close; bracketed: the cut falls
	// back into a bracket the probes found; weak: lone 429s asking for
	// the shortest wait, the weakest evidence.
	precise, bracketed, weak bool
}

// plan decides the cut an episode calls for, or reports false when the
// evidence says the limit is not under the pace.
func (l *Limiter) plan(ep *episode, m runMeasure, probeAnswer, noiseLike bool) (cutPlan, bool) {
	cur := l.rate
	finite := !math.IsInf(cur, 1) // an unlimited rate can only be cut to a measure
	limit, precise := m.limit, m.precise
	target := limit * cutMargin
	bracketed := true // the cut falls back into a bracket the probes found
	// Lone 429s that ask for the shortest wait are the weakest evidence
	// (random ones look the same): in a row, they cannot take the rate
	// under half of what held, or of where they began.
	weak := (ep.refused == 1 || ep.contradictions > ep.refused) && ep.retryAfter <= time.Second
	floor := 0.0
	if weak {
		floor = max(l.held, l.weakFrom) * loneFloor
	}
	switch {
	case finite && noiseLike && m.limit >= cur*noiseMeasure:
		// The run measures the limit at about the pace: noise, or the
		// edge of a limit the pace barely passed. Step off it a little.
		target = cur * (1 - probeBack)
	case probeAnswer:
		// Over the level that held: back to just under it (holding a
		// step is not proof, the edge may be close). The run measured
		// less than that if it spans a climb, or the start of a sliding
		// window's refill.
		target = max(target, l.good*(1-probeBack))
		limit, precise = max(limit, l.good), true
		if l.probing && cur >= l.bad*(1-2*minStep) {
			l.edgeQuiet = min(2*l.edgeQuiet, maxQuiet) // the edge held: probe it less often
		}
	case finite && l.good > 0 && m.upper >= l.good*movedUnder:
		// At or under the level that held, and the run does not rule it
		// out (even if capacity came back a whole second early): the edge
		// is closer than thought, or the limit moved a little (another
		// client took part of it). Step down, twice as far each time it
		// happens again before a step holds. (Runs that start with a pause
		// measure sliding windows half refilled: too low to follow.)
		frac := min(probeBack*float64(int(1)<<min(l.strikes, 8)), 0.5)
		l.strikes++
		target = max(target, cur*(1-frac), floor)
		l.good = target
		l.edgeQuiet = min(2*l.edgeQuiet, maxQuiet) // the edge is here: probe it less often
		limit, precise = max(limit, target), true
	default:
		bracketed = false
		// No level held, or the run rules it out: the limit is well
		// under it (another client took much of it), or the level held by
		// chance. The run measures it, and what Clerk accepted since the
		// last episode began (a cycle of overshoot and pause) is no more
		// than the limit.
		l.good, l.strikes = 0, 0
		if ep.cycle > 0 && ep.cycle <= maxCycle {
			target = max(target, float64(ep.cycleAccepted)/ep.cycle.Seconds())
		}
		target = max(target, floor)
		if !weak {
			l.held, l.weakFrom = 0, 0 // confirmed: the limit is what the runs measure
		}
		if finite && target >= cur*(1-minStep) {
			return cutPlan{}, false // the evidence says the limit is not under the pace
		}
	}
	return cutPlan{cur: cur, target: target, limit: limit, precise: precise, bracketed: bracketed, weak: weak}, true
}

// cut cuts the rate as c says, and arms the probes that follow.
func (l *Limiter) cut(now time.Time, ep *episode, m runMeasure, c cutPlan) {
	cur, target, limit, precise, bracketed, weak := c.cur, c.target, c.limit, c.precise, c.bracketed, c.weak
	finite := !math.IsInf(cur, 1)
	if finite {
		target = min(max(target, cur/4), cur*(1-minStep))
	}
	target = max(target, minRate)
	if weak && l.weakFrom == 0 {
		l.weakFrom = min(cur, target/cutMargin)
	}
	// The pace met the limit: the probes that follow stay under it until
	// the edge has held for a while.
	l.bad = cur
	if !bracketed && m.upper < cur || !finite {
		l.bad = max(m.upper, target*(1+4*minStep))
	}
	l.measured = limit
	if ep.cycle <= maxCycle && !l.probing {
		// Two episodes at one rate: overshooting, a cycle lasts about
		// a window.
		l.longestCycle = max(l.longestCycle, ep.cycle)
	}
	l.rate, l.probing = target, false
	switch {
	case bracketed:
		l.quiet, l.step = bracketQuiet, maxStep // bisect the bracket
	case precise:
		l.quiet, l.step = minQuiet, minStep
	default:
		l.quiet, l.step = roughQuiet, maxStep // the measure may be far under: probe soon, and fast
	}
	l.lastRaise, l.lastCut = now, now
	l.epoch++
	l.pace = newPace(l.rate)
	l.cuts++
	l.log.Warn().Str("rate", fmtRate(target)).Str("was", fmtRate(cur)).
		Float64("limit_per_second", math.Round(limit*10)/10).Bool("precise", precise).Int("refused", ep.refused).
		Str("pause", ep.retryAfter.String()).Msg("rate cut: Clerk's limit measured under the pace")
}

// runMeasure is what an episode's run says about the limit.
type runMeasure struct {
	run     time.Duration
	limit   float64 // accepted over the run plus Retry-After less half a second
	upper   float64 // the same if capacity came back a whole second early
	precise bool    // the two within preciseWithin of each other
}

func measure(ep *episode) runMeasure {
	var m runMeasure
	if !ep.runStart.IsZero() && ep.began.After(ep.runStart) {
		m.run = ep.began.Sub(ep.runStart)
	}
	// Retry-After is whole seconds, rounded up: capacity came back
	// between a second before it and it.
	span := m.run + ep.retryAfter
	m.limit = float64(ep.accepted) / max(span-roundingBack, roundingBack).Seconds()
	m.upper = math.Inf(1)
	if early := span - time.Second; early > 0 {
		m.upper = float64(ep.accepted) / early.Seconds()
		m.precise = float64(span)/float64(early) <= preciseWithin
	}
	return m
}

// maybeRaise probes a cut rate upwards after a quiet period: halfway to
// the level the last cut came from (no further than the step allows),
// then, once within 2% of it, in steps of 1% after edgeQuiet, and past
// it, by steps that double. The caller holds mu.
func (l *Limiter) maybeRaise(now time.Time) {
	if now.Sub(l.last429) < l.quiet || now.Sub(l.lastRaise) < max(raiseEvery, 2*l.longestWait, l.longestCycle) {
		return
	}
	cur := l.rate
	if l.last429.Before(l.lastRaise) && !math.IsInf(cur, 1) {
		l.good = max(l.good, cur) // a whole step without a 429
		l.held = max(l.held, cur)
		l.strikes, l.weakFrom = 0, 0
	}
	if cur >= l.max {
		l.lastRaise = now // the next step is held from now
		return
	}
	var next float64
	switch {
	case l.bad > 0 && cur < l.bad*(1-2*minStep):
		next = min((cur+l.bad)/2, cur*(1+l.step), l.bad*(1-2*minStep))
		l.step = min(2*l.step, maxStep)
	case l.bad > 0 && cur < l.bad*(1+minStep):
		if now.Sub(l.last429) < l.edgeQuiet {
			return // at the edge: hold
		}
		next = cur * (1 + minStep)
	default:
		if l.bad > 0 {
			// Held over the level a cut came from: the limit rose.
			l.bad, l.edgeQuiet, l.step = 0, minEdgeQuiet, minStep
		}
		next = cur * (1 + l.step)
		l.step = min(2*l.step, maxStep)
	}
	next = min(next, l.max)
	if math.IsInf(l.max, 1) && now.Sub(l.last429) >= unlimitedBack {
		next = l.max // long quiet: whatever limited an unlimited run has gone
	}
	l.probing = true
	l.lastRaise = now
	l.rate = next
	l.pace.SetLimitAt(now, paceLimit(next))
	if next >= l.max {
		l.log.Info().Str("rate", fmtRate(next)).Float64("limit_per_second", math.Round(l.measured*10)/10).
			Msg("rate restored: no 429 for a while")
		return
	}
	l.log.Debug().Str("rate", fmtRate(next)).Str("was", fmtRate(cur)).
		Float64("limit_per_second", math.Round(l.measured*10)/10).Msg("rate raised: probing")
}

func fmtRate(r float64) string {
	if math.IsInf(r, 1) {
		return "unlimited"
	}
	return strconv.FormatFloat(r, 'f', 1, 64) + "/s"
}
