package evidence

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/minio/minio-go/v7"
)

// Deleter is implemented by stores that can delete an object. Evidence is
// never deleted: only the backup repository's own objects may be (what
// `backup forget` and `backup prune` remove), and every other key is
// refused before the store is asked.
type Deleter interface {
	Delete(ctx context.Context, key string) error
}

// DeletablePrefixes are the only key prefixes Delete accepts: the backup
// repository's snapshots, packs, indexes and locks.
var DeletablePrefixes = []string{"backups/", "packs/", "index/", "chunks/", "locks/"}

// ErrRetained says an object is kept by the store's retention (S3 Object
// Lock) and cannot be deleted before its date.
var ErrRetained = errors.New("kept by the store's retention")

func checkDeletable(key string) error {
	if err := CheckKey(key); err != nil {
		return err
	}
	for _, p := range DeletablePrefixes {
		if strings.HasPrefix(key, p) {
			return nil
		}
	}
	return fmt.Errorf("refusing to delete %q: only backup objects (%s) are ever deleted; evidence is written once", key, strings.Join(DeletablePrefixes, ", "))
}

// Delete removes a backup object; a missing one is not an error.
func (s *FileStore) Delete(_ context.Context, key string) error {
	if err := checkDeletable(key); err != nil {
		return err
	}
	p, err := s.path(key)
	if err != nil {
		return err
	}
	if err := os.Remove(p); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("deleting %s: %w", key, err)
	}
	return nil
}

// Delete removes a backup object; a missing one is not an error, one under
// Object Lock retention is ErrRetained (a versioned bucket keeps the
// version; the delete is not forced past a retention).
func (s *S3Store) Delete(ctx context.Context, key string) error {
	if err := checkDeletable(key); err != nil {
		return err
	}
	obj, err := s.object(key)
	if err != nil {
		return err
	}
	st, err := s.api.StatObject(ctx, s.cfg.Bucket, obj, minio.StatObjectOptions{})
	if err != nil {
		if minio.ToErrorResponse(err).Code == "NoSuchKey" {
			return nil
		}
		return fmt.Errorf("deleting %s: %w", key, err)
	}
	// A bucket without object lock answers that it has no retention
	// configuration: nothing retains the object.
	if _, until, err := s.api.GetObjectRetention(ctx, s.cfg.Bucket, obj, st.VersionID); err == nil && until != nil && until.After(time.Now()) {
		return fmt.Errorf("%s until %s: %w", key, until.UTC().Format("2006-01-02T15:04:05Z"), ErrRetained)
	}
	opts := minio.RemoveObjectOptions{}
	if st.VersionID != "" {
		opts.VersionID = st.VersionID // remove the data, not only hide it behind a delete marker
	}
	if err := s.api.RemoveObject(ctx, s.cfg.Bucket, obj, opts); err != nil {
		if minio.ToErrorResponse(err).Code == "AccessDenied" || strings.Contains(err.Error(), "WORM") {
			return fmt.Errorf("%s: %v: %w", key, err, ErrRetained)
		}
		return fmt.Errorf("deleting %s: %w", key, err)
	}
	return nil
}
