// Package sqlcommon is what the catalog's SQL adapters (sqlite, postgres) share:
// migrations with goose, the SQL of assets, tombstones, encoding requests and
// pruning (run through the Querier and Tx each adapter wraps its driver in),
// the analytics report queries, and the JSON form of renditions read in the
// same statement as their asset. Each adapter keeps its own schema files,
// driver, locking and whatever SQL differs between the dialects; the SQL here
// is written for both.
package sqlcommon
