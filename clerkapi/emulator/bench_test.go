package emulator

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
)

const benchBody = `{"public_metadata":{"plan":"pro","nestedKey":{"innerCamel":1}},"private_metadata":{"b":[1,2]}}`

func benchServer(b *testing.B, cfg Config, users int) *Server {
	s := New(cfg)
	for i := range users {
		s.AddUser(fmt.Sprintf("user_%d", i), nil, nil, nil)
	}
	return s
}

// BenchmarkServeHTTP measures the emulator's own cost of a PUT, without a network.
func BenchmarkServeHTTP(b *testing.B) {
	s := benchServer(b, Config{UserLimit: 1 << 30, InstanceLimit: 1 << 30}, 1000)
	b.ReportAllocs()
	var n atomic.Int64
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			id := n.Add(1) % 1000
			req := httptest.NewRequest("PUT", fmt.Sprintf("/v1/users/user_%d/metadata", id), strings.NewReader(benchBody))
			req.Header.Set("Authorization", "Bearer "+testKey)
			req.Header.Set("Clerk-API-Version", "2026-05-12")
			w := httptest.NewRecorder()
			s.ServeHTTP(w, req)
			if w.Code != 200 {
				b.Fatalf("status %d: %s", w.Code, w.Body)
			}
		}
	})
}

// BenchmarkPutHTTP drives the emulator over real HTTP with keep-alive connections.
func BenchmarkPutHTTP(b *testing.B) {
	s := benchServer(b, Config{}, 1000)
	ts := httptest.NewServer(s)
	defer ts.Close()
	defer s.Close()
	tr := &http.Transport{MaxIdleConnsPerHost: 64}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr}
	b.ReportAllocs()
	var n atomic.Int64
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			id := n.Add(1) % 1000
			req, _ := http.NewRequest("PUT", fmt.Sprintf("%s/v1/users/user_%d/metadata", ts.URL, id), strings.NewReader(benchBody))
			req.Header.Set("Authorization", "Bearer "+testKey)
			resp, err := client.Do(req)
			if err != nil {
				b.Fatal(err)
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 200 {
				b.Fatalf("status %d", resp.StatusCode)
			}
		}
	})
}
