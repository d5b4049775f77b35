package reports

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sync"

	"github.com/replace-metadata/replace-metadata/clerkapi"
)

// The files of a plan, in its run folder.
const (
	// PlanFile has a line per input row: what a run would do with it.
	PlanFile = "plan.ndjson"
	// BeforeFile has the current value of every field the plan would
	// replace, in the backup's format.
	BeforeFile = "before.ndjson"
)

// PlanWriter records a plan: it implements the job's Recorder, but a row's
// outcome is a line of plan.ndjson, and a backup a line of before.ndjson.
// Plans are not resumed: a stopped plan is made again. It is safe for
// concurrent use.
type PlanWriter struct {
	dir  string
	lock *os.File

	mu        sync.Mutex
	plan      *os.File
	planBuf   *bufio.Writer
	before    *os.File
	beforeBuf *bufio.Writer
	err       error
	actions   ActionCounts
	keys      KeyCounts
	removed   *PathCounts
	backed    *backedUp
}

// ErrPlanExists means the folder already holds a plan, or a run.
var ErrPlanExists = errors.New("the run folder already holds a plan")

// ErrRunExists means the folder holds a run's results: a plan never
// replaces what a run did.
var ErrRunExists = errors.New("the run folder holds a run's results")

// OpenPlan creates the plan files in dir (mode 0700, files 0600). A folder
// that holds a plan is refused unless replace; one that holds a run's
// results always is.
func OpenPlan(dir string, replace bool) (*PlanWriter, error) {
	if _, err := os.Stat(filepath.Join(dir, ResultsFile)); err == nil {
		return nil, fmt.Errorf("%s: %w", dir, ErrRunExists)
	}
	if _, err := os.Stat(filepath.Join(dir, PlanFile)); err == nil && !replace {
		return nil, fmt.Errorf("%s: %w", dir, ErrPlanExists)
	} else if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	lock, err := takeFolder(dir)
	if err != nil {
		return nil, err
	}
	p := &PlanWriter{dir: dir, removed: newPathCounts(nil), backed: newBackedUp(), lock: lock}
	for _, f := range []struct {
		name string
		file **os.File
		buf  **bufio.Writer
	}{{PlanFile, &p.plan, &p.planBuf}, {BeforeFile, &p.before, &p.beforeBuf}} {
		file, err := os.OpenFile(filepath.Join(dir, f.name), os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
		if err != nil {
			p.Close()
			return nil, fmt.Errorf("create %s: %w", f.name, err)
		}
		file.Chmod(0o600)
		*f.file, *f.buf = file, bufio.NewWriterSize(file, 64<<10)
	}
	return p, nil
}

// Seen reports false: a plan is made whole, never resumed.
func (p *PlanWriter) Seen(int, []byte) bool { return false }

// planLine is a line of plan.ndjson.
type planLine struct {
	Row       int           `json:"row"`
	Line      int           `json:"line"`
	UserID    string        `json:"user_id"`
	Key       string        `json:"key,omitempty"`
	Action    Action        `json:"action"`
	Fields    []FieldChange `json:"fields,omitempty"`
	ErrorCode string        `json:"error_code,omitempty"`
	Error     string        `json:"error,omitempty"`
}

// Record writes the row's line of plan.ndjson.
func (p *PlanWriter) Record(r Result, _ []byte) error {
	line := planLine{Row: r.Row, Line: r.Line, UserID: cleanID(r.UserID), Action: r.Action, Fields: r.Changes}
	if r.Key != r.UserID {
		line.Key = cleanID(r.Key) // a row keyed by an external id or an email
	}
	if r.Action != ActionChange && r.Action != ActionUnchanged {
		line.ErrorCode, line.Error = r.ErrorCode, oneLine(r.ErrorMessage)
	}
	b, err := json.Marshal(line)
	if err != nil {
		return err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.err != nil {
		return p.err
	}
	p.actions[r.Action]++
	p.keys.add(&r)
	p.removed.add(&r)
	p.planBuf.Write(b)
	if err := p.planBuf.WriteByte('\n'); err != nil {
		p.err = fmt.Errorf("write %s: %w", PlanFile, err)
	}
	return p.err
}

// Backup writes the current value of user's fields set in prior to
// before.ndjson, once per user and field.
func (p *PlanWriter) Backup(userID string, prior clerkapi.Metadata) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.err != nil {
		return p.err
	}
	have := p.backed.fields(userID)
	var todo [clerkapi.NumFields]bool
	for f := range prior {
		if prior[f] != nil && !have[f] {
			todo[f] = true
		} else {
			prior[f] = nil
		}
	}
	if line := BackupLine(userID, prior); line != nil {
		p.backed.add(userID, todo)
		if _, err := p.beforeBuf.Write(line); err != nil {
			p.err = fmt.Errorf("write %s: %w", BeforeFile, err)
		}
	}
	return p.err
}

// Actions returns the rows planned so far, by action.
func (p *PlanWriter) Actions() ActionCounts {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.actions
}

// Done returns how many rows are planned.
func (p *PlanWriter) Done() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := 0
	for _, v := range p.actions {
		n += v
	}
	return n
}

// Keys returns the paths the planned rows would remove, add and change.
func (p *PlanWriter) Keys() KeyCounts {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.keys
}

// Users returns how many distinct users the plan would change.
func (p *PlanWriter) Users() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.backed.n
}

// TopRemoved returns the n paths the plan would remove most, most first.
func (p *PlanWriter) TopRemoved(n int) []PathCount {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.removed.top(n)
}

// Close flushes and syncs the plan's files and releases the folder.
func (p *PlanWriter) Close() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	err := p.err
	for _, f := range []struct {
		file *os.File
		buf  *bufio.Writer
	}{{p.plan, p.planBuf}, {p.before, p.beforeBuf}} {
		if f.file == nil {
			continue
		}
		if e := f.buf.Flush(); err == nil && e != nil {
			err = e
		}
		if e := f.file.Sync(); err == nil && e != nil {
			err = e
		}
		if e := f.file.Close(); err == nil && e != nil {
			err = e
		}
	}
	if p.lock != nil {
		p.lock.Close()
	}
	p.backed.free() // Users still counts them
	return err
}
