package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/paxsync/paxsync/crypto"
	"github.com/paxsync/paxsync/netp2p"
)

// runKeygen is `paxsync keygen -o FILE [--force]`: it writes a new player
// key and prints the public key, which goes into the match roster, and the
// libp2p peer ID the same key gives the node on the network, which other
// players put after /p2p/ in their --peer addresses.
func runKeygen(args []string, stdout, stderr io.Writer) error {
	fset := flag.NewFlagSet("keygen", flag.ContinueOnError)
	fset.SetOutput(stderr)
	out := fset.String("o", "", "key file to write (required); created with mode 0600 in an existing directory")
	force := fset.Bool("force", false, "overwrite an existing key file (its old identity is lost)")
	fset.Usage = func() {
		fmt.Fprintln(stderr, "usage: paxsync keygen -o FILE [--force]")
		fset.PrintDefaults()
		fmt.Fprintln(stderr, "\nIt prints the public key (for the roster's \"players\") and the peer ID (for --peer .../p2p/ID).")
	}
	if err := fset.Parse(args); err != nil {
		return flagErr(err)
	}
	if *out == "" || fset.NArg() != 0 {
		return usagef("-o FILE is required and no other arguments are allowed")
	}
	// crypto.WriteKeyFile creates missing directories; a typo in the path
	// must not silently put a secret key somewhere unexpected.
	dir := filepath.Dir(*out)
	switch st, err := os.Stat(dir); {
	case errors.Is(err, fs.ErrNotExist):
		return usagef("-o %s: directory %s does not exist (create it first)", *out, dir)
	case err != nil:
		return err
	case !st.IsDir():
		return usagef("-o %s: %s is not a directory", *out, dir)
	}
	k, err := crypto.GenerateKey(nil)
	if err != nil {
		return err
	}
	id, err := netp2p.PeerIDOf(k.Public())
	if err != nil {
		return err
	}
	if err := crypto.WriteKeyFile(*out, k, *force); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "wrote %s\npublic key: %s\npeer ID:    %s\n", *out, k.Public().Hex(), id)
	return nil
}
