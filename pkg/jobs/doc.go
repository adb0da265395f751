// Package jobs is the contract between encoder-dispatch, its chunk workers and
// the webhook-receiver: how jobs and chunks are named, where each of them
// reads and writes in storage (sources, chunk plans and markers, outputs,
// results, completion markers), which ladder a job encodes, and what a
// finished job records. Nothing else spells out a key or an id.
package jobs
