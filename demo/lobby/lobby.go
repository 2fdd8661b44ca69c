// Package lobby writes what a LAN player sees before a match starts: who
// of the roster is connected, and the exact line the others need to join
// this peer. It does not import Ebiten, so it can be tested without a
// display.
package lobby

import (
	"fmt"
	"strings"
)

// Seat is one roster entry.
type Seat struct {
	Name      string // e.g. "P1"
	Key       string // the player's public key, abbreviated for display
	You       bool   // this client
	Connected bool
}

// Missing is the number of seats not connected.
func Missing(seats []Seat) int {
	n := 0
	for _, s := range seats {
		if !s.You && !s.Connected {
			n++
		}
	}
	return n
}

// Message is the lobby text: a heading line, one line per seat, and the
// --peer option others can join with (addr: JoinAddr of this peer's
// addresses; "" leaves it out). Seat lines are tab-separated columns;
// lines that start with two spaces are commands to copy.
func Message(match string, seats []Seat, addr string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "Lobby — match %q: waiting for %d of %d players\n", match, Missing(seats), len(seats))
	for _, s := range seats {
		who, state := s.Key, "waiting…"
		switch {
		case s.You:
			who, state = "you", "this client"
		case s.Connected:
			state = "connected"
		}
		fmt.Fprintf(&b, "%s\t%s\t%s\n", s.Name, who, state)
	}
	if addr != "" {
		b.WriteString("\nThe others can join this peer with:\n")
		b.WriteString("  --peer " + addr + "\n")
		b.WriteString("(the terminal has the full command and every address of this peer)")
	}
	return strings.TrimRight(b.String(), "\n")
}

// JoinAddr picks, of a peer's listen multiaddrs, the one to tell other
// players on a LAN: TCP on a non-loopback IPv4 address, else any
// non-loopback address, else the first. "" when there are none.
func JoinAddr(addrs []string) string {
	best, bestRank := "", -1
	for _, a := range addrs {
		r := 0
		if !loopback(a) {
			r += 4 // off this machine matters most
		}
		if strings.Contains(a, "/tcp/") {
			r += 2
		}
		if strings.HasPrefix(a, "/ip4/") {
			r++
		}
		if r > bestRank {
			best, bestRank = a, r
		}
	}
	return best
}

func loopback(addr string) bool {
	return strings.HasPrefix(addr, "/ip4/127.") || strings.HasPrefix(addr, "/ip6/::1/")
}

// JoinCommand is the command line another player runs to join this peer
// (match "" leaves out --match, which the roster implies).
func JoinCommand(match, rosterFile, addr string) string {
	m := ""
	if match != "" {
		m = " --match " + quote(match)
	}
	return fmt.Sprintf("paxsync-demo%s --key YOUR.key --roster %s --peer %s", m, quote(rosterFile), addr)
}

// quote single-quotes s for a POSIX shell when it needs it.
func quote(s string) string {
	if s != "" && !strings.ContainsAny(s, " \t'\"\\$`!*?;&|<>()[]{}#~") {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
