// Command memhelper is a test helper that the memory tests build (static,
// CGO_ENABLED=0) and run in a busybox container through a bind mount.
//
//	memhelper memfd       copy itself into a memfd and run from it, then sleep
//	memhelper hog MIB     hold MIB MiB of resident memory (a pattern), then sleep
//	memhelper sleep       sleep
package main

import (
	"fmt"
	"io"
	"os"
	"runtime"
	"strconv"
	"time"

	"golang.org/x/sys/unix"
)

func main() {
	if len(os.Args) < 2 {
		fail(fmt.Errorf("usage: memhelper memfd|hog MIB|sleep"))
	}
	switch os.Args[1] {
	case "memfd":
		fd, err := unix.MemfdCreate("fbhelper", 0)
		if err != nil {
			fail(err)
		}
		self, err := os.Open("/proc/self/exe")
		if err != nil {
			fail(err)
		}
		if _, err := io.Copy(os.NewFile(uintptr(fd), "memfd"), self); err != nil {
			fail(err)
		}
		// The memfd stays open across the exec (no close-on-exec): the new
		// program runs from it and holds it.
		fail(unix.Exec(fmt.Sprintf("/proc/self/fd/%d", fd), []string{"fbhelper", "sleep"}, os.Environ()))
	case "hog":
		mib, err := strconv.Atoi(os.Args[2])
		if err != nil {
			fail(err)
		}
		b := make([]byte, mib<<20)
		x := uint64(88172645463325252)
		for i := 0; i+8 <= len(b); i += 8 {
			x ^= x << 13
			x ^= x >> 7
			x ^= x << 17
			for j := 0; j < 8; j++ {
				b[i+j] = byte(x >> (8 * j))
			}
		}
		fmt.Println("ready")
		sleep()
		runtime.KeepAlive(b)
	case "sleep":
		sleep()
	default:
		fail(fmt.Errorf("unknown command %q", os.Args[1]))
	}
}

func sleep() {
	for {
		time.Sleep(time.Hour)
	}
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "memhelper:", err)
	os.Exit(1)
}
