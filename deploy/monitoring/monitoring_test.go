// Package monitoring checks the Prometheus alert rules and the Grafana
// dashboard in this directory against the series the services export.
package monitoring

import (
	"encoding/json"
	"log/slog"
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/rulefmt"
	"github.com/prometheus/prometheus/promql/parser"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pertitle/pertitle/pkg/svc"
	"github.com/pertitle/pertitle/pkg/videometrics"
)

var fqName = regexp.MustCompile(`fqName: "([^"]+)"`)

// exported is every series name a pertitle service exports, with the
// _bucket, _count and _sum series of its histograms.
func exported(t *testing.T) map[string]bool {
	t.Helper()
	cs := append(svc.NewMetrics(prometheus.NewRegistry(), "x").Collectors(), videometrics.Video.Collectors()...)
	names := map[string]bool{}
	for _, c := range cs {
		ch := make(chan *prometheus.Desc, 16)
		go func() { c.Describe(ch); close(ch) }()
		for d := range ch {
			m := fqName.FindStringSubmatch(d.String())
			require.NotNil(t, m, d.String())
			names[m[1]] = true
			if _, ok := c.(*prometheus.HistogramVec); ok {
				for _, suffix := range []string{"_bucket", "_count", "_sum"} {
					names[m[1]+suffix] = true
				}
			}
		}
	}
	require.True(t, names["pertitle_encode_duration_seconds_bucket"], "histograms are recognised")
	return names
}

var promql = parser.NewParser(parser.Options{})

// checkExpr parses expr and reports every pertitle_ series it names that no
// service exports.
func checkExpr(t *testing.T, where, expr string, names map[string]bool) {
	t.Helper()
	e, err := promql.ParseExpr(expr)
	if !assert.NoError(t, err, "%s: %s", where, expr) {
		return
	}
	selectors := 0
	parser.Inspect(e, func(n parser.Node, _ []parser.Node) error {
		if vs, ok := n.(*parser.VectorSelector); ok {
			selectors++
			assert.True(t, names[vs.Name], "%s: %s names %q, which no service exports", where, expr, vs.Name)
		}
		return nil
	})
	assert.Positive(t, selectors, "%s: %s selects no series", where, expr)
}

// The alert rules are a valid Prometheus rule file (what `promtool check
// rules` checks), and every series they name exists.
func TestAlertRules(t *testing.T) {
	groups, errs := rulefmt.ParseFile("alerts.yaml", false, model.UTF8Validation, promql, slog.Default())
	require.Empty(t, errs)
	names := exported(t)
	alerts := map[string]bool{}
	for _, g := range groups.Groups {
		for _, r := range g.Rules {
			require.NotEmpty(t, r.Alert, "only alerting rules here")
			alerts[r.Alert] = true
			assert.NotEmpty(t, r.Annotations["summary"], r.Alert)
			assert.Contains(t, []string{"info", "warning", "critical"}, r.Labels["severity"], r.Alert)
			checkExpr(t, r.Alert, r.Expr, names)
		}
	}
	for _, want := range []string{"PertitleDeadLetterQueueNotEmpty", "PertitleQueueBacklogOld", "PertitleEncodeFailures", "PertitleWebhookSignatureFailures"} {
		assert.True(t, alerts[want], "alert %s", want)
	}
}

// Every panel of the dashboard queries series that exist, in valid PromQL
// once Grafana's variables are substituted.
func TestGrafanaDashboard(t *testing.T) {
	b, err := os.ReadFile("grafana-dashboard.json")
	require.NoError(t, err)
	var d struct {
		UID    string `json:"uid"`
		Panels []struct {
			ID      int    `json:"id"`
			Type    string `json:"type"`
			Title   string `json:"title"`
			Targets []struct {
				RefID string `json:"refId"`
				Expr  string `json:"expr"`
			} `json:"targets"`
		} `json:"panels"`
	}
	require.NoError(t, json.Unmarshal(b, &d))
	require.NotEmpty(t, d.UID)
	names := exported(t)
	ids, graphs := map[int]bool{}, 0
	grafana := strings.NewReplacer("$__rate_interval", "5m", "$__interval", "1m", "$__range", "1h")
	for _, p := range d.Panels {
		assert.False(t, ids[p.ID], "panel id %d is unique", p.ID)
		ids[p.ID] = true
		if p.Type == "row" {
			continue
		}
		graphs++
		require.NotEmpty(t, p.Targets, p.Title)
		for _, tg := range p.Targets {
			assert.NotContains(t, grafana.Replace(tg.Expr), "$", "%s: an unknown variable", p.Title)
			checkExpr(t, p.Title, grafana.Replace(tg.Expr), names)
		}
	}
	assert.GreaterOrEqual(t, graphs, 10)
	for _, want := range []string{"pertitle_encode_duration_seconds_bucket", "pertitle_queue_oldest_message_age_seconds"} {
		assert.Contains(t, string(b), want)
	}
}
