// Package preflight answers --help, rejects bad flags and reports a missing
// display before Ebiten's package init runs: that init opens the X display
// and panics when there is none (before main), so a plain flag check in
// main comes too late. paxsync-demo imports this package for its init.
//
// Why this init runs before Ebiten's: the Go specification (since Go 1.21)
// initializes packages in import-path order, each as soon as everything it
// imports is initialized, taking the first such package in sorted order.
// This package and package cli import only small parts of the standard
// library, so they are ready long before Ebiten's internal/ui package,
// which needs image, graphics drivers and cgo; once ready, they sort ahead
// of every package ui still waits for. tests/demo_cli_test.go checks it on
// the built binary: --help and a bad flag without a display, which would
// panic if Ebiten's init came first.
package preflight

import (
	"os"

	"github.com/paxsync/paxsync/cmd/paxsync-demo/internal/cli"
)

func init() {
	if code, exit := cli.Preflight(os.Args[1:], os.Stdout, os.Stderr, os.Getenv); exit {
		os.Exit(code)
	}
}
