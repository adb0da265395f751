package svc

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"unicode"
)

// DevModeVar names the setting that lets a service start with development
// defaults and placeholder secrets. `make run` sets it; nothing else should.
const DevModeVar = "PERTITLE_DEV_MODE"

// MinSigningKeyBytes is the shortest key accepted for the HMACs pertitle computes
// itself (webhook signatures, playback URLs, beacon tokens).
const MinSigningKeyBytes = 16

// knownSecrets are values that anyone can read in this repository, its examples or
// common tutorials, normalised by normalizeSecret. The one list every service checks.
var knownSecrets = []string{
	"localdevsecret", // the former built-in webhook secret, still what `make run` and compose use
	"e2esecret",
	"localfakekey", // the fake Bitmovin API key of `make run`
	"secret", "password", "changeit", "example", "test", "testsecret", "default",
	"xxx", "xxxx", "todo", "none", "null", "undefined",
}

// placeholderMarks are substrings of values that were meant to be replaced.
var placeholderMarks = []string{"changeme", "replaceme", "placeholder", "yoursecret", "yourkey", "insertsecret", "devsecret"}

func normalizeSecret(s string) string {
	return strings.Map(func(r rune) rune {
		if unicode.IsLetter(r) || unicode.IsDigit(r) {
			return unicode.ToLower(r)
		}
		return -1
	}, s)
}

// WeakSecret says why value must not be used as a secret, or "" when it may. A
// signing key must also be at least MinSigningKeyBytes long.
func WeakSecret(value string, signingKey bool) string {
	n := normalizeSecret(value)
	switch {
	case slices.Contains(knownSecrets, n):
		return "is a published default"
	case slices.ContainsFunc(placeholderMarks, func(m string) bool { return strings.Contains(n, m) }):
		return "is a placeholder"
	case len(value) > 1 && strings.Count(value, value[:1]) == len(value):
		return "repeats one character"
	case signingKey && len(value) < MinSigningKeyBytes:
		return fmt.Sprintf("is shorter than %d bytes", MinSigningKeyBytes)
	}
	return ""
}

// checkSecrets refuses every set secret that WeakSecret refuses, unless dev is set;
// then it returns their names instead, for the start-up warning.
func (e *Env) checkSecrets(dev bool) (weak []string, err error) {
	var errs []error
	for _, v := range e.vars {
		if !v.secret || v.value == "" {
			continue
		}
		why := WeakSecret(v.value, v.signingKey)
		if why == "" {
			continue
		}
		weak = append(weak, v.name)
		errs = append(errs, fmt.Errorf("%s %s: set your own secret (e.g. openssl rand -base64 32), or %s=1 on a development machine",
			v.name, why, DevModeVar))
	}
	if dev {
		return weak, nil
	}
	return nil, errors.Join(errs...)
}
