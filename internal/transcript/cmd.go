package transcript

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// Cmd is one parsed command line "name key=value flag ...": its name and
// its arguments, key=value pairs and bare flags (a flag is a key with an
// empty value). The accessors record which arguments were read, and Run
// fails a command that left one unread, so a misspelt argument in a
// transcript is an error rather than a silently ignored option.
type Cmd struct {
	// Name is the first word of the line, which the Runner dispatches on.
	Name string

	kv   map[string]string
	used map[string]bool
	keys []string // in line order, for a stable "unknown argument" error
}

// ParseCmd parses one command line. Run does this for every command of a
// file; a Runner may call it too, to reuse one of its own commands with
// fixed arguments (e.g. ParseCmd("deliver quiet")).
func ParseCmd(line string) (*Cmd, error) {
	fields := strings.Fields(line)
	if len(fields) == 0 {
		return nil, errors.New("empty command")
	}
	c := &Cmd{Name: fields[0], kv: map[string]string{}, used: map[string]bool{}}
	for _, f := range fields[1:] {
		k, v, _ := strings.Cut(f, "=")
		if _, dup := c.kv[k]; dup || k == "" {
			return nil, fmt.Errorf("bad or repeated argument %q", f)
		}
		c.kv[k] = v
		c.keys = append(c.keys, k)
	}
	return c, nil
}

// Has reports whether argument k is present (with or without a value):
// the accessor for bare flags such as "drop".
func (c *Cmd) Has(k string) bool {
	c.used[k] = true
	_, ok := c.kv[k]
	return ok
}

// Str is argument k's value, or def when k is absent, for arguments a
// Runner interprets itself (durations, names, value lists).
func (c *Cmd) Str(k, def string) string {
	c.used[k] = true
	if v, ok := c.kv[k]; ok {
		return v
	}
	return def
}

// Int is argument k as a non-negative integer, or def when k is absent or
// empty. Every number in these transcripts is a count, a seat, a size, a
// tick or a view, so a negative one is a mistake and an error.
func (c *Cmd) Int(k string, def int) (int, error) {
	v := c.Str(k, "")
	if v == "" {
		return def, nil
	}
	i, err := strconv.Atoi(v)
	if err != nil || i < 0 {
		return 0, fmt.Errorf("%s=%s: not a count", k, v)
	}
	return i, nil
}

// Seats is argument k as a comma-separated list of seats of an n-seat
// cluster (node=1,2), or def when k is absent or empty; both packages
// address their nodes by seat number.
func (c *Cmd) Seats(k string, n int, def []int) ([]int, error) {
	v := c.Str(k, "")
	if v == "" {
		return def, nil
	}
	var out []int
	for _, s := range strings.Split(v, ",") {
		i, err := strconv.Atoi(s)
		if err != nil || i < 0 || i >= n {
			return nil, fmt.Errorf("%s=%s: not a seat of %d", k, v, n)
		}
		out = append(out, i)
	}
	return out, nil
}

// unused is the error for the first argument no accessor read.
func (c *Cmd) unused() error {
	for _, k := range c.keys {
		if !c.used[k] {
			return fmt.Errorf("unknown argument %q", k)
		}
	}
	return nil
}
