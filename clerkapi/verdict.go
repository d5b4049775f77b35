package clerkapi

// Verdict is what an answer means for the request that got it.
type Verdict int

// The verdicts.
const (
	// Done: the request did what it asked.
	Done Verdict = iota
	// Permanent: it failed, and sending it again would fail the same way.
	Permanent
	// Retryable: it may succeed if sent again later (429, 5xx, no answer).
	Retryable
	// KeyRefused: the key is wrong for every request (401, 403); nothing
	// more will succeed.
	KeyRefused
)

func (v Verdict) String() string {
	switch v {
	case Done:
		return "done"
	case Permanent:
		return "permanent"
	case Retryable:
		return "retryable"
	case KeyRefused:
		return "key refused"
	}
	return "unknown"
}

// Verdict judges the answer. Every request the client makes is idempotent
// (a replace, a read), so anything whose outcome is unknown is retryable.
func (r *Response) Verdict() Verdict {
	switch s := r.Status; {
	case r.OK():
		return Done
	case r.Code == CodeRedirect, r.Code == CodeInvalidUserID:
		return Permanent
	case s == 0, s == 408, s == 429, s >= 500 && s != 501 && s != 505:
		return Retryable
	case r.Code == CodeInvalidResponse:
		return Retryable
	case s == 401, s == 403:
		return KeyRefused
	default:
		return Permanent
	}
}
