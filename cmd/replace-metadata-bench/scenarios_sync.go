package main

// The scenarios of issue 10, reading every user before writing it: a
// nightly sync where few rows changed, the overhead of the reads against
// the bare write loop, and the peak RSS of a run that reads and backs up
// every user.

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// syncChanged says whether user i's stored metadata differs from row i in
// the sync scenario: 1% of users, spread through the file.
func syncChanged(i int) bool { return i%100 == 42 }

// storedRow is row i's metadata as Clerk returns it once stored: the same
// values, but with the keys in the order Postgres's jsonb keeps them
// (shorter keys first, then bytewise), so a read never returns the input's
// bytes and every unchanged row is compared value by value, as against
// Clerk. With changed set, public_metadata's seats differ.
func storedRow(i int, changed bool) (public, private, unsafe string) {
	seats := i % 50
	if changed {
		seats++
	}
	public = `{"plan":"pro","tags":["beta","eu"],"seats":` + strconv.Itoa(seats) + `,"features":{"sso":true,"audit_log":false}}`
	private = fmt.Sprintf(`{"billing":{"vat":"DE123456789","country":"DE"},"ledger_id":9007199254740993,"stripe_customer":"cus_%08d"}`, i)
	unsafe = `{"theme":"dark","onboarding":{"done":false,"step":3}}`
	return
}

// otherRow is row i with another plan, the same size: the rows the tool
// writes over the bare loop's in overhead-read, so that every row it
// reads changes something.
func otherRow(i int) (id, public, private, unsafe string) {
	id, public, private, unsafe = realisticRow(i)
	return id, strings.Replace(public, `"plan":"pro"`, `"plan":"biz"`, 1), private, unsafe
}

// writeFile writes a file of n lines, line(w, i) writing line i, the
// first time key is asked for, and returns its path.
func (b *bench) writeFile(key, name string, n int, line func(w *bufio.Writer, i int)) (string, error) {
	if p, ok := b.inputs[key]; ok {
		return p, nil
	}
	p := filepath.Join(b.dir, name)
	f, err := os.Create(p)
	if err != nil {
		return "", err
	}
	w := bufio.NewWriterSize(f, 1<<20)
	for i := range n {
		line(w, i)
	}
	if err := w.Flush(); err != nil {
		f.Close()
		return "", err
	}
	if err := f.Close(); err != nil {
		return "", err
	}
	b.inputs[key] = p
	return p, nil
}

// syncUsers returns a users file (clerk-emulator -users) of users 0..n-1
// holding storedRow's metadata: what the input's rows hold, but for the
// 1% syncChanged picks.
func (b *bench) syncUsers(n int) (string, error) {
	return b.writeFile(fmt.Sprintf("sync-users-%d", n), fmt.Sprintf("sync-users-%d.ndjson", n), n, func(w *bufio.Writer, i int) {
		id, _, _, _ := realisticRow(i)
		pub, priv, uns := storedRow(i, syncChanged(i))
		fmt.Fprintf(w, `{"id":%q,"public_metadata":%s,"private_metadata":%s,"unsafe_metadata":%s}`+"\n", id, pub, priv, uns)
	})
}

// otherInput returns n rows of otherRow as NDJSON.
func (b *bench) otherInput(n int) (string, error) {
	return b.writeFile(fmt.Sprintf("other-%d", n), fmt.Sprintf("other-%d.ndjson", n), n, func(w *bufio.Writer, i int) {
		id, pub, priv, uns := otherRow(i)
		fmt.Fprintf(w, `{"user_id":%q,"public_metadata":%s,"private_metadata":%s,"unsafe_metadata":%s}`+"\n", id, pub, priv, uns)
	})
}

// methodCounts is the emulator's requests by method: GET are the batched
// reads, PUT the writes.
func (e *emulatorProc) methodCounts(ctx context.Context) (map[string]int64, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, e.url+"/_emulator/stats", nil)
	if err != nil {
		return nil, err
	}
	resp, err := e.http.Do(req)
	if err != nil {
		return nil, fmt.Errorf("emulator stats: %w", err)
	}
	defer resp.Body.Close()
	var st struct {
		ByMethod map[string]int64 `json:"by_method"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&st); err != nil {
		return nil, fmt.Errorf("emulator stats: %w", err)
	}
	return st.ByMethod, nil
}

// readsBound is the most reads n distinct users may cost: one per 100,
// plus the first request, which goes alone (a wrong key then costs one
// request), plus the run's retries.
func readsBound(users int, retries int64) int64 {
	return int64(math.Ceil(float64(users)/100)) + 1 + retries
}

// syncNightly: a nightly sync of n rows of which 1% changed, against an
// emulator that holds every user and limits at 1,000 requests/s; the tool
// reads each user (in batches of 100), skips the unchanged rows and
// writes the rest. Then the same rows with --no-read, for their first
// tenth, extrapolated.
func syncNightly(ctx context.Context, b *bench) error {
	const limit = 1000
	n := b.pick(1_000_000, 100_000)
	blind := max(n/10, 1)
	changed := 0
	for i := range n {
		if syncChanged(i) {
			changed++
		}
	}
	t0 := time.Now()
	in, err := b.input("ndjson", n)
	if err != nil {
		return err
	}
	blindIn, err := b.input("ndjson", blind)
	if err != nil {
		return err
	}
	users, err := b.syncUsers(n)
	if err != nil {
		return err
	}
	gen := time.Since(t0)
	b.describe("sync", "emulator -instance-limit %d -instance-window 1s (fixed windows: %d/s) -users FILE seeded with the %d users of the input, "+
		"whose metadata equals their row's as JSON values (keys in jsonb order, so never as bytes) but for %d users (1%%: public_metadata.seats differs); "+
		"tool run --rate %d (reads on, the default), then --no-read --rate %d on the first %d rows against the same emulator, extrapolated ×%g; "+
		"inputs written in %s, the emulator's start (loading the users) is not timed",
		limit, limit, n, changed, limit, limit, blind, float64(n)/float64(blind), secs(gen))
	t0 = time.Now()
	emu, err := b.startEmulatorWithin(ctx, 5*time.Minute, "-instance-limit", strconv.Itoa(limit), "-instance-window", "1s", "-users", users)
	if err != nil {
		return err
	}
	defer emu.stop()
	b.logf("   emulator loaded %d users in %s", n, secs(time.Since(t0)))

	u, s, err := b.apply(ctx, emu.url, in, "--rate", strconv.Itoa(limit))
	if err != nil {
		return err
	}
	st, err := emu.stats(ctx)
	if err != nil {
		return err
	}
	methods, err := emu.methodCounts(ctx)
	if err != nil {
		return err
	}
	if s.Succeeded != changed || s.Unchanged != n-changed {
		return fmt.Errorf("sync: %d succeeded and %d unchanged, want %d and %d", s.Succeeded, s.Unchanged, changed, n-changed)
	}
	share := float64(s.Requests) / float64(n)
	b.add(figure{"sync", fmt.Sprintf("requests / rows (%d rows, %d changed)", n, changed), "≤ 2.05%",
		fmt.Sprintf("%.3f%% (%d requests: %d reads, %d writes; the emulator saw %d GET, %d PUT)",
			100*share, s.Requests, s.Reads, s.Writes, methods["GET"], methods["PUT"]),
		verdict(share <= 0.0205)})
	bound := readsBound(n, s.Retries)
	b.add(figure{"sync", "reads / distinct users", "≤ 1/100 (+ the first request, alone, + retries)",
		fmt.Sprintf("%.4f%% (%d reads for %d users; bound %d = ⌈%d/100⌉ + 1 + %d retries)",
			100*float64(s.Reads)/float64(n), s.Reads, n, bound, n, s.Retries),
		verdict(s.Reads <= bound)})
	ideal := float64(s.Requests) / limit
	ratio := u.wall.Seconds() / ideal
	b.add(figure{"sync", "process wall time / (requests ÷ limit)", "≤ 1.10",
		fmt.Sprintf("%.3f (%s for %d requests at %d/s = %.2f s; elapsed_seconds %.2f; 429s: %d)",
			ratio, secs(u.wall), s.Requests, limit, ideal, s.ElapsedSeconds, st.RateLimited),
		verdict(ratio <= 1.10)})
	b.add(figure{"sync", fmt.Sprintf("peak RSS, %d rows", n), "< 100 MB", mb(u.maxRSS), verdict(u.maxRSS < 100e6)})
	b.add(figure{"sync", "tool's cost (reads on)", "", fmt.Sprintf("%s; %.1f µs CPU a row", cost(u), u.cpu.Seconds()/float64(n)*1e6), ""})

	return b.syncBlind(ctx, emu.url, blindIn, n, blind, limit, u, s)
}

// syncBlind writes the sync's first rows blind (--no-read: every row a
// write) and sets the whole input's requests and wall time, extrapolated,
// beside the sync's (u, s).
func (b *bench) syncBlind(ctx context.Context, apiURL, blindIn string, n, blind, limit int, u usage, s summary) error {
	bu, bs, err := b.apply(ctx, apiURL, blindIn, "--rate", strconv.Itoa(limit), "--no-read")
	if err != nil {
		return err
	}
	if bs.Succeeded != blind {
		return fmt.Errorf("sync --no-read: %d of %d rows succeeded", bs.Succeeded, blind)
	}
	k := float64(n) / float64(blind)
	xWall := time.Duration(float64(bu.wall) * k)
	xReq := int64(math.Round(float64(bs.Requests) * k))
	b.add(figure{"sync", fmt.Sprintf("--no-read, the same input: requests and wall time (measured on the first %d rows, ×%g)", blind, k), "",
		fmt.Sprintf("%d requests (%.1f%% of rows), %s (measured: %d requests in %s; %.1f/s; peak RSS %s); reads on: %.1f× fewer requests, %.1f× less wall time",
			xReq, 100*float64(xReq)/float64(n), secs(xWall), bs.Requests, secs(bu.wall), float64(bs.Requests)/bs.ElapsedSeconds, mb(bu.maxRSS),
			float64(xReq)/float64(s.Requests), xWall.Seconds()/u.wall.Seconds()), ""})
	return nil
}

// ratios is a[i]/b[i] round by round: on a shared machine a round's
// figures move together, so the paired ratios say what the medians of
// each side, taken apart, can hide.
func ratios(a, b []float64) string {
	var parts []string
	for i := range min(len(a), len(b)) {
		parts = append(parts, pct(a[i]/b[i]))
	}
	return strings.Join(parts, ", ")
}

// overheadRead: the overhead scenario with reads on. One emulator; the
// bare loop first creates the users. Then each round: the bare loop writes
// every user (realistic rows), the tool writes the same rows blind
// (--no-read, as overhead does), then the tool, reading, writes rows that
// differ in one value from what each user holds, so that every row is
// read, diffed, backed up (synced) and written.
func overheadRead(ctx context.Context, b *bench) error {
	w := b.workers
	rows := b.pick(30000, 5000)
	rounds := 3
	if b.quick {
		rounds = 1
	}
	b.describe("overhead-read", "one emulator -auto-create (no latency, no limits); a bare loop pass creates the users first; "+
		"then %d round(s) of: bare loop (W=%d, realistic rows), tool --rate unlimited --workers %d --no-read (the same rows), "+
		"tool --rate unlimited --workers %d reading (rows with another plan: every row read, changed, backed up and written), "+
		"each over the same %d users; tool rows/s = summary writes / elapsed_seconds, bare = rows / loop time; medians compared",
		rounds, w, w, w, rows)
	emu, err := b.startEmulator(ctx, "-auto-create")
	if err != nil {
		return err
	}
	defer emu.stop()
	same, err := b.input("ndjson", rows)
	if err != nil {
		return err
	}
	other, err := b.otherInput(rows)
	if err != nil {
		return err
	}
	if _, _, err := bareLoop(ctx, emu.url, w, rows); err != nil {
		return err
	}
	workers := strconv.Itoa(w)
	perRow := func(d time.Duration) float64 { return d.Seconds() / float64(rows) * 1e6 }
	var bare, blind, read, blindCPU, readCPU []float64
	var last summary
	for range rounds {
		rps, _, err := bareLoop(ctx, emu.url, w, rows)
		if err != nil {
			return err
		}
		bare = append(bare, rps)
		u, s, err := b.apply(ctx, emu.url, same, "--rate", "unlimited", "--workers", workers, "--no-read")
		if err != nil {
			return err
		}
		blind = append(blind, float64(s.Writes)/s.ElapsedSeconds)
		blindCPU = append(blindCPU, perRow(u.cpu))
		u, s, err = b.apply(ctx, emu.url, other, "--rate", "unlimited", "--workers", workers)
		if err != nil {
			return err
		}
		if s.Succeeded != rows || s.Writes != int64(rows) {
			return fmt.Errorf("overhead-read: %d rows succeeded, %d writes, want %d", s.Succeeded, s.Writes, rows)
		}
		read = append(read, float64(s.Writes)/s.ElapsedSeconds)
		readCPU = append(readCPU, perRow(u.cpu))
		last = s
	}
	mBare, mBlind, mRead := median(bare), median(blind), median(read)
	b.add(figure{"overhead-read", fmt.Sprintf("tool, reads on: rows/s / bare loop rows/s (W=%d)", w), "≥ 70%",
		fmt.Sprintf("%s (tool %.0f rows/s, bare %.0f/s: medians)", pct(mRead/mBare), mRead, mBare), verdict(mRead/mBare >= 0.7)})
	b.add(figure{"overhead-read", "tool --no-read, same rounds: rows/s / bare loop rows/s", "",
		fmt.Sprintf("%s (tool %.0f rows/s); reads on / --no-read: %s", pct(mBlind/mBare), mBlind, pct(mRead/mBlind)), ""})
	b.add(figure{"overhead-read", "rows/s of each round", "",
		fmt.Sprintf("bare %s; --no-read %s; reads on %s (reads on / bare, round by round: %s; --no-read / bare: %s)",
			rates(bare), rates(blind), rates(read), ratios(read, bare), ratios(blind, bare)), ""})
	b.add(figure{"overhead-read", "tool's CPU per row", "",
		fmt.Sprintf("reads on %.0f µs, --no-read %.0f µs (whole process, medians); reads on, last round: %d requests (%d reads) for %d rows",
			median(readCPU), median(blindCPU), last.Requests, last.Reads, rows), ""})
	return nil
}

// memoryRunRead: memory-run with reads on: every user is read (the
// emulator creates it, empty, when the list names it), so every row
// changes and every user is backed up, the most a run holds per user.
func memoryRunRead(ctx context.Context, b *bench) error {
	small, large := b.memorySizes()
	b.describe("memory-run-read", "run --rate unlimited --workers 64, reads on, at %d and %d rows of distinct users, each against a fresh emulator -auto-create "+
		"(no latency, no limits; a list by user_id creates the users it names, empty): every user read, every row changed and backed up", small, large)
	var us [2]usage
	var sums [2]summary
	for i, n := range []int{small, large} {
		in, err := b.input("ndjson", n)
		if err != nil {
			return err
		}
		emu, err := b.startEmulator(ctx, "-auto-create")
		if err != nil {
			return err
		}
		us[i], sums[i], err = b.apply(ctx, emu.url, in, "--rate", "unlimited", "--workers", "64")
		emu.stop()
		if err != nil {
			return err
		}
		if sums[i].Succeeded != n {
			return fmt.Errorf("%d rows: %d succeeded", n, sums[i].Succeeded)
		}
	}
	b.memoryFigures("memory-run-read", small, large, us[0], us[1])
	b.add(figure{"memory-run-read", fmt.Sprintf("run, %d rows", large), "",
		fmt.Sprintf("%.0f req/s (summary: %d reads, %d writes); %s", sums[1].AchievedRate, sums[1].Reads, sums[1].Writes, cost(us[1])), ""})
	return nil
}
