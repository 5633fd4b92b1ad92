package drill

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"regexp"
	goruntime "runtime"
	"strings"
	"sync"
	"time"
)

// ProxyCall is one call a decoy made on the decoy engine socket.
type ProxyCall struct {
	Time    time.Time `json:"time"`
	Method  string    `json:"method"`
	Path    string    `json:"path"`
	Status  int       `json:"status"`
	Verdict string    `json:"verdict"`        // answered, refused, unknown
	Body    string    `json:"body,omitempty"` // the first bytes of a request body, as sent
}

// Verdicts of the decoy socket.
const (
	CallAnswered = "answered" // a read call, answered with the drill's own view
	CallRefused  = "refused"  // a call that would change the engine
	CallUnknown  = "unknown"  // a read the decoy does not serve
)

// ProxyContainer is a container as the decoy socket lists it (Docker's
// /containers/json shape, the fields a client reads).
type ProxyContainer struct {
	ID     string            `json:"Id"`
	Names  []string          `json:"Names"`
	Image  string            `json:"Image"`
	State  string            `json:"State"`
	Status string            `json:"Status"`
	Labels map[string]string `json:"Labels"`
}

// SocketProxy serves a decoy engine socket on a unix socket: it answers
// the read calls a client starts with (ping, version, info, the container
// list, which holds only the drill's own containers) from the drill's own
// view, refuses every call that would change the engine (create, exec,
// start, anything not GET or HEAD), and logs each call. Nothing is ever
// passed to the real engine.
type SocketProxy struct {
	path   string
	list   func(context.Context) ([]ProxyContainer, error)
	onCall func(ProxyCall)

	l   net.Listener
	srv *http.Server
	log *os.File

	mu    sync.Mutex
	calls []ProxyCall
}

// maxLoggedBody is how much of a request body a logged call keeps.
const maxLoggedBody = 512

// StartSocketProxy listens on path (a unix socket, made 0660) and serves
// the decoy API until Close. Each call is appended to logPath as a JSON
// line and passed to onCall (nil: not passed); list gives the drill's
// containers.
func StartSocketProxy(path, logPath string, list func(context.Context) ([]ProxyContainer, error), onCall func(ProxyCall)) (*SocketProxy, error) {
	if len(path) > 107 {
		return nil, fmt.Errorf("decoy socket path %s is %d bytes, more than a unix socket takes (107): use a shorter --state-dir", path, len(path))
	}
	lf, err := os.OpenFile(logPath, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return nil, fmt.Errorf("decoy socket log: %w", err)
	}
	_ = os.Remove(path) // a socket left by a killed drill of the same ID
	l, err := net.Listen("unix", path)
	if err != nil {
		lf.Close()
		return nil, fmt.Errorf("decoy socket: %w", err)
	}
	if err := os.Chmod(path, 0o660); err != nil {
		l.Close()
		lf.Close()
		return nil, fmt.Errorf("decoy socket: %w", err)
	}
	p := &SocketProxy{path: path, list: list, onCall: onCall, l: l, log: lf}
	p.srv = &http.Server{Handler: p, ReadHeaderTimeout: 5 * time.Second, ReadTimeout: 10 * time.Second, WriteTimeout: 10 * time.Second, MaxHeaderBytes: 64 << 10}
	go func() { _ = p.srv.Serve(l) }()
	return p, nil
}

// Path is the socket's path on the host.
func (p *SocketProxy) Path() string { return p.path }

// Calls returns every call so far, oldest first.
func (p *SocketProxy) Calls() []ProxyCall {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]ProxyCall(nil), p.calls...)
}

// Close stops serving and removes the socket. Closing twice is a no-op.
func (p *SocketProxy) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	err := p.srv.Shutdown(ctx)
	if errors.Is(err, http.ErrServerClosed) {
		err = nil
	}
	p.mu.Lock()
	if p.log != nil {
		err = errors.Join(err, p.log.Close())
		p.log = nil
	}
	p.mu.Unlock()
	if rerr := os.Remove(p.path); rerr != nil && !errors.Is(rerr, os.ErrNotExist) {
		err = errors.Join(err, rerr)
	}
	return err
}

var apiVersion = regexp.MustCompile(`^/v[0-9]+\.[0-9]+(/|$)`)

func (p *SocketProxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	path := r.URL.Path
	if m := apiVersion.FindString(path); m != "" {
		path = "/" + strings.TrimPrefix(path[len(m):], "/")
	}
	body, _ := io.ReadAll(io.LimitReader(r.Body, maxLoggedBody))
	_, _ = io.Copy(io.Discard, io.LimitReader(r.Body, 1<<20))
	call := ProxyCall{Time: time.Now().UTC(), Method: r.Method, Path: r.URL.Path, Body: string(body)}
	w.Header().Set("Api-Version", "1.41")
	w.Header().Set("Ostype", "linux")
	w.Header().Set("Server", "Firebreak-drill-decoy")
	reply := func(status int, v any) {
		call.Status = status
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		_ = json.NewEncoder(w).Encode(v)
	}
	switch {
	case r.Method != http.MethodGet && r.Method != http.MethodHead:
		call.Verdict = CallRefused
		reply(http.StatusForbidden, map[string]string{"message": fmt.Sprintf("refused by the Firebreak drill decoy: %s %s would change the engine; this socket only answers reads", r.Method, path)})
	case path == "/_ping":
		call.Verdict, call.Status = CallAnswered, http.StatusOK
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = io.WriteString(w, "OK")
	case path == "/version":
		call.Verdict = CallAnswered
		reply(http.StatusOK, map[string]any{
			"Platform": map[string]string{"Name": "Firebreak drill decoy"}, "Version": "0.0.0-drill", "ApiVersion": "1.41", "MinAPIVersion": "1.12",
			"Os": "linux", "Arch": goruntime.GOARCH, "GitCommit": "drill", "GoVersion": goruntime.Version(),
		})
	case path == "/info":
		call.Verdict = CallAnswered
		cs, _ := p.listed(r.Context())
		reply(http.StatusOK, map[string]any{"Name": "firebreak-drill-decoy", "Containers": len(cs), "ServerVersion": "0.0.0-drill", "OperatingSystem": "Firebreak drill decoy", "OSType": "linux"})
	case path == "/containers/json":
		call.Verdict = CallAnswered
		cs, err := p.listed(r.Context())
		if err != nil {
			reply(http.StatusInternalServerError, map[string]string{"message": "the decoy could not list its containers"})
			break
		}
		reply(http.StatusOK, cs)
	default:
		call.Verdict = CallUnknown
		reply(http.StatusNotFound, map[string]string{"message": "not served by the Firebreak drill decoy: " + path})
	}
	p.record(call)
}

func (p *SocketProxy) listed(ctx context.Context) ([]ProxyContainer, error) {
	if p.list == nil {
		return []ProxyContainer{}, nil
	}
	cs, err := p.list(ctx)
	if cs == nil {
		cs = []ProxyContainer{}
	}
	return cs, err
}

func (p *SocketProxy) record(c ProxyCall) {
	p.mu.Lock()
	p.calls = append(p.calls, c)
	if p.log != nil {
		if b, err := json.Marshal(c); err == nil {
			_, _ = p.log.Write(append(b, '\n'))
		}
	}
	p.mu.Unlock()
	if p.onCall != nil {
		p.onCall(c)
	}
}
