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
  pertitle login [--username U --password-stdin]
        sign in (in a browser, or with a password for scripts); the token is saved in
        your config directory (pertitle/token.json) and refreshed when needed
  pertitle token
        print a valid access token: curl -H "Authorization: Bearer $(pertitle token)" ...
  pertitle logout
        forget the saved token
  pertitle upload FILE [--title T] [--wait] [--json] [--timeout D]
        upload a video (signed in); with --wait, follow it until its HLS and DASH URLs are ready
        (a progress bar on a terminal, plain lines otherwise)
  pertitle assets list [--status S] [--owner O] [--limit N] [--all] [--json]
  pertitle assets get ID [--json]
  pertitle assets delete ID
  pertitle assets retry ID [--wait] [--json] [--timeout D]
        your assets (admins: anyone's): list, show, delete (with its source and outputs),
        encode a failed one again
  pertitle analyze SRC [--analysis fast|exhaustive] [--json] [--max-bitrate R] [--min-bitrate R]
                   [--max-renditions N] [--target-quality Q] [--complexity F] [--analysis-budget S]
        analyse a video locally (ffmpeg): the quality/bitrate hull, the chosen ladder and why
  pertitle encode SRC -o DIR [--ladder pertitle|pershot|static] [--analysis fast|exhaustive]
                  [--with-static] [--measure-quality] (+ the analyze flags)
        analyse, encode and package HLS + DASH into DIR with report.json and report.svg
        (pershot: each rung's CRF chosen per shot, the shots listed)
  pertitle provision
        create the SNS topics, SQS queues, dead-letter queues and subscriptions (idempotent)
  pertitle s3-notify KEY...
        publish the S3 ObjectCreated notification of input-bucket objects (local S3 servers send none)
  pertitle completion bash|zsh|fish
        print a shell completion script
  pertitle version

Every command takes -h or --help.

Settings come from the environment: PERTITLE_INGEST_URL (default http://127.0.0.1:8081),
PERTITLE_CATALOG_URL (default http://127.0.0.1:8080), PERTITLE_OIDC_ISSUER (default
http://127.0.0.1:8084), PERTITLE_OIDC_CLIENT_ID (default pertitle-cli), PERTITLE_OIDC_CALLBACK
(default http://localhost:8400/callback, where login's browser sign-in comes back), PERTITLE_TOKEN (an
access token to use instead of the saved one), and for provision the bus settings
(PERTITLE_AWS_ENDPOINT, PERTITLE_AWS_REGION, ...; see README); analyze and encode read
PERTITLE_FFMPEG, PERTITLE_FFPROBE, PERTITLE_X264_PRESET and PERTITLE_VMAF_MODEL.
`

// run runs the command args; asked for help, a command prints it and run returns nil.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if err := dispatch(ctx, args, stdout, stderr); !errors.Is(err, errHelped) {
		return err
	}
	return nil
}

func dispatch(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return exitError{2, errors.Join(errQuiet, errors.New("no command"))}
	}
	switch args[0] {
	case "upload":
		return cmdUpload(ctx, args[1:], stdout, stderr)
	case "login":
		return cmdLogin(ctx, args[1:], os.Stdin, stdout, stderr)
	case "token":
		return cmdToken(ctx, args[1:], stdout, stderr)
	case "logout":
		return cmdLogout(ctx, args[1:], stdout, stderr)
	case "provision":
		return cmdProvision(ctx, args[1:], stdout, stderr)
	case "s3-notify":
		return cmdS3Notify(ctx, args[1:], stdout, stderr)
	case "analyze":
		return cmdAnalyze(ctx, args[1:], stdout, stderr)
	case "encode":
		return cmdEncode(ctx, args[1:], stdout, stderr)
	case "assets":
		return cmdAssets(ctx, args[1:], stdout, stderr)
	case "completion":
		return cmdCompletion(ctx, args[1:], stdout, stderr)
	case "version", "--version":
		if helpRequested(args[1:]) {
			fmt.Fprintln(stdout, "Usage: pertitle version")
			return nil
		}
		fmt.Fprintln(stdout, "pertitle", version)
		return nil
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return nil
	}
	fmt.Fprint(stderr, usage)
	return exitError{2, fmt.Errorf("unknown command %q", args[0])}
}
