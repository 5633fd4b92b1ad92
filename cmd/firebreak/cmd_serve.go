package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"firebreak/alerts"
	"firebreak/evidence"
	"firebreak/internal/app"
	"firebreak/playbooks"
)

// DefaultServeSocket is where serve listens unless told otherwise.
const DefaultServeSocket = "/run/firebreak/serve.sock"

type serveOptions struct {
	store      storeOptions
	Rules      string
	Socket     string
	Stdin      bool
	Listen     string
	TLSCert    string
	TLSKey     string
	ClientCA   string
	TokenFile  string
	SecretFile string
	Window     time.Duration
	DryRun     bool
	Queue      int
	Runs       int
	Rate       float64
	Burst      int
	Dirs       []string
}

func newServeCommand(g *globalOptions, d *deps) *cobra.Command {
	o := &serveOptions{}
	cmd := &cobra.Command{
		Use:   "serve --rules FILE",
		Short: "Turn runtime-security alerts (Falco, Tetragon, Tracee, Alertmanager, StackRox) into playbook runs",
		Long: `Serve receives alerts, journals each one (synced) before the sender is
told it was accepted (HTTP 202), matches it to the first rule of --rules that
fits, and runs the rule's playbook on the container the alert names, through
the same case session, journal, run lock and approvals as 'firebreak run'.
Alerts are deduplicated on (source, rule, container) within the rule's window,
never across containers; what is suppressed, rate-limited or unmatched is
journalled and counted. After a crash, serve takes up every accepted alert
that was not finished and never repeats a finished run.

It listens on a unix socket (root only) by default; --stdin reads one JSON
alert per line (falco -o json_output=true | firebreak serve --stdin); TCP
(--listen) only with TLS and either client certificates (--client-ca) or a
bearer token (--token-file). --webhook-secret-file makes every request carry
a Standard Webhooks signature, replays refused. POST to /v1/alerts (the
format is found from the body) or /v1/alerts/FORMAT; GET /healthz, /metrics.
'firebreak alerts ls' reads the journal.`,
		Example: `  firebreak serve --rules /etc/firebreak/rules.yaml
  falco -o json_output=true | firebreak serve --rules rules.yaml --stdin --socket ''
  firebreak serve --rules rules.yaml --listen :8443 --tls-cert c.pem --tls-key k.pem --token-file /etc/firebreak/token
  firebreak serve --rules rules.yaml --dry-run        # match and journal, act on nothing`,
		Args: withUsage(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runServe(cmd.Context(), g, o, d)
		},
	}
	o.store.AddFlags(cmd)
	f := cmd.Flags()
	f.StringVar(&o.Rules, "rules", "", "rules file: which alerts run which playbook (required)")
	f.StringVar(&o.Socket, "socket", DefaultServeSocket, "unix socket to listen on, mode 0600 ('' for none)")
	f.BoolVar(&o.Stdin, "stdin", false, "read alerts from standard input, one JSON object per line; serve ends with its input unless it also listens")
	f.StringVar(&o.Listen, "listen", "", "TCP address to listen on, with TLS only (--tls-cert, --tls-key, and --client-ca or --token-file)")
	f.StringVar(&o.TLSCert, "tls-cert", "", "TLS certificate (PEM) for --listen")
	f.StringVar(&o.TLSKey, "tls-key", "", "TLS key (PEM) for --listen")
	f.StringVar(&o.ClientCA, "client-ca", "", "CA (PEM) whose client certificates --listen requires (mutual TLS)")
	f.StringVar(&o.TokenFile, "token-file", "", "file holding the bearer token every request must carry (Authorization: Bearer)")
	f.StringVar(&o.SecretFile, "webhook-secret-file", "", "file holding a Standard Webhooks secret (whsec_...): every request must be signed, replays are refused")
	f.DurationVar(&o.Window, "webhook-window", alerts.DefaultWindow, "how far a signed request's timestamp may be from now; an ID is accepted once within it")
	f.BoolVar(&o.DryRun, "dry-run", false, "match and journal every alert, and act on nothing")
	f.IntVar(&o.Queue, "queue", 10000, "alerts accepted and not yet decided, at most; beyond it requests are refused with 429")
	f.IntVar(&o.Runs, "runs", 4, "playbook runs under way at once, at most")
	f.Float64Var(&o.Rate, "rate", 0, "runs started per second, all rules together, at most (0: no limit; rules may set their own)")
	f.IntVar(&o.Burst, "burst", 10, "with --rate: runs that may start at once")
	f.StringSliceVar(&o.Dirs, "playbooks", splitList(os.Getenv("FIREBREAK_PLAYBOOKS")), "directories with your own playbooks ($FIREBREAK_PLAYBOOKS)")
	return cmd
}

func readSecretFile(flag, path string) (string, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return "", usagef("%s: %v", flag, err)
	}
	if fi.Mode().Perm()&0o077 != 0 {
		return "", usagef("%s %s is readable by others (mode %04o): chmod 600 it", flag, path, fi.Mode().Perm())
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return "", usagef("%s: %v", flag, err)
	}
	s := strings.TrimSpace(string(b))
	if s == "" {
		return "", usagef("%s %s is empty", flag, path)
	}
	return s, nil
}

func (o *serveOptions) check() error {
	switch {
	case o.Rules == "":
		return usagef("--rules FILE is required: which alerts run which playbook (docs in README, 'Alerts in')")
	case o.Socket == "" && !o.Stdin && o.Listen == "":
		return usagef("nothing to listen on: give --socket, --stdin or --listen")
	case o.Listen != "" && (o.TLSCert == "" || o.TLSKey == ""):
		return usagef("--listen takes TCP only with TLS: give --tls-cert and --tls-key")
	case o.Listen != "" && o.ClientCA == "" && o.TokenFile == "":
		return usagef("--listen needs an authentication: --client-ca (mutual TLS) or --token-file (bearer token), or both")
	case o.Queue < 1, o.Runs < 1:
		return usagef("--queue and --runs take at least 1")
	case o.Rate < 0:
		return usagef("--rate %g: give runs per second, or 0 for no limit", o.Rate)
	case o.Window <= 0:
		return usagef("--webhook-window %s: give a duration such as 5m", o.Window)
	}
	return nil
}

func runServe(ctx context.Context, g *globalOptions, o *serveOptions, d *deps) error {
	if err := o.check(); err != nil {
		return err
	}
	rules, err := alerts.LoadRules(o.Rules)
	if err != nil {
		return &app.InputError{Err: err}
	}
	reg := app.NewRegistry()
	if err := rules.CheckPlaybooks(func(name string) (*playbooks.Playbook, error) {
		return app.LoadPlaybook(o.Dirs, name, reg)
	}); err != nil {
		return &app.InputError{Err: err}
	}
	srv := &alerts.Server{Window: o.Window}
	if o.TokenFile != "" {
		if srv.Token, err = readSecretFile("--token-file", o.TokenFile); err != nil {
			return err
		}
	}
	if o.SecretFile != "" {
		s, err := readSecretFile("--webhook-secret-file", o.SecretFile)
		if err != nil {
			return err
		}
		if srv.Secret, err = alerts.ParseSecret(s); err != nil {
			return usagef("--webhook-secret-file: %v", err)
		}
	}
	var tlsCfg *tls.Config
	if o.Listen != "" {
		if tlsCfg, err = serverTLS(o); err != nil {
			return err
		}
	}
	s, err := openSession(ctx, g, d, &o.store, func(ao *app.Options) { ao.PlaybookDirs = o.Dirs })
	if err != nil {
		return err
	}
	defer s.Close()
	logf := func(msg string) {
		fmt.Fprintf(d.stderr, "%s serve: %s\n", time.Now().UTC().Format(time.RFC3339), safeLines(msg))
	}
	dir := filepath.Join(g.StateDir, "alerts")
	journal, entries, err := alerts.OpenJournal(dir, "firebreak serve (pid "+fmt.Sprint(os.Getpid())+")")
	if err != nil {
		return err
	}
	defer journal.Close()
	disp := alerts.NewDispatcher(alerts.Config{
		Rules: rules, Journal: journal, Responder: alerts.SessionResponder{S: s}, DryRun: o.DryRun,
		Queue: o.Queue, Runs: o.Runs, Rate: o.Rate, Burst: o.Burst, NewCase: evidence.NewCaseID, Log: logf,
	})
	srv.D, srv.Log = disp, logf
	srv.Remember(entries)
	journal.OnSync = func(d time.Duration, _ int) { disp.Metrics.JournalSync.Observe(d) }

	// A daemon outlives the terminal it was started from: a hangup does
	// not stop it (nor does serve reload anything on one); SIGTERM or
	// Ctrl-C do.
	signal.Ignore(syscall.SIGHUP)
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	if n := disp.Recover(ctx, entries); n > 0 {
		logf(fmt.Sprintf("taking up %d alerts accepted before the last stop and not decided", n))
	}
	mode := ""
	if o.DryRun {
		mode = " (dry run: nothing is acted on)"
	}
	logf(fmt.Sprintf("%d rules from %s; journal %s%s", len(rules.Rules), o.Rules, filepath.Join(dir, alerts.JournalFile), mode))

	var servers []*http.Server
	var wg sync.WaitGroup
	errc := make(chan error, 3)
	serve := func(l net.Listener, via string, what string) {
		hs := &http.Server{Handler: srv, ReadHeaderTimeout: 5 * time.Second, ReadTimeout: 30 * time.Second, WriteTimeout: 30 * time.Second, MaxHeaderBytes: 64 << 10, TLSConfig: tlsCfg}
		servers = append(servers, hs)
		logf("listening on " + what)
		wg.Add(1)
		go func() {
			defer wg.Done()
			var err error
			if tlsCfg != nil && via == "tcp" {
				err = hs.ServeTLS(l, "", "")
			} else {
				err = hs.Serve(l)
			}
			if err != nil && !errors.Is(err, http.ErrServerClosed) {
				errc <- err
			}
		}()
	}
	if o.Socket != "" {
		l, err := listenUnix(o.Socket)
		if err != nil {
			return err
		}
		defer os.Remove(o.Socket)
		serve(l, "unix", "unix:"+o.Socket+" (root only)")
	}
	if o.Listen != "" {
		l, err := net.Listen("tcp", o.Listen)
		if err != nil {
			return fmt.Errorf("--listen %s: %w", o.Listen, err)
		}
		auth := []string{}
		if o.ClientCA != "" {
			auth = append(auth, "client certificates")
		}
		if srv.Token != "" {
			auth = append(auth, "bearer token")
		}
		serve(l, "tcp", "tcp:"+l.Addr().String()+" (TLS, "+strings.Join(auth, " and ")+")")
	}
	loopCtx, stopLoop := context.WithCancel(context.WithoutCancel(ctx))
	loopDone := make(chan struct{})
	go func() {
		defer close(loopDone)
		disp.Loop(loopCtx)
	}()
	var stdinErr error
	if o.Stdin {
		stdinErr = alerts.ReadLines(ctx, d.stdin, disp, logf)
		if len(servers) == 0 {
			stopLoop()
			<-loopDone
			disp.Drain(ctx)
			return stdinErr
		}
	}
	select {
	case <-ctx.Done():
	case err := <-errc:
		stdinErr = errors.Join(stdinErr, err)
	}
	logf("stopping: no new alerts; runs under way finish first")
	sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, hs := range servers {
		_ = hs.Shutdown(sctx)
	}
	wg.Wait()
	stopLoop()
	<-loopDone
	return stdinErr
}

// listenUnix listens on a unix socket only root may use. A socket file left
// by a serve that died is replaced; one that answers is not.
func listenUnix(path string) (net.Listener, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("--socket: %w", err)
	}
	if c, err := net.DialTimeout("unix", path, time.Second); err == nil {
		c.Close()
		return nil, fmt.Errorf("--socket %s: another serve answers on it", path)
	}
	if fi, err := os.Lstat(path); err == nil {
		if fi.Mode().Type() != os.ModeSocket {
			return nil, usagef("--socket %s is a %s, not a socket: name a path for the socket", path, fi.Mode().Type())
		}
		_ = os.Remove(path) // a socket left by a serve that died
	}
	old := syscall.Umask(0o177)
	l, err := net.Listen("unix", path)
	syscall.Umask(old)
	if err != nil {
		return nil, fmt.Errorf("--socket: %w", err)
	}
	if err := os.Chmod(path, 0o600); err != nil {
		l.Close()
		return nil, fmt.Errorf("--socket: %w", err)
	}
	return l, nil
}

func serverTLS(o *serveOptions) (*tls.Config, error) {
	cert, err := tls.LoadX509KeyPair(o.TLSCert, o.TLSKey)
	if err != nil {
		return nil, usagef("--tls-cert/--tls-key: %v", err)
	}
	cfg := &tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{cert}}
	if o.ClientCA != "" {
		pem, err := os.ReadFile(o.ClientCA)
		if err != nil {
			return nil, usagef("--client-ca: %v", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, usagef("--client-ca %s holds no PEM certificate", o.ClientCA)
		}
		cfg.ClientCAs, cfg.ClientAuth = pool, tls.RequireAndVerifyClientCert
	}
	return cfg, nil
}
