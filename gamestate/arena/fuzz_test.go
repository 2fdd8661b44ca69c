package arena

import (
	"bytes"
	"testing"

	"github.com/paxsync/paxsync/gamestate"
)

func FuzzDecodeInput(f *testing.F) {
	f.Add(EncodeInput(Controls{Thrust: 2, Turn: -3, Fire: true}))
	f.Add(SpeedHackInput(Controls{}))
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := DecodeInput(b)
		if err == nil && !bytes.Equal(EncodeInput(c), b) {
			t.Fatal("does not re-encode")
		}
		a, _ := New(2, 1)
		if v := a.Validate(0, b); v == nil && err != nil {
			t.Fatal("undecodable input judged legal")
		}
		a.Advance(0, []gamestate.SeatInput{{Present: true, Data: b}, {}})
	})
}

func FuzzRestore(f *testing.F) {
	a, _ := New(3, 1)
	for i := 0; i < 40; i++ {
		a.Advance(uint64(i), []gamestate.SeatInput{{Present: true, Data: EncodeInput(Controls{Thrust: 4, Fire: i%10 == 0})}, {}, {}})
	}
	f.Add(a.Snapshot())
	f.Fuzz(func(t *testing.T, b []byte) {
		a, _ := New(3, 1)
		if a.Restore(b) != nil {
			return
		}
		if !bytes.Equal(a.Snapshot(), b) {
			t.Fatal("does not re-encode")
		}
		for i := 0; i < 3; i++ { // any restored state must keep running
			a.Advance(a.Next(), []gamestate.SeatInput{{Present: true, Data: EncodeInput(Controls{Fire: true})}, {}, {}})
		}
	})
}
