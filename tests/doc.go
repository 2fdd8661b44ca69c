// Package tests holds paxsync's end-to-end and cross-package tests; it has
// no code of its own, only this comment and its _test.go files.
//
// The unit tests of each package drive that package in isolation (bft
// through a seeded simulated network, gamestate with hand-built batches).
// What they cannot show lives here: that the pieces work together as a
// player runs them. These tests span several packages at once, talk real
// libp2p on 127.0.0.1 or build and run the real binaries, so no single
// package owns them, and keeping them apart keeps each package's own tests
// fast:
//
//   - sessions: several in-process paxsync.Session peers playing the arena
//     in every consensus mode, plain and sealed, with cheats switched on at
//     run time, bootstrapped in a star, and a silent leader voted out;
//   - consensus nodes (driver, bft, netp2p, wal) agreeing over libp2p, a
//     node killed and restarted from its WAL, no goroutine left behind, and
//     mDNS discovery between network namespaces (as root);
//   - the scripted cheat-injection matches of scenarios/ (one per cheat
//     kind and fault, every peer its own OS process, run by `make test` as
//     `go test ./tests -run TestMatch`) and their HTML report;
//   - `paxsync bench` end to end, and the Ebiten demo as a user runs it:
//     --help and flag errors without a display, headless screenshots under
//     Xvfb, clean exit on signals;
//   - the architecture rules on the source: bft is a pure state machine,
//     gamestate is deterministic (no clock, I/O or randomness of its own,
//     down to its dependencies), only netp2p imports libp2p and only the
//     demo imports Ebiten.
//
// Tests that need the network, a build or a display skip with -short.
package tests
