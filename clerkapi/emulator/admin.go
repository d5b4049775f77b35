package emulator

import (
	"bufio"
	"bytes"
	"encoding/json"
	"net/http"
)

const adminPrefix = "/_emulator/"

// serveAdmin answers the admin endpoints: no key, no limits, no faults, not counted.
func (s *Server) serveAdmin(w http.ResponseWriter, r *http.Request) {
	want := http.MethodGet
	if r.URL.Path == adminPrefix+"reset" {
		want = http.MethodPost
	}
	if r.Method != want {
		w.Header().Set("Allow", want)
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	switch r.URL.Path[len(adminPrefix):] {
	case "stats":
		w.Header()["Content-Type"] = ctJSON
		json.NewEncoder(w).Encode(s.Stats())
	case "reset":
		s.Reset()
		w.WriteHeader(http.StatusNoContent)
	case "users":
		w.Header()["Content-Type"] = ctNDJSON
		bw := bufio.NewWriter(w)
		var b []byte
		for _, u := range s.Users() {
			b = appendUserLine(b[:0], u)
			bw.Write(b)
		}
		bw.Flush()
	case "requests":
		w.Header()["Content-Type"] = ctNDJSON
		bw := bufio.NewWriter(w)
		enc := json.NewEncoder(bw)
		for _, req := range s.Requests() {
			enc.Encode(req)
		}
		bw.Flush()
	case "history":
		w.Header()["Content-Type"] = ctJSON
		b := []byte{'['}
		for i, body := range s.History(r.URL.Query().Get("user_id")) {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendOneLine(b, body)
		}
		w.Write(append(b, ']', '\n'))
	default:
		http.NotFound(w, r)
	}
}

// appendUserLine renders u as one NDJSON line that LoadUsers reads back; fields never set are
// left out.
func appendUserLine(b []byte, u User) []byte {
	b = append(b, `{"id":`...)
	b = appendString(b, u.ID)
	for k, m := range [3]json.RawMessage{u.Public, u.Private, u.Unsafe} {
		if m == nil {
			continue
		}
		b = append(b, ',', '"')
		b = append(b, metadataFields[k]...)
		b = append(b, '"', ':')
		b = appendOneLine(b, m)
	}
	return append(b, '}', '\n')
}

// appendOneLine appends raw JSON as stored, compacted only if it holds a line break, which
// would split an NDJSON line.
func appendOneLine(b []byte, raw []byte) []byte {
	if bytes.ContainsAny(raw, "\r\n") {
		var buf bytes.Buffer
		if json.Compact(&buf, raw) == nil {
			return append(b, buf.Bytes()...)
		}
	}
	return append(b, raw...)
}
