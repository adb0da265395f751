package stack

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/pertitle/pertitle/internal/awsaccess"
)

// AWSCall is one AWS API request a service process made, as the IAM action
// that authorises it and the resource it acts on.
type AWSCall struct {
	Service   string
	Operation string // API operation (ReceiveMessage, PutObject, UploadPart, ...)
	Action    string // IAM action (sqs:ReceiveMessage, s3:PutObject, ...)
	Resource  awsaccess.Resource
}

// awsRecorder stands between the services and goaws and the S3 server: one
// reverse proxy per service and backend, so each request is known to come from
// that service, whatever credentials it signs with.
type awsRecorder struct {
	prefix  string
	buckets map[string]string // bucket name -> "input"/"output"
	mu      sync.Mutex
	calls   []AWSCall
}

// proxy starts a recording reverse proxy to target for service; kind is "bus"
// (SNS/SQS) or "s3".
func (r *awsRecorder) proxy(t testing.TB, service, kind, target string) string {
	u, err := url.Parse(target)
	if err != nil {
		t.Fatalf("aws recorder: %v", err)
	}
	rp := httputil.NewSingleHostReverseProxy(u)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		req.Body = io.NopCloser(bytes.NewReader(body))
		var calls []AWSCall
		if kind == "s3" {
			calls = r.s3Calls(req, body)
		} else {
			calls = r.busCalls(req, body)
		}
		r.mu.Lock()
		for _, c := range calls {
			c.Service = service
			r.calls = append(r.calls, c)
		}
		r.mu.Unlock()
		rp.ServeHTTP(w, req)
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

// busCalls decodes an SQS request (JSON protocol: X-Amz-Target) or an SNS
// request (query protocol: Action in the form body).
func (r *awsRecorder) busCalls(req *http.Request, body []byte) []AWSCall {
	if target := req.Header.Get("X-Amz-Target"); strings.HasPrefix(target, "AmazonSQS.") {
		op := strings.TrimPrefix(target, "AmazonSQS.")
		var in struct{ QueueUrl, QueueName string }
		_ = json.Unmarshal(body, &in)
		name := in.QueueName
		if in.QueueUrl != "" {
			name = in.QueueUrl[strings.LastIndexByte(in.QueueUrl, '/')+1:]
		}
		return []AWSCall{{Operation: op, Action: "sqs:" + op, Resource: r.queue(name)}}
	}
	form, _ := url.ParseQuery(string(body))
	if op := form.Get("Action"); op != "" {
		if arn := form.Get("TopicArn"); arn != "" {
			name := strings.TrimPrefix(arn[strings.LastIndexByte(arn, ':')+1:], r.prefix)
			return []AWSCall{{Operation: op, Action: "sns:" + op, Resource: awsaccess.Resource{Kind: awsaccess.Topic, Name: name}}}
		}
		return []AWSCall{{Operation: op, Action: "sns:" + op, Resource: awsaccess.Resource{Kind: awsaccess.Any}}}
	}
	return []AWSCall{{Operation: "unknown " + req.Method + " " + req.URL.Path, Action: "unknown"}}
}

func (r *awsRecorder) queue(name string) awsaccess.Resource {
	name = strings.TrimPrefix(name, r.prefix)
	if q, ok := strings.CutSuffix(name, "-dlq"); ok {
		return awsaccess.Resource{Kind: awsaccess.DLQ, Name: q}
	}
	return awsaccess.Resource{Kind: awsaccess.Queue, Name: name}
}

// s3Calls decodes a path-style S3 request into its operation(s).
func (r *awsRecorder) s3Calls(req *http.Request, body []byte) []AWSCall {
	path := strings.TrimPrefix(req.URL.EscapedPath(), "/")
	bucketName, rawKey, _ := strings.Cut(path, "/")
	key, _ := url.PathUnescape(rawKey)
	bucket := r.buckets[bucketName]
	if bucket == "" {
		bucket = "unknown bucket " + bucketName
	}
	q := req.URL.Query()
	obj := func(op, action string) []AWSCall {
		return []AWSCall{{Operation: op, Action: action, Resource: awsaccess.Resource{Kind: awsaccess.Objects, Name: bucket + ":" + key}}}
	}
	if key == "" {
		onBucket := func(op, action string) []AWSCall {
			return []AWSCall{{Operation: op, Action: action, Resource: awsaccess.Resource{Kind: awsaccess.Bucket, Name: bucket}}}
		}
		switch {
		case req.Method == http.MethodHead:
			return onBucket("HeadBucket", "s3:ListBucket")
		case req.Method == http.MethodGet && q.Has("uploads"):
			return onBucket("ListMultipartUploads", "s3:ListBucketMultipartUploads")
		case req.Method == http.MethodGet:
			return onBucket("ListObjects", "s3:ListBucket")
		case req.Method == http.MethodPost && q.Has("delete"):
			var del struct {
				Objects []struct{ Key string } `xml:"Object"`
			}
			_ = xml.Unmarshal(body, &del)
			var calls []AWSCall
			for _, o := range del.Objects {
				calls = append(calls, AWSCall{Operation: "DeleteObjects", Action: "s3:DeleteObject",
					Resource: awsaccess.Resource{Kind: awsaccess.Objects, Name: bucket + ":" + o.Key}})
			}
			return calls
		}
		return onBucket("unknown "+req.Method, "unknown")
	}
	switch {
	case req.Method == http.MethodHead:
		return obj("HeadObject", "s3:GetObject")
	case req.Method == http.MethodGet && q.Has("uploadId"):
		return obj("ListParts", "s3:ListMultipartUploadParts")
	case req.Method == http.MethodGet:
		return obj("GetObject", "s3:GetObject")
	case req.Method == http.MethodPut && req.Header.Get("X-Amz-Copy-Source") != "":
		return obj("CopyObject", "s3:PutObject")
	case req.Method == http.MethodPut && q.Has("uploadId"):
		return obj("UploadPart", "s3:PutObject")
	case req.Method == http.MethodPut && req.Header.Get("If-None-Match") != "":
		return obj("PutObject If-None-Match", "s3:PutObject")
	case req.Method == http.MethodPut:
		return obj("PutObject", "s3:PutObject")
	case req.Method == http.MethodPost && q.Has("uploads"):
		return obj("CreateMultipartUpload", "s3:PutObject")
	case req.Method == http.MethodPost && q.Has("uploadId"):
		return obj("CompleteMultipartUpload", "s3:PutObject")
	case req.Method == http.MethodDelete && q.Has("uploadId"):
		return obj("AbortMultipartUpload", "s3:AbortMultipartUpload")
	case req.Method == http.MethodDelete:
		return obj("DeleteObject", "s3:DeleteObject")
	}
	return obj("unknown "+req.Method, "unknown")
}

// AWSCalls returns every AWS request the services made so far, in order, when
// the stack was started with Options.RecordAWS.
func (s *Stack) AWSCalls() []AWSCall {
	if s.recorder == nil {
		return nil
	}
	s.recorder.mu.Lock()
	defer s.recorder.mu.Unlock()
	return append([]AWSCall(nil), s.recorder.calls...)
}

// AWSOperations summarises calls as sorted "service Operation Action resource" lines, each once.
func AWSOperations(calls []AWSCall) []string {
	set := map[string]bool{}
	for _, c := range calls {
		set[c.Service+" "+c.Operation+" "+c.Action+" "+c.Resource.String()] = true
	}
	out := make([]string, 0, len(set))
	for l := range set {
		out = append(out, l)
	}
	sort.Strings(out)
	return out
}
