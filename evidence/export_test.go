package evidence

// ReadBacks counts the puts this store had to read back because the server
// returned no matching full-object checksum.
func (s *S3Store) ReadBacks() int64 { return s.readBacks.Load() }

// SmallObject is the size from which a put is a multipart upload.
const SmallObject = smallObject
