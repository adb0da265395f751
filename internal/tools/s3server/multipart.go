package main

import (
	"crypto/md5"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/johannesboyne/gofakes3"
)

// diskMultipart keeps each part of a multipart upload in its own file and streams
// their concatenation into the backend on completion.
type diskMultipart struct {
	store gofakes3.Backend
	dir   string

	mu      sync.Mutex
	uploads map[gofakes3.UploadID]*upload
}

type upload struct {
	bucket, object string
	meta           map[string]string
	initiated      time.Time
	dir            string
	parts          map[int]part
}

type part struct {
	etag     string
	size     int64
	modified time.Time
}

func newDiskMultipart(store gofakes3.Backend, dir string) (*diskMultipart, error) {
	// Uploads do not survive a restart (their ids are in memory): drop old parts.
	if err := os.RemoveAll(dir); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	return &diskMultipart{store: store, dir: dir, uploads: map[gofakes3.UploadID]*upload{}}, nil
}

func (d *diskMultipart) get(bucket, object string, id gofakes3.UploadID) (*upload, error) {
	u, ok := d.uploads[id]
	if !ok || u.bucket != bucket || u.object != object {
		return nil, gofakes3.ErrNoSuchUpload
	}
	return u, nil
}

func (d *diskMultipart) CreateMultipartUpload(bucket, object string, meta map[string]string) (gofakes3.UploadID, error) {
	if ok, err := d.store.BucketExists(bucket); err != nil {
		return "", err
	} else if !ok {
		return "", gofakes3.BucketNotFound(bucket)
	}
	var b [16]byte
	_, _ = rand.Read(b[:])
	id := gofakes3.UploadID(hex.EncodeToString(b[:]))
	dir := filepath.Join(d.dir, string(id))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	d.uploads[id] = &upload{bucket: bucket, object: object, meta: meta, initiated: time.Now(), dir: dir, parts: map[int]part{}}
	return id, nil
}

func (d *diskMultipart) UploadPart(bucket, object string, id gofakes3.UploadID, num int, size int64, input io.Reader) (string, error) {
	if num < 1 || num > gofakes3.MaxUploadPartNumber {
		return "", gofakes3.ErrInvalidPart
	}
	d.mu.Lock()
	u, err := d.get(bucket, object, id)
	d.mu.Unlock()
	if err != nil {
		return "", err
	}
	f, err := os.CreateTemp(u.dir, "part-*")
	if err != nil {
		return "", err
	}
	h := md5.New()
	n, err := io.Copy(io.MultiWriter(f, h), input)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil && n != size {
		err = gofakes3.ErrIncompleteBody
	}
	if err == nil {
		err = os.Rename(f.Name(), filepath.Join(u.dir, fmt.Sprintf("%05d", num)))
	}
	if err != nil {
		_ = os.Remove(f.Name())
		return "", err
	}
	etag := `"` + hex.EncodeToString(h.Sum(nil)) + `"`
	d.mu.Lock()
	defer d.mu.Unlock()
	u.parts[num] = part{etag: etag, size: n, modified: time.Now()}
	return etag, nil
}

func (d *diskMultipart) ListMultipartUploads(bucket string, marker *gofakes3.UploadListMarker, prefix gofakes3.Prefix, limit int64) (*gofakes3.ListMultipartUploadsResult, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	res := &gofakes3.ListMultipartUploadsResult{Bucket: bucket, MaxUploads: limit}
	for id, u := range d.uploads {
		if u.bucket == bucket && prefix.Match(u.object, nil) {
			res.Uploads = append(res.Uploads, gofakes3.ListMultipartUploadItem{Key: u.object, UploadID: id,
				Initiated: gofakes3.NewContentTime(u.initiated)})
		}
	}
	sort.Slice(res.Uploads, func(i, j int) bool { return res.Uploads[i].Key < res.Uploads[j].Key })
	return res, nil
}

func (d *diskMultipart) ListParts(bucket, object string, id gofakes3.UploadID, marker int, limit int64) (*gofakes3.ListMultipartUploadPartsResult, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	u, err := d.get(bucket, object, id)
	if err != nil {
		return nil, err
	}
	res := &gofakes3.ListMultipartUploadPartsResult{Bucket: bucket, Key: object, UploadID: id, MaxParts: limit,
		PartNumberMarker: marker}
	for num, p := range u.parts {
		if num > marker {
			res.Parts = append(res.Parts, gofakes3.ListMultipartUploadPartItem{PartNumber: num, ETag: p.etag, Size: p.size,
				LastModified: gofakes3.NewContentTime(p.modified)})
		}
	}
	sort.Slice(res.Parts, func(i, j int) bool { return res.Parts[i].PartNumber < res.Parts[j].PartNumber })
	return res, nil
}

func (d *diskMultipart) AbortMultipartUpload(bucket, object string, id gofakes3.UploadID) error {
	d.mu.Lock()
	u, err := d.get(bucket, object, id)
	if err == nil {
		delete(d.uploads, id)
	}
	d.mu.Unlock()
	if err != nil {
		return err
	}
	return os.RemoveAll(u.dir)
}

func (d *diskMultipart) CompleteMultipartUpload(bucket, object string, id gofakes3.UploadID, in *gofakes3.CompleteMultipartUploadRequest) (gofakes3.VersionID, string, error) {
	d.mu.Lock()
	u, err := d.get(bucket, object, id)
	if err == nil {
		delete(d.uploads, id) // nobody else may complete or abort it meanwhile
	}
	d.mu.Unlock()
	if err != nil {
		return "", "", err
	}
	restore := func() {
		d.mu.Lock()
		d.uploads[id] = u
		d.mu.Unlock()
	}
	var files []io.Reader
	var closers []*os.File
	defer func() {
		for _, f := range closers {
			_ = f.Close()
		}
	}()
	var size int64
	sum := md5.New()
	last := 0
	for _, p := range in.Parts {
		got, ok := u.parts[p.PartNumber]
		if !ok || strings.Trim(p.ETag, `"`) != strings.Trim(got.etag, `"`) {
			restore()
			return "", "", gofakes3.ErrorMessagef(gofakes3.ErrInvalidPart, "part %d is missing or has another ETag", p.PartNumber)
		}
		if p.PartNumber <= last {
			restore()
			return "", "", gofakes3.ErrInvalidPartOrder
		}
		last = p.PartNumber
		f, err := os.Open(filepath.Join(u.dir, fmt.Sprintf("%05d", p.PartNumber)))
		if err != nil {
			restore()
			return "", "", err
		}
		closers = append(closers, f)
		files = append(files, f)
		size += got.size
		raw, _ := hex.DecodeString(strings.Trim(got.etag, `"`))
		sum.Write(raw)
	}
	res, err := d.store.PutObject(bucket, object, u.meta, io.MultiReader(files...), size, nil)
	if err != nil {
		restore()
		return "", "", err
	}
	_ = os.RemoveAll(u.dir)
	return res.VersionID, fmt.Sprintf(`"%s-%d"`, hex.EncodeToString(sum.Sum(nil)), len(in.Parts)), nil
}
