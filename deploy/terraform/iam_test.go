// Package terraform_test checks the Terraform module without terraform (not
// installed, and its providers cannot be fetched offline): it parses the HCL,
// evaluates the locals, the names of the SNS topics, SQS queues and S3 buckets
// and the service IAM policy documents with the variables' defaults, and
// compares them with what the code says: bus.DefaultTopology for the topology,
// internal/awsaccess for the actions each service calls.
package terraform_test

import (
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/ext/dynblock"
	"github.com/hashicorp/hcl/v2/hclparse"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/convert"
	"github.com/zclconf/go-cty/cty/function"
	"github.com/zclconf/go-cty/cty/function/stdlib"

	"github.com/pertitle/pertitle/internal/awsaccess"
	"github.com/pertitle/pertitle/pkg/bus"
)

const (
	account = "123456789012"
	region  = "us-east-1"
)

// module is the parsed Terraform module with what could be evaluated.
type module struct {
	blocks    hcl.Blocks
	vars      map[string]cty.Value
	locals    map[string]cty.Value
	resources map[string]map[string]cty.Value // type -> name -> value
}

func load(t *testing.T) *module {
	t.Helper()
	p := hclparse.NewParser()
	files, err := filepath.Glob("*.tf")
	require.NoError(t, err)
	require.NotEmpty(t, files)
	schema := &hcl.BodySchema{Blocks: []hcl.BlockHeaderSchema{
		{Type: "variable", LabelNames: []string{"name"}}, {Type: "locals"}, {Type: "output", LabelNames: []string{"name"}},
		{Type: "resource", LabelNames: []string{"type", "name"}}, {Type: "data", LabelNames: []string{"type", "name"}},
		{Type: "terraform"}, {Type: "provider", LabelNames: []string{"name"}},
	}}
	m := &module{vars: map[string]cty.Value{}, locals: map[string]cty.Value{}, resources: map[string]map[string]cty.Value{}}
	for _, f := range files {
		src, err := os.ReadFile(f)
		require.NoError(t, err)
		file, diags := p.ParseHCL(src, f)
		require.False(t, diags.HasErrors(), "%s: %s", f, diags)
		content, diags := file.Body.Content(schema)
		require.False(t, diags.HasErrors(), "%s: %s", f, diags)
		m.blocks = append(m.blocks, content.Blocks...)
	}
	for _, b := range m.blocks.OfType("variable") {
		attrs, _ := b.Body.JustAttributes()
		v := cty.NullVal(cty.DynamicPseudoType)
		if d, ok := attrs["default"]; ok {
			var diags hcl.Diagnostics
			v, diags = d.Expr.Value(nil)
			require.False(t, diags.HasErrors(), "variable %s: %s", b.Labels[0], diags)
		}
		m.vars[b.Labels[0]] = v
	}
	// Locals and resources refer to each other: evaluate in rounds until
	// nothing new resolves.
	for round := 0; round < 8; round++ {
		progress := false
		for _, b := range m.blocks.OfType("locals") {
			attrs, _ := b.Body.JustAttributes()
			for name, a := range attrs {
				if _, done := m.locals[name]; done {
					continue
				}
				if v, diags := a.Expr.Value(m.ctx(nil)); !diags.HasErrors() && v.IsWhollyKnown() {
					m.locals[name], progress = v, true
				}
			}
		}
		for _, b := range m.blocks.OfType("resource") {
			typ, name := b.Labels[0], b.Labels[1]
			if m.resources[typ][name] != cty.NilVal || !mocked(typ) {
				continue
			}
			if v, ok := m.resource(b); ok {
				if m.resources[typ] == nil {
					m.resources[typ] = map[string]cty.Value{}
				}
				m.resources[typ][name], progress = v, true
			}
		}
		if !progress {
			break
		}
	}
	return m
}

// mocked are the resource types whose attributes the policies and the
// outputs checked use.
func mocked(typ string) bool {
	switch typ {
	case "aws_sns_topic", "aws_sqs_queue", "aws_s3_bucket", "aws_cognito_user_pool", "aws_cognito_user_pool_client":
		return true
	}
	return false
}

// resource evaluates a resource's name (per for_each key) and builds the
// attributes AWS would return from it.
func (m *module) resource(b *hcl.Block) (cty.Value, bool) {
	attrs, _ := b.Body.JustAttributes()
	one := func(each map[string]cty.Value) (cty.Value, bool) {
		nameAttr := "name"
		if b.Labels[0] == "aws_s3_bucket" {
			nameAttr = "bucket"
		}
		a, ok := attrs[nameAttr]
		if !ok {
			return cty.NilVal, false
		}
		v, diags := a.Expr.Value(m.ctx(each))
		if diags.HasErrors() || !v.IsWhollyKnown() {
			return cty.NilVal, false
		}
		name := v.AsString()
		switch b.Labels[0] {
		case "aws_sns_topic":
			arn := "arn:aws:sns:" + region + ":" + account + ":" + name
			return cty.ObjectVal(map[string]cty.Value{"name": v, "arn": cty.StringVal(arn), "id": cty.StringVal(arn)}), true
		case "aws_sqs_queue":
			url := "https://sqs." + region + ".amazonaws.com/" + account + "/" + name
			return cty.ObjectVal(map[string]cty.Value{"name": v, "arn": cty.StringVal("arn:aws:sqs:" + region + ":" + account + ":" + name),
				"url": cty.StringVal(url), "id": cty.StringVal(url)}), true
		case "aws_cognito_user_pool":
			id := region + "_" + strings.ToUpper(strings.ReplaceAll(name, "-", ""))
			return cty.ObjectVal(map[string]cty.Value{"name": v, "id": cty.StringVal(id),
				"endpoint": cty.StringVal("cognito-idp." + region + ".amazonaws.com/" + id)}), true
		case "aws_cognito_user_pool_client":
			return cty.ObjectVal(map[string]cty.Value{"name": v, "id": cty.StringVal("client-" + name)}), true
		default:
			return cty.ObjectVal(map[string]cty.Value{"bucket": v, "id": v, "arn": cty.StringVal("arn:aws:s3:::" + name),
				"bucket_regional_domain_name": cty.StringVal(name + ".s3." + region + ".amazonaws.com")}), true
		}
	}
	fe, ok := attrs["for_each"]
	if !ok {
		return one(nil)
	}
	set, diags := fe.Expr.Value(m.ctx(nil))
	if diags.HasErrors() || !set.IsWhollyKnown() {
		return cty.NilVal, false
	}
	out := map[string]cty.Value{}
	for it := set.ElementIterator(); it.Next(); {
		k, v := it.Element()
		if set.Type().IsSetType() {
			k = v
		}
		obj, ok := one(map[string]cty.Value{"key": k, "value": v})
		if !ok {
			return cty.NilVal, false
		}
		out[k.AsString()] = obj
	}
	return cty.ObjectVal(out), true
}

func (m *module) ctx(each map[string]cty.Value) *hcl.EvalContext {
	res := map[string]cty.Value{}
	for typ, byName := range m.resources {
		res[typ] = cty.ObjectVal(byName)
	}
	vars := map[string]cty.Value{
		"var":   cty.ObjectVal(m.vars),
		"local": cty.ObjectVal(m.locals),
		"data": cty.ObjectVal(map[string]cty.Value{
			"aws_caller_identity": cty.ObjectVal(map[string]cty.Value{"current": cty.ObjectVal(map[string]cty.Value{"account_id": cty.StringVal(account)})}),
			"aws_partition":       cty.ObjectVal(map[string]cty.Value{"current": cty.ObjectVal(map[string]cty.Value{"partition": cty.StringVal("aws")})}),
			"aws_region":          cty.ObjectVal(map[string]cty.Value{"current": cty.ObjectVal(map[string]cty.Value{"name": cty.StringVal(region)})}),
		}),
	}
	for typ, v := range res {
		vars[typ] = v
	}
	if each != nil {
		vars["each"] = cty.ObjectVal(each)
	}
	return &hcl.EvalContext{Variables: vars, Functions: functions()}
}

// functions are the Terraform functions the module uses.
func functions() map[string]function.Function {
	to := func(t cty.Type) function.Function {
		return function.New(&function.Spec{
			Params: []function.Parameter{{Name: "v", Type: cty.DynamicPseudoType, AllowNull: true}},
			Type: func(args []cty.Value) (cty.Type, error) {
				if t == cty.DynamicPseudoType || !t.IsSetType() || t.ElementType() != cty.DynamicPseudoType {
					return t, nil
				}
				ty := args[0].Type()
				if ty.IsTupleType() && len(ty.TupleElementTypes()) > 0 {
					return cty.Set(ty.TupleElementTypes()[0]), nil
				}
				if ty.IsListType() || ty.IsSetType() {
					return cty.Set(ty.ElementType()), nil
				}
				return cty.Set(cty.String), nil
			},
			Impl: func(args []cty.Value, rt cty.Type) (cty.Value, error) { return convert.Convert(args[0], rt) },
		})
	}
	return map[string]function.Function{
		"toset": to(cty.Set(cty.DynamicPseudoType)), "tostring": to(cty.String), "tolist": to(cty.List(cty.String)),
		"merge": stdlib.MergeFunc, "length": stdlib.LengthFunc, "contains": stdlib.ContainsFunc,
		"coalesce": stdlib.CoalesceFunc, "element": stdlib.ElementFunc, "split": stdlib.SplitFunc,
		"jsonencode": stdlib.JSONEncodeFunc, "concat": stdlib.ConcatFunc, "keys": stdlib.KeysFunc,
		"values": stdlib.ValuesFunc, "sort": stdlib.SortFunc, "format": stdlib.FormatFunc, "replace": stdlib.ReplaceFunc,
		"lower": stdlib.LowerFunc, "join": stdlib.JoinFunc, "distinct": stdlib.DistinctFunc, "flatten": stdlib.FlattenFunc,
	}
}

func (m *module) block(t *testing.T, kind, typ, name string) *hcl.Block {
	t.Helper()
	for _, b := range m.blocks.OfType(kind) {
		if b.Labels[0] == typ && b.Labels[1] == name {
			return b
		}
	}
	t.Fatalf("no %s %s.%s", kind, typ, name)
	return nil
}

// statement is one statement of an aws_iam_policy_document.
type statement struct {
	Sid, Effect         string
	Actions, Resources  []string
	HasCondition        bool
	HasPrincipals       bool
	HasNotActionsOrRsrc bool
}

// policy evaluates data.aws_iam_policy_document.<name> for one for_each key.
func (m *module) policy(t *testing.T, name, key string) []statement {
	t.Helper()
	b := m.block(t, "data", "aws_iam_policy_document", name)
	ctx := m.ctx(map[string]cty.Value{"key": cty.StringVal(key), "value": cty.StringVal(key)})
	body := dynblock.Expand(b.Body, ctx)
	content, _, diags := body.PartialContent(&hcl.BodySchema{Blocks: []hcl.BlockHeaderSchema{{Type: "statement"}}})
	require.False(t, diags.HasErrors(), "%s[%s]: %s", name, key, diags)
	var out []statement
	for _, sb := range content.Blocks {
		sc, diags := sb.Body.Content(&hcl.BodySchema{
			Attributes: []hcl.AttributeSchema{{Name: "sid"}, {Name: "effect"}, {Name: "actions"}, {Name: "resources"},
				{Name: "not_actions"}, {Name: "not_resources"}},
			Blocks: []hcl.BlockHeaderSchema{{Type: "principals"}, {Type: "condition"}, {Type: "not_principals"}},
		})
		require.False(t, diags.HasErrors(), "%s[%s]: %s", name, key, diags)
		st := statement{Effect: "Allow", HasCondition: len(sc.Blocks.OfType("condition")) > 0,
			HasPrincipals:       len(sc.Blocks.OfType("principals"))+len(sc.Blocks.OfType("not_principals")) > 0,
			HasNotActionsOrRsrc: sc.Attributes["not_actions"] != nil || sc.Attributes["not_resources"] != nil}
		str := func(a string) string {
			if sc.Attributes[a] == nil {
				return ""
			}
			v, diags := sc.Attributes[a].Expr.Value(ctx)
			require.False(t, diags.HasErrors(), "%s[%s].%s: %s", name, key, a, diags)
			return v.AsString()
		}
		list := func(a string) []string {
			if sc.Attributes[a] == nil {
				return nil
			}
			v, diags := sc.Attributes[a].Expr.Value(ctx)
			require.False(t, diags.HasErrors(), "%s[%s].%s: %s", name, key, a, diags)
			var l []string
			for it := v.ElementIterator(); it.Next(); {
				_, e := it.Element()
				l = append(l, e.AsString())
			}
			return l
		}
		st.Sid = str("sid")
		if e := str("effect"); e != "" {
			st.Effect = e
		}
		st.Actions, st.Resources = list("actions"), list("resources")
		out = append(out, st)
	}
	return out
}

// resourceOf turns an ARN of this module back into what the code names.
func (m *module) resourceOf(t *testing.T, arn string) awsaccess.Resource {
	prefix := m.vars["prefix"].AsString()
	buckets := map[string]string{}
	for role, v := range m.resources["aws_s3_bucket"] {
		buckets[v.GetAttr("bucket").AsString()] = role
	}
	switch {
	case arn == "*":
		return awsaccess.Resource{Kind: awsaccess.Any}
	case strings.HasPrefix(arn, "arn:aws:sns:"):
		return awsaccess.Resource{Kind: awsaccess.Topic, Name: strings.TrimPrefix(arn[strings.LastIndexByte(arn, ':')+1:], prefix)}
	case strings.HasPrefix(arn, "arn:aws:sqs:"):
		name := strings.TrimPrefix(arn[strings.LastIndexByte(arn, ':')+1:], prefix)
		if q, ok := strings.CutSuffix(name, "-dlq"); ok {
			return awsaccess.Resource{Kind: awsaccess.DLQ, Name: q}
		}
		return awsaccess.Resource{Kind: awsaccess.Queue, Name: name}
	case strings.HasPrefix(arn, "arn:aws:s3:::"):
		bucket, key, isObject := strings.Cut(strings.TrimPrefix(arn, "arn:aws:s3:::"), "/")
		role, ok := buckets[bucket]
		require.True(t, ok, "unknown bucket in %s", arn)
		if !isObject {
			return awsaccess.Resource{Kind: awsaccess.Bucket, Name: role}
		}
		p, ok := strings.CutSuffix(key, "*")
		require.True(t, ok && !strings.Contains(p, "*"), "object ARN %s is not <bucket>/<prefix>*", arn)
		return awsaccess.Resource{Kind: awsaccess.Objects, Name: role + ":" + p}
	}
	t.Fatalf("unexpected resource %s", arn)
	return awsaccess.Resource{}
}

// TestServicePoliciesGrantExactlyWhatTheCodeCalls: each service's IAM policy,
// as Terraform would render it with the default variables, allows exactly the
// actions on the resources internal/awsaccess lists (what the code calls, and
// KEDA's reads), without conditions or wildcards that would widen it.
func TestServicePoliciesGrantExactlyWhatTheCodeCalls(t *testing.T) {
	m := load(t)
	topo := bus.DefaultTopology()
	for _, svc := range awsaccess.Services {
		t.Run(svc.Name, func(t *testing.T) {
			got := map[string]bool{}
			sids := map[string]bool{}
			for _, st := range m.policy(t, "service", svc.Name) {
				assert.Equal(t, "Allow", st.Effect, st.Sid)
				assert.False(t, st.HasCondition || st.HasPrincipals || st.HasNotActionsOrRsrc, "%s: an identity policy statement with only actions and resources", st.Sid)
				assert.False(t, sids[st.Sid], "sid %s twice", st.Sid)
				sids[st.Sid] = true
				for _, a := range st.Actions {
					assert.NotContains(t, a, "*", "%s: no wildcard actions", st.Sid)
					for _, r := range st.Resources {
						got[awsaccess.Grant{Action: a, Resource: m.resourceOf(t, r)}.String()] = true
					}
				}
			}
			var want []string
			for _, g := range svc.Grants(topo) {
				want = append(want, g.String())
			}
			assert.Equal(t, want, keys(got), "the Terraform policy of %s (left: internal/awsaccess)", svc.Name)
		})
	}
	// Every service has a policy, and nothing else does.
	var tfServices []string
	for it := m.locals["services"].ElementIterator(); it.Next(); {
		_, v := it.Element()
		tfServices = append(tfServices, v.AsString())
	}
	var codeServices []string
	for _, s := range awsaccess.Services {
		codeServices = append(codeServices, s.Name)
	}
	sort.Strings(codeServices)
	sort.Strings(tfServices)
	assert.Equal(t, codeServices, tfServices)
}

// TestTopologyMatchesTheBus: the topics, queues, DLQs and subscriptions
// Terraform creates are bus.DefaultTopology's, with the names the bus uses.
func TestTopologyMatchesTheBus(t *testing.T) {
	m := load(t)
	topo := bus.DefaultTopology()
	prefix := m.vars["prefix"].AsString()

	var topics []string
	for _, v := range m.resources["aws_sns_topic"] {
		if v.Type().IsObjectType() && v.Type().HasAttribute("arn") {
			topics = append(topics, v.GetAttr("name").AsString())
			continue
		}
		for it := v.ElementIterator(); it.Next(); {
			_, t := it.Element()
			topics = append(topics, t.GetAttr("name").AsString())
		}
	}
	var want []string
	for _, tp := range topo.Topics {
		want = append(want, bus.TopicName(prefix, tp))
	}
	sort.Strings(want)
	sort.Strings(topics)
	assert.Equal(t, want, topics, "SNS topics")

	queues := m.resources["aws_sqs_queue"]["queue"]
	dlqs := m.resources["aws_sqs_queue"]["dlq"]
	require.NotEqual(t, cty.NilVal, queues)
	var gotQ, wantQ []string
	for it := queues.ElementIterator(); it.Next(); {
		_, q := it.Element()
		gotQ = append(gotQ, q.GetAttr("name").AsString())
	}
	for it := dlqs.ElementIterator(); it.Next(); {
		_, q := it.Element()
		gotQ = append(gotQ, q.GetAttr("name").AsString())
	}
	var gotSubs, wantSubs []string
	for it := m.locals["subscriptions"].ElementIterator(); it.Next(); {
		_, s := it.Element()
		gotSubs = append(gotSubs, s.GetAttr("service").AsString()+" <- "+s.GetAttr("topic").AsString())
	}
	for _, s := range topo.Subscriptions {
		q := bus.QueueName(prefix, s.Service, s.Topic)
		wantQ = append(wantQ, q, bus.DLQName(q))
		wantSubs = append(wantSubs, s.Service+" <- "+s.Topic)
	}
	sort.Strings(gotQ)
	sort.Strings(wantQ)
	sort.Strings(gotSubs)
	sort.Strings(wantSubs)
	assert.Equal(t, wantQ, gotQ, "SQS queues and DLQs")
	assert.Equal(t, wantSubs, gotSubs, "subscriptions")

	// The KEDA-scaled workloads are the ones internal/awsaccess says KEDA reads.
	var keda, wantKeda []string
	for it := m.locals["keda_scaled"].ElementIterator(); it.Next(); {
		_, v := it.Element()
		keda = append(keda, v.AsString())
	}
	for _, s := range awsaccess.Services {
		if s.KEDA {
			wantKeda = append(wantKeda, s.Name)
		}
	}
	sort.Strings(keda)
	assert.Equal(t, wantKeda, keda)
}

func keys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
