package match

import (
	"strings"
	"testing"
)

// TestParseRefusesWhatCannotRun: a scenario that no peer could start is
// refused before any process is spawned, naming the field.
func TestParseRefusesWhatCannotRun(t *testing.T) {
	ok := `{"name":"x","peers":4,"tick_hz":60,"ticks":600,"seed":1,"expect":{"honest_agree":true}}`
	if _, err := Parse([]byte(ok)); err != nil {
		t.Fatalf("a valid scenario: %v", err)
	}
	for _, c := range []struct{ json, want string }{
		// The arena seats at most 8: a 9-peer match would fail at every
		// peer's start, after the runner had spawned them all.
		{strings.Replace(ok, `"peers":4`, `"peers":9`, 1), "peers"},
		{strings.Replace(ok, `"peers":4`, `"peers":3`, 1), "peers"},
		{strings.Replace(ok, `"tick_hz":60`, `"tick_hz":0`, 1), "tick_hz"},
	} {
		_, err := Parse([]byte(c.json))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want one about %q", c.json, err, c.want)
		}
	}
}
