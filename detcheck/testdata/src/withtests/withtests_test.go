package withtests

import (
	"testing"
	"time" // want `import "time" is forbidden`
)

// With -testfiles, test files are analyzed too.
func TestAdd(t *testing.T) {
	if time.Now().IsZero() { // want `time.Now reads the wall clock`
		t.Fatal(Add(1, 2))
	}
}
