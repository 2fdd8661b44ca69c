package main

import (
	"context"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/paxsync/paxsync/internal/nodecmd"
)

// runNode is `paxsync node`: one consensus node on the real network (see
// package internal/nodecmd for the flags). SIGINT/SIGTERM stop it cleanly;
// its WAL lets it rejoin after any kind of stop, SIGKILL included. It logs
// to stderr only (stdout stays free for scripts).
func runNode(args []string, _, stderr io.Writer) error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return nodecmd.Run(ctx, args, stderr)
}
