package webhook_test

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha512"
	"encoding/hex"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/pertitle/pertitle/pkg/webhook"
)

// FuzzParse feeds arbitrary (signed, so trusted to be from the sender) bodies to
// the parser the receiver runs. An accepted notification names an encoding, an
// outcome and an id, is exactly one JSON object, and survives the sender's
// encoding unchanged.
func FuzzParse(f *testing.F) {
	for _, s := range []string{
		`{"eventId":"e1","createdAt":"2026-11-27T12:00:00Z","resourceId":"local-0a1b","resourceType":"ENCODING","eventType":"ENCODING_FINISHED"}`,
		`{"eventId":"e2","resourceId":"local-0a1b","eventType":"ENCODING_ERROR","orgId":"o","userId":"u"}`,
		`{"eventId":"e3","encoding":{"id":"abc","status":"FINISHED"}}`,
		`{"eventId":"e4","encoding":{"id":"abc","status":"ERROR"}}`,
		`{"eventId":"e5","encoding":{"id":"abc","status":"RUNNING"}}`,
		`{"eventId":"e6","resourceId":"x","eventType":"ENCODING_FINISHED"} trailing`,
		`{"eventId":"e7","resourceId":"x","eventType":"ENCODING_FINISHED"}{"eventType":"ENCODING_ERROR"}`,
		`{"eventId":"e8","resourceId":"x","eventType":"ENCODING_FINISHED","createdAt":"2026-11-27T12:00:00+23:59"}`,
		`{"eventid":"e9","RESOURCEID":"x","EventType":"ENCODING_FINISHED"}`,
		`{"eventId":"","resourceId":"x","eventType":"ENCODING_FINISHED"}`,
		`{"eventId":"e10","resourceId":"x","eventType":"ENCODING_FINISHED","encoding":null}`,
		`null`, `[]`, `"x"`, ``,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		n, err := webhook.Parse(body)
		if err != nil {
			return
		}
		if !json.Valid(body) {
			t.Fatalf("accepted a body that is not one JSON value: %q", body)
		}
		finished, ferr := n.Finished()
		if n.EncodingID() == "" || n.EventID == "" || ferr != nil {
			t.Fatalf("accepted %+v (finished %v, %v)", n, finished, ferr)
		}
		// What the local backend's Sender would post for the same notification.
		again, err := json.Marshal(n)
		if err != nil {
			t.Fatalf("an accepted notification cannot be sent again: %v", err)
		}
		back, err := webhook.Parse(again)
		if err != nil {
			t.Fatalf("the re-encoded notification is refused: %v\n%s", err, again)
		}
		f2, _ := back.Finished()
		if back.EventID != n.EventID || back.EncodingID() != n.EncodingID() || f2 != finished || !back.CreatedAt.Equal(n.CreatedAt) {
			t.Fatalf("round trip changed the notification:\n%+v\n%+v", n, back)
		}
	})
}

// FuzzVerify checks the signature check: the sender's signature always passes (in
// any letter case, with surrounding space), and nothing but the HMAC of the body
// under the key does.
func FuzzVerify(f *testing.F) {
	f.Add([]byte("secret"), []byte(`{"eventId":"e1"}`), "")
	f.Add([]byte("secret"), []byte(`{"eventId":"e1"}`), webhook.Sign([]byte("secret"), []byte(`{"eventId":"e1"}`)))
	f.Add([]byte("k"), []byte{}, "00")
	f.Add([]byte("k"), []byte("b"), " "+webhook.Sign([]byte("k"), []byte("b"))[:10]+" ")
	f.Fuzz(func(t *testing.T, key, body []byte, header string) {
		if len(key) == 0 {
			return // verification deliberately off
		}
		good := webhook.Sign(key, body)
		for _, h := range []string{good, strings.ToUpper(good), " " + good + "\t"} {
			if err := webhook.Verify(key, body, h); err != nil {
				t.Fatalf("the sender's signature %q is refused: %v", h, err)
			}
		}
		err := webhook.Verify(key, body, header)
		if err != nil {
			if !errors.Is(err, webhook.ErrBadSignature) && !errors.Is(err, webhook.ErrMissingSignature) {
				t.Fatalf("unexpected error %v", err)
			}
			return
		}
		got, derr := hex.DecodeString(strings.ToLower(strings.TrimSpace(header)))
		m := hmac.New(sha512.New, key)
		m.Write(body)
		if derr != nil || !bytes.Equal(got, m.Sum(nil)) {
			t.Fatalf("header %q passed without being the body's HMAC", header)
		}
	})
}
