// Command s3server is a small S3-compatible server for tests and `make run`:
// gofakes3 over a directory (its afero backend), with multipart uploads staged in
// part files on disk, so that large objects are never held in memory.
//
//	s3server -addr 127.0.0.1:4569 -dir var/s3 -buckets pertitle-input,pertitle-output
//
// It serves path-style requests (http://host/bucket/key), ignores signatures
// (any credentials work) and keeps what it stores under -dir (a temporary
// directory, removed at exit, when -dir is empty). It sends no bucket
// notifications: see `pertitle s3-notify`.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"sort"
	"strings"
	"syscall"
	"time"

	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3afero"
	"github.com/spf13/afero"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "s3server:", err)
		os.Exit(1)
	}
}

func run() error {
	addr := flag.String("addr", "127.0.0.1:4569", "listen address")
	dir := flag.String("dir", "", "directory holding buckets, metadata and multipart parts (default: a temporary one, removed at exit)")
	buckets := flag.String("buckets", "", "comma-separated buckets to create at start (existing ones are kept)")
	verbose := flag.Bool("v", false, "log every request")
	flag.Parse()

	root := *dir
	if root == "" {
		tmp, err := os.MkdirTemp("", "s3server-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(tmp)
		root = tmp
	}
	if err := os.MkdirAll(root, 0o755); err != nil {
		return err
	}
	fs := afero.NewBasePathFs(afero.NewOsFs(), root)
	backend, err := s3afero.MultiBucket(fs)
	if err != nil {
		return fmt.Errorf("cannot open %s: %w", root, err)
	}
	mp, err := newDiskMultipart(backend, root+"/multipart")
	if err != nil {
		return err
	}
	for _, b := range strings.Split(*buckets, ",") {
		if b = strings.TrimSpace(b); b == "" {
			continue
		}
		if ok, _ := backend.BucketExists(b); ok {
			continue
		}
		if err := backend.CreateBucket(b); err != nil {
			return fmt.Errorf("cannot create bucket %s: %w", b, err)
		}
	}
	opts := []gofakes3.Option{gofakes3.WithoutVersioning()}
	if *verbose {
		opts = append(opts, gofakes3.WithGlobalLog())
	}
	faker := gofakes3.New(&server{MultiBucketBackend: backend, diskMultipart: mp}, opts...)

	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: faker.Server(), ReadHeaderTimeout: 10 * time.Second}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	log.Printf("s3server listening on http://%s (data in %s)", ln.Addr(), root)
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// server is the afero backend with disk-staged multipart uploads: gofakes3 uses a
// backend's own MultipartBackend when it has one instead of its in-memory uploader.
type server struct {
	*s3afero.MultiBucketBackend
	*diskMultipart
}

var _ gofakes3.MultipartBackend = (*server)(nil)

// ListBucket pages the afero backend's complete listing the way S3 does (sorted by
// key, at most MaxKeys entries, a marker to continue): the backend itself ignores
// pagination, and clients must see the paging they will meet on S3.
func (s *server) ListBucket(bucket string, prefix *gofakes3.Prefix, page gofakes3.ListBucketPage) (*gofakes3.ObjectList, error) {
	all, err := s.MultiBucketBackend.ListBucket(bucket, prefix, gofakes3.ListBucketPage{})
	if err != nil || page.IsEmpty() {
		return all, err
	}
	type entry struct {
		key    string
		object *gofakes3.Content
	}
	var entries []entry
	for _, c := range all.Contents {
		entries = append(entries, entry{c.Key, c})
	}
	for _, p := range all.CommonPrefixes {
		entries = append(entries, entry{key: p.Prefix})
	}
	sort.Slice(entries, func(i, j int) bool { return entries[i].key < entries[j].key })
	out := &gofakes3.ObjectList{}
	for _, e := range entries {
		if page.HasMarker && e.key <= page.Marker {
			continue
		}
		if page.MaxKeys > 0 && int64(len(out.Contents)+len(out.CommonPrefixes)) >= page.MaxKeys {
			out.IsTruncated = true
			break
		}
		if e.object != nil {
			out.Contents = append(out.Contents, e.object)
		} else {
			out.CommonPrefixes = append(out.CommonPrefixes, gofakes3.CommonPrefix{Prefix: e.key})
		}
		out.NextMarker = e.key
	}
	if !out.IsTruncated {
		out.NextMarker = ""
	}
	return out, nil
}
