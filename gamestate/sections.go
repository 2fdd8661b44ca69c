package gamestate

// Section is one named part of a game's snapshot: "ships", "bullets",
// "rng", "scores". A state hash says only that two states differ; the
// sections say where, which is what a developer needs to find the line of
// code that made two peers (or a state and its rolled-back re-simulation)
// disagree.
type Section struct {
	// Name identifies the section in reports. Names are unique within one
	// game and the same, in the same order, for every state of the game,
	// so that two states' sections can be compared name by name.
	Name string
	// Data is the section's canonical encoding. It must not alias the
	// game's state (the caller keeps it while the game advances), and it
	// should be non-empty so that a missing section stands out.
	Data []byte
}

// Sectioned is an optional interface of a Game: its snapshot split into
// named sections. It exists for desync debugging. When two states' hashes
// differ, comparing them section by section names the part of the state
// that diverged (and the first differing byte in it) instead of leaving
// the developer to diff two opaque snapshots. Tools such as
// gamestate/synctest use it when a game provides it; nothing in the
// protocol depends on it, so Snapshot and Hash stay what they are.
//
// Sections must be deterministic and pure, like the rest of the game: the
// same state gives the same sections. Ideally every byte of Snapshot is in
// exactly one section (the arena's sections concatenate to its snapshot),
// so that any difference in the hashed state shows up in a section.
type Sectioned interface {
	Sections() []Section
}
