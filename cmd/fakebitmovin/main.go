// Command fakebitmovin serves a fake Bitmovin encoding API (internal/bitmovintest)
// for local demos and end-to-end tests: point PERTITLE_BITMOVIN_API_URL at it. A
// started encoding finishes after PERTITLE_FAKEBITMOVIN_FINISH_AFTER and fires its
// signed webhook to the URL the encoding registered (PERTITLE_WEBHOOK_PUBLIC_URL of
// encoder-dispatch). It produces no media: the manifests it reports do not exist.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"time"

	"go.uber.org/zap"

	"github.com/pertitle/pertitle/internal/bitmovintest"
	"github.com/pertitle/pertitle/pkg/svc"
)

func main() { svc.Main("fakebitmovin", run) }

func run(ctx context.Context, log *zap.Logger, args []string) error {
	return serve(ctx, log, args, os.Stdout)
}

func serve(ctx context.Context, log *zap.Logger, args []string, out io.Writer) error {
	env := svc.NewEnv("fakebitmovin")
	var addr, key, input, output string
	var finish time.Duration
	env.String(&addr, "PERTITLE_FAKEBITMOVIN_ADDR", "127.0.0.1:8090", "listen address; the API is under /v1")
	env.Secret(&key, "PERTITLE_BITMOVIN_API_KEY", "", "API key the fake requires in X-Api-Key (empty: any)")
	env.String(&input, "PERTITLE_BITMOVIN_INPUT_ID", "fake-input", "id of the S3 role-based input the fake knows")
	env.String(&output, "PERTITLE_BITMOVIN_OUTPUT_ID", "fake-output", "id of the S3 role-based output the fake knows")
	env.Duration(&finish, "PERTITLE_FAKEBITMOVIN_FINISH_AFTER", 3*time.Second, "how long a started encoding runs")
	if err := env.Parse(args, out); err != nil {
		return err
	}
	if finish <= 0 {
		return fmt.Errorf("PERTITLE_FAKEBITMOVIN_FINISH_AFTER must be positive")
	}
	log.Info("starting", zap.Any("config", env.Fields()))
	fake := bitmovintest.New(bitmovintest.Options{APIKey: key, FinishAfter: finish,
		Logf: func(format string, a ...any) { log.Info(fmt.Sprintf(format, a...)) }})
	defer fake.Close()
	fake.AddInput("s3-role-based", input)
	fake.AddOutput("s3-role-based", output)
	return svc.Serve(ctx, log, svc.NewServer(addr, fake.Handler()))
}
