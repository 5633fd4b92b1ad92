package evidence

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestOpenURL(t *testing.T) {
	dir := t.TempDir()
	creds := filepath.Join(dir, "credentials")
	if err := os.WriteFile(creds, []byte("[default]\naws_access_key_id = FILEKEY\naws_secret_access_key = FILESECRET\n[ir]\naws_access_key_id = IRKEY\naws_secret_access_key = IRSECRET\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"AWS_ACCESS_KEY_ID": "ENVKEY", "AWS_SECRET_ACCESS_KEY": "ENVSECRET"}
	getenv := func(k string) string { return env[k] }
	tests := []struct {
		name, url string
		opts      StoreOptions
		env       map[string]string
		wantErr   string
		check     func(t *testing.T, s Store)
	}{
		{name: "PlainPath", url: filepath.Join(dir, "ev"), check: func(t *testing.T, s Store) {
			if fs, ok := s.(*FileStore); !ok || fs.Dir() != filepath.Join(dir, "ev") {
				t.Errorf("got %v", s)
			}
		}},
		{name: "FileURL", url: "file://" + filepath.Join(dir, "ev2"), check: func(t *testing.T, s Store) {
			if _, ok := s.(*FileStore); !ok {
				t.Errorf("got %T", s)
			}
		}},
		{name: "FileWithHost", url: "file://host/x", wantErr: "file:///path"},
		{name: "RetainOnFile", url: filepath.Join(dir, "ev3"), opts: StoreOptions{Retain: time.Hour}, wantErr: "object lock"},
		{name: "S3", url: "s3://bucket/pre/fix?endpoint=127.0.0.1:9000&insecure=true", env: env, check: func(t *testing.T, s Store) {
			c := s.(*S3Store).Config()
			if c.Bucket != "bucket" || c.Prefix != "pre/fix/" || c.Endpoint != "127.0.0.1:9000" || !c.Insecure || c.AccessKey != "ENVKEY" {
				t.Errorf("config %+v", c)
			}
		}},
		{name: "S3EndpointFromEnv", url: "s3://bkt", env: map[string]string{"AWS_ENDPOINT_URL": "http://127.0.0.1:9000/", "MINIO_ROOT_USER": "u", "MINIO_ROOT_PASSWORD": "p"}, check: func(t *testing.T, s Store) {
			c := s.(*S3Store).Config()
			if c.Endpoint != "127.0.0.1:9000" || !c.Insecure || c.AccessKey != "u" || c.SecretKey != "p" {
				t.Errorf("config %+v", c)
			}
		}},
		{name: "S3CredentialsFileWins", url: "s3://bkt?endpoint=h:1", env: env, opts: StoreOptions{CredentialsFile: creds, Profile: "ir"}, check: func(t *testing.T, s Store) {
			if c := s.(*S3Store).Config(); c.AccessKey != "IRKEY" || c.SecretKey != "IRSECRET" {
				t.Errorf("config %+v", c)
			}
		}},
		{name: "S3NoEndpoint", url: "s3://bkt", env: env, wantErr: "endpoint"},
		{name: "S3NoCredentials", url: "s3://bkt?endpoint=h:1", wantErr: "credentials"},
		{name: "S3UnknownParam", url: "s3://bkt?endpoint=h:1&secret=x", env: env, wantErr: "unknown parameter"},
		{name: "S3BadLockMode", url: "s3://bkt?endpoint=h:1", env: env, opts: StoreOptions{Retain: time.Hour, LockMode: "forever"}, wantErr: "lock mode"},
		{name: "UnknownScheme", url: "ftp://x/y", wantErr: "unknown scheme"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env = tt.env
			tt.opts.Getenv = getenv
			s, err := OpenURL(tt.url, tt.opts)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("OpenURL(%q) = %v, want an error about %q", tt.url, err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			tt.check(t, s)
		})
	}
}

func TestCheckKey(t *testing.T) {
	for _, k := range []string{"a", "cases/x/y.json", "a/b c/ü"} {
		if err := CheckKey(k); err != nil {
			t.Errorf("CheckKey(%q) = %v", k, err)
		}
	}
	for _, k := range []string{"", "/a", "a/", "a//b", "./a", "a/..", "a\x00", `a\b`} {
		if CheckKey(k) == nil {
			t.Errorf("CheckKey(%q) accepted", k)
		}
	}
}

func TestS3URLsAreChecked(t *testing.T) {
	env := func(string) string { return "" }
	for _, raw := range []string{
		"s3://b/p?endpoint=127.0.0.1:9000",          // bucket too short
		"s3://Bad_Bucket/p?endpoint=127.0.0.1:9000", // not a bucket name
		"s3://bucket/p?endpoint=127.0.0.1:99999",    // port out of range
		"s3://bucket/../x?endpoint=127.0.0.1:9000",  // a .. in the prefix
		"s3://bucket/p?endpoint=host/path:9000",     // not host:port
	} {
		if _, err := OpenURL(raw, StoreOptions{Getenv: env}); err == nil {
			t.Errorf("OpenURL(%q) accepted", raw)
		}
	}
}
