// Package svc holds what every pertitle service process shares: configuration from
// the environment, logging, health and readiness, metrics, and graceful shutdown.
package svc

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"net/url"
	"os"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"go.uber.org/zap"

	"github.com/pertitle/pertitle/pkg/limit"
)

// Env reads settings from environment variables with defaults, collecting every
// error so that a misconfigured service reports all its problems at once.
type Env struct {
	service string
	lookup  func(string) (string, bool)
	vars    []envVar
	errs    []error
}

type envVar struct {
	name, def, help string
	secret          bool
	signingKey      bool // a secret used as an HMAC key: length is checked too
	value           string
}

// NewEnv starts reading the configuration of a service from the process environment.
func NewEnv(service string) *Env { return &Env{service: service, lookup: os.LookupEnv} }

// NewEnvFrom reads from a map instead of the process environment (tests).
func NewEnvFrom(service string, m map[string]string) *Env {
	return &Env{service: service, lookup: func(k string) (string, bool) { v, ok := m[k]; return v, ok }}
}

func (e *Env) raw(name, def, help string, secret bool) string {
	// A variable set to the empty string is honoured (PERTITLE_AWS_ENDPOINT= means
	// real AWS); only an unset one takes the default.
	v, ok := e.lookup(name)
	if !ok {
		v = def
	}
	e.vars = append(e.vars, envVar{name: name, def: def, help: help, secret: secret, value: v})
	return v
}

// String reads a string setting.
func (e *Env) String(dst *string, name, def, help string) { *dst = e.raw(name, def, help, false) }

// Secret reads a string setting that is never printed.
func (e *Env) Secret(dst *string, name, def, help string) { *dst = e.raw(name, def, help, true) }

// SigningKey reads a secret used as an HMAC key: never printed, and refused by Load
// when it is a published default, a placeholder or shorter than MinSigningKeyBytes
// (unless PERTITLE_DEV_MODE is on).
func (e *Env) SigningKey(dst *string, name, def, help string) {
	*dst = e.raw(name, def, help, true)
	e.vars[len(e.vars)-1].signingKey = true
}

// Int reads an integer setting.
func (e *Env) Int(dst *int, name string, def int, help string) {
	v := e.raw(name, strconv.Itoa(def), help, false)
	n, err := strconv.Atoi(v)
	if err != nil {
		e.errs = append(e.errs, fmt.Errorf("%s=%q is not an integer", name, v))
		return
	}
	*dst = n
}

// Int64 reads a 64-bit integer setting.
func (e *Env) Int64(dst *int64, name string, def int64, help string) {
	v := e.raw(name, strconv.FormatInt(def, 10), help, false)
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		e.errs = append(e.errs, fmt.Errorf("%s=%q is not an integer", name, v))
		return
	}
	*dst = n
}

// Duration reads a duration setting such as "30s".
func (e *Env) Duration(dst *time.Duration, name string, def time.Duration, help string) {
	v := e.raw(name, def.String(), help, false)
	d, err := time.ParseDuration(v)
	if err != nil {
		e.errs = append(e.errs, fmt.Errorf("%s=%q is not a duration (e.g. 30s): %w", name, v, err))
		return
	}
	*dst = d
}

// Float64 reads a decimal setting.
func (e *Env) Float64(dst *float64, name string, def float64, help string) {
	v := e.raw(name, strconv.FormatFloat(def, 'g', -1, 64), help, false)
	f, err := strconv.ParseFloat(v, 64)
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
		e.errs = append(e.errs, fmt.Errorf("%s=%q is not a number", name, v))
		return
	}
	*dst = f
}

// Bool reads a boolean setting.
func (e *Env) Bool(dst *bool, name string, def bool, help string) {
	v := e.raw(name, strconv.FormatBool(def), help, false)
	b, err := strconv.ParseBool(v)
	if err != nil {
		e.errs = append(e.errs, fmt.Errorf("%s=%q is not a boolean", name, v))
		return
	}
	*dst = b
}

// TrustedProxies reads PERTITLE_TRUSTED_PROXIES: the networks of the reverse
// proxies or load balancers in front of the service, whose X-Forwarded-For the
// abuse limits believe to find a request's client address.
func (e *Env) TrustedProxies(dst *limit.Addresses) {
	const name = "PERTITLE_TRUSTED_PROXIES"
	v := e.raw(name, "", "comma-separated CIDR prefixes of the reverse proxies in front of this service: their X-Forwarded-For names the client address that per-address limits count (empty: the peer address)", false)
	a, err := limit.ParseTrusted(v)
	if err != nil {
		e.errs = append(e.errs, fmt.Errorf("%s: %w", name, err))
		return
	}
	*dst = a
}

// ErrHelp is returned by Parse when --help was asked for; the caller exits 0.
var ErrHelp = flag.ErrHelp

// Parse handles the command line (only --help is accepted: configuration comes from
// the environment) and returns the parse errors collected so far.
func (e *Env) Parse(args []string, out io.Writer) error {
	for _, a := range args {
		switch a {
		case "-h", "-help", "--help", "help":
			e.Usage(out)
			return ErrHelp
		default:
			return fmt.Errorf("unexpected argument %q: %s is configured through environment variables (see --help)", a, e.service)
		}
	}
	return errors.Join(e.errs...)
}

// Usage prints every variable with its default and help.
func (e *Env) Usage(out io.Writer) {
	fmt.Fprintf(out, "%s: configured through environment variables.\n\n", e.service)
	tw := tabwriter.NewWriter(out, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "VARIABLE\tDEFAULT\tDESCRIPTION")
	for _, v := range e.vars {
		def := v.def
		if v.secret && def != "" {
			def = "(set)"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\n", v.name, def, v.help)
	}
	_ = tw.Flush()
}

// Fields returns the effective settings with secrets masked, for the start-up log.
func (e *Env) Fields() map[string]string {
	m := make(map[string]string, len(e.vars))
	for _, v := range e.vars {
		val := v.value
		if v.secret && val != "" {
			val = "***"
		} else if u, err := url.Parse(val); err == nil && u.User != nil {
			if _, ok := u.User.Password(); ok {
				val = u.Redacted() // a database URL carries its password
			}
		}
		m[v.name] = val
	}
	return m
}

// Names lists the variables read, sorted (docs and tests).
func (e *Env) Names() []string {
	out := make([]string, 0, len(e.vars))
	for _, v := range e.vars {
		out = append(out, v.name)
	}
	sort.Strings(out)
	return out
}

// Validation collects configuration errors.
type Validation struct{ errs []error }

// Check records msg when ok is false.
func (v *Validation) Check(ok bool, format string, args ...any) {
	if !ok {
		v.errs = append(v.errs, fmt.Errorf(format, args...))
	}
}

// Err joins the recorded errors, or nil.
func (v *Validation) Err() error { return errors.Join(v.errs...) }

// ValidAddr checks a listen address such as ":8080" or "127.0.0.1:8080".
func ValidAddr(addr string) bool {
	i := strings.LastIndex(addr, ":")
	if i < 0 {
		return false
	}
	p, err := strconv.Atoi(addr[i+1:])
	return err == nil && p >= 0 && p < 65536
}

// Config is implemented by a service's configuration.
type Config interface {
	FromEnv(e *Env)
	Validate() error
}

// Load reads cfg from env, handles --help (ErrHelp), validates, and logs the
// effective settings with secrets masked. Unparseable values, invalid settings and
// weak secrets are reported together, so one start shows every problem. Weak
// secrets are accepted only with PERTITLE_DEV_MODE, and loudly.
func Load(env *Env, cfg Config, args []string, out io.Writer, log *zap.Logger) error {
	cfg.FromEnv(env)
	var dev bool
	env.Bool(&dev, DevModeVar, false, "development machine: accept published default and placeholder secrets, with a warning (make run sets it); never on a machine reachable from the internet")
	if err := env.Parse(args, out); err != nil {
		if errors.Is(err, ErrHelp) {
			return err
		}
		_, weak := env.checkSecrets(dev)
		return fmt.Errorf("invalid configuration: %w", errors.Join(err, cfg.Validate(), weak))
	}
	weak, err := env.checkSecrets(dev)
	if err := errors.Join(cfg.Validate(), err); err != nil {
		return fmt.Errorf("invalid configuration: %w", err)
	}
	if dev {
		log.Warn("DEVELOPMENT MODE ("+DevModeVar+"=1): published default and placeholder secrets are accepted. "+
			"Anyone who has read this repository can forge webhooks and playback URLs. Never expose this process to the internet.",
			zap.Strings("weak_secrets", weak))
	}
	log.Info("starting", zap.Any("config", env.Fields()))
	return nil
}
