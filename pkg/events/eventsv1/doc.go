// Package eventsv1 is the Go code generated from proto/pertitle/events/v1:
// the version 1 envelope and payloads of the events the services exchange.
// Build and read them through pkg/events, which names the topics and fills
// the envelope; regenerate this code with `make proto`, never by hand (this
// file is the only one written by hand).
package eventsv1
