// Package roster reads and checks a match's roster file, the list of the
// players' public keys that every player of a match agrees on:
//
//	{"match": "friday", "players": ["<hex public key>", ...]}
//
// Seat i is played by the i-th key. Every command that takes a roster file
// (paxsync node, paxsync-demo, examples/arenabot) loads it here, so that a
// file one of them accepts is accepted by all, and a file paxsync.Join
// would refuse is refused before any network is started.
package roster

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/paxsync/paxsync/crypto"
	"github.com/paxsync/paxsync/gamestate"
)

// MinPlayers is the smallest roster accepted: Byzantine Paxos needs
// n ≥ 3f+1 peers to tolerate f faulty ones, and with fewer than 4 players
// f is 0, so a single cheating or crashed peer could stall or mislead the
// match: that is not what a paxsync match promises.
const MinPlayers = 4

// ErrInvalid marks a roster file that is readable but wrong (bad JSON, an
// unknown field, a bad or repeated key, too few or too many players).
// Commands treat it as bad input (exit status 2), like a bad flag.
var ErrInvalid = errors.New("invalid roster")

// File is the roster file's JSON form.
type File struct {
	Match   string   `json:"match"`
	Players []string `json:"players"` // hex public keys, in seat order
}

// Roster is a checked roster: what paxsync.Config's MatchName and Roster
// take, plus the match ID every signature is bound to.
type Roster struct {
	Match string             // the match name
	Keys  []crypto.PublicKey // seat i is played by Keys[i]
	ID    crypto.MatchID     // crypto.NewMatchID(Match, Keys)
}

// MaxFileSize bounds a roster file. MaxSeats keys in hex and the longest
// name take a few KiB; Load reads no more than this (a huge file, or
// /dev/zero, must not exhaust memory) and refuses a larger file.
const MaxFileSize = 1 << 20

// Load reads and checks the roster file at path. Errors name the file and,
// for a bad key, the player's index; all but I/O errors wrap ErrInvalid
// (a file larger than MaxFileSize is invalid too).
func Load(path string) (*Roster, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("roster: %w", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, MaxFileSize+1))
	if err != nil {
		return nil, fmt.Errorf("roster: %w", err)
	}
	if len(data) > MaxFileSize {
		return nil, fmt.Errorf("%s: %w: the file is larger than %d bytes (MaxFileSize), too large for a roster", path, ErrInvalid, MaxFileSize)
	}
	r, err := Parse(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return r, nil
}

// Parse checks a roster file's contents strictly: unknown fields and
// trailing data are refused (a misspelt "player" must not silently give an
// empty roster), every key must be valid hex of the right length and a
// valid Ed25519 public key (crypto.PublicKey.Check: no small-order or
// non-canonical point), keys must be distinct points, and the player count
// must be MinPlayers..MaxSeats.
func Parse(data []byte) (*Roster, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var f File
	if err := dec.Decode(&f); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, fmt.Errorf("%w: data after the JSON object", ErrInvalid)
	}
	keys := make([]crypto.PublicKey, len(f.Players))
	for i, h := range f.Players {
		k, err := crypto.ParsePublicKey(h)
		if err != nil {
			return nil, fmt.Errorf("%w: players[%d] %q: %v", ErrInvalid, i, abbrev(h), err)
		}
		keys[i] = k
	}
	return New(f.Match, keys)
}

// New checks a roster given as keys. Its checks include every roster check
// of paxsync.Join (a name, 1..MaxSeats players, no key twice), so a roster
// that passes here is not refused later, plus MinPlayers, the longest
// name a replay can record, and crypto.PublicKey.Check on every key (no
// small-order or non-canonical point, whose signatures anyone can forge;
// "no key twice" compares the points' canonical encodings).
func New(match string, keys []crypto.PublicKey) (*Roster, error) {
	if match == "" {
		return nil, fmt.Errorf("%w: \"match\": the match name is required", ErrInvalid)
	}
	if len(match) > gamestate.MaxMatchName {
		return nil, fmt.Errorf("%w: \"match\": name is %d bytes, at most %d", ErrInvalid, len(match), gamestate.MaxMatchName)
	}
	n := len(keys)
	if n < MinPlayers {
		return nil, fmt.Errorf("%w: \"players\": %d players; at least %d are needed to tolerate one faulty peer (n >= 3f+1 with f >= 1)",
			ErrInvalid, n, MinPlayers)
	}
	if n > gamestate.MaxSeats {
		return nil, fmt.Errorf("%w: \"players\": %d players, at most %d", ErrInvalid, n, gamestate.MaxSeats)
	}
	seen := make(map[crypto.PublicKey]int, n)
	for i, k := range keys {
		if err := k.Check(); err != nil {
			return nil, fmt.Errorf("%w: players[%d]: %v", ErrInvalid, i, err)
		}
		c, _ := k.Canonical() // the point, whatever its encoding
		if j, dup := seen[c]; dup {
			return nil, fmt.Errorf("%w: players[%d] and players[%d] are the same key %s", ErrInvalid, j, i, k)
		}
		seen[c] = i
	}
	keys = append([]crypto.PublicKey(nil), keys...)
	return &Roster{Match: match, Keys: keys, ID: crypto.NewMatchID(match, keys)}, nil
}

// Seat is k's seat, or -1 if k is not in the roster.
func (r *Roster) Seat(k crypto.PublicKey) int {
	for i, p := range r.Keys {
		if p == k {
			return i
		}
	}
	return -1
}

// F is the number of faulty players the roster tolerates, (n−1)/3.
func (r *Roster) F() int { return (len(r.Keys) - 1) / 3 }

// abbrev shortens a bad key for an error message.
func abbrev(s string) string {
	if len(s) > 20 {
		return s[:16] + "…"
	}
	return s
}
