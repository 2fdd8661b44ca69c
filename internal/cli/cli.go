// Package cli holds what the paxsync commands share about flags and exit
// status, so that `paxsync node` (package internal/nodecmd) and the other
// subcommands (cmd/paxsync) report bad input the same way.
package cli

import (
	"errors"
	"flag"
	"fmt"
	"strings"
	"time"
)

// UsageError is bad input from the user: a bad flag, argument or input
// file. Commands exit with status 2 for it, like the flag package does.
// It is a type rather than a sentinel wrapped with %w so that the message
// printed is just the problem, without a "usage:" prefix in the middle.
type UsageError struct{ Err error }

func (e *UsageError) Error() string { return e.Err.Error() }

// Unwrap gives access to the cause (e.g. roster.ErrInvalid).
func (e *UsageError) Unwrap() error { return e.Err }

// Usagef returns a *UsageError with a formatted message; %w is supported.
func Usagef(format string, a ...any) error {
	return &UsageError{Err: fmt.Errorf(format, a...)}
}

// IsUsage reports whether err is bad input (exit status 2): a *UsageError
// anywhere in its chain, or an error of the flag package itself.
func IsUsage(err error) bool {
	var u *UsageError
	return errors.As(err, &u) || strings.Contains(err.Error(), "flag provided but not defined")
}

// durationValue is a flag.Value for a time.Duration whose parse error says
// what is wrong: the flag package's own says only "parse error" for the
// commonest mistake, a number without a unit.
type durationValue time.Duration

func (d *durationValue) String() string { return time.Duration(*d).String() }

func (d *durationValue) Set(s string) error {
	v, err := time.ParseDuration(s)
	if err != nil {
		if strings.Trim(s, "0123456789.+-") == "" && s != "" {
			return fmt.Errorf("missing unit: use a unit, e.g. %ss or %sms", s, s)
		}
		return errors.New("not a duration: use a number with a unit, e.g. 10s, 500ms or 2m")
	}
	*d = durationValue(v)
	return nil
}

// DurationVar defines a duration flag like flag.FlagSet.DurationVar, with
// errors that name the missing unit.
func DurationVar(fs *flag.FlagSet, p *time.Duration, name string, value time.Duration, usage string) {
	*p = value
	fs.Var((*durationValue)(p), name, usage)
}

// Duration is DurationVar returning the variable.
func Duration(fs *flag.FlagSet, name string, value time.Duration, usage string) *time.Duration {
	p := new(time.Duration)
	DurationVar(fs, p, name, value, usage)
	return p
}
