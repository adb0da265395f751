package main

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/pertitle/pertitle/internal/settings"
	"github.com/pertitle/pertitle/pkg/bus"
	"github.com/pertitle/pertitle/pkg/svc"
)

func cmdProvision(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	env := svc.NewEnv("pertitle provision")
	cfg := settings.Bus(env)
	if helpRequested(args) {
		fmt.Fprintln(stdout, "Usage: pertitle provision\n\nCreates the SNS topics, SQS queues, dead-letter queues and subscriptions (idempotent).")
		fmt.Fprintln(stdout)
	}
	if err := env.Parse(args, stdout); err != nil {
		if errors.Is(err, svc.ErrHelp) {
			return nil
		}
		return exitError{2, err}
	}
	if err := settings.CheckBus(cfg); err != nil {
		return fmt.Errorf("invalid configuration: %w", err)
	}
	log := svc.NewLogger("provision")
	defer log.Sync()
	t := bus.DefaultTopology()
	if err := bus.Provision(ctx, cfg, t, log); err != nil {
		return fmt.Errorf("provisioning failed: %w", err)
	}
	fmt.Fprintf(stdout, "provisioned %d topics and %d queues (each with a dead-letter queue) at %s\n",
		len(t.Topics), len(t.Subscriptions), endpointName(cfg.Endpoint))
	return nil
}

func endpointName(e string) string {
	if e == "" {
		return "AWS"
	}
	return e
}
