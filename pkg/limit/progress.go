package limit

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"time"
)

// ErrTooSlow is the error of a request body read that made too little progress.
var ErrTooSlow = errors.New("request body arrived too slowly")

// Progress bounds requests by progress rather than by total time, for servers
// whose bodies and responses may rightly take hours (uploads, media): a fixed
// ReadTimeout or WriteTimeout would cut those off, and none at all lets a client
// hold a connection forever by trickling bytes (slowloris).
type Progress struct {
	// ReadIdle is the longest wait for the next bytes of a request body.
	ReadIdle time.Duration
	// MinRate is the least average rate of a body, in bytes per second, after
	// Grace: 1 byte every ReadIdle would otherwise last for ever.
	MinRate int64
	Grace   time.Duration
	// WriteIdle is the longest a response write may block (a client that stops
	// reading).
	WriteIdle time.Duration
}

// DefaultProgress suits a public API.
var DefaultProgress = Progress{ReadIdle: 30 * time.Second, MinRate: 1024, Grace: 30 * time.Second, WriteIdle: time.Minute}

// Wrap applies the bounds to every request of h through the connection's read and
// write deadlines (http.ResponseController). Wrap the whole server handler: the
// deadlines stay on the connection between requests, so every request must pass
// here to reset them.
func (p Progress) Wrap(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rc := http.NewResponseController(w)
		// The previous request's write deadline may still be set on this connection.
		_ = rc.SetWriteDeadline(time.Time{})
		if p.WriteIdle > 0 {
			w = &progressWriter{ResponseWriter: w, rc: rc, idle: p.WriteIdle}
		}
		if r.Body != nil && r.Body != http.NoBody && p.ReadIdle > 0 {
			b := &progressBody{body: r.Body, rc: rc, p: p, start: time.Now()}
			// Armed now, so that a body the handler never reads is still bounded
			// while the server discards it. Never set on requests without a
			// body: the server reads ahead on those connections at once, and a
			// deadline hit there cancels the request's context.
			b.arm()
			r.Body = b
		}
		h.ServeHTTP(w, r)
	})
}

type progressBody struct {
	body  io.ReadCloser
	rc    *http.ResponseController
	p     Progress
	start time.Time
	got   int64
	done  bool
}

// arm sets the read deadline for the next bytes: ReadIdle from now, or sooner
// when the average rate would fall below MinRate. It reports false when the body
// is already too slow.
func (b *progressBody) arm() bool {
	now := time.Now()
	dl := now.Add(b.p.ReadIdle)
	if b.p.MinRate > 0 {
		floor := b.start.Add(b.p.Grace + time.Duration(float64(b.got)/float64(b.p.MinRate)*float64(time.Second)))
		if floor.Before(dl) {
			dl = floor
		}
	}
	if !dl.After(now) {
		return false
	}
	_ = b.rc.SetReadDeadline(dl)
	return true
}

func (b *progressBody) Read(p []byte) (int, error) {
	if b.done {
		return b.body.Read(p)
	}
	if !b.arm() {
		return 0, fmt.Errorf("%w: %d bytes in %s", ErrTooSlow, b.got, time.Since(b.start).Round(time.Second))
	}
	n, err := b.body.Read(p)
	b.got += int64(n)
	switch {
	case err == nil:
	case errors.Is(err, os.ErrDeadlineExceeded):
		err = fmt.Errorf("%w: %d bytes in %s", ErrTooSlow, b.got, time.Since(b.start).Round(time.Second))
	default:
		// The end (or a broken body): the server now reads ahead on the
		// connection itself, and a deadline firing there would cancel the
		// request's context while the handler still works.
		b.done = true
		_ = b.rc.SetReadDeadline(time.Time{})
	}
	return n, err
}

func (b *progressBody) Close() error { return b.body.Close() }

type progressWriter struct {
	http.ResponseWriter
	rc   *http.ResponseController
	idle time.Duration
}

func (w *progressWriter) Write(p []byte) (int, error) {
	_ = w.rc.SetWriteDeadline(time.Now().Add(w.idle))
	return w.ResponseWriter.Write(p)
}

func (w *progressWriter) WriteHeader(code int) {
	_ = w.rc.SetWriteDeadline(time.Now().Add(w.idle))
	w.ResponseWriter.WriteHeader(code)
}

// Unwrap lets http.ResponseController reach the connection (flush, deadlines).
func (w *progressWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
