// Package docker checks the image build definitions: docker-bake.hcl (at the
// repository root) against the Dockerfile and the services, and the workflow
// that publishes the images. Neither Docker nor GitHub Actions runs here.
package docker

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclparse"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/function"
	"github.com/zclconf/go-cty/cty/function/stdlib"
	"go.yaml.in/yaml/v3"
)

const root = "../.."

// bakeTarget is a target of the bake file with its inherited attributes merged.
type bakeTarget struct {
	Context, Dockerfile, Target string
	Platforms, Tags, Inherits   []string
	Args, Labels                map[string]string
}

// loadBake evaluates docker-bake.hcl as bake does, with vars as the
// variables' values (from the environment in a real run).
func loadBake(t *testing.T, vars map[string]string) (map[string]bakeTarget, map[string][]string) {
	t.Helper()
	f, diags := hclparse.NewParser().ParseHCLFile(filepath.Join(root, "docker-bake.hcl"))
	require.False(t, diags.HasErrors(), diags.Error())
	body, diags := f.Body.Content(&hcl.BodySchema{Blocks: []hcl.BlockHeaderSchema{
		{Type: "variable", LabelNames: []string{"name"}}, {Type: "group", LabelNames: []string{"name"}}, {Type: "target", LabelNames: []string{"name"}}}})
	require.False(t, diags.HasErrors(), diags.Error())
	ctx := &hcl.EvalContext{Variables: map[string]cty.Value{}, Functions: map[string]function.Function{"split": stdlib.SplitFunc}}
	for _, b := range body.Blocks.OfType("variable") {
		v, ok := vars[b.Labels[0]]
		require.True(t, ok, "variable %s is not one the test knows", b.Labels[0])
		ctx.Variables[b.Labels[0]] = cty.StringVal(v)
	}
	eval := func(attrs hcl.Attributes) map[string]cty.Value {
		out := map[string]cty.Value{}
		for name, a := range attrs {
			v, diags := a.Expr.Value(ctx)
			require.False(t, diags.HasErrors(), diags.Error())
			out[name] = v
		}
		return out
	}
	groups := map[string][]string{}
	for _, b := range body.Blocks.OfType("group") {
		attrs, _ := b.Body.JustAttributes()
		groups[b.Labels[0]] = strings_(eval(attrs)["targets"])
	}
	raw := map[string]bakeTarget{}
	for _, b := range body.Blocks.OfType("target") {
		attrs, diags := b.Body.JustAttributes()
		require.False(t, diags.HasErrors(), diags.Error())
		v := eval(attrs)
		raw[b.Labels[0]] = bakeTarget{Context: str(v["context"]), Dockerfile: str(v["dockerfile"]), Target: str(v["target"]),
			Platforms: strings_(v["platforms"]), Tags: strings_(v["tags"]), Inherits: strings_(v["inherits"]),
			Args: strmap(v["args"]), Labels: strmap(v["labels"])}
	}
	targets := map[string]bakeTarget{}
	for name, tg := range raw {
		for _, parent := range tg.Inherits {
			p, ok := raw[parent]
			require.True(t, ok, "%s inherits unknown %s", name, parent)
			tg = merge(p, tg)
		}
		targets[name] = tg
	}
	return targets, groups
}

// merge is bake's inheritance: the child's attributes win, maps merge.
func merge(parent, child bakeTarget) bakeTarget {
	out := parent
	for _, kv := range [][2]*string{{&out.Context, &child.Context}, {&out.Dockerfile, &child.Dockerfile}, {&out.Target, &child.Target}} {
		if *kv[1] != "" {
			*kv[0] = *kv[1]
		}
	}
	for _, l := range [][2]*[]string{{&out.Platforms, &child.Platforms}, {&out.Tags, &child.Tags}} {
		if *l[1] != nil {
			*l[0] = *l[1]
		}
	}
	out.Args, out.Labels = mergeMap(parent.Args, child.Args), mergeMap(parent.Labels, child.Labels)
	return out
}

func mergeMap(a, b map[string]string) map[string]string {
	out := map[string]string{}
	for k, v := range a {
		out[k] = v
	}
	for k, v := range b {
		out[k] = v
	}
	return out
}

func str(v cty.Value) string {
	if v.IsNull() || !v.IsKnown() || v.Type() != cty.String {
		return ""
	}
	return v.AsString()
}

func strings_(v cty.Value) []string {
	if v.IsNull() || !v.CanIterateElements() {
		return nil
	}
	var out []string
	for it := v.ElementIterator(); it.Next(); {
		_, e := it.Element()
		out = append(out, str(e))
	}
	return out
}

func strmap(v cty.Value) map[string]string {
	out := map[string]string{}
	if v.IsNull() || !v.CanIterateElements() {
		return out
	}
	for it := v.ElementIterator(); it.Next(); {
		k, e := it.Element()
		out[k.AsString()] = str(e)
	}
	return out
}

// readsFFmpeg reports whether a service's code reads the ffmpeg or ffprobe
// binary setting: only those need the ffmpeg runtime.
func readsFFmpeg(t *testing.T, dir string) bool {
	t.Helper()
	found := false
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(p, ".go") || strings.HasSuffix(p, "_test.go") {
			return err
		}
		b, err := os.ReadFile(p)
		found = found || strings.Contains(string(b), `"PERTITLE_FFMPEG"`) || strings.Contains(string(b), `"PERTITLE_FFPROBE"`)
		return err
	})
	require.NoError(t, err)
	return found
}

// Every service and the CLI get an image built with the Dockerfile's
// runtime it needs (ffmpeg only for the services that run it), the version
// stamped into the binary and the labels, and a tag of that version.
func TestBakeBuildsEveryImage(t *testing.T) {
	vars := map[string]string{"VERSION": "v9.8.7", "REVISION": "0123abc", "REGISTRY": "registry.example/pt", "PLATFORMS": "linux/amd64,linux/arm64"}
	targets, groups := loadBake(t, vars)
	dockerfile, err := os.ReadFile(filepath.Join(root, "deploy/docker/Dockerfile"))
	require.NoError(t, err)
	stages := map[string]bool{}
	for _, m := range regexp.MustCompile(`(?m)^FROM[ \t].*[ \t]AS[ \t]+(\S+)[ \t]*$`).FindAllStringSubmatch(string(dockerfile), -1) {
		stages[m[1]] = true
	}
	accepted := regexp.MustCompile(`(?m)^\s*([a-z|-]+)\) pkg=`).FindAllStringSubmatch(string(dockerfile), -1)
	require.NotEmpty(t, accepted)

	services, err := os.ReadDir(filepath.Join(root, "services"))
	require.NoError(t, err)
	want := map[string]string{"cli": "pertitle"} // target -> SERVICE build argument
	for _, s := range services {
		if _, err := os.Stat(filepath.Join(root, "services", s.Name(), "main.go")); err == nil {
			want[s.Name()] = s.Name()
		}
	}
	require.Len(t, want, 6)
	assert.ElementsMatch(t, keys(want), groups["default"], "the default group builds every image")

	for name, service := range want {
		tg, ok := targets[name]
		if !assert.True(t, ok, "no target %s", name) {
			continue
		}
		assert.Equal(t, ".", tg.Context, name)
		_, err := os.Stat(filepath.Join(root, tg.Dockerfile))
		assert.NoError(t, err, "%s: dockerfile", name)
		assert.True(t, stages[tg.Target], "%s: the Dockerfile has no stage %q", name, tg.Target)
		assert.Equal(t, service, tg.Args["SERVICE"], name)
		ok = false
		for _, m := range accepted {
			ok = ok || strings.Contains("|"+m[1]+"|", "|"+service+"|")
		}
		assert.True(t, ok, "%s: the Dockerfile does not build SERVICE=%s", name, service)
		runtime := "runtime-static"
		if name != "cli" && readsFFmpeg(t, filepath.Join(root, "services", name)) {
			runtime = "runtime-ffmpeg"
		}
		assert.Equal(t, runtime, tg.Target, "%s: ffmpeg exactly where the service runs it", name)
		assert.Equal(t, vars["VERSION"], tg.Args["VERSION"], "%s: the binary is stamped with the version", name)
		assert.Equal(t, vars["VERSION"], tg.Labels["org.opencontainers.image.version"], name)
		assert.Equal(t, vars["REVISION"], tg.Labels["org.opencontainers.image.revision"], name)
		assert.Equal(t, []string{vars["REGISTRY"] + "/" + name + ":" + vars["VERSION"]}, tg.Tags, name)
		assert.Equal(t, []string{"linux/amd64", "linux/arm64"}, tg.Platforms, name)
	}
	assert.Contains(t, string(dockerfile), "-X github.com/pertitle/pertitle/pkg/svc.Version=${VERSION}", "VERSION reaches svc.Version")
}

func keys(m map[string]string) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

// The publishing workflow is valid YAML of the shape GitHub expects: it bakes
// the default group from docker-bake.hcl, pushes on version tags and main
// only, with the version in the environment bake reads, and pins its actions.
func TestImagesWorkflow(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(root, ".github/workflows/images.yml"))
	require.NoError(t, err)
	var wf struct {
		Name        string
		On          map[string]map[string][]string `yaml:"on"`
		Permissions map[string]string
		Jobs        map[string]struct {
			RunsOn string            `yaml:"runs-on"`
			Env    map[string]string `yaml:"env"`
			Steps  []struct {
				Name string
				Uses string
				If   string
				With map[string]string
			}
		}
	}
	require.NoError(t, yaml.Unmarshal(b, &wf))
	assert.Contains(t, wf.On["push"]["tags"], "v*")
	assert.Contains(t, wf.On["push"]["branches"], "main")
	assert.Equal(t, "write", wf.Permissions["packages"])
	require.Len(t, wf.Jobs, 1)
	vars := bakeVariables(t)
	for _, job := range wf.Jobs {
		assert.NotEmpty(t, job.RunsOn)
		for _, v := range []string{"VERSION", "REVISION", "REGISTRY"} {
			assert.Contains(t, vars, v, "the bake file declares %s", v)
			assert.NotEmpty(t, job.Env[v], "the job sets %s for bake", v)
		}
		assert.Contains(t, job.Env["VERSION"], "github.ref_name", "a tag publishes its own name")
		baked := false
		for _, s := range job.Steps {
			if s.Uses != "" {
				assert.Regexp(t, `^[a-z0-9-]+/[a-z0-9-]+@v\d+$`, s.Uses, "%s: actions are pinned to a major version", s.Name)
			}
			if strings.HasPrefix(s.Uses, "docker/bake-action@") {
				baked = true
				assert.Equal(t, "docker-bake.hcl", s.With["files"])
				assert.Equal(t, "default", s.With["targets"])
				assert.Equal(t, "${{ github.event_name != 'pull_request' }}", s.With["push"], "pull requests build without pushing")
				_, err := os.Stat(filepath.Join(root, s.With["files"]))
				assert.NoError(t, err)
			}
			if strings.HasPrefix(s.Uses, "docker/login-action@") {
				assert.Equal(t, "github.event_name != 'pull_request'", s.If)
			}
		}
		assert.True(t, baked, "a step runs docker/bake-action")
	}
}

// bakeVariables lists the variables the bake file declares.
func bakeVariables(t *testing.T) []string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(root, "docker-bake.hcl"))
	require.NoError(t, err)
	var out []string
	for _, m := range regexp.MustCompile(`(?m)^variable "([A-Z_]+)"`).FindAllStringSubmatch(string(b), -1) {
		out = append(out, m[1])
	}
	return out
}
