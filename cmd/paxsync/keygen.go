package main

import (
	"errors"
	"flag"
	"fmt"
	"os"

	"github.com/paxsync/paxsync/crypto"
)

// runKeygen is `paxsync keygen -o FILE [--force]`: it writes a new player
// key and prints the public key, which goes into the match roster.
func runKeygen(args []string) error {
	fs := flag.NewFlagSet("keygen", flag.ContinueOnError)
	out := fs.String("o", "", "key file to write (required); created with mode 0600")
	force := fs.Bool("force", false, "overwrite an existing key file (its old identity is lost)")
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), "usage: paxsync keygen -o FILE [--force]")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return fmt.Errorf("%w: %v", errUsage, err)
	}
	if *out == "" || fs.NArg() != 0 {
		fs.Usage()
		return fmt.Errorf("%w: -o FILE is required and no other arguments are allowed", errUsage)
	}
	k, err := crypto.GenerateKey(nil)
	if err != nil {
		return err
	}
	if err := crypto.WriteKeyFile(*out, k, *force); err != nil {
		return err
	}
	fmt.Fprintf(os.Stdout, "wrote %s\npublic key: %s\n", *out, k.Public().Hex())
	return nil
}
