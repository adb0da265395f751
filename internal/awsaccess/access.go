// Package awsaccess lists, for each service, every AWS API action its code can
// call and on what: the topics it publishes to, the queues and dead-letter
// queues it consumes (from bus.DefaultTopology), the storage methods it calls
// under each key prefix (through storage.S3Actions), and what KEDA does with
// the service's role.
//
// It is the one statement of what IAM must allow. Two tests keep it honest:
// tests/e2e records the SNS, SQS and S3 requests each service process really
// makes (through a recording proxy in front of goaws and the S3 server) and
// fails on any call this table does not grant; deploy/terraform evaluates the
// Terraform IAM policies and fails unless each grants exactly this.
package awsaccess

import (
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/pertitle/pertitle/pkg/bus"
	"github.com/pertitle/pertitle/pkg/storage"
)

// Resource kinds.
const (
	Topic   = "topic"   // Name: the topic, without the prefix
	Queue   = "queue"   // Name: <service>--<topic>, without the prefix
	DLQ     = "dlq"     // Name: the queue whose DLQ it is (<service>--<topic>)
	Bucket  = "bucket"  // Name: "input" or "output"
	Objects = "objects" // Name: "<input|output>:<key prefix>" (the objects under it)
	Any     = "*"       // actions that take no resource (sns:ListTopics)
)

// Resource is what a grant applies to, named as the code names it (no
// prefix, account or region: the policies add those).
type Resource struct {
	Kind, Name string
}

func (r Resource) String() string {
	if r.Kind == Any {
		return "*"
	}
	return r.Kind + ":" + r.Name
}

// Grant is one action on one resource.
type Grant struct {
	Action   string
	Resource Resource
}

func (g Grant) String() string { return g.Action + " on " + g.Resource.String() }

// StorageUse is the storage methods a service calls on keys under a prefix.
type StorageUse struct {
	Prefix  string
	Methods []string // keys of storage.S3Actions
	Why     string
}

// Service is one service's use of AWS.
type Service struct {
	Name string
	// Publishes are the topics it publishes to (bus.Topology.Publishes).
	Publishes []string
	Storage   []StorageUse
	// KEDA: KEDA reads the depth of the service's queues with the service's
	// own role (TriggerAuthentication identityOwner: workload), which needs
	// sqs:GetQueueAttributes. The service itself never calls it.
	KEDA bool
}

var publishes = bus.DefaultTopology().Publishes

// Services is what each service's code calls.
var Services = []Service{
	{
		Name:      bus.ServiceIngest,
		Publishes: publishes[bus.ServiceIngest],
		Storage: []StorageUse{
			{"sources/", []string{"Put", "Delete", "Open", "CreateUpload", "PresignPart", "Parts", "CompleteUpload", "AbortUpload"},
				"stores the staged upload as the source (multipart above a part), deletes it when publishing fails; " +
					"direct uploads: starts, presigns the parts of, lists, completes and aborts the multipart upload, reads the object back to validate it, deletes one it refuses"},
			{"uploads/", []string{"Stat", "Open", "Delete"}, "S3-event ingestion: reads the dropped object; deletes one it refuses"},
		},
	},
	{
		Name:      bus.ServiceEncoderDispatch,
		Publishes: publishes[bus.ServiceEncoderDispatch],
		Storage: []StorageUse{
			{"sources/", []string{"Open"}, "reads sources stored by ingest"},
			{"uploads/", []string{"Open"}, "reads S3-event sources in place"},
			{"outputs/", []string{"Put"}, "renditions, manifests, reports"},
			{"jobs/", []string{"Put", "Create", "Open", "Stat", "Delete", "DeletePrefix", "List"},
				"job records (jobs/<job>.json) and chunked encoding's plan, pieces, claims and markers (jobs/<job>/chunked/)"},
			{"completions/", []string{"Stat"}, "the Bitmovin reconciler skips encodings whose webhook already completed"},
		},
		KEDA: true,
	},
	{
		Name:      bus.ServiceWebhookReceiver,
		Publishes: publishes[bus.ServiceWebhookReceiver],
		Storage: []StorageUse{
			{"jobs/", []string{"Open"}, "the local backend's job records (jobs/<job>.json)"},
			{"completions/", []string{"Stat", "Put"}, "completion markers: a replayed webhook publishes nothing"},
		},
	},
	{
		Name:      bus.ServiceCatalog,
		Publishes: publishes[bus.ServiceCatalog],
		Storage: []StorageUse{
			{"outputs/", []string{"Open", "DeletePrefix"}, "serves renditions and manifests under /media/ (the CDN's origin); removes a deleted asset's outputs"},
			{"sources/", []string{"DeletePrefix"}, "removes a deleted asset's source"},
		},
	},
}

// Lookup returns the service named name.
func Lookup(name string) (Service, bool) {
	for _, s := range Services {
		if s.Name == name {
			return s, true
		}
	}
	return Service{}, false
}

// Consumes are the queues (<service>--<topic>) the service consumes in t.
func (s Service) Consumes(t bus.Topology) []string {
	var qs []string
	for _, sub := range t.Subscriptions {
		if sub.Service == s.Name {
			qs = append(qs, bus.QueueName("", sub.Service, sub.Topic))
		}
	}
	return qs
}

// CodeGrants are the grants the service's own code needs.
func (s Service) CodeGrants(t bus.Topology) []Grant {
	set := map[Grant]bool{}
	add := func(actions []string, r Resource) {
		for _, a := range actions {
			set[Grant{a, r}] = true
		}
	}
	add(bus.ActionsLookup, Resource{Any, ""})
	for _, topic := range s.Publishes {
		add(bus.ActionsPublish, Resource{Topic, topic})
		add(bus.ActionsTopicReadiness, Resource{Topic, topic})
	}
	for _, q := range s.Consumes(t) {
		add(bus.ActionsConsume, Resource{Queue, q})
		add(bus.ActionsDeadLetterQueue, Resource{DLQ, q})
	}
	add(storage.S3Actions["Ping"], Resource{Bucket, "input"})
	add(storage.S3Actions["Ping"], Resource{Bucket, "output"})
	for _, u := range s.Storage {
		b := BucketOf(u.Prefix)
		for _, m := range u.Methods {
			actions, ok := storage.S3Actions[m]
			if !ok {
				panic(fmt.Sprintf("awsaccess: %s: no storage method %q", s.Name, m))
			}
			for _, a := range actions {
				if storage.S3BucketActions[a] {
					set[Grant{a, Resource{Bucket, b}}] = true
				} else {
					set[Grant{a, Resource{Objects, b + ":" + u.Prefix}}] = true
				}
			}
		}
	}
	return sorted(set)
}

// KEDAGrants are what KEDA needs of the service's role.
func (s Service) KEDAGrants(t bus.Topology) []Grant {
	if !s.KEDA {
		return nil
	}
	var gs []Grant
	for _, q := range s.Consumes(t) {
		gs = append(gs, Grant{"sqs:GetQueueAttributes", Resource{Queue, q}})
	}
	return gs
}

// Grants is everything the service's IAM policy must allow, and nothing more.
func (s Service) Grants(t bus.Topology) []Grant {
	set := map[Grant]bool{}
	for _, g := range append(s.CodeGrants(t), s.KEDAGrants(t)...) {
		set[g] = true
	}
	return sorted(set)
}

// BucketOf is the bucket ("input" or "output") holding keys under prefix.
func BucketOf(prefix string) string {
	if storage.IsInputKey(prefix) {
		return "input"
	}
	return "output"
}

// Allows reports whether grants allow action on r. An Objects grant covers
// every object under its prefix.
func Allows(grants []Grant, action string, r Resource) bool {
	for _, g := range grants {
		if g.Action != action || g.Resource.Kind != r.Kind {
			continue
		}
		if g.Resource.Name == r.Name || g.Resource.Kind == Objects && strings.HasPrefix(r.Name, g.Resource.Name) {
			return true
		}
	}
	return false
}

func sorted(set map[Grant]bool) []Grant {
	gs := make([]Grant, 0, len(set))
	for g := range set {
		gs = append(gs, g)
	}
	sort.Slice(gs, func(i, j int) bool { return gs[i].String() < gs[j].String() })
	return slices.Clip(gs)
}
