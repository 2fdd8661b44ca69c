module github.com/paxsync/paxsync/scripts/ed25519batch

go 1.26

require github.com/hdevalence/ed25519consensus v0.2.0

require filippo.io/edwards25519 v1.0.0 // indirect
