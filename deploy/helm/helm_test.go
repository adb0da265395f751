// Package helm_test lints and renders the Helm chart deploy/helm/pertitle with
// the helm binary (scripts/deps.sh --test installs it into bin/) and checks the
// rendered manifests for what operating pertitle needs: probes on the ops
// listeners the services really open, non-root read-only containers, no secret
// values, drain-aware termination of the encoder workers, KEDA triggers on
// exactly the queues encoder-dispatch consumes, PodDisruptionBudgets, and spot
// placement for the workers only.
package helm_test

import (
	"bytes"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.yaml.in/yaml/v3"

	"github.com/pertitle/pertitle/pkg/bus"
)

const chart = "pertitle"

var services = []string{"ingest", "encoder-dispatch", "webhook-receiver", "catalog"}

func helm(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("PERTITLE_HELM"); p != "" {
		return p
	}
	root, err := filepath.Abs("../..")
	require.NoError(t, err)
	if p := filepath.Join(root, "bin", "helm"); fileExists(p) {
		return p
	}
	p, err := exec.LookPath("helm")
	require.NoError(t, err, "helm is missing: scripts/deps.sh --test installs it into bin/ (go install helm.sh/helm/v4/cmd/helm@v4.3.2)")
	return p
}

func fileExists(p string) bool { _, err := os.Stat(p); return err == nil }

func run(t *testing.T, args ...string) string {
	t.Helper()
	cmd := exec.Command(helm(t), args...)
	// No repositories, no cache outside the test.
	home := t.TempDir()
	cmd.Env = append(os.Environ(), "HELM_CACHE_HOME="+home, "HELM_CONFIG_HOME="+home, "HELM_DATA_HOME="+home)
	var out, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &stderr
	require.NoError(t, cmd.Run(), "helm %s: %s%s", strings.Join(args, " "), out.String(), stderr.String())
	return out.String()
}

type object = map[string]any

func render(t *testing.T, sets ...string) []object {
	t.Helper()
	args := []string{"template", "pt", chart, "--namespace", "video"}
	for _, s := range sets {
		args = append(args, "--set", s)
	}
	dec := yaml.NewDecoder(strings.NewReader(run(t, args...)))
	var objs []object
	for {
		var o object
		err := dec.Decode(&o)
		if errors.Is(err, io.EOF) {
			break
		}
		require.NoError(t, err)
		if o != nil {
			objs = append(objs, o)
		}
	}
	return objs
}

// get walks a path of map keys and list indexes.
func get(o any, path ...any) any {
	for _, p := range path {
		switch k := p.(type) {
		case string:
			m, ok := o.(map[string]any)
			if !ok {
				return nil
			}
			o = m[k]
		case int:
			l, ok := o.([]any)
			if !ok || k >= len(l) {
				return nil
			}
			o = l[k]
		}
	}
	return o
}

func find(objs []object, kind, name string) object {
	for _, o := range objs {
		if o["kind"] == kind && get(o, "metadata", "name") == name {
			return o
		}
	}
	return nil
}

func kinds(objs []object, kind string) []object {
	var out []object
	for _, o := range objs {
		if o["kind"] == kind {
			out = append(out, o)
		}
	}
	return out
}

func env(c any) map[string]string {
	out := map[string]string{}
	for _, e := range get(c, "env").([]any) {
		out[get(e, "name").(string)] = get(e, "value").(string)
	}
	return out
}

func TestChartLints(t *testing.T) {
	run(t, "lint", "--strict", chart)
	run(t, "lint", "--strict", chart, "--set", "spot.enabled=true,podMonitor.enabled=true,issuer.enabled=true,services.catalog.ingress.enabled=true")
}

func TestChartDefaults(t *testing.T) {
	objs := render(t)
	assert.Empty(t, kinds(objs, "Secret"), "the chart ships no secret")
	var secretNames []string
	for _, v := range []string{"pertitle-media-signing", "pertitle-webhook", "pertitle-bitmovin", "pertitle-database"} {
		secretNames = append(secretNames, v)
	}

	for _, name := range services {
		t.Run(name, func(t *testing.T) {
			full := "pt-" + name
			d := find(objs, "Deployment", full)
			require.NotNil(t, d, "Deployment")
			require.NotNil(t, find(objs, "Service", full), "Service")
			require.NotNil(t, find(objs, "PodDisruptionBudget", full), "PodDisruptionBudget")
			sa := find(objs, "ServiceAccount", name) // as terraform's IRSA trust names it
			require.NotNil(t, sa, "ServiceAccount")
			assert.Contains(t, get(sa, "metadata", "annotations", "eks.amazonaws.com/role-arn"), "role/pertitle-"+name, "IRSA role of terraform's naming")
			pod := get(d, "spec", "template", "spec")
			assert.Equal(t, name, get(pod, "serviceAccountName"))
			assert.Equal(t, true, get(pod, "securityContext", "runAsNonRoot"))
			assert.Equal(t, 10001, get(pod, "securityContext", "runAsUser"))
			c := get(pod, "containers", 0)
			assert.Equal(t, true, get(c, "securityContext", "readOnlyRootFilesystem"))
			assert.Equal(t, false, get(c, "securityContext", "allowPrivilegeEscalation"))
			assert.Equal(t, []any{"ALL"}, get(c, "securityContext", "capabilities", "drop"))

			// Probes on the ops port, which is where the service listens for
			// ops: the env variable the service reads names that port.
			ports := map[string]int{}
			for _, p := range get(c, "ports").([]any) {
				ports[get(p, "name").(string)] = get(p, "containerPort").(int)
			}
			assert.Equal(t, "/readyz", get(c, "readinessProbe", "httpGet", "path"))
			assert.Equal(t, "ops", get(c, "readinessProbe", "httpGet", "port"))
			assert.Equal(t, "/healthz", get(c, "livenessProbe", "httpGet", "path"))
			assert.Equal(t, "ops", get(c, "livenessProbe", "httpGet", "port"))
			opsVar := ""
			for k, v := range env(c) {
				if strings.HasSuffix(k, "_OPS_ADDR") {
					opsVar = k
					assert.Equal(t, ":"+strconv.Itoa(ports["ops"]), v, k)
				}
			}
			require.NotEmpty(t, opsVar, "an ops address is set")
			assert.True(t, serviceReads(t, name, opsVar), "services/%s reads %s", name, opsVar)

			// Secrets only by reference.
			for _, ef := range get(c, "envFrom").([]any) {
				if ref := get(ef, "secretRef", "name"); ref != nil {
					assert.Contains(t, secretNames, ref)
				}
			}
		})
	}

	// encoder-dispatch: the grace period outlasts the drain, KEDA owns replicas.
	d := find(objs, "Deployment", "pt-encoder-dispatch")
	grace := get(d, "spec", "template", "spec", "terminationGracePeriodSeconds").(int)
	drain, err := strconv.Atoi(env(get(d, "spec", "template", "spec", "containers", 0))["PERTITLE_DRAIN_SECONDS"])
	require.NoError(t, err, "PERTITLE_DRAIN_SECONDS set")
	assert.Greater(t, grace, drain+5, "terminationGracePeriodSeconds leaves the drain and the hand-back time")
	assert.Nil(t, get(d, "spec", "replicas"), "no replicas: the ScaledObject owns them")
	assert.True(t, serviceReads(t, "encoder-dispatch", "PERTITLE_DRAIN_SECONDS"))
	assert.Nil(t, get(d, "spec", "template", "spec", "tolerations"), "no spot tolerations unless asked")

	assertReplicated(t, objs)

	// KEDA: one aws-sqs-queue trigger per queue encoder-dispatch consumes in
	// bus.DefaultTopology, named as the bus names it.
	so := find(objs, "ScaledObject", "pt-encoder-dispatch")
	require.NotNil(t, so)
	assert.Equal(t, "pt-encoder-dispatch", get(so, "spec", "scaleTargetRef", "name"))
	var got, want []string
	for _, tr := range get(so, "spec", "triggers").([]any) {
		assert.Equal(t, "aws-sqs-queue", get(tr, "type"))
		assert.Equal(t, "true", get(tr, "metadata", "scaleOnInFlight"))
		got = append(got, get(tr, "metadata", "queueURL").(string))
	}
	for _, s := range bus.DefaultTopology().Subscriptions {
		if s.Service == bus.ServiceEncoderDispatch {
			want = append(want, "https://sqs.us-east-1.amazonaws.com/123456789012/"+bus.QueueName("pertitle-", s.Service, s.Topic))
		}
	}
	sort.Strings(got)
	sort.Strings(want)
	assert.Equal(t, want, got)
	assert.NotNil(t, find(objs, "TriggerAuthentication", "pt-aws"))
	assert.Nil(t, find(objs, "PodMonitor", "pt"), "PodMonitor only when asked")
	assert.Empty(t, kinds(objs, "Ingress"), "Ingress only when asked")
}

func TestChartOptions(t *testing.T) {
	const digest = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
	objs := render(t, "spot.enabled=true", "podMonitor.enabled=true", "issuer.enabled=true",
		"services.catalog.ingress.enabled=true", "services.catalog.image.digest="+digest, "image.tag=v1.2.3",
		"tracing.otlpEndpoint=http://collector.monitoring:4318")
	assert.Equal(t, "http://collector.monitoring:4318", get(find(objs, "ConfigMap", "pt-settings"), "data", "OTEL_EXPORTER_OTLP_ENDPOINT"),
		"every service exports its spans there")
	assert.Nil(t, get(find(render(t), "ConfigMap", "pt-settings"), "data", "OTEL_EXPORTER_OTLP_ENDPOINT"), "none by default")
	for _, name := range services {
		d := find(objs, "Deployment", "pt-"+name)
		pod := get(d, "spec", "template", "spec")
		image := get(pod, "containers", 0, "image").(string)
		if name == "catalog" {
			assert.Equal(t, "ghcr.io/pertitle/catalog@"+digest, image)
		} else {
			assert.Equal(t, "ghcr.io/pertitle/"+name+":v1.2.3", image)
		}
		if name == "encoder-dispatch" {
			assert.Equal(t, "spot", get(pod, "tolerations", 0, "key"), "workers tolerate spot")
			assert.NotNil(t, get(pod, "affinity", "nodeAffinity", "preferredDuringSchedulingIgnoredDuringExecution"), "and prefer it")
		} else {
			assert.Nil(t, get(pod, "tolerations"), "%s stays off spot", name)
		}
	}
	pm := find(objs, "PodMonitor", "pt")
	require.NotNil(t, pm)
	assert.Equal(t, "ops", get(pm, "spec", "podMetricsEndpoints", 0, "port"))
	ing := find(objs, "Ingress", "pt-catalog")
	require.NotNil(t, ing)
	assert.Equal(t, "pt-catalog", get(ing, "spec", "rules", 0, "http", "paths", 0, "backend", "service", "name"))
	assert.NotNil(t, find(objs, "Deployment", "pt-issuer"))
	assert.Empty(t, kinds(objs, "Secret"))
}

// assertReplicated: the catalog and ingest run two replicas or more, rolled
// one new pod at a time, each kept at one pod or more by its
// PodDisruptionBudget; no service keeps anything on a volume that outlives
// its pod; every service reads the PostgreSQL URLs of the database Secret.
func assertReplicated(t *testing.T, objs []object) {
	t.Helper()
	for _, name := range []string{"catalog", "ingest", "webhook-receiver"} {
		d := find(objs, "Deployment", "pt-"+name)
		assert.GreaterOrEqual(t, get(d, "spec", "replicas"), 2, name)
		assert.Equal(t, "RollingUpdate", get(d, "spec", "strategy", "type"), name)
		assert.Equal(t, 0, get(d, "spec", "strategy", "rollingUpdate", "maxUnavailable"), name)
		assert.Equal(t, 1, get(find(objs, "PodDisruptionBudget", "pt-"+name), "spec", "minAvailable"), name)
	}
	assert.Empty(t, kinds(objs, "PersistentVolumeClaim"), "no service keeps a volume")
	assert.Empty(t, kinds(objs, "StatefulSet"))
	for _, name := range services {
		pod := get(find(objs, "Deployment", "pt-"+name), "spec", "template", "spec")
		for _, v := range get(pod, "volumes").([]any) {
			assert.NotNil(t, get(v, "emptyDir"), "%s: volume %v is scratch only", name, get(v, "name"))
		}
		var refs []any
		for _, ef := range get(pod, "containers", 0, "envFrom").([]any) {
			refs = append(refs, get(ef, "secretRef", "name"))
		}
		assert.Contains(t, refs, "pertitle-database", "%s: PERTITLE_STATE_DB from the database Secret", name)
		assert.NotContains(t, env(get(pod, "containers", 0)), "PERTITLE_CATALOG_DB", "%s: no database file", name)
	}
	assert.True(t, serviceReads(t, "catalog", "PERTITLE_CATALOG_DB"))
	assert.True(t, settingsRead(t, "PERTITLE_STATE_DB"), "internal/settings reads PERTITLE_STATE_DB for every service's bus")
}

// settingsRead reports whether internal/settings, which reads the settings
// every service shares, names the variable.
func settingsRead(t *testing.T, variable string) bool {
	t.Helper()
	return dirNames(t, filepath.Join("..", "..", "internal", "settings"), variable)
}

// serviceReads reports whether the service's own code names the variable.
func serviceReads(t *testing.T, service, variable string) bool {
	t.Helper()
	return dirNames(t, filepath.Join("..", "..", "services", service), variable)
}

// dirNames reports whether the Go code (tests aside) under dir names the
// variable in a string literal.
func dirNames(t *testing.T, dir, variable string) bool {
	t.Helper()
	found := false
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(p, ".go") || strings.HasSuffix(p, "_test.go") {
			return err
		}
		b, err := os.ReadFile(p)
		if err == nil && bytes.Contains(b, []byte(`"`+variable+`"`)) {
			found = true
		}
		return err
	})
	require.NoError(t, err)
	return found
}

// TestKustomizeKEDAMatchesTopology: the plain manifests' ScaledObject watches
// the same queues as the chart's, bus.DefaultTopology's for encoder-dispatch.
func TestKustomizeKEDAMatchesTopology(t *testing.T) {
	f, err := os.Open(filepath.Join("..", "k8s", "keda.yaml"))
	require.NoError(t, err)
	defer f.Close()
	dec := yaml.NewDecoder(f)
	var got, want []string
	for {
		var o object
		if err := dec.Decode(&o); errors.Is(err, io.EOF) {
			break
		} else {
			require.NoError(t, err)
		}
		if o["kind"] != "ScaledObject" {
			continue
		}
		require.Equal(t, "encoder-dispatch", get(o, "spec", "scaleTargetRef", "name"), "only encoder-dispatch is scaled")
		for _, tr := range get(o, "spec", "triggers").([]any) {
			u := get(tr, "metadata", "queueURL").(string)
			got = append(got, u[strings.LastIndexByte(u, '/')+1:])
		}
	}
	for _, s := range bus.DefaultTopology().Subscriptions {
		if s.Service == bus.ServiceEncoderDispatch {
			want = append(want, bus.QueueName("pertitle-", s.Service, s.Topic))
		}
	}
	sort.Strings(got)
	sort.Strings(want)
	assert.Equal(t, want, got)
}

// kustomizeObjects decodes every manifest deploy/k8s/kustomization.yaml lists.
func kustomizeObjects(t *testing.T) []object {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "k8s", "kustomization.yaml"))
	require.NoError(t, err)
	var k struct{ Resources []string }
	require.NoError(t, yaml.Unmarshal(b, &k))
	var objs []object
	for _, r := range k.Resources {
		f, err := os.Open(filepath.Join("..", "k8s", r))
		require.NoError(t, err)
		dec := yaml.NewDecoder(f)
		for {
			var o object
			if err := dec.Decode(&o); errors.Is(err, io.EOF) {
				break
			} else {
				require.NoError(t, err, r)
			}
			if o != nil {
				objs = append(objs, o)
			}
		}
		f.Close()
	}
	return objs
}

// TestKustomizeReplicas: the plain manifests run the catalog, ingest and the
// webhook-receiver as two replicas or more, each with a PodDisruptionBudget
// that keeps one, and encoder-dispatch with one that lets one go; no
// service keeps a volume beyond its pod; every service takes its
// PostgreSQL URLs from the pertitle-database Secret, and the settings name
// no database file.
func TestKustomizeReplicas(t *testing.T) {
	objs := kustomizeObjects(t)
	assert.Empty(t, kinds(objs, "PersistentVolumeClaim"), "no service keeps a volume")
	for _, name := range services {
		d := find(objs, "Deployment", name)
		require.NotNil(t, d, name)
		pdb := find(objs, "PodDisruptionBudget", name)
		require.NotNil(t, pdb, "%s: PodDisruptionBudget", name)
		assert.Equal(t, get(d, "spec", "selector", "matchLabels"), get(pdb, "spec", "selector", "matchLabels"), name)
		if name == "encoder-dispatch" {
			assert.Equal(t, 1, get(pdb, "spec", "maxUnavailable"))
		} else {
			assert.GreaterOrEqual(t, get(d, "spec", "replicas"), 2, name)
			assert.Equal(t, 1, get(pdb, "spec", "minAvailable"), name)
			assert.NotEqual(t, "Recreate", get(d, "spec", "strategy", "type"), name)
		}
		pod := get(d, "spec", "template", "spec")
		for _, v := range get(pod, "volumes").([]any) {
			assert.NotNil(t, get(v, "emptyDir"), "%s: volume %v is scratch only", name, get(v, "name"))
		}
		var refs []any
		for _, ef := range get(pod, "containers", 0, "envFrom").([]any) {
			refs = append(refs, get(ef, "secretRef", "name"))
		}
		assert.Contains(t, refs, "pertitle-database", name)
	}
	assert.NotContains(t, get(find(objs, "ConfigMap", "pertitle-settings"), "data"), "PERTITLE_CATALOG_DB")
}
