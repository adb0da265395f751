package media

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"

	"github.com/pertitle/pertitle/pkg/tracing"
)

// Demuxers an input may be opened with. An upload is a file, never a program:
// playlist-like formats (hls, dash, concat, ffconcat, image2 sequences, tee,
// data URIs) make ffmpeg open other files or URLs named inside the input, so a
// 200-byte "video" could read another user's source off this server. Only
// self-contained containers are allowed, and only the file protocol.
var (
	// SourceFormats are the containers accepted from outside (uploads, S3
	// objects): MP4/MOV, Matroska/WebM, MPEG-TS, MPEG-PS, AVI, FLV, ASF/WMV,
	// MXF, Ogg and YUV4MPEG. The mov demuxer's external data references stay
	// off (its enable_drefs default).
	SourceFormats = []string{"mov", "matroska", "mpegts", "mpeg", "avi", "flv", "asf", "mxf", "ogg", "yuv4mpegpipe"}
	// WorkFormats are what the pipeline reads once a source was accepted:
	// the sources, and the files it writes itself and reads back (fMP4
	// renditions, raw or lossless analysis pieces, raw H.264 grid encodes).
	WorkFormats = append([]string{"nut", "h264"}, SourceFormats...)
)

// inputProtocols is the protocol whitelist of every input: local files only.
const inputProtocols = "file"

// InputArgs are the arguments that open path as one ffmpeg or ffprobe input
// restricted to local files and the given demuxers. opts are input options
// (-ss, -f) placed before -i.
func InputArgs(path string, formats []string, opts ...string) []string {
	args := make([]string, 0, len(opts)+6)
	args = append(args, opts...)
	return append(args, "-protocol_whitelist", inputProtocols,
		"-format_whitelist", strings.Join(formats, ","), "-i", path)
}

// GeneratedInputArgs opens a lavfi source graph (test patterns): it reads no
// file, so it needs no whitelist.
func GeneratedInputArgs(graph string) []string {
	return []string{"-f", "lavfi", "-i", graph}
}

// checkInputs refuses a command line with an input opened without the
// whitelists of InputArgs: the rule lives in the one place every process
// starts from, so a new call site cannot forget it.
func checkInputs(args []string) error {
	protocol, format, lavfi := false, false, false
	for i := 0; i < len(args); i++ {
		switch args[i] {
		case "-protocol_whitelist":
			protocol = i+1 < len(args) && args[i+1] == inputProtocols
		case "-format_whitelist":
			format = i+1 < len(args) && args[i+1] != ""
		case "-f":
			lavfi = i+1 < len(args) && args[i+1] == "lavfi"
		case "-i":
			if !(protocol && format) && !lavfi {
				path := ""
				if i+1 < len(args) {
					path = args[i+1]
				}
				return fmt.Errorf("media: input %q has no protocol and format whitelist", path)
			}
			protocol, format, lavfi = false, false, false
		}
		if args[i] == "-i" || args[i] == "-protocol_whitelist" || args[i] == "-format_whitelist" || args[i] == "-f" {
			i++
		}
	}
	return nil
}

// Cmd is one ffmpeg or ffprobe process. Every run of either binary in pertitle
// goes through Run, which owns what each needs: the input whitelists, a
// parent-death signal (a killed service leaves no encoder behind writing into
// a directory a retry now uses), a bounded wait for pipes after exit, a
// bounded stderr, the CPU time, and the -progress stream.
type Cmd struct {
	Bin  string // binary path or name
	Args []string
	// Stdout receives standard output, unless the arguments send -progress to
	// pipe:1, in which case it is parsed (Progress, Result.Frames).
	Stdout io.Writer
	// Stderr, when set, receives all of standard error; the last StderrTail
	// bytes are always kept for errors.
	Stderr     io.Writer
	StderrTail int
	// Progress is called once per -progress block, from one goroutine.
	Progress func(ProgressBlock)
	// WaitDelay bounds how long Run waits for the pipes after the process
	// exits or is killed (default 2 s).
	WaitDelay time.Duration
}

// ProgressBlock is one block of ffmpeg's -progress output.
type ProgressBlock struct {
	Frame   int64         // frames written so far, -1 before the first report
	OutTime time.Duration // output time written so far, -1 when unknown
	Speed   float64       // relative to real time, 0 when unknown
	End     bool          // the last block
}

// Result is what a finished process cost and said.
type Result struct {
	CPU    time.Duration // user+system CPU time
	Wall   time.Duration
	Frames int64  // last frame= of the -progress stream, -1 without one
	Stderr string // the tail of standard error
}

// ExitError is a process that ran and exited unsuccessfully.
type ExitError struct {
	Bin    string
	Err    *exec.ExitError
	Stderr string // tail
}

func (e *ExitError) Error() string {
	name := e.Bin
	if i := strings.LastIndexByte(name, '/'); i >= 0 {
		name = name[i+1:]
	}
	if e.Stderr == "" {
		return name + " failed: " + e.Err.Error()
	}
	return name + " failed: " + e.Err.Error() + ": " + e.Stderr
}

func (e *ExitError) Unwrap() error { return e.Err }

// FirstLine is the first line of the process's error output without ffmpeg's
// "[demuxer @ 0x...]" prefix: the short reason shown to users.
func (e *ExitError) FirstLine() string { return firstLine(e.Stderr) }

// Run starts the process, waits for it, and returns what it cost. A process
// that exits non-zero yields an *ExitError; a cancelled or expired ctx kills it
// and Run returns an error wrapping ctx.Err().
func (c *Cmd) Run(ctx context.Context) (Result, error) {
	ctx, span := tracing.Child(ctx, filepath.Base(c.Bin), trace.SpanKindInternal,
		attribute.String("process.executable.name", filepath.Base(c.Bin)),
		attribute.String("process.command_args", capString(strings.Join(redactURLs(c.Args), " "), 2048)))
	res, err := c.run(ctx)
	span.SetAttributes(attribute.Float64("pertitle.process.cpu_seconds", res.CPU.Seconds()), attribute.Int64("pertitle.process.frames", res.Frames))
	var ee *ExitError
	if errors.As(err, &ee) {
		span.SetAttributes(attribute.Int("process.exit.code", ee.Err.ExitCode()))
	}
	tracing.End(span, err)
	return res, err
}

// redactURLs drops the query of URL arguments: a presigned URL's signature and
// credential must not end up in a trace.
func redactURLs(args []string) []string {
	out := make([]string, len(args))
	for i, a := range args {
		if u, err := url.Parse(a); err == nil && u.Host != "" && u.RawQuery != "" {
			u.RawQuery = "REDACTED"
			a = u.String()
		}
		out[i] = a
	}
	return out
}

func capString(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

func (c *Cmd) run(ctx context.Context) (Result, error) {
	res := Result{Frames: -1}
	if err := checkInputs(c.Args); err != nil {
		return res, err
	}
	cmd := exec.CommandContext(ctx, c.Bin, c.Args...)
	BindToParent(cmd)
	cmd.WaitDelay = c.WaitDelay
	if cmd.WaitDelay <= 0 {
		cmd.WaitDelay = 2 * time.Second
	}
	n := c.StderrTail
	if n <= 0 {
		n = defaultStderrTail
	}
	tail := newTailBuffer(n)
	cmd.Stderr = tail
	if c.Stderr != nil {
		cmd.Stderr = io.MultiWriter(c.Stderr, tail)
	}
	progress := progressToStdout(c.Args)
	var stdout io.ReadCloser
	if progress {
		var err error
		if stdout, err = cmd.StdoutPipe(); err != nil {
			return res, fmt.Errorf("media: %w", err)
		}
	} else {
		cmd.Stdout = c.Stdout
	}
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return res, fmt.Errorf("media: cannot start %s: %w", c.Bin, err)
	}
	if progress {
		res.Frames = readProgressBlocks(stdout, c.Progress)
	}
	err := cmd.Wait()
	res.Wall = time.Since(start)
	res.CPU = CPUTime(cmd.ProcessState)
	res.Stderr = strings.TrimSpace(tail.String())
	if ctx.Err() != nil {
		return res, fmt.Errorf("media: %s stopped: %w", c.Bin, ctx.Err())
	}
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return res, &ExitError{Bin: c.Bin, Err: ee, Stderr: res.Stderr}
	}
	if err != nil {
		return res, fmt.Errorf("media: %s: %w", c.Bin, err)
	}
	return res, nil
}

const defaultStderrTail = 4096

// progressToStdout reports whether the arguments send -progress to stdout.
func progressToStdout(args []string) bool {
	for i := 0; i+1 < len(args); i++ {
		if args[i] == "-progress" && (args[i+1] == "pipe:1" || args[i+1] == "-") {
			return true
		}
	}
	return false
}

// readProgressBlocks parses ffmpeg's -progress key=value blocks until EOF,
// calls fn per block, and returns the last frame count (-1 without one).
func readProgressBlocks(r io.Reader, fn func(ProgressBlock)) int64 {
	sc := bufio.NewScanner(r)
	b := ProgressBlock{Frame: -1, OutTime: -1}
	for sc.Scan() {
		key, val, ok := strings.Cut(strings.TrimSpace(sc.Text()), "=")
		if !ok {
			continue
		}
		val = strings.TrimSpace(val)
		switch key {
		case "frame":
			if v, err := strconv.ParseInt(val, 10, 64); err == nil {
				b.Frame = v
			}
		case "out_time_us":
			if v, err := strconv.ParseInt(val, 10, 64); err == nil && v >= 0 {
				b.OutTime = time.Duration(v) * time.Microsecond
			}
		case "speed":
			if v, err := strconv.ParseFloat(strings.TrimSuffix(val, "x"), 64); err == nil {
				b.Speed = v
			}
		case "progress":
			b.End = val == "end"
			if fn != nil {
				fn(b)
			}
		}
	}
	_, _ = io.Copy(io.Discard, r)
	return b.Frame
}

// tailBuffer is an io.Writer keeping only the last max bytes written.
type tailBuffer struct {
	mu  sync.Mutex
	max int
	buf []byte
}

func newTailBuffer(max int) *tailBuffer { return &tailBuffer{max: max} }

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf = append(t.buf, p...)
	if over := len(t.buf) - t.max; over > 0 {
		t.buf = append(t.buf[:0], t.buf[over:]...)
	}
	return len(p), nil
}

func (t *tailBuffer) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return string(t.buf)
}
