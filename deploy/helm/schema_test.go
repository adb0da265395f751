package helm_test

import (
	"context"
	"encoding/json"
	"os"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	"github.com/prometheus/common/model"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.yaml.in/yaml/v3"
	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/runtime"
	kjson "k8s.io/apimachinery/pkg/runtime/serializer/json"
)

// kedaSchemas is the committed schema of the KEDA custom resources the chart
// renders: KEDA's Go API module needs a newer Go than this repository's and
// brings controller-runtime with it, so the schema is written from KEDA's
// documentation instead (see the file's header).
const kedaSchemas = "schemas/keda.sh_v1alpha1.yaml"

// validator checks one rendered object, given as JSON, and says which kind it
// took it for.
type validator func(b []byte) (kind string, err error)

// strictDecoder decodes strictly, as the API server's strict field validation
// does, into the Kubernetes 1.37 API types (k8s.io/api v0.37, the version helm
// v4 builds against) and the prometheus-operator's monitoring.coreos.com/v1
// types: a misspelt or misplaced field, a field of the wrong type, or a
// duplicate fails, as does a kind it does not know.
func strictDecoder(t *testing.T) validator {
	scheme := runtime.NewScheme()
	for _, add := range []func(*runtime.Scheme) error{corev1.AddToScheme, appsv1.AddToScheme, policyv1.AddToScheme,
		networkingv1.AddToScheme, batchv1.AddToScheme, rbacv1.AddToScheme, monitoringv1.AddToScheme} {
		require.NoError(t, add(scheme))
	}
	strict := kjson.NewSerializerWithOptions(kjson.DefaultMetaFactory, scheme, scheme, kjson.SerializerOptions{Strict: true})
	return func(b []byte) (string, error) {
		obj, gvk, err := strict.Decode(b, nil, nil)
		if err != nil {
			return "", err
		}
		if pm, ok := obj.(*monitoringv1.PodMonitor); ok {
			// The CRD's pattern on Duration, which the Go type (a string) does not hold.
			for _, e := range pm.Spec.PodMetricsEndpoints {
				if _, err := model.ParseDuration(string(e.Interval)); e.Interval != "" && err != nil {
					return "", err
				}
			}
		}
		return gvk.Kind, nil
	}
}

// kedaValidator validates against the committed KEDA schemas, closed objects
// throughout, so unknown fields, wrong types and values outside the documented
// enums fail.
func kedaValidator(t *testing.T) map[string]validator {
	raw, err := os.ReadFile(kedaSchemas)
	require.NoError(t, err)
	var doc map[string]any
	require.NoError(t, yaml.Unmarshal(raw, &doc))
	validators := map[string]validator{}
	for kind, s := range doc {
		b, err := json.Marshal(s)
		require.NoError(t, err)
		schema := openapi3.NewSchema()
		require.NoError(t, json.Unmarshal(b, schema), kind)
		require.NoError(t, schema.Validate(context.Background()), "%s: the schema itself", kind)
		validators["keda.sh/v1alpha1/"+kind] = func(b []byte) (string, error) {
			var v any
			if err := json.Unmarshal(b, &v); err != nil {
				return "", err
			}
			return kind, schema.VisitJSON(v, openapi3.MultiErrors(), openapi3.DisableSchemaErrorDetails())
		}
	}
	require.Len(t, validators, 2, "ScaledObject and TriggerAuthentication")
	return validators
}

// validators gives each rendered kind its check; anything not KEDA goes to the
// strict decoder, which refuses kinds it does not know.
func validators(t *testing.T) func(apiVersionKind string) validator {
	decoder, keda := strictDecoder(t), kedaValidator(t)
	return func(kind string) validator {
		if v, ok := keda[kind]; ok {
			return v
		}
		return decoder
	}
}

// Every object the chart renders, with the default values and with every
// option on, passes its check: built-in kinds and the PodMonitor decode
// strictly into their Go API types, the KEDA objects validate against the
// committed schema. No network: the types are compiled in, the schema is a
// file in the repository.
func TestChartRendersValidKubernetesObjects(t *testing.T) {
	validate := validators(t)
	// Every check bites, for the reason planted: a misspelt field, a wrong
	// type, an unknown kind, a malformed duration, a value outside an enum.
	for _, bad := range []struct{ kind, json, want string }{
		{"apps/v1/Deployment", `{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"x"},"spec":{"replica":2}}`, `"spec.replica"`},
		{"apps/v1/Deployment", `{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"x"},"spec":{"replicas":"two"}}`, "spec.replicas"},
		{"v1/Service", `{"apiVersion":"v1","kind":"Service","metadata":{"name":"x"},"spec":{"ports":[{"port":80,"targetport":"ops"}]}}`, "targetport"},
		{"v1/Secret2", `{"apiVersion":"v1","kind":"Secret2","metadata":{"name":"x"}}`, "Secret2"},
		{"monitoring.coreos.com/v1/PodMonitor", `{"apiVersion":"monitoring.coreos.com/v1","kind":"PodMonitor","metadata":{"name":"x"},"spec":{"selector":{},"podMetricEndpoints":[{"port":"ops"}]}}`, "spec.podMetricEndpoints"},
		{"monitoring.coreos.com/v1/PodMonitor", `{"apiVersion":"monitoring.coreos.com/v1","kind":"PodMonitor","metadata":{"name":"x"},"spec":{"selector":{"matchLabels":["a"]},"podMetricsEndpoints":[{"port":"ops"}]}}`, "matchLabels"},
		{"monitoring.coreos.com/v1/PodMonitor", `{"apiVersion":"monitoring.coreos.com/v1","kind":"PodMonitor","metadata":{"name":"x"},"spec":{"selector":{},"podMetricsEndpoints":[{"port":"ops","interval":30}]}}`, "interval"},
		{"monitoring.coreos.com/v1/PodMonitor", `{"apiVersion":"monitoring.coreos.com/v1","kind":"PodMonitor","metadata":{"name":"x"},"spec":{"selector":{},"podMetricsEndpoints":[{"port":"ops","interval":"30 seconds"}]}}`, "30 seconds"},
		{"keda.sh/v1alpha1/ScaledObject", scaledObject(`"minReplicaCount":"1"`, `"queueLength":"5"`), "/spec/minReplicaCount"},
		{"keda.sh/v1alpha1/ScaledObject", scaledObject(`"minReplicas":1`, `"queueLength":"5"`), "minReplicas"},
		{"keda.sh/v1alpha1/ScaledObject", scaledObject(`"minReplicaCount":1`, `"queueLength":5`), "/spec/triggers/0/metadata/queueLength"},
		{"keda.sh/v1alpha1/ScaledObject", scaledObject(`"minReplicaCount":1`, `"queueUrl":"q"`), "queueUrl"},
		{"keda.sh/v1alpha1/TriggerAuthentication", `{"apiVersion":"keda.sh/v1alpha1","kind":"TriggerAuthentication","metadata":{"name":"x"},"spec":{"podIdentity":{"provider":"aws","identityowner":"workload"}}}`, "identityowner"},
		{"keda.sh/v1alpha1/TriggerAuthentication", `{"apiVersion":"keda.sh/v1alpha1","kind":"TriggerAuthentication","metadata":{"name":"x"},"spec":{"podIdentity":{"provider":"aws-kiam"}}}`, "/spec/podIdentity/provider"},
	} {
		_, err := validate(bad.kind)([]byte(bad.json))
		assert.ErrorContains(t, err, bad.want, bad.json)
	}
	// The ScaledObject mistakes are planted in an object that passes when
	// they are corrected.
	good := scaledObject(`"minReplicaCount":1`, `"queueLength":"5"`)
	_, err := validate("keda.sh/v1alpha1/ScaledObject")([]byte(good))
	assert.NoError(t, err, good)
	renders := map[string][]object{
		"defaults": render(t),
		"every option": render(t, "spot.enabled=true", "podMonitor.enabled=true", "issuer.enabled=true",
			"services.catalog.ingress.enabled=true", "services.ingest.ingress.enabled=true", "image.tag=v1.2.3",
			"tracing.otlpEndpoint=http://collector.monitoring:4318"),
	}
	for name, objs := range renders {
		checked := map[string]int{}
		for _, o := range objs {
			kind := o["apiVersion"].(string) + "/" + o["kind"].(string)
			b, err := json.Marshal(o)
			require.NoError(t, err)
			got, err := validate(kind)(b)
			if assert.NoError(t, err, "%s: %s %v", name, kind, get(o, "metadata", "name")) {
				assert.Equal(t, o["kind"], got)
				checked[kind]++
			}
		}
		assert.GreaterOrEqual(t, len(objs), 10, "%s: the chart's Deployments, Services, ServiceAccounts, PDBs and ConfigMap were rendered", name)
		assert.Equal(t, len(objs), sum(checked), "%s: every object was checked", name)
		assert.Equal(t, 1, checked["keda.sh/v1alpha1/ScaledObject"], name)
		assert.Equal(t, 1, checked["keda.sh/v1alpha1/TriggerAuthentication"], name)
	}
	assert.Len(t, kinds(renders["every option"], "PodMonitor"), 1, "every option renders the PodMonitor")
}

// scaledObject is a ScaledObject like the chart's, with spec fields and
// trigger metadata fields spliced in.
func scaledObject(spec, metadata string) string {
	return `{"apiVersion":"keda.sh/v1alpha1","kind":"ScaledObject","metadata":{"name":"x"},"spec":{"scaleTargetRef":{"name":"w"},` +
		spec + `,"triggers":[{"type":"aws-sqs-queue","authenticationRef":{"name":"a"},"metadata":{"awsRegion":"eu-west-1","queueURL":"https://sqs/q",` +
		metadata + `}}]}}`
}

func sum(m map[string]int) (n int) {
	for _, v := range m {
		n += v
	}
	return n
}
