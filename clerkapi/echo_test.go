package clerkapi

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
)

// TestEchoedKeyScrubbed: a server that echoes the Authorization header in
// the parts of an answer that reach results.csv as they are (the trace id,
// from the header or the body, and the error code) does not get the key
// into the Response.
func TestEchoedKeyScrubbed(t *testing.T) {
	t.Parallel()
	srv, _ := recordingServer(t, func(w http.ResponseWriter, r *http.Request) {
		auth := r.Header.Get("Authorization")
		key := strings.TrimPrefix(auth, "Bearer ")
		w.Header().Set("Clerk-Trace-Id", auth)
		if strings.Contains(r.URL.Path, "user_ok") {
			w.Header().Set("Content-Type", "application/json")
			fmt.Fprint(w, `{"id":"user_ok","object":"user","public_metadata":{}}`)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(400)
		fmt.Fprintf(w, `{"errors":[{"message":"m","long_message":"l","code":"bad_%s"}],"clerk_trace_id":"trace %s"}`, key, auth)
	})
	c := NewClient(ClientOptions{BaseURL: srv.URL, Key: testKey, HTTP: NewHTTPClient(2)})
	for _, id := range []string{"user_ok", "user_bad"} {
		id, md := rowOf(t, `{"user_id":"`+id+`","public_metadata":{}}`)
		resp := c.ReplaceMetadata(context.Background(), id, md)
		for what, v := range map[string]string{"trace id": resp.TraceID, "code": resp.Code, "message": resp.Message} {
			if strings.Contains(v, testKey) || strings.Contains(v, "sk_test_") {
				t.Errorf("%s: %s %q holds the key", id, what, v)
			}
		}
		if id == "user_ok" && (!resp.OK() || !strings.Contains(resp.TraceID, "[REDACTED]")) {
			t.Errorf("%s: %+v, want a success whose trace id was scrubbed", id, resp)
		}
		if id == "user_bad" && (resp.Status != 400 || !strings.HasPrefix(resp.Code, "bad_")) {
			t.Errorf("%s: %d %q, want 400 and the code kept around the key", id, resp.Status, resp.Code)
		}
	}
}
