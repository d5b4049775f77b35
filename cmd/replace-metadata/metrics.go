package main

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"time"

	"github.com/rs/zerolog"

	"github.com/replace-metadata/replace-metadata/job"
	"github.com/replace-metadata/replace-metadata/reports"
	pgmetrics "github.com/replace-metadata/replace-metadata/reports/metrics"
)

// pushTimeout bounds each push, so a Pushgateway that hangs delays the end
// of a run by this much at most.
const pushTimeout = 10 * time.Second

// runMetrics pushes a run's metrics to a Pushgateway: once as it starts,
// every push interval while it goes, and once when its summary is final.
// A nil *runMetrics (no Pushgateway configured) does nothing. Pushing
// never fails the run: a failed push is logged and the next one sends the
// whole state again.
type runMetrics struct {
	p    *pgmetrics.Pusher
	log  zerolog.Logger
	snap func() pgmetrics.Snapshot

	stop    context.CancelFunc
	done    chan struct{}
	failing bool // the last push failed; only the loop touches it until done
}

// startMetrics starts pushing the metrics of the run of j, recorded by w,
// when cfg names a Pushgateway; else it returns nil. The group is
// metrics.job_name and the shard ("0-of-1" when the run is not sharded).
func startMetrics(ctx context.Context, cfg config, log zerolog.Logger, runID string, start time.Time, w *reports.Writer, j *job.Job) *runMetrics {
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
		p:   p,
		log: log.With().Str("pushgateway_url", p.URL()).Logger(),
		snap: func() pgmetrics.Snapshot {
			st := j.Stats()
			return pgmetrics.Snapshot{
				RunID: runID, Version: toolVersion(), Rows: w.Counts(),
				Requests: st.ByStatus, Retries: st.Retries, RateLimited: st.RateLimited,
				Start: start, At: time.Now(),
			}
		},
		done: make(chan struct{}),
	}
	// Pushes go on through a stop's grace period: only finish ends them.
	ctx, m.stop = context.WithCancel(context.WithoutCancel(ctx))
	go m.loop(ctx, time.Duration(cfg.Metrics.PushInterval))
	return m
}

func (m *runMetrics) loop(ctx context.Context, every time.Duration) {
	defer close(m.done)
	// The first push marks the run as running (exit code -1) at once.
	m.send(ctx, m.snap())
	if every <= 0 {
		return // only the final push
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			m.send(ctx, m.snap())
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
		// finish cut an interval push short; the final push follows.
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

// finish stops the pushes during the run and pushes the run's end, sum
// being its final summary.
func (m *runMetrics) finish(sum reports.Summary) {
	if m == nil {
		return
	}
	m.stop()
	<-m.done
	s := m.snap()
	s.Rows = sum.Counts
	s.At = sum.End
	s.Finished, s.Complete, s.ExitCode = true, sum.Complete, sum.ExitCode
	m.send(context.Background(), s)
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
