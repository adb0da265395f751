package bitmovin

import "strings"

// LabelSystem marks the encodings pertitle created, so that listings (the
// reconciler) and webhooks (the receiver) can tell them from others in the account.
const LabelSystem = "pertitle"

// LabelStatic marks the static comparison encoding of a job. It carries no
// LabelSystem: the reconciler and the webhook-receiver, which complete jobs
// from pertitle's encodings, never take the comparison for the job itself.
const LabelStatic = "pertitle-static"

// StaticLabels are the labels of job jobID's static comparison encoding.
func StaticLabels(jobID, assetID string) []string {
	return []string{LabelStatic, LabelStatic + ":job=" + jobID, LabelStatic + ":asset=" + assetID}
}

// JobLabels is what pertitle records on an encoding to find it again and to build
// events from it: the encoding's labels survive restarts of every service.
type JobLabels struct {
	JobID, AssetID, Owner, CorrelationID, Traceparent, LadderMode string
}

var labelKeys = []string{"job", "asset", "owner", "corr", "trace", "ladder"}

func (j *JobLabels) fields() []*string {
	return []*string{&j.JobID, &j.AssetID, &j.Owner, &j.CorrelationID, &j.Traceparent, &j.LadderMode}
}

// Labels encodes j as encoding labels ("pertitle", "pertitle:job=…", …).
func (j JobLabels) Labels() []string {
	out := []string{LabelSystem}
	for i, f := range j.fields() {
		if *f != "" {
			out = append(out, LabelSystem+":"+labelKeys[i]+"="+*f)
		}
	}
	return out
}

// ParseJobLabels reads labels written by Labels; ok is false when the encoding is
// not pertitle's.
func ParseJobLabels(labels []string) (j JobLabels, ok bool) {
	fields := j.fields()
	for _, l := range labels {
		if l == LabelSystem {
			ok = true
			continue
		}
		k, v, found := strings.Cut(strings.TrimPrefix(l, LabelSystem+":"), "=")
		if !found || !strings.HasPrefix(l, LabelSystem+":") {
			continue
		}
		for i, key := range labelKeys {
			if key == k {
				*fields[i] = v
			}
		}
	}
	return j, ok && j.JobID != "" && j.AssetID != ""
}
