package evidence

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"sort"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
	"github.com/minio/minio-go/v7/pkg/s3utils"
)

// S3Config says where an S3 store is and how to reach it.
type S3Config struct {
	Endpoint  string // host:port
	Bucket    string
	Prefix    string // key prefix inside the bucket, "" or ending in "/"
	AccessKey string
	SecretKey string
	Region    string
	Insecure  bool          // plain HTTP
	Retain    time.Duration // Object Lock retention for every object, 0 for none
	LockMode  string        // "governance" or "compliance"
	PartSize  uint64        // multipart part size
	Threads   int           // parts in flight at once; memory use is about Threads × PartSize
}

// S3Store keeps evidence in an S3 bucket.
type S3Store struct {
	cfg       S3Config
	api       *minio.Client
	readBacks atomic.Int64 // puts the server's checksum did not confirm, read back instead
}

var (
	_ Store       = (*S3Store)(nil)
	_ Retainer    = (*S3Store)(nil)
	_ Preflighter = (*S3Store)(nil)
)

// DefaultPartSize and DefaultThreads bound memory: minio-go buffers one part
// per thread of a stream of unknown length (here 16 MiB in all).
const (
	DefaultPartSize = 8 << 20
	DefaultThreads  = 2
)

// NewS3Store makes a client; nothing is sent until the first call.
func NewS3Store(cfg S3Config) (*S3Store, error) {
	if cfg.Endpoint == "" || cfg.Bucket == "" {
		return nil, fmt.Errorf("s3 store needs an endpoint and a bucket: s3://BUCKET/PREFIX?endpoint=HOST:PORT")
	}
	if cfg.Prefix != "" && !strings.HasSuffix(cfg.Prefix, "/") {
		cfg.Prefix += "/"
	}
	if cfg.PartSize == 0 {
		cfg.PartSize = DefaultPartSize
	}
	if cfg.Threads == 0 {
		cfg.Threads = DefaultThreads
	}
	switch cfg.LockMode {
	case "", "governance", "compliance":
	default:
		return nil, fmt.Errorf("lock mode %q: use governance or compliance", cfg.LockMode)
	}
	if cfg.Retain > 0 && cfg.LockMode == "" {
		cfg.LockMode = "governance"
	}
	api, err := minio.New(cfg.Endpoint, &minio.Options{
		Creds:           credentials.NewStaticV4(cfg.AccessKey, cfg.SecretKey, ""),
		Secure:          !cfg.Insecure,
		Region:          cfg.Region,
		TrailingHeaders: true,
	})
	if err != nil {
		return nil, fmt.Errorf("s3 client for %s: %w", cfg.Endpoint, err)
	}
	return &S3Store{cfg: cfg, api: api}, nil
}

// Client is the minio-go client, for tests that set up buckets.
func (s *S3Store) Client() *minio.Client { return s.api }

// Config is the store's configuration.
func (s *S3Store) Config() S3Config { return s.cfg }

func (s *S3Store) String() string {
	u := url.URL{Scheme: "s3", Host: s.cfg.Bucket, Path: "/" + s.cfg.Prefix}
	q := url.Values{"endpoint": {s.cfg.Endpoint}}
	if s.cfg.Insecure {
		q.Set("insecure", "true")
	}
	u.RawQuery = q.Encode()
	return u.String()
}

func (s *S3Store) object(key string) (string, error) {
	if err := CheckKey(key); err != nil {
		return "", err
	}
	return s.cfg.Prefix + key, nil
}

// RetentionError is a refusal before anything is written: retention was
// asked of a bucket that cannot lock objects.
type RetentionError struct {
	Bucket string
	Why    string
}

func (e *RetentionError) Error() string {
	return fmt.Sprintf("bucket %s cannot retain evidence (%s); nothing was written (hint: create the bucket with object lock (mc mb --with-lock), or drop --retain)", e.Bucket, e.Why)
}

func (s *S3Store) CheckRetention(ctx context.Context) error {
	if s.cfg.Retain <= 0 {
		return nil
	}
	enabled, _, _, _, err := s.api.GetObjectLockConfig(ctx, s.cfg.Bucket)
	if err != nil && minio.ToErrorResponse(err).Code == "" {
		return fmt.Errorf("checking object lock of bucket %s: %w: %w", s.cfg.Bucket, ErrUnreachable, err)
	}
	if err != nil || enabled != "Enabled" {
		why := "object lock is not enabled"
		if err != nil {
			why = err.Error()
		}
		return &RetentionError{Bucket: s.cfg.Bucket, Why: why}
	}
	return nil
}

// preflightTimeout bounds the whole preflight: a store that does not answer
// in this time is taken as unreachable.
const preflightTimeout = 20 * time.Second

// notInitialized is MinIO's answer while it starts.
func notInitialized(err error) bool {
	return minio.ToErrorResponse(err).Code == "XMinioServerNotInitialized" || strings.Contains(err.Error(), "Server not initialized yet")
}

// Preflight asks the server, with few retries and a deadline, whether the
// bucket exists and whether the credentials may write in it (a multipart
// upload started and aborted: nothing is stored, even in a locked bucket),
// and, when retention is asked, whether the bucket can lock objects.
func (s *S3Store) Preflight(ctx context.Context) error {
	api, err := minio.New(s.cfg.Endpoint, &minio.Options{
		Creds:      credentials.NewStaticV4(s.cfg.AccessKey, s.cfg.SecretKey, ""),
		Secure:     !s.cfg.Insecure,
		Region:     s.cfg.Region,
		MaxRetries: 2,
	})
	if err != nil {
		return &StoreError{Store: s.String(), Problem: "bad endpoint", Err: err, Permanent: true,
			Hint: "give endpoint=HOST:PORT in the store URL"}
	}
	if err := s3utils.CheckValidBucketNameStrict(s.cfg.Bucket); err != nil {
		return &StoreError{Store: s.String(), Problem: "the bucket name " + s.cfg.Bucket + " is not valid", Err: err, Permanent: true,
			Hint: "give 3 to 63 lower-case letters, digits, dots and hyphens in s3://BUCKET/PREFIX"}
	}
	pctx, cancel := context.WithTimeout(ctx, preflightTimeout)
	defer cancel()
	ok, err := api.BucketExists(pctx, s.cfg.Bucket)
	// A MinIO server that has just started answers "not initialized" for a
	// moment (even after its readiness check passed): asked again, not
	// reported as down.
	for wait := 100 * time.Millisecond; err != nil && notInitialized(err) && wait <= 3200*time.Millisecond; wait *= 2 {
		select {
		case <-pctx.Done():
		case <-time.After(wait):
		}
		ok, err = api.BucketExists(pctx, s.cfg.Bucket)
	}
	if err != nil {
		return s.preflightError(ctx, "checking bucket "+s.cfg.Bucket, err)
	}
	if !ok {
		return &StoreError{Store: s.String(), Problem: "bucket " + s.cfg.Bucket + " does not exist", Permanent: true,
			Hint: "create it (mc mb, with --with-lock for --retain) or fix the bucket name in --store"}
	}
	core := minio.Core{Client: api}
	rnd := make([]byte, 6)
	_, _ = rand.Read(rnd)
	probe := s.cfg.Prefix + ".firebreak-preflight-" + hex.EncodeToString(rnd)
	id, err := core.NewMultipartUpload(pctx, s.cfg.Bucket, probe, minio.PutObjectOptions{})
	if err != nil {
		return s.preflightError(ctx, "starting a test upload to bucket "+s.cfg.Bucket, err)
	}
	if err := core.AbortMultipartUpload(pctx, s.cfg.Bucket, probe, id); err != nil {
		return s.preflightError(ctx, "aborting the test upload "+probe, err)
	}
	if s.cfg.Retain > 0 {
		if err := s.CheckRetention(pctx); err != nil {
			if errors.Is(err, ErrUnreachable) {
				return s.preflightError(ctx, "checking object lock", err)
			}
			return err
		}
	}
	return nil
}

// preflightError sorts a failure into what the user must change
// (permanent) and what an outage explains (no answer: refused, reset, timed
// out, no route, a name that does not resolve now, a server error), for
// which evidence can wait in the spool.
func (s *S3Store) preflightError(ctx context.Context, op string, err error) error {
	if ctx.Err() != nil {
		return ctx.Err()
	}
	perm := func(problem, hint string) error {
		return &StoreError{Store: s.String(), Problem: problem, Err: err, Permanent: true, Hint: hint}
	}
	outage := &StoreError{Store: s.String(), Problem: op + ": cannot be reached", Err: err}
	msg := err.Error()
	var (
		rec     tls.RecordHeaderError
		unknown x509.UnknownAuthorityError
		invalid x509.CertificateInvalidError
		host    x509.HostnameError
		verify  *tls.CertificateVerificationError
	)
	switch {
	case errors.As(err, &rec), strings.Contains(msg, "server gave HTTP response to HTTPS client"):
		return perm(op+": the endpoint speaks plain HTTP", "add &insecure=true to the store URL, or give endpoint=http://HOST:PORT")
	case strings.Contains(msg, "HTTP request to an HTTPS server"):
		return perm(op+": the endpoint speaks HTTPS", "drop insecure=true from the store URL")
	case errors.As(err, &unknown), errors.As(err, &invalid), errors.As(err, &host), errors.As(err, &verify):
		return perm(op+": the endpoint's TLS certificate is not trusted", "give the endpoint's name as in its certificate, or trust its CA (SSL_CERT_FILE)")
	case strings.Contains(msg, "malformed HTTP"):
		return perm(op+": the endpoint does not answer as an S3 server", "check the host and port of endpoint= in the store URL")
	case isOutage(err):
		return outage
	}
	resp := minio.ToErrorResponse(err)
	switch resp.Code {
	case "":
		return perm(op+": cannot be used", "check the store URL")
	case "AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch", "InvalidToken", "ExpiredToken", "InvalidClientTokenId":
		return perm(op+": the credentials are refused",
			"check the access key and secret (--s3-credentials, AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY) and that they may write in bucket "+s.cfg.Bucket)
	case "NoSuchBucket":
		return perm(op+": bucket "+s.cfg.Bucket+" does not exist", "create it (mc mb, with --with-lock for --retain) or fix the bucket name in --store")
	case "AuthorizationHeaderMalformed", "InvalidRegion":
		return perm(op+": wrong region", "give &region=R in the store URL or set AWS_REGION")
	case "InvalidBucketName":
		return perm(op+": the bucket name is not valid", "fix the bucket name in --store")
	}
	if resp.StatusCode >= 500 {
		return outage
	}
	if strings.Contains(resp.Code, " ") { // an HTTP status line: not an S3 answer
		return perm(op+": the endpoint does not answer as an S3 server", "check the host and port of endpoint= in the store URL")
	}
	return perm(op+": refused ("+resp.Code+")", "check the store URL and the credentials")
}

// isOutage says whether err is a store giving no answer (refused, reset,
// timed out, no route, a name that does not resolve now, a connection cut
// short) or a server error, rather than an answer about what was asked.
func isOutage(err error) bool {
	var (
		opErr  *net.OpError
		dnsErr *net.DNSError
		netErr net.Error
	)
	switch {
	case errors.Is(err, ErrUnreachable),
		errors.As(err, &opErr), errors.As(err, &dnsErr), errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF),
		errors.Is(err, context.DeadlineExceeded), errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.ECONNREFUSED),
		errors.As(err, &netErr) && netErr.Timeout():
		return true
	}
	return minio.ToErrorResponse(err).StatusCode >= 500
}

// Put streams r as a multipart upload of unknown length (memory: one part).
// The server's full-object CRC32C is compared with the one computed here
// while sending, so a stored object counts only once the server has confirmed
// every byte.
func (s *S3Store) Put(ctx context.Context, key string, r io.Reader, meta map[string]string) (Object, error) {
	name, err := s.object(key)
	if err != nil {
		return Object{}, err
	}
	if _, err := s.api.StatObject(ctx, s.cfg.Bucket, name, minio.StatObjectOptions{}); err == nil {
		return Object{}, fmt.Errorf("storing %s: %w", key, ErrExists)
	} else if minio.ToErrorResponse(err).Code != "NoSuchKey" {
		return Object{}, fmt.Errorf("s3 StatObject %s: %w", name, err)
	}
	// A stream that ends within smallObject bytes goes as one plain put of
	// known size (one request instead of a multipart upload's three, and
	// no part buffers); an empty one as a zero-length put, since the
	// streaming upload's checksum of nothing is refused by the server.
	first := make([]byte, smallObject)
	n, err := io.ReadFull(ctxReader{ctx, r}, first)
	switch {
	case n == 0 && err == io.EOF:
		return s.putEmpty(ctx, key, name, meta)
	case err == io.ErrUnexpectedEOF:
		return s.putSmall(ctx, key, name, first[:n], meta)
	case err != nil:
		return Object{}, fmt.Errorf("reading %s: %w", key, err)
	}
	r = io.MultiReader(bytes.NewReader(first[:n]), r)
	sha := sha256.New()
	crc := uploadChecksum.Hasher()
	opts := s.putOptions(meta)
	// Parts are read while earlier ones upload (memory: Threads × PartSize).
	// The payload is not hashed again for the signature: the full-object
	// checksum below is what proves the bytes arrived.
	opts.PartSize, opts.NumThreads, opts.ConcurrentStreamParts = s.cfg.PartSize, uint(s.cfg.Threads), s.cfg.Threads > 1
	opts.Checksum, opts.DisableContentSha256 = uploadChecksum, true
	info, err := s.api.PutObject(ctx, s.cfg.Bucket, name, io.TeeReader(ctxReader{ctx, r}, io.MultiWriter(sha, crc)), -1, opts)
	if err != nil {
		return Object{}, fmt.Errorf("s3 PutObject %s: %w", name, err)
	}
	sum := hex.EncodeToString(sha.Sum(nil))
	if err := s.confirm(ctx, name, info, crc.Sum(nil), sum); err != nil {
		return Object{}, err
	}
	return Object{Key: key, Size: info.Size, SHA256: sum, Modified: info.LastModified.UTC(), Meta: meta}, nil
}

// confirm counts an upload as stored when the server's full-object CRC32C
// of what it received equals crc, the one computed while sending; a server
// that returns none gets the object read back and its SHA-256 compared.
func (s *S3Store) confirm(ctx context.Context, name string, info minio.UploadInfo, crc []byte, sha string) error {
	want := base64.StdEncoding.EncodeToString(crc)
	switch info.ChecksumCRC32C {
	case want:
		return nil
	case "":
		return s.readBack(ctx, name, sha)
	default:
		return fmt.Errorf("s3 PutObject %s: server checksum %s, sent %s: the stored object is not what was sent", name, info.ChecksumCRC32C, want)
	}
}

// smallObject is the size below which an object goes in one request.
const smallObject = 1 << 20

// putSmall stores b in one request; the server's CRC32C of what it received
// must equal the one of b.
//
// The put is conditional (If-None-Match: *): of two writers that both found
// the key free (two hosts opening one case write its case.json), the
// server keeps the first and refuses the second, which gets ErrExists.
func (s *S3Store) putSmall(ctx context.Context, key, name string, b []byte, meta map[string]string) (Object, error) {
	opts := s.putOptions(meta)
	opts.Checksum, opts.DisableContentSha256 = uploadChecksum, true
	opts.SetMatchETagExcept("*")
	info, err := s.api.PutObject(ctx, s.cfg.Bucket, name, bytes.NewReader(b), int64(len(b)), opts)
	if minio.ToErrorResponse(err).Code == minio.PreconditionFailed {
		return Object{}, fmt.Errorf("storing %s: %w", key, ErrExists)
	}
	if err != nil {
		return Object{}, fmt.Errorf("s3 PutObject %s: %w", name, err)
	}
	crc := uploadChecksum.Hasher()
	crc.Write(b)
	sha := sha256.Sum256(b)
	sum := hex.EncodeToString(sha[:])
	if err := s.confirm(ctx, name, info, crc.Sum(nil), sum); err != nil {
		return Object{}, err
	}
	return Object{Key: key, Size: int64(len(b)), SHA256: sum, Modified: info.LastModified.UTC(), Meta: meta}, nil
}

func (s *S3Store) putOptions(meta map[string]string) minio.PutObjectOptions {
	opts := minio.PutObjectOptions{UserMetadata: meta, ContentType: "application/octet-stream"}
	if s.cfg.Retain > 0 {
		opts.RetainUntilDate = time.Now().Add(s.cfg.Retain).UTC()
		opts.Mode = minio.Governance
		if s.cfg.LockMode == "compliance" {
			opts.Mode = minio.Compliance
		}
	}
	return opts
}

func (s *S3Store) putEmpty(ctx context.Context, key, name string, meta map[string]string) (Object, error) {
	info, err := s.api.PutObject(ctx, s.cfg.Bucket, name, bytes.NewReader(nil), 0, s.putOptions(meta))
	if err != nil {
		return Object{}, fmt.Errorf("s3 PutObject %s: %w", name, err)
	}
	st, err := s.Stat(ctx, key)
	if err != nil {
		return Object{}, err
	}
	if st.Size != 0 {
		return Object{}, fmt.Errorf("s3 PutObject %s: stored %d bytes, sent none", name, st.Size)
	}
	empty := sha256.Sum256(nil)
	return Object{Key: key, Size: 0, SHA256: hex.EncodeToString(empty[:]), Modified: info.LastModified.UTC(), Meta: meta}, nil
}

func (s *S3Store) readBack(ctx context.Context, name, sha string) error {
	s.readBacks.Add(1)
	o, err := s.api.GetObject(ctx, s.cfg.Bucket, name, minio.GetObjectOptions{})
	if err != nil {
		return fmt.Errorf("s3 GetObject %s (read-back): %w", name, err)
	}
	defer o.Close()
	h := sha256.New()
	if _, err := io.Copy(h, o); err != nil {
		return fmt.Errorf("s3 read-back of %s: %w", name, err)
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != sha {
		return fmt.Errorf("s3 read-back of %s: sha256 %s, sent %s", name, got, sha)
	}
	return nil
}

func (s *S3Store) Get(ctx context.Context, key string) (io.ReadCloser, error) {
	name, err := s.object(key)
	if err != nil {
		return nil, err
	}
	o, err := s.api.GetObject(ctx, s.cfg.Bucket, name, minio.GetObjectOptions{})
	if err != nil {
		return nil, fmt.Errorf("s3 GetObject %s: %w", name, err)
	}
	// The object's first request answers with its headers, and with them
	// whether it exists: one request per read, not a HEAD and then a GET.
	if _, err := o.Stat(); err != nil {
		o.Close()
		if minio.ToErrorResponse(err).Code == "NoSuchKey" {
			return nil, fmt.Errorf("%s: %w", key, ErrNotFound)
		}
		return nil, fmt.Errorf("s3 GetObject %s: %w", name, err)
	}
	return o, nil
}

func (s *S3Store) Stat(ctx context.Context, key string) (Object, error) {
	name, err := s.object(key)
	if err != nil {
		return Object{}, err
	}
	info, err := s.api.StatObject(ctx, s.cfg.Bucket, name, minio.StatObjectOptions{})
	if err != nil {
		if minio.ToErrorResponse(err).Code == "NoSuchKey" {
			return Object{}, fmt.Errorf("%s: %w", key, ErrNotFound)
		}
		return Object{}, fmt.Errorf("s3 StatObject %s: %w", name, err)
	}
	return Object{Key: key, Size: info.Size, Modified: info.LastModified.UTC(), Meta: info.UserMetadata}, nil
}

func (s *S3Store) List(ctx context.Context, prefix string) ([]Object, error) {
	var out []Object
	for o := range s.api.ListObjects(ctx, s.cfg.Bucket, minio.ListObjectsOptions{Prefix: s.cfg.Prefix + prefix, Recursive: true}) {
		if o.Err != nil {
			return nil, fmt.Errorf("s3 ListObjects %s: %w", s.cfg.Prefix+prefix, o.Err)
		}
		out = append(out, Object{Key: strings.TrimPrefix(o.Key, s.cfg.Prefix), Size: o.Size, Modified: o.LastModified.UTC()})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Key < out[j].Key })
	return out, nil
}

// uploadChecksum is the full-object checksum the server computes over what
// it received and returns: CRC32C, which CPUs compute in hardware on both
// ends (CRC64-NVME cost MinIO a table-driven pass over every byte).
const uploadChecksum = minio.ChecksumFullObjectCRC32C
