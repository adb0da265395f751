// Package sqlcommon is what the catalog's SQL adapters (sqlite, postgres) share:
// migrations with goose, the analytics report queries, and the JSON form of
// renditions read in the same statement as their asset. Each adapter keeps its
// own schema files and driver; the SQL here is written for both dialects.
package sqlcommon
