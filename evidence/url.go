package evidence

import (
	"fmt"
	"net/url"
	"os"
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
	Getenv          func(string) string // os.Getenv when nil
}

// OpenURL opens the store a URL names:
//
//	file:///var/lib/firebreak/evidence   (or a plain path; "" is DefaultDir)
//	s3://BUCKET/PREFIX?endpoint=HOST:PORT[&insecure=true][&region=R]
//
// S3 credentials come from StoreOptions.CredentialsFile, else
// AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, else
// MINIO_ROOT_USER/MINIO_ROOT_PASSWORD, else MINIO_ACCESS_KEY/MINIO_SECRET_KEY;
// the endpoint may also come from AWS_ENDPOINT_URL_S3 or AWS_ENDPOINT_URL.
func OpenURL(raw string, o StoreOptions) (Store, error) {
	getenv := o.Getenv
	if getenv == nil {
		getenv = os.Getenv
	}
	if raw == "" {
		raw = DefaultDir
	}
	if !strings.Contains(raw, "://") {
		if o.Retain > 0 {
			return nil, fmt.Errorf("--retain needs an S3 store with object lock; a local directory cannot keep files from deletion")
		}
		return NewFileStore(raw)
	}
	u, err := url.Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("store URL %q: %w", raw, err)
	}
	switch u.Scheme {
	case "file":
		if u.Host != "" && u.Host != "localhost" {
			return nil, fmt.Errorf("store URL %q: a file URL names a local path: file:///path", raw)
		}
		if o.Retain > 0 {
			return nil, fmt.Errorf("--retain needs an S3 store with object lock; a local directory cannot keep files from deletion")
		}
		return NewFileStore(u.Path)
	case "s3":
		q := u.Query()
		for k := range q {
			switch k {
			case "endpoint", "insecure", "region":
			default:
				return nil, fmt.Errorf("store URL %q: unknown parameter %q (known: endpoint, insecure, region)", raw, k)
			}
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
		if o.CredentialsFile != "" {
			profile := o.Profile
			if profile == "" {
				profile = getenv("AWS_PROFILE")
			}
			v, err := credentials.NewFileAWSCredentials(o.CredentialsFile, profile).GetWithContext(nil)
			if err != nil || v.AccessKeyID == "" {
				return nil, fmt.Errorf("credentials file %s (profile %q): %v: give a file with aws_access_key_id and aws_secret_access_key", o.CredentialsFile, profile, err)
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
		if cfg.Endpoint == "" {
			return nil, fmt.Errorf("store URL %q: no endpoint: add ?endpoint=HOST:PORT or set AWS_ENDPOINT_URL", raw)
		}
		if cfg.AccessKey == "" {
			return nil, fmt.Errorf("store URL %q: no credentials: give --s3-credentials FILE, or set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (or MINIO_ROOT_USER and MINIO_ROOT_PASSWORD)", raw)
		}
		return NewS3Store(cfg)
	}
	return nil, fmt.Errorf("store URL %q: unknown scheme %q (use file:// or s3://)", raw, u.Scheme)
}
