package main

import (
	"fmt"
	"io"
	"math"
	"strings"
	"sync"
	"time"
	"unicode"

	"github.com/mattn/go-runewidth"
	"github.com/vbauerster/cupwriter"
	"github.com/vbauerster/mpb/v8"
	"github.com/vbauerster/mpb/v8/decor"
	"golang.org/x/term"

	"github.com/replace-metadata/replace-metadata/reports"
)

// displayInterval is how often the display is given the run's progress;
// it redraws a little more often (refreshInterval), so the spinner turns
// and log lines reach the screen soon after they are written.
const (
	displayInterval = 200 * time.Millisecond
	refreshInterval = 150 * time.Millisecond
)

// display is the live progress of a run, drawn on a terminal (stderr) by
// mpb: rows done of the total (a spinner when the total is unknown), rows
// per second, the rate limit in force, the ETA, the rows by outcome,
// retries, 429s, reads and writes, and on a stop the requests still in
// flight. It is an io.Writer for the log: each line written through it
// goes above the display, whole, at the next redraw, so log lines scroll
// above it and never tear it.
//
// It draws from its first Update and ends at Finish (or at an Update of
// the final progress, as the updater's Stop gives), leaving its last
// frame on the screen; from then on lines pass straight through. Nothing
// is drawn before the first Update, so a prompt (the live-key
// confirmation) has the terminal to itself. Any command that has a title
// and a reports.Progress can show one (run, plan, verify, rollback):
//
//	var d *display // nil: not drawn; its Update and Finish do nothing
//	out := io.Writer(&scrubbed{w: e.stderr, s: sec})
//	if displayOn(cfg.ProgressMode, out, e.getenv) {
//		d = newDisplay(out, "verify runs/nightly", rows)
//		out = d // the logger writes through it
//	}
//	u.Every(displayInterval, d.Update) // u.Stop(final) finishes it
type display struct {
	out io.Writer // stderr, scrubbed
	fd  int       // the terminal's file descriptor; -1: forced on something else

	mu   sync.Mutex // guards v, read by every redraw
	v    view
	wmu  sync.Mutex // guards p and bar; held by Write and Finish
	p    *mpb.Progress
	bar  *mpb.Bar
	done bool
}

// newDisplay returns the display of the command called title ("run
// users.ndjson"), drawn on out, of total rows (0: unknown, or taken from
// the progress). out is a terminal, or something that stands for one.
func newDisplay(out io.Writer, title string, total int) *display {
	fd := -1
	if f := terminalFile(out); f != nil && term.IsTerminal(int(f.Fd())) {
		fd = int(f.Fd())
	}
	return &display{out: out, fd: fd, v: view{title: cleanTitle(title), total: total}}
}

// displayOn reports whether the display is drawn on stderr: always with
// on, never with off; with auto when stderr is a terminal that can move
// its cursor (TERM is not dumb).
func displayOn(mode autoFlag, stderr io.Writer, getenv func(string) string) bool {
	switch mode {
	case progressOn:
		return true
	case progressOff:
		return false
	}
	return isTerminal(stderr) && getenv("TERM") != "dumb"
}

// progressDisplay makes the session's display when it is to be drawn, and
// returns the writer the log writes through: the display, or stderr.
func (s *session) progressDisplay(stderr io.Writer) io.Writer {
	if !displayOn(s.cfg.ProgressMode, stderr, s.env.getenv) {
		return stderr
	}
	command, name := "run", s.cfg.Input
	if s.plan {
		command = "plan"
	}
	if name == "-" {
		name = "stdin"
	}
	s.display = newDisplay(stderr, command+" "+name, 0)
	return s.display
}

// Write writes a log line above the display, or straight to out when the
// display is not drawn (yet, or any more).
func (d *display) Write(p []byte) (int, error) {
	d.wmu.Lock()
	defer d.wmu.Unlock()
	if d.p != nil {
		if n, err := d.p.Write(p); err == nil {
			return n, nil
		}
		// The display is gone (it could not draw): write past it.
	}
	return d.out.Write(p)
}

// Update is the updater's consumer: the display takes p, and starts
// drawing at the first call. The final progress finishes it.
func (d *display) Update(p reports.Progress) {
	if d == nil {
		return
	}
	if p.Final {
		d.Finish(p)
		return
	}
	d.mu.Lock()
	d.v.update(p)
	d.mu.Unlock()
	d.wmu.Lock()
	defer d.wmu.Unlock()
	if d.p == nil && !d.done {
		d.start()
	}
}

// start draws the display: one bar of two lines, each a function of the
// view.
func (d *display) start() {
	cw := cupwriter.New(d.out, d.fd < 0)
	if d.fd >= 0 {
		cw.SetTermFd(d.fd)
	}
	d.p = mpb.New(mpb.WithConsoleWriter(console{cw}), mpb.WithAutoRefresh(), mpb.WithRefreshRate(refreshInterval))
	line := func(i int, end string) mpb.BarFiller {
		return mpb.BarFillerFunc(func(w io.Writer, st decor.Statistics) error {
			d.mu.Lock()
			if i == 0 {
				d.v.spin++ // a turn a redraw
			}
			lines := d.v.lines(st.AvailableWidth)
			d.mu.Unlock()
			_, err := io.WriteString(w, lines[i]+end)
			return err
		})
	}
	// The total stays 0, so the bar never completes on its own: the
	// display ends when the run does, at Finish.
	bar, err := d.p.Add(0, line(0, ""), mpb.BarFillerTrim(), mpb.BarBtmExtender(line(1, "\n")))
	if err != nil {
		d.p.Shutdown()
		d.p = nil
		return
	}
	d.bar = bar
}

// Finish draws the final progress and stops drawing, leaving the last
// frame on the screen; lines written after it pass straight through.
func (d *display) Finish(final reports.Progress) {
	if d == nil {
		return
	}
	final.Final = true
	d.mu.Lock()
	d.v.update(final)
	d.mu.Unlock()
	// Writers wait: a line written now would go to a display that no
	// longer draws, and be lost.
	d.wmu.Lock()
	defer d.wmu.Unlock()
	if d.done {
		return
	}
	d.done = true
	if d.p == nil {
		return
	}
	d.bar.Abort(false) // one last redraw, of the final view, then the bar ends
	d.p.Wait()
	d.p, d.bar = nil, nil
}

// console is the terminal mpb draws on: the terminal's own size, or a
// standard one when the terminal does not say (or it is forced on
// something else).
type console struct{ *cupwriter.Writer }

func (c console) IsTerminal() bool { return true }

// Flush draws a frame, and has the next one start from the first column:
// cupwriter moves the cursor up to redraw, never left, and a key echoed
// meanwhile (^C) leaves it a few columns in, where the next frame, or a
// log line above it, would start.
func (c console) Flush(lines int) error {
	if err := c.Writer.Flush(lines); err != nil {
		return err
	}
	if c.Writer.Len() > 0 { // the cursor's move up, kept for the next frame
		next := append([]byte{'\r'}, c.Writer.Bytes()...)
		c.Writer.Reset()
		c.Writer.Write(next)
	}
	return nil
}

func (c console) GetTermSize() (width, height int, err error) {
	if c.Writer.IsTerminal() {
		width, height, err = c.Writer.GetTermSize()
	}
	if err != nil || width <= 0 {
		width = 80
	}
	if err != nil || height <= 0 {
		height = 24
	}
	return width, height, nil
}

// rateWindow is how far back rows per second are measured.
const rateWindow = 10 * time.Second

// view is what the display shows, made from the progress it was given
// and nothing else, so a test draws frames without a terminal or a clock.
type view struct {
	title string
	total int

	p       reports.Progress
	started bool
	// first is the first progress given, from which the session's
	// average rate is taken at the end.
	first sample
	// samples are the rows done over the last rateWindow.
	samples []sample
	// asked is the highest rate seen: the rate asked for, before any cut.
	asked float64
	// last429 is when the count of 429s last rose; seen429 says it did.
	last429 time.Duration
	seen429 bool
	spin    int
}

type sample struct {
	at   time.Duration
	done int
}

func (v *view) update(p reports.Progress) {
	if v.started && p.RateLimited > v.p.RateLimited {
		v.last429, v.seen429 = p.Elapsed, true
	}
	if !v.started {
		v.started, v.first = true, sample{p.Elapsed, p.Done}
	}
	if p.Total > 0 {
		v.total = p.Total
	}
	v.p = p
	if p.Rate > v.asked {
		v.asked = p.Rate
	}
	v.samples = append(v.samples, sample{p.Elapsed, p.Done})
	for len(v.samples) > 2 && p.Elapsed-v.samples[1].at >= rateWindow {
		v.samples = v.samples[1:]
	}
}

// rowsPerSecond is the rows done a second: over the last rateWindow while
// the run goes, over the whole session at the end; ok is false until there
// is a second to measure.
func (v *view) rowsPerSecond() (rate float64, ok bool) {
	from := v.samples[0]
	if v.p.Final {
		from = v.first
	}
	span := (v.p.Elapsed - from.at).Seconds()
	if span < 1 {
		return 0, false
	}
	return float64(v.p.Done-from.done) / span, true
}

// lines are the display's two lines, each at most width columns: how far
// the run has got, then its rows by outcome and its requests. What matters
// most comes first, so a narrow terminal cuts what matters least.
func (v *view) lines(width int) [2]string {
	if !v.started {
		return [2]string{fit(v.title, width), ""}
	}
	p := v.p
	perSec, ok := v.rowsPerSecond()
	var tail []string
	switch {
	case p.Final && p.Summary != nil && p.Summary.Stopped != "":
		tail = append(tail, "stopped: "+p.Summary.Stopped)
	case p.Final:
		tail = append(tail, "done in "+fmtDuration(p.Elapsed))
	case p.Stopping:
		tail = append(tail, fmt.Sprintf("stopping: %s in flight", count(p.InFlight, "request")))
	}
	if ok {
		tail = append(tail, fmt.Sprintf("%.1f rows/s", perSec))
	} else {
		tail = append(tail, "- rows/s")
	}
	tail = append(tail, "limit "+v.limit())
	switch {
	case p.Final || p.Stopping || v.total <= 0:
	case p.Done >= v.total:
		tail = append(tail, "ETA 0s")
	case ok && perSec > 0:
		eta := time.Duration(math.Ceil(float64(v.total-p.Done)/perSec)) * time.Second
		tail = append(tail, "ETA "+fmtDuration(eta))
	}
	rest := "  " + strings.Join(tail, "  ")

	var first string
	if v.total > 0 {
		counts := fmt.Sprintf(" %s/%s %3d%%", group(p.Done), group(v.total), min(100, p.Done*100/v.total))
		bar := ""
		// The bar's width depends on the terminal's alone, so it does not
		// jump as the numbers beside it grow.
		if barW := min(width-runewidth.StringWidth(v.title)-barRoom, 30); barW >= 10 {
			fill := barW * min(p.Done, v.total) / v.total
			bar = " [" + strings.Repeat("=", fill)
			if fill < barW {
				bar += ">" + strings.Repeat("-", barW-fill-1)
			}
			bar += "]"
		}
		first = v.title + bar + counts + rest
	} else {
		spin := " "
		if !p.Final {
			spin = string(`|/-\`[v.spin%4])
		}
		first = fmt.Sprintf("%s %s %s%s", v.title, spin, count(p.Done, "row"), rest)
	}

	var parts []string
	// A plan's rows have no outcome of these: it counts them otherwise.
	if p.Counts.Total() > 0 || p.Done == 0 {
		var c []string
		for _, s := range reports.Statuses() {
			c = append(c, fmt.Sprintf("%s %s", s, group(p.Counts[s])))
		}
		parts = append(parts, strings.Join(c, "  "))
	}
	parts = append(parts, fmt.Sprintf("retries %s  429s %s", group(int(p.Retries)), group(int(p.RateLimited))),
		fmt.Sprintf("reads %s  writes %s", group(int(p.Reads)), group(int(p.Writes))))
	if !p.Final && !p.Stopping {
		parts = append(parts, fmt.Sprintf("in flight %d", p.InFlight))
	}
	return [2]string{fit(first, width), fit(strings.Join(parts, " | "), width)}
}

// barRoom is what the first line keeps beside the bar for its numbers.
const barRoom = 54

// cutShows is how long after the last 429 a cut rate is shown as a cut.
const cutShows = 10 * time.Second

// limit is the rate in force, and while 429s come, the rate it was cut
// from.
func (v *view) limit() string {
	r := v.p.Rate
	if r <= 0 || math.IsInf(r, 1) {
		return "unlimited"
	}
	s := fmtPerSecond(r)
	if v.seen429 && r < v.asked*0.995 && v.p.Elapsed-v.last429 < cutShows {
		s += " (cut from " + fmtPerSecond(v.asked) + ")"
	}
	return s
}

func fmtPerSecond(r float64) string {
	if r == math.Trunc(r) {
		return fmt.Sprintf("%.0f/s", r)
	}
	return fmt.Sprintf("%.1f/s", r)
}

// fit cuts s to width columns.
func fit(s string, width int) string {
	if width <= 0 || runewidth.StringWidth(s) <= width {
		return s
	}
	return runewidth.Truncate(s, width, "")
}

// cleanTitle keeps a title (a file name, say) from moving the cursor or
// ringing the bell: control characters become '?'.
func cleanTitle(s string) string {
	return strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return '?'
		}
		return r
	}, s)
}
