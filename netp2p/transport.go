package netp2p

import "github.com/paxsync/paxsync/transport"

// A Host is the libp2p implementation of the transport seam: these fail to
// compile the moment its methods drift from the interfaces the session
// programs against.
var (
	_ transport.Transport   = (*Host)(nil)
	_ transport.Partitioner = (*Host)(nil)
	_ transport.Meter       = (*Host)(nil)
	_ transport.Addresser   = (*Host)(nil)
)
