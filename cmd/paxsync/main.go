// Command paxsync is the headless paxsync tool: it runs consensus nodes,
// scripted cheat-injection matches, benchmarks and replay checks, and makes
// player keys. It builds with CGO_ENABLED=0 (no graphics); the game client
// is cmd/paxsync-demo.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"sort"

	"github.com/paxsync/paxsync/internal/cli"
)

// command is one subcommand: run gets the arguments after its name and
// the streams to write to (tests run commands in-process).
type command struct {
	summary string
	run     func(args []string, stdout, stderr io.Writer) error
}

// usagef is a bad flag or argument (exit status 2, like the flag package's
// own errors); the message is printed after "paxsync COMMAND: " as is.
func usagef(format string, a ...any) error { return cli.Usagef(format, a...) }

// flagErr turns a FlagSet.Parse error into the command's result: -h and
// --help are a success (the flags were printed), anything else bad input.
func flagErr(err error) error {
	if errors.Is(err, flag.ErrHelp) {
		return err
	}
	return &cli.UsageError{Err: err}
}

func commands() map[string]command {
	return map[string]command{
		"keygen":   {"write a new player key file (Ed25519, mode 0600); print its public key and peer ID", runKeygen},
		"node":     {"run one consensus node on the network (libp2p)", runNode},
		"replay":   {"verify a recorded match: paxsync replay verify [-v] [--allow-partial] FILE", runReplay},
		"result":   {"check a match-result certificate with no replay: paxsync result verify --roster R FILE", runResult},
		"match":    {"run a scripted cheat-injection match and report who was caught", runMatch},
		"bench":    {"measure commit latency, throughput and cost per tick of N peer processes", runBench},
		"synctest": {"run the arena alone with a forced rollback every tick and compare state hashes", runSynctest},
	}
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "usage: paxsync COMMAND [flags]")
	fmt.Fprintln(w, "\ncommands:")
	cmds := commands()
	names := make([]string, 0, len(cmds))
	for n := range cmds {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(w, "  %-9s %s\n", n, cmds[n].summary)
	}
	fmt.Fprintln(w, "\nRun 'paxsync COMMAND -h' for a command's flags.")
}

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// run is the whole command line; it returns the exit status: 0 success
// (and -h/--help), 1 failure, 2 bad flags, arguments or input files, and
// a command's own status (replay verify: 3 for an incomplete replay).
func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		usage(stderr)
		if len(args) == 0 {
			return 2
		}
		return 0
	}
	cmd, ok := commands()[args[0]]
	if !ok {
		fmt.Fprintf(stderr, "paxsync: unknown command %q\n\n", args[0])
		usage(stderr)
		return 2
	}
	err := cmd.run(args[1:], stdout, stderr)
	switch {
	case err == nil, errors.Is(err, flag.ErrHelp):
		return 0
	case cli.IsUsage(err):
		fmt.Fprintf(stderr, "paxsync %s: %v\nRun 'paxsync %s -h' for its flags.\n", args[0], err, args[0])
		return 2
	}
	fmt.Fprintf(stderr, "paxsync %s: %v\n", args[0], err)
	var ec interface{ ExitCode() int }
	if errors.As(err, &ec) {
		return ec.ExitCode() // replay verify's 3: incomplete
	}
	return 1
}
