package cli

import (
	"errors"
	"fmt"
	"net"
	"runtime"
	"strconv"
	"strings"
	"time"
)

// displayTimeout bounds the connection attempt to the X server. A local
// server answers at once; the bound only matters for a remote DISPLAY
// that does not answer, and then the error says so.
const displayTimeout = 3 * time.Second

// CheckDisplay reports whether the X display Ebiten will open is there:
// DISPLAY is set and its server accepts a connection. Ebiten's GLFW opens
// the display in a package init and panics when it cannot, so this runs
// first and turns that into one sentence. Only X11 systems are checked
// (Ebiten does not use DISPLAY elsewhere), and only the display forms that
// name a socket ([host]:N[.S]); others are left to Ebiten.
func CheckDisplay(getenv func(string) string) error {
	switch runtime.GOOS {
	case "linux", "freebsd", "netbsd", "openbsd", "dragonfly":
	default:
		return nil
	}
	d := getenv("DISPLAY")
	if d == "" {
		if getenv("WAYLAND_DISPLAY") != "" {
			return errors.New("no X display: DISPLAY is not set (the demo needs X11 or XWayland)")
		}
		return errors.New("no display: DISPLAY is not set")
	}
	network, addr, ok := displayAddr(d)
	if !ok {
		return nil
	}
	c, err := net.DialTimeout(network, addr, displayTimeout)
	if err != nil && network == "unix" && runtime.GOOS == "linux" {
		// Many servers listen on the abstract socket only.
		c, err = net.DialTimeout("unix", "@"+addr, displayTimeout)
	}
	if err != nil {
		return fmt.Errorf("cannot open display %q: no X server answers at %s", d, addr)
	}
	c.Close()
	return nil
}

// displayAddr maps an X display name to the server's socket: ":N" and
// "unix:N" to /tmp/.X11-unix/XN, "host:N" to TCP port 6000+N on host.
// ok is false for names of other forms.
func displayAddr(d string) (network, addr string, ok bool) {
	i := strings.LastIndexByte(d, ':')
	if i < 0 {
		return "", "", false
	}
	host, num := d[:i], d[i+1:]
	if j := strings.IndexByte(num, '.'); j >= 0 {
		num = num[:j] // the screen number
	}
	n, err := strconv.Atoi(num)
	if err != nil || n < 0 || strings.HasPrefix(host, "/") {
		return "", "", false
	}
	if host == "" || host == "unix" {
		return "unix", "/tmp/.X11-unix/X" + strconv.Itoa(n), true
	}
	host = strings.TrimPrefix(host, "tcp/")
	if strings.HasSuffix(host, ":") { // DECnet "host::N"
		return "", "", false
	}
	return "tcp", net.JoinHostPort(strings.Trim(host, "[]"), strconv.Itoa(6000+n)), true
}
