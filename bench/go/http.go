// The Go server of the http suite: net/http answering "Hello, World!".
// It prints "listening <addr>" and exits when stdin closes.
package main

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
)

func main() {
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
	hello := []byte("Hello, World!")
	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Write(hello)
	})
	fmt.Fprintln(os.Stderr, http.Serve(ln, handler))
	os.Exit(1)
}
