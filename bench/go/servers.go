// The Go servers of the network suites: `servers echo` (a goroutine per
// connection, a 4 KiB buffer, read then write, as the Rust servers do)
// and `servers http` (net/http answering "Hello, World!"). Each prints
// "listening <addr>" and exits when stdin closes.
package main

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
)

func main() {
	if len(os.Args) != 2 || (os.Args[1] != "echo" && os.Args[1] != "http") {
		fmt.Fprintln(os.Stderr, "usage: servers echo|http")
		os.Exit(2)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fmt.Printf("listening %s\n", ln.Addr())
	go func() {
		io.Copy(io.Discard, os.Stdin)
		os.Exit(0)
	}()
	if os.Args[1] == "http" {
		hello := []byte("Hello, World!")
		handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Write(hello)
		})
		fmt.Fprintln(os.Stderr, http.Serve(ln, handler))
		os.Exit(1)
	}
	for {
		c, err := ln.Accept()
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		go echo(c)
	}
}

func echo(c net.Conn) {
	defer c.Close()
	buf := make([]byte, 4096)
	for {
		n, err := c.Read(buf)
		if err != nil {
			return
		}
		if _, err := c.Write(buf[:n]); err != nil {
			return
		}
	}
}
