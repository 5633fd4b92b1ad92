package evidence_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"firebreak/evidence"
)

// fakeS3 answers the few requests a preflight makes, as an S3 server
// would: enough to tell the failures apart, without a daemon.
type fakeS3 struct {
	code   string // answer every request with this S3 error code ("" for success)
	status int    // its HTTP status
	noBucket, denyWrite,
	lock bool // the bucket is missing; uploads are refused; object lock is on
}

func s3Error(w http.ResponseWriter, status int, code string) {
	w.Header().Set("Content-Type", "application/xml")
	w.WriteHeader(status)
	fmt.Fprintf(w, `<?xml version="1.0" encoding="UTF-8"?><Error><Code>%s</Code><Message>%s</Message></Error>`, code, code)
}

func (f *fakeS3) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	switch {
	case f.code != "":
		if r.Method == http.MethodHead {
			w.WriteHeader(f.status)
			return
		}
		s3Error(w, f.status, f.code)
	case q.Has("location"):
		if f.noBucket {
			s3Error(w, 404, "NoSuchBucket")
			return
		}
		fmt.Fprint(w, `<?xml version="1.0" encoding="UTF-8"?><LocationConstraint xmlns="http://s3.amazonaws.com/doc/2006-03-01/"></LocationConstraint>`)
	case r.Method == http.MethodHead:
		if f.noBucket {
			w.WriteHeader(404)
		}
	case r.Method == http.MethodPost && q.Has("uploads"):
		if f.denyWrite {
			s3Error(w, 403, "AccessDenied")
			return
		}
		fmt.Fprint(w, `<?xml version="1.0" encoding="UTF-8"?><InitiateMultipartUploadResult><Bucket>b</Bucket><Key>k</Key><UploadId>u1</UploadId></InitiateMultipartUploadResult>`)
	case r.Method == http.MethodDelete && q.Has("uploadId"):
		w.WriteHeader(204)
	case q.Has("object-lock"):
		if !f.lock {
			s3Error(w, 404, "ObjectLockConfigurationNotFoundError")
			return
		}
		fmt.Fprint(w, `<?xml version="1.0" encoding="UTF-8"?><ObjectLockConfiguration><ObjectLockEnabled>Enabled</ObjectLockEnabled></ObjectLockConfiguration>`)
	default:
		s3Error(w, 400, "NotImplemented")
	}
}

func closedPort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}

func s3Store(t *testing.T, endpoint string, insecure bool, retain time.Duration) *evidence.S3Store {
	t.Helper()
	s, err := evidence.NewS3Store(evidence.S3Config{Endpoint: endpoint, Bucket: "bkt", Prefix: "ev/", AccessKey: "k", SecretKey: "s", Insecure: insecure, Retain: retain})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestS3PreflightTellsMisconfigurationFromOutage: what the user must fix is
// permanent (refused before capturing); what an outage explains is not
// (evidence goes to the spool).
func TestS3PreflightTellsMisconfigurationFromOutage(t *testing.T) {
	serve := func(f *fakeS3) string {
		srv := httptest.NewServer(f)
		t.Cleanup(srv.Close)
		return strings.TrimPrefix(srv.URL, "http://")
	}
	tlsSrv := httptest.NewTLSServer(&fakeS3{})
	t.Cleanup(tlsSrv.Close)
	tlsAddr := strings.TrimPrefix(tlsSrv.URL, "https://")
	notS3 := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		w.WriteHeader(400)
		fmt.Fprint(w, "<html>Bad Request</html>")
	}))
	t.Cleanup(notS3.Close)

	tests := []struct {
		name      string
		store     *evidence.S3Store
		permanent bool   // want a permanent StoreError
		outage    bool   // want a StoreError that is not permanent
		retention bool   // want a RetentionError
		says      string // in the message
	}{
		{name: "Ok", store: s3Store(t, serve(&fakeS3{}), true, 0)},
		{name: "WrongSecret", store: s3Store(t, serve(&fakeS3{code: "SignatureDoesNotMatch", status: 403}), true, 0), permanent: true, says: "credentials are refused"},
		{name: "UnknownKey", store: s3Store(t, serve(&fakeS3{code: "InvalidAccessKeyId", status: 403}), true, 0), permanent: true, says: "credentials are refused"},
		{name: "NoBucket", store: s3Store(t, serve(&fakeS3{noBucket: true}), true, 0), permanent: true, says: "does not exist"},
		{name: "CannotWrite", store: s3Store(t, serve(&fakeS3{denyWrite: true}), true, 0), permanent: true, says: "may write in bucket bkt"},
		{name: "PlainHTTPAsHTTPS", store: s3Store(t, serve(&fakeS3{}), false, 0), permanent: true, says: "insecure=true"},
		{name: "HTTPSAsPlain", store: s3Store(t, tlsAddr, true, 0), permanent: true, says: "drop insecure=true"},
		{name: "UntrustedCertificate", store: s3Store(t, tlsAddr, false, 0), permanent: true, says: "not trusted"},
		{name: "NotS3", store: s3Store(t, strings.TrimPrefix(notS3.URL, "http://"), true, 0), permanent: true, says: "does not answer as an S3 server"},
		{name: "BadBucketName", store: func() *evidence.S3Store {
			st, err := evidence.NewS3Store(evidence.S3Config{Endpoint: serve(&fakeS3{}), Bucket: "B_", AccessKey: "k", SecretKey: "s", Insecure: true})
			if err != nil {
				t.Fatal(err)
			}
			return st
		}(), permanent: true, says: "not valid"},
		{name: "ConnectionRefused", store: s3Store(t, closedPort(t), true, 0), outage: true, says: "cannot be reached"},
		{name: "ServerDown", store: s3Store(t, serve(&fakeS3{code: "ServiceUnavailable", status: 503}), true, 0), outage: true, says: "cannot be reached"},
		{name: "RetainWithoutLock", store: s3Store(t, serve(&fakeS3{}), true, time.Hour), retention: true, says: "drop --retain"},
		{name: "RetainWithLock", store: s3Store(t, serve(&fakeS3{lock: true}), true, time.Hour)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := evidence.Preflight(context.Background(), tt.store)
			var se *evidence.StoreError
			var re *evidence.RetentionError
			switch {
			case tt.permanent:
				if !errors.As(err, &se) || !se.Permanent {
					t.Fatalf("Preflight = %v, want a permanent StoreError", err)
				}
			case tt.outage:
				if !errors.As(err, &se) || se.Permanent || !errors.Is(err, evidence.ErrUnreachable) {
					t.Fatalf("Preflight = %v, want an unreachable store", err)
				}
			case tt.retention:
				if !errors.As(err, &re) {
					t.Fatalf("Preflight = %v, want a RetentionError", err)
				}
			default:
				if err != nil {
					t.Fatalf("Preflight = %v, want nil", err)
				}
				return
			}
			if !strings.Contains(err.Error(), tt.says) {
				t.Errorf("Preflight = %q, want it to say %q", err, tt.says)
			}
		})
	}
}

// TestSpoolPreflightOfUnreachableStoreSpools: a remote that cannot be
// reached is not a refusal: the spool takes it as down, and what follows
// goes straight to the spool.
func TestSpoolPreflightOfUnreachableStoreSpools(t *testing.T) {
	ctx := context.Background()
	sp, err := evidence.NewSpool(s3Store(t, closedPort(t), true, 0), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	err = evidence.Preflight(ctx, sp)
	var se *evidence.StoreError
	if !errors.As(err, &se) || se.Permanent {
		t.Fatalf("Preflight = %v, want an unreachable store", err)
	}
	if sp.Down() == nil {
		t.Fatal("the spool does not take the remote as down after its preflight")
	}
	if _, err := sp.Put(ctx, "cases/c/a", strings.NewReader("x"), nil); err != nil || sp.Pending() != 1 {
		t.Errorf("Put after the preflight = %v, pending %d; want it spooled", err, sp.Pending())
	}
}
