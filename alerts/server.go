package alerts

import (
	"bufio"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Server is serve's HTTP intake: POST /v1/alerts (the format found from the
// body's shape) or /v1/alerts/FORMAT, GET /healthz and /metrics. A request
// that fails authentication or replays a signed one changes nothing: it is
// refused, counted and logged.
type Server struct {
	D *Dispatcher
	// Token, when set, is the bearer token every request must carry
	// (Authorization: Bearer TOKEN). TCP without client certificates needs it.
	Token string
	// Secret, when set, is the Standard Webhooks key: every request must be
	// signed (webhook-id, webhook-timestamp, webhook-signature) within
	// Window of now, and an ID is accepted once.
	Secret []byte
	Window time.Duration
	// Via names the listener in the journal; "" says tcp for a TLS
	// request and unix otherwise.
	Via string
	Log func(string)
	Now func() time.Time

	seenMu sync.Mutex
	seen   map[string]time.Time // webhook IDs accepted within the window
}

// DefaultWindow is how far a signed request's timestamp may lie from now.
const DefaultWindow = 5 * time.Minute

// ParseSecret reads a Standard Webhooks secret: "whsec_" and the base64 key,
// or the raw key.
func ParseSecret(s string) ([]byte, error) {
	s = strings.TrimSpace(s)
	if rest, ok := strings.CutPrefix(s, "whsec_"); ok {
		k, err := base64.StdEncoding.DecodeString(rest)
		if err != nil {
			return nil, fmt.Errorf("webhook secret: whsec_ must be followed by base64: %v", err)
		}
		s = string(k)
	}
	if len(s) < 16 {
		return nil, errors.New("webhook secret: give at least 16 bytes of key")
	}
	return []byte(s), nil
}

// Sign computes a Standard Webhooks v1 signature, as a sender does.
func Sign(secret []byte, id string, ts time.Time, body []byte) string {
	m := hmac.New(sha256.New, secret)
	fmt.Fprintf(m, "%s.%d.", id, ts.Unix())
	m.Write(body)
	return "v1," + base64.StdEncoding.EncodeToString(m.Sum(nil))
}

func (s *Server) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

func (s *Server) log(msg string) {
	if s.Log != nil {
		s.Log(msg)
	}
}

// ServeHTTP routes the intake's three paths.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch {
	case r.URL.Path == "/healthz":
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		fmt.Fprintln(w, "ok")
	case r.URL.Path == "/metrics":
		if !s.authorized(w, r) {
			return
		}
		w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
		_, _ = s.D.Metrics.WriteTo(w)
	case r.URL.Path == "/v1/alerts" || strings.HasPrefix(r.URL.Path, "/v1/alerts/"):
		s.intake(w, r)
	default:
		http.Error(w, "not found: POST alerts to /v1/alerts or /v1/alerts/FORMAT ("+strings.Join(Formats, ", ")+")", http.StatusNotFound)
	}
}

func (s *Server) refuse(w http.ResponseWriter, r *http.Request, code int, reason, msg string) {
	s.D.Metrics.Refused.Add(reason, 1)
	s.log(fmt.Sprintf("refused %s %s from %s: %s", r.Method, r.URL.Path, r.RemoteAddr, msg))
	http.Error(w, msg, code)
}

func (s *Server) authorized(w http.ResponseWriter, r *http.Request) bool {
	if s.Token == "" {
		return true
	}
	got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok || subtle.ConstantTimeCompare([]byte(got), []byte(s.Token)) != 1 {
		s.refuse(w, r, http.StatusUnauthorized, "auth", "unauthorized: give Authorization: Bearer TOKEN")
		return false
	}
	return true
}

func (s *Server) intake(w http.ResponseWriter, r *http.Request) {
	start := s.now()
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", "POST")
		s.refuse(w, r, http.StatusMethodNotAllowed, "method", "POST alerts")
		return
	}
	if !s.authorized(w, r) {
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, MaxBody+1))
	if err != nil {
		s.refuse(w, r, http.StatusBadRequest, "malformed", "reading the body: "+err.Error())
		return
	}
	if len(body) > MaxBody {
		s.refuse(w, r, http.StatusRequestEntityTooLarge, "too_large", fmt.Sprintf("body over %d bytes", MaxBody))
		return
	}
	var webhookID string
	if s.Secret != nil {
		id, err := s.verify(r.Header, body)
		if err != nil {
			reason := "auth"
			if errors.Is(err, errReplay) {
				reason = "replay"
			}
			s.refuse(w, r, http.StatusUnauthorized, reason, err.Error())
			return
		}
		webhookID = id
	}
	format := strings.TrimPrefix(strings.TrimPrefix(r.URL.Path, "/v1/alerts"), "/")
	if format == "" {
		if format, err = Detect(body); err != nil {
			s.refuse(w, r, http.StatusBadRequest, "malformed", err.Error())
			return
		}
	}
	as, err := Decode(format, body)
	if err != nil {
		s.refuse(w, r, http.StatusBadRequest, "malformed", err.Error())
		return
	}
	via := s.Via
	if via == "" {
		via = "unix"
		if r.TLS != nil {
			via = "tcp"
		}
	}
	seqs, err := s.D.Accept(as, via, webhookID)
	if err != nil && webhookID != "" {
		s.forget(webhookID) // not accepted: the sender may send it again
	}
	if errors.Is(err, ErrFull) {
		w.Header().Set("Retry-After", "1")
		s.log(fmt.Sprintf("refused %d alerts from %s: the queue is full", len(as), r.RemoteAddr))
		http.Error(w, "the intake queue is full: retry later", http.StatusTooManyRequests)
		return
	}
	if err != nil {
		s.log("journal: " + err.Error())
		http.Error(w, "not accepted: the intake journal failed", http.StatusServiceUnavailable)
		return
	}
	s.D.Metrics.AcceptLatency.Observe(s.now().Sub(start))
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusAccepted)
	parts := make([]string, len(seqs))
	for i, q := range seqs {
		parts[i] = strconv.FormatUint(q, 10)
	}
	fmt.Fprintf(w, "{\"accepted\":[%s]}\n", strings.Join(parts, ","))
}

var errReplay = errors.New("replayed")

// verify checks a Standard Webhooks signature and the replay window, and
// returns the message ID.
func (s *Server) verify(h http.Header, body []byte) (string, error) {
	id, tsText, sigs := h.Get("webhook-id"), h.Get("webhook-timestamp"), h.Get("webhook-signature")
	if id == "" || tsText == "" || sigs == "" {
		return "", errors.New("unsigned: webhook-id, webhook-timestamp and webhook-signature are required")
	}
	secs, err := strconv.ParseInt(tsText, 10, 64)
	if err != nil {
		return "", errors.New("webhook-timestamp: give Unix seconds")
	}
	window := s.Window
	if window <= 0 {
		window = DefaultWindow
	}
	ts := time.Unix(secs, 0)
	if d := s.now().Sub(ts); d > window || d < -window {
		return "", fmt.Errorf("%w: webhook-timestamp is %s from now, outside the %s window", errReplay, d.Round(time.Second), window)
	}
	want := Sign(s.Secret, id, ts, body)
	ok := false
	for _, sig := range strings.Fields(sigs) {
		if subtle.ConstantTimeCompare([]byte(sig), []byte(want)) == 1 {
			ok = true
		}
	}
	if !ok {
		return "", errors.New("bad signature")
	}
	// The ID is taken here, under the lock, so that the same message sent
	// twice at once is accepted once; it is given back when not accepted.
	now := s.now()
	s.seenMu.Lock()
	defer s.seenMu.Unlock()
	if _, dup := s.seen[id]; dup {
		return "", fmt.Errorf("%w: webhook-id %q was accepted already", errReplay, id)
	}
	if s.seen == nil {
		s.seen = map[string]time.Time{}
	}
	s.seen[id] = now
	if len(s.seen)%1024 == 0 {
		for k, t := range s.seen {
			if now.Sub(t) > 2*window {
				delete(s.seen, k)
			}
		}
	}
	return id, nil
}

func (s *Server) forget(id string) {
	s.seenMu.Lock()
	delete(s.seen, id)
	s.seenMu.Unlock()
}

// Remember takes the webhook IDs the journal accepted within the window,
// so that a message replayed after a restart is still refused.
func (s *Server) Remember(entries []Entry) {
	window := s.Window
	if window <= 0 {
		window = DefaultWindow
	}
	now := s.now()
	s.seenMu.Lock()
	defer s.seenMu.Unlock()
	for _, e := range entries {
		if e.Kind == KindAccepted && e.WebhookID != "" && now.Sub(e.Time) <= 2*window {
			if s.seen == nil {
				s.seen = map[string]time.Time{}
			}
			s.seen[e.WebhookID] = e.Time
		}
	}
}

// ReadLines accepts alerts from r, one JSON object per line (serve
// --stdin): a line that does not decode is logged and counted, and the
// rest go on; a full queue waits (the pipe pushes back). It returns when r
// ends or ctx does: the reading goes on in its own goroutine, so a stop is
// not held up by a pipe that stays open.
func ReadLines(ctx context.Context, r io.Reader, d *Dispatcher, log func(string)) error {
	type line struct {
		n    int
		b    []byte
		err  error
		last bool
	}
	lines := make(chan line)
	go func() {
		br := bufio.NewReaderSize(r, 64<<10)
		for n := 1; ; n++ {
			b, err := readLine(br)
			select {
			case lines <- line{n: n, b: b, err: err, last: err != nil}:
			case <-ctx.Done():
				return
			}
			if err != nil {
				return
			}
		}
	}()
	for {
		var l line
		select {
		case <-ctx.Done():
			return ctx.Err()
		case l = <-lines:
		}
		if len(l.b) > 0 {
			if as, derr := decodeLine(l.b); derr != nil {
				d.Metrics.Refused.Add("malformed", 1)
				log(fmt.Sprintf("stdin line %d: %v", l.n, derr))
			} else {
				for {
					_, aerr := d.Accept(as, "stdin", "")
					if !errors.Is(aerr, ErrFull) {
						if aerr != nil {
							return aerr
						}
						break
					}
					select {
					case <-ctx.Done():
						return ctx.Err()
					case <-time.After(10 * time.Millisecond):
					}
				}
			}
		}
		if l.last {
			if l.err == io.EOF {
				return nil
			}
			return l.err
		}
	}
}

// readLine reads one line, refusing (skipping) one longer than MaxBody.
func readLine(br *bufio.Reader) ([]byte, error) {
	var line []byte
	for {
		chunk, isPrefix, err := br.ReadLine()
		if len(line)+len(chunk) <= MaxBody {
			line = append(line, chunk...)
		} else {
			for isPrefix && err == nil {
				_, isPrefix, err = br.ReadLine()
			}
			return []byte("\x00too long"), err
		}
		if !isPrefix || err != nil {
			return line, err
		}
	}
}

func decodeLine(line []byte) ([]Alert, error) {
	if string(line) == "\x00too long" {
		return nil, fmt.Errorf("line over %d bytes", MaxBody)
	}
	format, err := Detect(line)
	if err != nil {
		return nil, err
	}
	return Decode(format, line)
}
