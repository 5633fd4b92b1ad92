package evidence

import (
	"context"
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/minio/minio-go/v7/pkg/credentials"
)

// StoreOptions are settings that come from flags rather than the URL.
type StoreOptions struct {
	Retain   time.Duration
	LockMode string
	// CredentialsFile is an AWS shared credentials file ([profile] with
	// aws_access_key_id and aws_secret_access_key); it wins over the
	// environment. Profile defaults to AWS_PROFILE, else "default".
	CredentialsFile string
	Profile         string
	// ReadOnly opens a store only to read it: a local store must exist
	// already, and nothing is created.
	ReadOnly bool
	Getenv   func(string) string // os.Getenv when nil
}

// storeURLHelp says which store URLs there are, for errors.
const storeURLHelp = "give file:///ABSOLUTE/PATH (or an absolute path) or s3://BUCKET/PREFIX?endpoint=HOST:PORT"

// OpenURL opens the store a URL names:
//
//	file:///var/lib/firebreak/evidence   (or a plain absolute path; "" is DefaultDir)
//	s3://BUCKET/PREFIX?endpoint=HOST:PORT[&insecure=true][&region=R]
//
// A relative path, or a file URL without an absolute path ("file:x",
// "file://x/y"), is refused: it would name a directory that depends on where
// the command runs. S3 credentials come from StoreOptions.CredentialsFile,
// else AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, else
// MINIO_ROOT_USER/MINIO_ROOT_PASSWORD, else MINIO_ACCESS_KEY/MINIO_SECRET_KEY;
// the endpoint may also come from AWS_ENDPOINT_URL_S3 or AWS_ENDPOINT_URL.
func OpenURL(raw string, o StoreOptions) (Store, error) {
	dir, cfg, err := parseStoreURL(raw, o)
	if err != nil {
		return nil, err
	}
	if cfg == nil {
		if o.Retain > 0 {
			return nil, fmt.Errorf("--retain needs an S3 store with object lock; a local directory cannot keep files from deletion")
		}
		if o.ReadOnly {
			return OpenFileStore(dir)
		}
		return NewFileStore(dir)
	}
	if cfg.AccessKey == "" {
		return nil, fmt.Errorf("store URL %q: no credentials: give --s3-credentials FILE, or set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (or MINIO_ROOT_USER and MINIO_ROOT_PASSWORD)", raw)
	}
	return NewS3Store(*cfg)
}

// CanonicalURL is the name a store goes by (its String), worked out from a
// URL without opening the store or reading credentials: what a spool records
// as its remote.
func CanonicalURL(raw string, getenv func(string) string) (string, error) {
	dir, cfg, err := parseStoreURL(raw, StoreOptions{Getenv: getenv, LockMode: ""})
	if err != nil {
		return "", err
	}
	if cfg == nil {
		return (&FileStore{dir: dir}).String(), nil
	}
	st, err := NewS3Store(*cfg)
	if err != nil {
		return "", err
	}
	return st.String(), nil
}

// parseStoreURL reads a store URL: a local directory (cfg nil) or an S3
// configuration with the credentials the options and environment give.
func parseStoreURL(raw string, o StoreOptions) (dir string, cfg *S3Config, err error) {
	getenv := o.Getenv
	if getenv == nil {
		getenv = os.Getenv
	}
	if raw == "" {
		return DefaultDir, nil, nil
	}
	if !strings.Contains(raw, "://") {
		if filepath.IsAbs(raw) {
			return filepath.Clean(raw), nil, nil
		}
		if scheme, _, ok := strings.Cut(raw, ":"); ok && (scheme == "file" || scheme == "s3") {
			return "", nil, fmt.Errorf("store URL %q: %s:// needs its slashes: %s", raw, scheme, storeURLHelp)
		}
		return "", nil, fmt.Errorf("store %q is neither an absolute path nor a URL: %s", raw, storeURLHelp)
	}
	u, err := url.Parse(raw)
	if err != nil {
		return "", nil, fmt.Errorf("store URL %q: %w: %s", raw, err, storeURLHelp)
	}
	switch u.Scheme {
	case "file":
		if u.Host != "" && u.Host != "localhost" {
			return "", nil, fmt.Errorf("store URL %q: a file URL names a local absolute path: file:///path (three slashes)", raw)
		}
		if u.Path == "" || !filepath.IsAbs(u.Path) {
			return "", nil, fmt.Errorf("store URL %q: no absolute path: give file:///ABSOLUTE/PATH", raw)
		}
		if u.RawQuery != "" || u.Fragment != "" {
			return "", nil, fmt.Errorf("store URL %q: a file URL takes no ?query or #fragment", raw)
		}
		return filepath.Clean(u.Path), nil, nil
	case "s3":
		c, err := s3ConfigOf(raw, u, o, getenv)
		return "", c, err
	}
	return "", nil, fmt.Errorf("store URL %q: unknown scheme %q (use file:// or s3://)", raw, u.Scheme)
}

var bucketName = regexp.MustCompile(`^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$`)

func s3ConfigOf(raw string, u *url.URL, o StoreOptions, getenv func(string) string) (*S3Config, error) {
	q := u.Query()
	for k := range q {
		switch k {
		case "endpoint", "insecure", "region":
		default:
			return nil, fmt.Errorf("store URL %q: unknown parameter %q (known: endpoint, insecure, region)", raw, k)
		}
	}
	if u.Host == "" {
		return nil, fmt.Errorf("store URL %q: no bucket: give s3://BUCKET/PREFIX?endpoint=HOST:PORT", raw)
	}
	cfg := S3Config{
		Bucket:   u.Host,
		Prefix:   strings.TrimPrefix(u.Path, "/"),
		Endpoint: q.Get("endpoint"),
		Region:   q.Get("region"),
		Retain:   o.Retain,
		LockMode: o.LockMode,
	}
	if v := q.Get("insecure"); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return nil, fmt.Errorf("store URL %q: insecure=%q: use true or false", raw, v)
		}
		cfg.Insecure = b
	}
	if cfg.Endpoint == "" {
		for _, k := range []string{"AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL"} {
			if v := getenv(k); v != "" {
				cfg.Endpoint = v
				break
			}
		}
	}
	if rest, ok := strings.CutPrefix(cfg.Endpoint, "http://"); ok {
		cfg.Endpoint, cfg.Insecure = rest, true
	}
	cfg.Endpoint = strings.TrimSuffix(strings.TrimPrefix(cfg.Endpoint, "https://"), "/")
	if cfg.Region == "" {
		cfg.Region = getenv("AWS_REGION")
	}
	if cfg.Endpoint == "" {
		return nil, fmt.Errorf("store URL %q: no endpoint: add ?endpoint=HOST:PORT or set AWS_ENDPOINT_URL", raw)
	}
	if !bucketName.MatchString(cfg.Bucket) || strings.Contains(cfg.Bucket, "..") {
		return nil, fmt.Errorf("store URL %q: bucket %q: an S3 bucket name is 3 to 63 lowercase letters, digits, '.' and '-', starting and ending with a letter or digit", raw, cfg.Bucket)
	}
	for _, seg := range strings.Split(cfg.Prefix, "/") {
		if seg == ".." || seg == "." {
			return nil, fmt.Errorf("store URL %q: the prefix %q has a %q segment: give a plain path", raw, cfg.Prefix, seg)
		}
	}
	if host, port, err := net.SplitHostPort(cfg.Endpoint); err == nil {
		if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 || host == "" {
			return nil, fmt.Errorf("store URL %q: endpoint %q: give HOST:PORT with a port from 1 to 65535", raw, cfg.Endpoint)
		}
	} else if strings.ContainsAny(cfg.Endpoint, "/?#@ ") {
		return nil, fmt.Errorf("store URL %q: endpoint %q: give HOST or HOST:PORT", raw, cfg.Endpoint)
	}
	if o.CredentialsFile != "" {
		profile := o.Profile
		if profile == "" {
			profile = getenv("AWS_PROFILE")
		}
		v, err := credentials.NewFileAWSCredentials(o.CredentialsFile, profile).GetWithContext(nil)
		if err != nil || v.AccessKeyID == "" {
			if profile == "" {
				profile = "default"
			}
			if err == nil {
				err = fmt.Errorf("no aws_access_key_id in profile %s", profile)
			}
			return nil, fmt.Errorf("credentials file %s (profile %s): %v: give a file with aws_access_key_id and aws_secret_access_key", o.CredentialsFile, profile, err)
		}
		cfg.AccessKey, cfg.SecretKey = v.AccessKeyID, v.SecretAccessKey
	}
	for _, pair := range [][2]string{
		{"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"},
		{"MINIO_ROOT_USER", "MINIO_ROOT_PASSWORD"},
		{"MINIO_ACCESS_KEY", "MINIO_SECRET_KEY"},
	} {
		if cfg.AccessKey == "" && getenv(pair[0]) != "" {
			cfg.AccessKey, cfg.SecretKey = getenv(pair[0]), getenv(pair[1])
			break
		}
	}
	return &cfg, nil
}

// StoreError says a store cannot be used as it is configured. A permanent
// one needs the user to change something (a path that is a file, a
// directory that cannot be written, wrong credentials, no such bucket, a
// TLS mismatch); the others say the store could not be reached just now, as
// in an outage, and match ErrUnreachable: evidence can wait in the spool.
type StoreError struct {
	Store     string // the store, as its String
	Problem   string // what is wrong
	Hint      string // what to change; "" when nothing is to be changed
	Permanent bool
	Err       error // the cause, or nil
}

func (e *StoreError) Error() string {
	msg := "store " + e.Store + ": " + e.Problem
	if e.Err != nil {
		msg += ": " + e.Err.Error()
	}
	if e.Hint != "" {
		msg += " (hint: " + e.Hint + ")"
	}
	return msg
}

func (e *StoreError) Unwrap() error { return e.Err }

// Is makes a store that cannot be reached match ErrUnreachable.
func (e *StoreError) Is(target error) bool { return target == ErrUnreachable && !e.Permanent }

// Preflighter is a store that can tell, before anything is written, whether
// it can take evidence as configured.
type Preflighter interface {
	// Preflight checks the store without leaving anything in it. It
	// returns nil, a *StoreError (permanent: the user must change a
	// setting; otherwise the store cannot be reached now), or a
	// *RetentionError. It is safe to call more than once.
	Preflight(ctx context.Context) error
}

// Preflight checks that st can take evidence, before anything is captured:
// a local directory that is a directory and can be written; an S3 bucket
// that exists and that the credentials may write (and that can lock objects
// when retention is asked). Stores without such a check pass. A store behind
// a spool that cannot be reached is marked down, so that evidence goes
// straight to the spool; the error says so and is not permanent.
func Preflight(ctx context.Context, st Store) error {
	p, ok := st.(Preflighter)
	if !ok {
		return nil
	}
	return p.Preflight(ctx)
}
