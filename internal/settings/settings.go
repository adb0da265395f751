// Package settings reads from the environment the settings that several
// services share (bus, storage, OIDC, source limits) and hands them to the
// libraries as plain structs, so that no library knows a PERTITLE_* name. The
// libraries validate their structs in their own words; the Check functions
// here name the variables an operator has to change.
package settings

import "errors"

// named prefixes every error joined in err with vars, the variables its
// settings came from.
func named(vars string, err error) error {
	if err == nil {
		return nil
	}
	var errs []error
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		errs = j.Unwrap()
	} else {
		errs = []error{err}
	}
	out := make([]error, 0, len(errs))
	for _, e := range errs {
		out = append(out, prefixed{vars, e})
	}
	return errors.Join(out...)
}

type prefixed struct {
	vars string
	err  error
}

func (p prefixed) Error() string { return p.vars + ": " + p.err.Error() }
func (p prefixed) Unwrap() error { return p.err }
