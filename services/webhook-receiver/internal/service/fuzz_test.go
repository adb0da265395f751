package service

import (
	"net/http"
	"testing"

	"github.com/pertitle/pertitle/pkg/events"
	"github.com/pertitle/pertitle/pkg/jobs"
	"github.com/pertitle/pertitle/pkg/webhook"
)

// FuzzWebhookHandler posts arbitrary bodies, signed with the receiver's key so
// that they reach the parser and the receiver, to the real handler over job
// records in storage (job-ok finished, job-bad failed). Every answer is 202 or a
// 4xx (nothing here is transient, so a 5xx would make Bitmovin retry for
// nothing); only a 202 publishes, at most one event, which the bus can carry,
// for the asset of the job, and EncodingFinished only for a job that finished.
func FuzzWebhookHandler(f *testing.F) {
	for _, b := range [][]byte{
		notification("n1", "job-ok", webhook.EventEncodingFinished),
		notification("n2", "job-bad", webhook.EventEncodingError),
		notification("n3", "job-bad", webhook.EventEncodingFinished),
		notification("n4", "job-missing", webhook.EventEncodingFinished),
		notification("n5", "../etc", webhook.EventEncodingError),
		notification("n9", "job-ok", webhook.EventEncodingError),
		[]byte(`{"eventId":"n6","encoding":{"id":"job-ok","status":"FINISHED"}}`),
		[]byte(`{"eventId":"n7","resourceId":"job-ok","eventType":"ENCODING_FINISHED"} {"eventType":"ENCODING_ERROR"}`),
		[]byte(`{"eventId":"n8","resourceId":"job-ok","eventType":"ENCODING_STARTED"}`),
		[]byte(`{}`), []byte(`{"x"`),
	} {
		f.Add(b, false)
	}
	f.Add(notification("n1", "job-ok", webhook.EventEncodingFinished), true)
	pub, h := setup(f)
	assets := map[string]string{"job-ok": "asset-1", "job-bad": "asset-2"}
	f.Fuzz(func(t *testing.T, body []byte, unsigned bool) {
		before := len(pub.events())
		sig := webhook.Sign(key, body)
		if unsigned {
			sig = ""
		}
		rec := post(h, body, sig)
		published := pub.events()[before:]
		switch rec.Code {
		case http.StatusAccepted:
		case http.StatusBadRequest, http.StatusUnauthorized, http.StatusNotFound, http.StatusRequestEntityTooLarge, http.StatusUnprocessableEntity:
			if len(published) > 0 {
				t.Fatalf("answered %d and published %v", rec.Code, published)
			}
			return
		default:
			t.Fatalf("answered %d: %s", rec.Code, rec.Body)
		}
		if unsigned {
			t.Fatalf("accepted an unsigned body")
		}
		n, err := webhook.Parse(body)
		if err != nil {
			t.Fatalf("accepted a body the parser refuses: %v", err)
		}
		if len(published) > 1 {
			t.Fatalf("one webhook published %d events", len(published))
		}
		for _, env := range published {
			if _, err := events.Marshal(env); err != nil {
				t.Fatalf("published an event the bus cannot carry: %v", err)
			}
			if env.GetAssetId() != assets[n.EncodingID()] {
				t.Fatalf("event for asset %q from job %q", env.GetAssetId(), n.EncodingID())
			}
			if env.GetEncodingFinished() != nil && n.EncodingID() != "job-ok" {
				t.Fatalf("EncodingFinished for job %q, whose record is %s", n.EncodingID(), jobs.StatusError)
			}
			// The body's eventType is a claim: a finished job's record wins
			// over an ENCODING_ERROR that says otherwise.
			if env.GetEncodingFailed() != nil && n.EncodingID() == "job-ok" {
				t.Fatalf("EncodingFailed for job %q, whose record is %s", n.EncodingID(), jobs.StatusFinished)
			}
		}
	})
}
