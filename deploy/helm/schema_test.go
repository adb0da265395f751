package helm_test

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/runtime"
	kjson "k8s.io/apimachinery/pkg/runtime/serializer/json"
)

// crdKinds are the rendered kinds of custom resources, which the Kubernetes
// API types do not describe: their fields are checked by TestChartDefaults
// and TestChartOptions (KEDA triggers, PodMonitor endpoints).
var crdKinds = map[string]bool{
	"keda.sh/v1alpha1/ScaledObject":          true,
	"keda.sh/v1alpha1/TriggerAuthentication": true,
	"monitoring.coreos.com/v1/PodMonitor":    true,
}

// Every built-in object the chart renders, with the default values and with
// every option on, decodes strictly into the Kubernetes 1.37 API types
// (k8s.io/api v0.37, the version helm v4 builds against), as the API server's
// strict field validation would: a misspelt or misplaced field, a field of
// the wrong type, or a duplicate fails, as does a kind this test does not know.
func TestChartRendersValidKubernetesObjects(t *testing.T) {
	scheme := runtime.NewScheme()
	for _, add := range []func(*runtime.Scheme) error{corev1.AddToScheme, appsv1.AddToScheme, policyv1.AddToScheme,
		networkingv1.AddToScheme, batchv1.AddToScheme, rbacv1.AddToScheme} {
		require.NoError(t, add(scheme))
	}
	strict := kjson.NewSerializerWithOptions(kjson.DefaultMetaFactory, scheme, scheme, kjson.SerializerOptions{Strict: true})
	// The check bites: a misspelt field, a wrong type, an unknown kind.
	for _, bad := range []string{
		`{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"x"},"spec":{"replica":2}}`,
		`{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"x"},"spec":{"replicas":"two"}}`,
		`{"apiVersion":"v1","kind":"Service","metadata":{"name":"x"},"spec":{"ports":[{"port":80,"targetport":"ops"}]}}`,
		`{"apiVersion":"v1","kind":"Secret2","metadata":{"name":"x"}}`,
	} {
		_, _, err := strict.Decode([]byte(bad), nil, nil)
		assert.Error(t, err, bad)
	}
	renders := map[string][]object{
		"defaults": render(t),
		"every option": render(t, "spot.enabled=true", "podMonitor.enabled=true", "issuer.enabled=true",
			"services.catalog.ingress.enabled=true", "services.ingest.ingress.enabled=true", "image.tag=v1.2.3",
			"tracing.otlpEndpoint=http://collector.monitoring:4318"),
	}
	for name, objs := range renders {
		decoded := 0
		for _, o := range objs {
			kind := o["apiVersion"].(string) + "/" + o["kind"].(string)
			if crdKinds[kind] {
				continue
			}
			b, err := json.Marshal(o)
			require.NoError(t, err)
			_, gvk, err := strict.Decode(b, nil, nil)
			if assert.NoError(t, err, "%s: %s %v", name, kind, get(o, "metadata", "name")) {
				assert.Equal(t, o["kind"], gvk.Kind)
				decoded++
			}
		}
		assert.GreaterOrEqual(t, decoded, 10, "%s: the chart's Deployments, Services, ServiceAccounts, PDBs and ConfigMap were decoded", name)
	}
}
