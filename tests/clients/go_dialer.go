// A Go client waiting for its server the usual way: net.Dial in a loop until
// it gets through. Go's dialer closes a self-connect at once and dials again
// (golang.org/issue/2690), so the program never sees one; selfconnect must.
//
//	sc-go-dialer HOST:PORT SECONDS
//
// Exits 0 once a dial succeeds, 1 when SECONDS pass first.
package main

import (
	"fmt"
	"net"
	"os"
	"strconv"
	"time"
)

func main() {
	if len(os.Args) != 3 {
		fmt.Fprintln(os.Stderr, "usage: sc-go-dialer HOST:PORT SECONDS")
		os.Exit(2)
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
