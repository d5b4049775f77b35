package emulator

import (
	"bufio"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
)

const adminPrefix = "/_emulator/"

// newAdmin routes the admin endpoints. They need no key, are not limited, faulted or counted,
// and answer in plain text or JSON, not Clerk's error shape: they are the test's side door.
func (s *Server) newAdmin() *http.ServeMux {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /_emulator/stats", func(w http.ResponseWriter, r *http.Request) {
		writeAdminJSON(w, s.Stats())
	})
	mux.HandleFunc("POST /_emulator/reset", func(w http.ResponseWriter, r *http.Request) {
		s.Reset()
		w.WriteHeader(http.StatusNoContent)
	})
	mux.HandleFunc("GET /_emulator/users", func(w http.ResponseWriter, r *http.Request) {
		w.Header()["Content-Type"] = ctNDJSON
		bw := bufio.NewWriter(w)
		var b []byte
		for _, u := range s.Users() {
			b = appendUserLine(b[:0], u)
			bw.Write(b)
		}
		bw.Flush()
	})
	mux.HandleFunc("POST /_emulator/users", func(w http.ResponseWriter, r *http.Request) {
		n, err := s.UpsertUsers(r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		writeAdminJSON(w, map[string]int{"upserted": n})
	})
	mux.HandleFunc("DELETE /_emulator/users/{id}", func(w http.ResponseWriter, r *http.Request) {
		id := r.PathValue("id")
		if !s.DeleteUser(id) {
			http.Error(w, fmt.Sprintf("no user %q", id), http.StatusNotFound)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	})
	mux.HandleFunc("POST /_emulator/consume", func(w http.ResponseWriter, r *http.Request) {
		n, err := strconv.Atoi(r.URL.Query().Get("n"))
		if err != nil || n < 1 {
			http.Error(w, "n must be a whole number of requests, at least 1", http.StatusBadRequest)
			return
		}
		writeAdminJSON(w, map[string]int{"taken": s.ConsumeInstance(n)})
	})
	mux.HandleFunc("GET /_emulator/requests", func(w http.ResponseWriter, r *http.Request) {
		w.Header()["Content-Type"] = ctNDJSON
		bw := bufio.NewWriter(w)
		enc := json.NewEncoder(bw)
		for _, req := range s.Requests() {
			enc.Encode(req)
		}
		bw.Flush()
	})
	mux.HandleFunc("GET /_emulator/history", func(w http.ResponseWriter, r *http.Request) {
		w.Header()["Content-Type"] = ctJSON
		b := []byte{'['}
		for i, body := range s.History(r.URL.Query().Get("user_id")) {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendOneLine(b, body)
		}
		w.Write(append(b, ']', '\n'))
	})
	return mux
}

func writeAdminJSON(w http.ResponseWriter, v any) {
	w.Header()["Content-Type"] = ctJSON
	json.NewEncoder(w).Encode(v)
}
