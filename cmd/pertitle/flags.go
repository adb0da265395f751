package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
)

// parseInterspersed parses flags that may come before or after positional
// arguments (`pertitle upload clip.mp4 --wait`), which package flag alone does not.
func parseInterspersed(fs *flag.FlagSet, args []string) ([]string, error) {
	var positional []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		rest := fs.Args()
		if len(rest) == 0 {
			return positional, nil
		}
		positional = append(positional, rest[0])
		args = rest[1:]
	}
}

// errHelped ends a command that printed its help because -h or --help was
// given: the process exits 0.
var errHelped = errors.New("help shown")

// newFlags is a subcommand's flag set: parse errors go to stderr, and its
// usage (synopsis, then the flags) is what -h and --help print.
func newFlags(name, synopsis string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), "Usage: "+synopsis)
		n := 0
		fs.VisitAll(func(*flag.Flag) { n++ })
		if n > 0 {
			fmt.Fprintln(fs.Output(), "\nFlags:")
			fs.PrintDefaults()
		}
	}
	return fs
}

// helpRequested reports whether args ask for help (before a "--").
func helpRequested(args []string) bool {
	for _, a := range args {
		switch a {
		case "--":
			return false
		case "-h", "--help", "-help":
			return true
		}
	}
	return false
}

// parseArgs parses a subcommand's flags and positional arguments, in any
// order. Asked for help, it prints the usage on stdout and returns errHelped;
// other errors are usage errors (exit status 2), already reported on stderr.
func parseArgs(fs *flag.FlagSet, args []string, stdout io.Writer) ([]string, error) {
	if helpRequested(args) {
		fs.SetOutput(stdout)
		fs.Usage()
		return nil, errHelped
	}
	pos, err := parseInterspersed(fs, args)
	if err != nil {
		return nil, exitError{2, errors.Join(errQuiet, err)}
	}
	return pos, nil
}
