// Command pertitle is the command-line client: upload a video and wait for its
// ladder, provision the bus, and (later) analyse and encode without services.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

var version = "dev"

// exitError carries the process status of a failed command.
type exitError struct {
	code int
	err  error
}

func (e exitError) Error() string { return e.err.Error() }
func (e exitError) Unwrap() error { return e.err }

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	if err != nil {
		code := 1
		var ee exitError
		if errors.As(err, &ee) {
			code = ee.code
		}
		if !errors.Is(err, errQuiet) {
			fmt.Fprintln(os.Stderr, "pertitle:", err)
		}
		os.Exit(code)
	}
}

// errQuiet marks an error whose message was already printed.
var errQuiet = errors.New("already reported")

const usage = `pertitle: per-title video encoding workflow.

Usage:
  pertitle upload FILE [--title T] [--wait] [--json] [--timeout D]
        upload a video; with --wait, follow it until its HLS and DASH URLs are ready
  pertitle provision
        create the SNS topics, SQS queues, dead-letter queues and subscriptions (idempotent)
  pertitle version

Settings come from the environment: PERTITLE_INGEST_URL (default http://127.0.0.1:8081),
PERTITLE_CATALOG_URL (default http://127.0.0.1:8080), and for provision the bus settings
(PERTITLE_AWS_ENDPOINT, PERTITLE_AWS_REGION, ...; see README).
`

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return exitError{2, errors.Join(errQuiet, errors.New("no command"))}
	}
	switch args[0] {
	case "upload":
		return cmdUpload(ctx, args[1:], stdout, stderr)
	case "provision":
		return cmdProvision(ctx, args[1:], stdout, stderr)
	case "version", "--version":
		fmt.Fprintln(stdout, "pertitle", version)
		return nil
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return nil
	}
	fmt.Fprint(stderr, usage)
	return exitError{2, fmt.Errorf("unknown command %q", args[0])}
}
