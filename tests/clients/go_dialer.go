// A Go client waiting for its server the usual way: net.Dial in a loop until
// it gets through. Go's dialer closes a self-connect at once and dials again
// (golang.org/issue/2690), so the program never sees one; selfconnect must.
//
//	sc-go-dialer HOST:PORT SECONDS
//	sc-go-dialer HOST:PORT count TRIES
//
// Exits 0 once a dial succeeds, 1 when SECONDS pass first. With count, it
// dials TRIES times, whatever happens, and prints how many got through
// ("met", since nothing listens) and how many were refused.
package main

import (
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"syscall"
	"time"
)

func main() {
	if len(os.Args) != 3 && len(os.Args) != 4 {
		fmt.Fprintln(os.Stderr, "usage: sc-go-dialer HOST:PORT SECONDS | HOST:PORT count TRIES")
		os.Exit(2)
	}
	if os.Args[2] == "count" && len(os.Args) == 4 {
		countDials(os.Args[1], os.Args[3])
		return
	}
	seconds, err := strconv.Atoi(os.Args[2])
	if err != nil {
		fmt.Fprintln(os.Stderr, "sc-go-dialer: SECONDS is not a number")
		os.Exit(2)
	}
	deadline := time.Now().Add(time.Duration(seconds) * time.Second)
	for tries := 1; time.Now().Before(deadline); tries++ {
		conn, err := net.Dial("tcp", os.Args[1])
		if err == nil {
			fmt.Printf("connected after %d tries: %s -> %s\n", tries, conn.LocalAddr(), conn.RemoteAddr())
			conn.Close()
			return
		}
	}
	os.Exit(1)
}

func countDials(address, triesText string) {
	tries, err := strconv.Atoi(triesText)
	if err != nil {
		fmt.Fprintln(os.Stderr, "sc-go-dialer: TRIES is not a number")
		os.Exit(2)
	}
	met, refused := 0, 0
	for i := 0; i < tries; i++ {
		conn, err := net.Dial("tcp", address)
		if err == nil {
			met++
			conn.Close()
		} else if errors.Is(err, syscall.ECONNREFUSED) {
			refused++
		}
	}
	fmt.Printf("met=%d refused=%d\n", met, refused)
}
