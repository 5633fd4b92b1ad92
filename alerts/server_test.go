package alerts

import (
	"bytes"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

func falcoBody(container string) []byte {
	return []byte(fmt.Sprintf(`{"output":"x","priority":"Critical","rule":"Container escape attempt","time":"2026-11-28T10:00:00.000000001Z","output_fields":{"container.id":%q},"source":"syscall","tags":[],"hostname":"h"}`, container))
}

// The same signed message sent twenty times at once is accepted once; after
// a restart (the journal's webhook IDs remembered), again refused.
func TestServerReplayRefusedOnceAndAcrossRestart(t *testing.T) {
	f := &fakeResponder{containers: []string{idA}}
	d, j, dir := newTestDispatcher(t, f, 100)
	secret := []byte("a-webhook-secret-of-enough-bytes")
	srv := &Server{D: d, Secret: secret}
	body := falcoBody(idA[:12])
	now := time.Now()
	sig := Sign(secret, "msg-1", now, body)
	send := func(s *Server) int {
		req := httptest.NewRequest("POST", "/v1/alerts", bytes.NewReader(body))
		req.Header.Set("webhook-id", "msg-1")
		req.Header.Set("webhook-timestamp", fmt.Sprint(now.Unix()))
		req.Header.Set("webhook-signature", sig)
		w := httptest.NewRecorder()
		s.ServeHTTP(w, req)
		return w.Code
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	codes := map[int]int{}
	for i := 0; i < 20; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := send(srv)
			mu.Lock()
			codes[c]++
			mu.Unlock()
		}()
	}
	wg.Wait()
	if codes[http.StatusAccepted] != 1 || codes[http.StatusUnauthorized] != 19 {
		t.Errorf("twenty concurrent sends: %v, want one 202", codes)
	}
	j.Close()
	j2, entries, err := OpenJournal(dir, "again")
	if err != nil {
		t.Fatal(err)
	}
	defer j2.Close()
	d.cfg.Journal = j2
	fresh := &Server{D: d, Secret: secret}
	fresh.Remember(entries)
	if c := send(fresh); c != http.StatusUnauthorized {
		t.Errorf("the replay after a restart: %d, want 401", c)
	}
	n := 0
	for _, e := range entries {
		if e.Kind == KindAccepted {
			n++
			if e.WebhookID != "msg-1" {
				t.Errorf("accepted entry keeps webhook id %q", e.WebhookID)
			}
		}
	}
	if n != 1 {
		t.Errorf("%d alerts journalled, want 1", n)
	}
	if !strings.Contains(fmt.Sprint(codes), "202") {
		t.Error("no 202 at all")
	}
}
