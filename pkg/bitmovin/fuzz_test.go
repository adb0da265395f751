package bitmovin_test

import (
	"testing"

	"github.com/pertitle/pertitle/pkg/bitmovin"
)

// FuzzJobLabels checks the labels pertitle reads back from Bitmovin encodings: a
// set of fields survives Labels/ParseJobLabels, and arbitrary labels only ever
// parse as pertitle's when they carry the system label, a job and an asset.
func FuzzJobLabels(f *testing.F) {
	f.Add("local-1", "a1", "alice", "c", "00-ab-cd-01", "pertitle", "pertitle:job=x=y")
	f.Add("j", "a", "", "", "", "", "pertitle:asset=")
	f.Add("", "a", "o=x", "pertitle:job=j", "", "fixed", "pertitle")
	f.Fuzz(func(t *testing.T, job, asset, owner, corr, trace, ladder, extra string) {
		j := bitmovin.JobLabels{JobID: job, AssetID: asset, Owner: owner, CorrelationID: corr, Traceparent: trace, LadderMode: ladder}
		back, ok := bitmovin.ParseJobLabels(j.Labels())
		if ok != (job != "" && asset != "") || (ok && back != j) {
			t.Fatalf("labels of %+v read back as %+v, %v", j, back, ok)
		}
		got, ok := bitmovin.ParseJobLabels([]string{extra})
		if ok {
			t.Fatalf("one label %q made a pertitle job %+v", extra, got)
		}
	})
}
