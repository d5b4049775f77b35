package reports

import (
	"bufio"
	"bytes"
	"cmp"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/gocarina/gocsv"

	"github.com/replace-metadata/replace-metadata/clerkapi"
)

// File names inside a run folder.
const (
	ResultsFile = "results.csv"
	SummaryFile = "summary.json"
	lockFile    = ".lock"
)

// FailedFile returns the name of the failed-rows file for an input format
// ("csv" or "ndjson").
func FailedFile(format string) string { return "failed." + format }

// Options configures a Writer.
type Options struct {
	// Format is the input's format, "csv" or "ndjson": failed rows are
	// written back in it.
	Format string
	// Header goes first in failed.csv (the input's header line).
	Header []byte
	// SyncInterval is how often written results are synced to the disk
	// (fsync). Zero means one second. Record writes each result to the
	// file before it returns, so a killed process loses no recorded
	// result; syncing bounds what a lost machine loses. Backups are
	// synced before Backup returns.
	SyncInterval time.Duration
	// PriorRemoved seeds the most removed paths with an earlier session's
	// (its summary's), so a resumed run's list covers the whole run.
	PriorRemoved []PathCount
}

// Writer records row outcomes in a run folder. It is safe for concurrent
// use. Each result is in the file (the operating system's hands) when
// Record returns: after SIGKILL, only rows still in flight lack an
// outcome, and a resumed run sends no row it has a result for.
//
// Writes are group commits: a Record that finds another one writing waits
// for it, then writes everything queued meanwhile in one go, so many
// workers finishing at once share a write. Backups are a group commit of
// their own, each ending in a sync: a result never waits behind a
// backup's sync, and a backup never behind results.
type Writer struct {
	dir  string
	opts Options
	lock *os.File

	// mu guards what Record and Backup queue, the counts, and err.
	mu           sync.Mutex
	queue        []Result
	queueFail    []byte // failed rows, written before the results that name them
	queued       uint64 // results ever queued
	queueBackup  []byte // backup lines
	backupQueued uint64 // backup lines ever queued
	counts       Counts
	keys         KeyCounts
	removed      *PathCounts
	backed       *backedUp
	done         bitset // rows with an outcome, from any session of the run
	failure      bitset // of those, the failed and invalid ones
	spare        []Result
	spareFail    []byte
	// err is the first write error, of results or backups: later writes
	// are dropped.
	err error

	// commitMu is held by the one goroutine writing results; it guards
	// their files.
	commitMu   sync.Mutex
	lastCommit uint64
	results    *os.File
	resBuf     *bufio.Writer
	csvw       *csv.Writer
	record     []string // a results.csv line being written
	failed     *os.File
	failBuf    *bufio.Writer
	dirty      bool // written since the last sync

	// backupMu is held by the one goroutine writing and syncing backups.
	backupMu   sync.Mutex
	lastBackup uint64
	backup     *os.File
	backBuf    *bufio.Writer

	stop    chan struct{}
	stopped chan struct{}
}

// ErrLocked means another process is writing the same run folder.
var ErrLocked = errors.New("another process is using this run folder")

// Open opens the run folder dir for writing, creating it (mode 0700) if
// needed. If dir already holds a results.csv, the run resumes: its rows are
// known to Seen, and a torn last line left by a crash is cut off. failed.*
// is written anew: Seen puts the failed rows of earlier sessions back as the
// input passes them.
func Open(dir string, opts Options) (*Writer, error) {
	if opts.SyncInterval <= 0 {
		opts.SyncInterval = time.Second
	}
	lock, err := takeFolder(dir)
	if err != nil {
		return nil, err
	}
	w := &Writer{dir: dir, opts: opts, stop: make(chan struct{}), stopped: make(chan struct{}),
		backed: newBackedUp(), removed: newPathCounts(opts.PriorRemoved), lock: lock}
	if err := w.open(); err != nil {
		w.closeFiles()
		return nil, err
	}
	go w.syncer()
	return w, nil
}

func (w *Writer) open() error {
	path := filepath.Join(w.dir, ResultsFile)
	if err := w.load(path); err != nil {
		return err
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return fmt.Errorf("open results: %w", err)
	}
	w.results = f
	if err := f.Chmod(0o600); err != nil {
		return fmt.Errorf("open results: %w", err)
	}
	w.resBuf = bufio.NewWriterSize(f, 64<<10)
	w.csvw = csv.NewWriter(w.resBuf)
	if st, err := f.Stat(); err == nil && st.Size() == 0 {
		// An empty batch writes just the header.
		if err := gocsv.MarshalCSV([]Result{}, gocsv.NewSafeCSVWriter(w.csvw)); err != nil {
			return fmt.Errorf("write results header: %w", err)
		}
	}
	if err := w.openBackup(); err != nil {
		return err
	}
	failed, err := os.OpenFile(filepath.Join(w.dir, FailedFile(w.opts.Format)), os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return fmt.Errorf("open failed rows: %w", err)
	}
	w.failed = failed
	if err := failed.Chmod(0o600); err != nil {
		return fmt.Errorf("open failed rows: %w", err)
	}
	w.failBuf = bufio.NewWriterSize(failed, 64<<10)
	if len(w.opts.Header) > 0 {
		w.failBuf.Write(appendLine(nil, w.opts.Header))
	}
	return w.Flush()
}

// openBackup loads an earlier session's backup.ndjson, if any, and opens it
// for appending.
func (w *Writer) openBackup() error {
	path := filepath.Join(w.dir, BackupFile)
	if err := loadBackup(path, w.backed); err != nil {
		return err
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return fmt.Errorf("open backup: %w", err)
	}
	w.backup = f
	if err := f.Chmod(0o600); err != nil {
		return fmt.Errorf("open backup: %w", err)
	}
	w.backBuf = bufio.NewWriterSize(f, 16<<10)
	return nil
}

// load reads the results of earlier sessions, if any.
func (w *Writer) load(path string) error {
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("open results: %w", err)
	}
	defer f.Close()
	if err := cutTornLine(f); err != nil {
		return fmt.Errorf("repair %s: %w", path, err)
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return err
	}
	return eachResult(f, path, func(r *Result) {
		if r.Row <= 0 || w.done.has(r.Row) {
			return
		}
		w.done.set(r.Row)
		if r.Status.Failure() {
			w.failure.set(r.Row)
		}
		w.counts[r.Status]++
		w.keys.add(r)
	})
}

// eachResult calls fn with each result of a results.csv read from f (path
// is for messages). A torn last line (no line break) is not a result.
func eachResult(f io.Reader, path string, fn func(*Result)) error {
	cr := csv.NewReader(bufio.NewReaderSize(&wholeLines{r: f}, 64<<10))
	cr.ReuseRecord = true
	header, err := cr.Read()
	if errors.Is(err, io.EOF) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("read %s: %w", path, err)
	}
	header = slices.Clone(header) // the reader reuses it
	// Columns by the header's names, as gocsv would map them: a file an
	// earlier version wrote (without key, say) reads too.
	set := make([]func(*Result, string) error, len(header))
	for i, name := range header {
		if set[i] = resultColumns[name]; set[i] == nil {
			set[i] = func(*Result, string) error { return nil } // a column this version does not know
		}
	}
	for {
		record, err := cr.Read()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err == nil {
			var r Result
			for i, v := range record {
				if err = set[i](&r, v); err != nil {
					line, _ := cr.FieldPos(i)
					err = fmt.Errorf("line %d, column %s: %w", line, header[i], err)
					break
				}
			}
			if err == nil {
				fn(&r)
				continue
			}
		}
		return fmt.Errorf("read %s: %w (move the run folder aside to start over)", path, err)
	}
}

// resultColumns sets the Result field of each results.csv column, by the
// field's csv tag, without gocsv's reflection (a million-row results.csv
// is read back at every run's end and every resume). Ints read as
// gocsv's do: empty is 0. The cells a spreadsheet could run as a formula
// were written with a leading ' (safeCell); it goes.
var resultColumns = map[string]func(*Result, string) error{
	"row":            intCell(func(r *Result) *int { return &r.Row }),
	"line":           intCell(func(r *Result) *int { return &r.Line }),
	"user_id":        textCell(func(r *Result) *string { return &r.UserID }),
	"status":         func(r *Result, v string) error { return r.Status.UnmarshalCSV(v) },
	"http_status":    intCell(func(r *Result) *int { return &r.HTTPStatus }),
	"error_code":     textCell(func(r *Result) *string { return &r.ErrorCode }),
	"error_message":  textCell(func(r *Result) *string { return &r.ErrorMessage }),
	"attempts":       intCell(func(r *Result) *int { return &r.Attempts }),
	"duration_ms":    func(r *Result, v string) error { return parseCell(v, &r.DurationMS) },
	"clerk_trace_id": textCell(func(r *Result) *string { return &r.TraceID }),
	"removed_keys":   intCell(func(r *Result) *int { return &r.RemovedKeys }),
	"added_keys":     intCell(func(r *Result) *int { return &r.AddedKeys }),
	"changed_keys":   intCell(func(r *Result) *int { return &r.ChangedKeys }),
	"key":            textCell(func(r *Result) *string { return &r.Key }),
}

func intCell(field func(*Result) *int) func(*Result, string) error {
	return func(r *Result, v string) error {
		var n int64
		err := parseCell(v, &n)
		*field(r) = int(n)
		return err
	}
}

func textCell(field func(*Result) *string) func(*Result, string) error {
	return func(r *Result, v string) error {
		*field(r) = unsafeCell(v)
		return nil
	}
}

func parseCell(v string, n *int64) error {
	if v == "" {
		*n = 0
		return nil
	}
	var err error
	*n, err = strconv.ParseInt(strings.TrimSpace(v), 10, 64)
	return err
}

// wholeLines passes on what r holds up to its last line break, so a line
// torn by a crash (a run still going, or killed) reads as absent.
type wholeLines struct {
	r    io.Reader
	held []byte
	buf  []byte
	eof  bool
}

func (w *wholeLines) Read(p []byte) (int, error) {
	for {
		if i := bytes.LastIndexByte(w.held, '\n'); i >= 0 {
			n := copy(p, w.held[:i+1])
			w.held = w.held[n:]
			return n, nil
		}
		if w.eof {
			return 0, io.EOF
		}
		if w.buf == nil {
			w.buf = make([]byte, 32<<10)
		}
		n, err := w.r.Read(w.buf)
		w.held = append(w.held, w.buf[:n]...)
		if err == io.EOF {
			w.eof = true
		} else if err != nil {
			return 0, err
		}
	}
}

// cutTornLine truncates f after its last line break: a crash mid-write
// leaves at most one partial line at the end, and results hold one line
// per row.
func cutTornLine(f *os.File) error {
	st, err := f.Stat()
	if err != nil {
		return err
	}
	size := st.Size()
	buf := make([]byte, 64<<10)
	for end := size; end > 0; {
		start := max(end-int64(len(buf)), 0)
		n, err := f.ReadAt(buf[:end-start], start)
		if err != nil && !errors.Is(err, io.EOF) {
			return err
		}
		if i := bytes.LastIndexByte(buf[:n], '\n'); i >= 0 {
			keep := start + int64(i) + 1
			if keep == size {
				return nil
			}
			return f.Truncate(keep)
		}
		end = start
	}
	return f.Truncate(0)
}

// Seen reports whether row n already has an outcome from an earlier
// session of this run. If that outcome was a failure, raw goes back into
// failed.* so the file stays complete.
func (w *Writer) Seen(n int, raw []byte) bool {
	if !w.done.has(n) {
		return false
	}
	if w.failure.has(n) {
		w.mu.Lock()
		w.queueFail = appendLine(w.queueFail, raw)
		w.mu.Unlock()
	}
	return true
}

// Record writes a row's outcome; raw is the row's input bytes, kept in
// failed.* when the row failed or was invalid. It returns once the result
// is written, or with the error that kept it (or an earlier one) from the
// file: once a write has failed, nothing more is written, so the files
// never hold a result whose failed row or predecessors are missing.
func (w *Writer) Record(r Result, raw []byte) error {
	r.UserID, r.Key = safeCell(cleanID(r.UserID)), safeCell(cleanID(r.Key))
	r.ErrorMessage = safeCell(oneLine(r.ErrorMessage))
	r.ErrorCode, r.TraceID = safeCell(r.ErrorCode), safeCell(r.TraceID)
	w.mu.Lock()
	if r.Status.Failure() {
		w.queueFail = appendLine(w.queueFail, raw)
	}
	w.counts[r.Status]++
	w.keys.add(&r)
	w.removed.add(&r)
	w.queue = append(w.queue, r)
	w.queued++
	seq := w.queued
	w.mu.Unlock()
	return w.commit(seq)
}

// takeFolder creates the run folder dir if needed (mode 0700: a folder
// made by hand or by an older run may be looser, not any more) and locks
// it, or returns ErrLocked when another process holds it.
func takeFolder(dir string) (*os.File, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("create run folder: %w", err)
	}
	if err := os.Chmod(dir, 0o700); err != nil {
		return nil, fmt.Errorf("run folder: %w", err)
	}
	lock, err := os.OpenFile(filepath.Join(dir, lockFile), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("lock run folder: %w", err)
	}
	if err := tryLock(lock); err != nil {
		lock.Close()
		return nil, fmt.Errorf("%s: %w", dir, ErrLocked)
	}
	return lock, nil
}

// Backup appends the prior values of user's fields set in prior to
// backup.ndjson, but for those already there (from this session or an
// earlier one of the run), and returns once they are on the disk (synced):
// a write may be sent only after its backup is durable. An error means
// nothing more can be backed up.
func (w *Writer) Backup(userID string, prior clerkapi.Metadata) error {
	w.mu.Lock()
	have := w.backed.fields(userID)
	var todo [clerkapi.NumFields]bool
	for f := range prior {
		switch {
		case prior[f] == nil:
		case have[f]:
			prior[f] = nil
		default:
			todo[f] = true
		}
	}
	line := BackupLine(userID, prior)
	if line == nil {
		w.mu.Unlock()
		return nil
	}
	w.backed.add(userID, todo)
	w.queueBackup = append(w.queueBackup, line...)
	w.backupQueued++
	seq := w.backupQueued
	w.mu.Unlock()
	return w.commitBackups(seq)
}

// appendLine adds a row's raw bytes as a line; nil (a line too long to
// keep) adds nothing.
func appendLine(b, raw []byte) []byte {
	if raw == nil {
		return b
	}
	b = append(b, raw...)
	if !bytes.HasSuffix(raw, []byte("\n")) {
		b = append(b, '\n')
	}
	return b
}

// commit writes the results queued, unless a commit since result seq was
// queued has already written them. Failed rows go before results: a
// result on disk always has its failed row on disk too.
func (w *Writer) commit(seq uint64) error {
	w.commitMu.Lock()
	defer w.commitMu.Unlock()
	w.mu.Lock()
	if w.lastCommit >= seq && seq > 0 {
		defer w.mu.Unlock()
		return w.err
	}
	batch, fails, upto, failed := w.queue, w.queueFail, w.queued, w.err
	w.queue, w.queueFail = w.spare[:0], w.spareFail[:0]
	w.mu.Unlock()
	w.lastCommit = upto
	err := failed
	if err == nil {
		err = w.write(batch, fails)
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if err != nil {
		w.err = cmp.Or(w.err, err)
		// These results are not (all) on disk: the counts say what is,
		// and a resumed run reads the file for the rest.
		for i := range batch {
			w.counts[batch[i].Status]--
			w.keys.sub(&batch[i])
		}
	}
	clear(batch)
	w.spare, w.spareFail = batch[:0], fails[:0]
	return w.err
}

// commitBackups writes and syncs the backup lines queued, unless a commit
// since line seq was queued has already done so: the writes they precede
// go out once they are durable.
func (w *Writer) commitBackups(seq uint64) error {
	w.backupMu.Lock()
	defer w.backupMu.Unlock()
	w.mu.Lock()
	if w.lastBackup >= seq && seq > 0 {
		defer w.mu.Unlock()
		return w.err
	}
	lines, upto, err := w.queueBackup, w.backupQueued, w.err
	w.queueBackup = nil
	w.mu.Unlock()
	w.lastBackup = upto
	if err == nil && len(lines) > 0 {
		w.backBuf.Write(lines)
		if e := w.backBuf.Flush(); e != nil {
			err = fmt.Errorf("write backup: %w", e)
		} else if e := w.backup.Sync(); e != nil {
			err = fmt.Errorf("sync backup: %w", e)
		}
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	w.err = cmp.Or(w.err, err)
	return w.err
}

func (w *Writer) write(batch []Result, fails []byte) error {
	w.failBuf.Write(fails) // an error sticks, and Flush returns it
	if err := w.failBuf.Flush(); err != nil {
		return fmt.Errorf("write failed rows: %w", err)
	}
	for i := range batch {
		w.record = batch[i].appendCSV(w.record[:0])
		w.csvw.Write(w.record) // an error sticks, and Error returns it
	}
	w.csvw.Flush()
	if err := w.csvw.Error(); err != nil {
		return fmt.Errorf("write results: %w", err)
	}
	w.dirty = true
	return nil
}

// Counts returns the outcomes recorded so far, earlier sessions included.
func (w *Writer) Counts() Counts {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.counts
}

// Done returns how many rows have an outcome, earlier sessions included.
func (w *Writer) Done() int { return w.Counts().Total() }

// Keys returns the paths removed, added and changed by the rows recorded
// so far, earlier sessions included.
func (w *Writer) Keys() KeyCounts {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.keys
}

// TopRemoved returns the n paths removed most often, most first.
func (w *Writer) TopRemoved(n int) []PathCount {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.removed.top(n)
}

// Flush writes everything queued to the files.
func (w *Writer) Flush() error {
	return cmp.Or(w.commitBackups(0), w.commit(0))
}

// syncer fsyncs the files every SyncInterval while results come in.
func (w *Writer) syncer() {
	defer close(w.stopped)
	t := time.NewTicker(w.opts.SyncInterval)
	defer t.Stop()
	for {
		select {
		case <-w.stop:
			return
		case <-t.C:
			w.commitMu.Lock()
			dirty := w.dirty
			w.dirty = false
			w.commitMu.Unlock()
			if dirty {
				// Outside the lock: workers keep recording while the
				// disk catches up.
				w.failed.Sync()
				w.results.Sync()
			}
		}
	}
}

// Close flushes and syncs everything and releases the run folder.
func (w *Writer) Close() error {
	close(w.stop)
	<-w.stopped
	err := w.Flush()
	for _, f := range []*os.File{w.failed, w.results} {
		if e := f.Sync(); err == nil && e != nil {
			err = e
		}
	}
	if e := w.closeFiles(); err == nil {
		err = e
	}
	return err
}

func (w *Writer) closeFiles() error {
	w.mu.Lock()
	w.backed.free()
	w.mu.Unlock()
	var err error
	for _, f := range []*os.File{w.failed, w.results, w.backup, w.lock} {
		if f != nil {
			if e := f.Close(); err == nil {
				err = e
			}
		}
	}
	return err
}
