package main

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"time"

	"github.com/rs/zerolog"

	"github.com/replace-metadata/replace-metadata/reports"
	pgmetrics "github.com/replace-metadata/replace-metadata/reports/metrics"
)

// pushTimeout bounds each push, so a Pushgateway that hangs delays the end
// of a run by this much at most.
const pushTimeout = 10 * time.Second

// runMetrics pushes a run's metrics to a Pushgateway: once as it starts,
// at each call of push while it goes (the updater's metrics interval), and
// once at the end with the final summary. Pushes run on a goroutine of
// their own, so a slow Pushgateway never holds up the updater; a push
// that is still going when the next comes is overtaken by it. Pushing
// never fails the run: a failed push is logged and the next one sends the
// whole state again.
type runMetrics struct {
	p     *pgmetrics.Pusher
	log   zerolog.Logger
	runID string
	start time.Time

	next    chan pgmetrics.Snapshot // the latest snapshot not yet pushed
	ctx     context.Context
	stop    context.CancelFunc
	done    chan struct{}
	failing bool // the last push failed; only the loop touches it until done
}

// startMetrics starts pushing the metrics of the run when cfg names a
// Pushgateway; else it returns nil. The group is metrics.job_name and the
// shard ("0-of-1" when the run is not sharded).
func startMetrics(cfg config, log zerolog.Logger, runID string, start time.Time) *runMetrics {
	if cfg.Metrics.PushgatewayURL == "" {
		return nil
	}
	shard := fmt.Sprintf("%d-of-%d", cfg.ShardIndex, cfg.ShardCount)
	p, err := pgmetrics.New(cfg.Metrics.PushgatewayURL, cfg.Metrics.JobName,
		map[string]string{"shard": shard}, &http.Client{Timeout: pushTimeout})
	if err != nil {
		log.Warn().Err(err).Msg("metrics will not be pushed")
		return nil
	}
	p.Timeout = pushTimeout
	m := &runMetrics{
		p: p, log: log.With().Str("pushgateway_url", p.URL()).Logger(),
		runID: runID, start: start,
		next: make(chan pgmetrics.Snapshot, 1), done: make(chan struct{}),
	}
	m.ctx, m.stop = context.WithCancel(context.Background())
	// The first push marks the run as running (exit code -1) at once.
	m.next <- m.snapshot(reports.Progress{ByStatus: map[int]int64{}})
	go m.loop()
	return m
}

func (m *runMetrics) snapshot(p reports.Progress) pgmetrics.Snapshot {
	return pgmetrics.Snapshot{
		RunID: m.runID, Version: toolVersion(), Rows: p.Counts,
		Requests: p.ByStatus, Retries: p.Retries, RateLimited: p.RateLimited,
		Start: m.start, At: time.Now(),
	}
}

// push is the updater's consumer: it queues a snapshot for the loop, or,
// on the final call, stops the loop and pushes the run's end.
func (m *runMetrics) push(p reports.Progress) {
	s := m.snapshot(p)
	if !p.Final {
		select {
		case <-m.next: // overtaken
		default:
		}
		m.next <- s
		return
	}
	m.stop()
	<-m.done
	if sum := p.Summary; sum != nil {
		s.Rows, s.At = sum.Counts, sum.End
		s.Finished, s.Complete, s.ExitCode = true, sum.Complete, sum.ExitCode
	}
	m.send(context.Background(), s)
}

func (m *runMetrics) loop() {
	defer close(m.done)
	for {
		select {
		case <-m.ctx.Done():
			return
		case s := <-m.next:
			m.send(m.ctx, s)
		}
	}
}

// send pushes s, and logs a failure when pushes start failing (not every
// time after, so a gateway that is down does not flood the log) and when
// they work again.
func (m *runMetrics) send(ctx context.Context, s pgmetrics.Snapshot) {
	err := m.p.Send(ctx, s)
	switch {
	case err != nil && errors.Is(ctx.Err(), context.Canceled):
		// The run ended during an interval push; the final push follows.
	case err != nil && (!m.failing || s.Finished):
		m.failing = true
		m.log.Warn().Err(err).Bool("final", s.Finished).Msg("could not push metrics")
	case err != nil:
		m.log.Debug().Err(err).Msg("could not push metrics")
	case m.failing:
		m.failing = false
		m.log.Info().Msg("pushing metrics works again")
	}
}

// redactURL returns u without its userinfo, for the log.
func redactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(not a URL)"
	}
	u.User = nil
	return u.String()
}
