// Command paxsync is the headless paxsync tool: it runs consensus nodes,
// scripted cheat-injection matches, benchmarks and replay checks, and makes
// player keys. It builds with CGO_ENABLED=0 (no graphics); the game client
// is cmd/paxsync-demo.
package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
)

// command is one subcommand: run gets the arguments after its name.
type command struct {
	summary string
	run     func(args []string) error
}

// errUsage marks errors caused by bad flags or arguments; they exit with
// status 2, like the flag package's own errors.
var errUsage = errors.New("usage")

func commands() map[string]command {
	return map[string]command{
		"keygen": {"write a new player key file (Ed25519, mode 0600)", runKeygen},
		"node":   {"run one consensus node on the network (libp2p)", runNode},
		"replay": {"verify a recorded match: paxsync replay verify FILE", runReplay},
		"match":  {"run a scripted cheat-injection match and report who was caught", runMatch},
		"bench":  {"measure commit latency, throughput and cost per tick of N peer processes", runBench},
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
		fmt.Fprintf(w, "  %-8s %s\n", n, cmds[n].summary)
	}
	fmt.Fprintln(w, "\nRun 'paxsync COMMAND -h' for a command's flags.")
}

func main() {
	os.Exit(run(os.Args[1:], os.Stderr))
}

func run(args []string, stderr io.Writer) int {
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
	if err := cmd.run(args[1:]); err != nil {
		if errors.Is(err, errUsage) || strings.Contains(err.Error(), "flag provided but not defined") {
			fmt.Fprintf(stderr, "paxsync %s: %v\n", args[0], err)
			return 2
		}
		fmt.Fprintf(stderr, "paxsync %s: %v\n", args[0], err)
		return 1
	}
	return 0
}
