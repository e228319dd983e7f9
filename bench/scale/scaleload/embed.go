package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"runtime"
	"runtime/pprof"
	"strconv"
	"strings"

	"github.com/chatload/chatload/server"
)

// embed starts chatload's server in this process on a free UDP port and points
// o.target at it; o.serverPid becomes this process (RSS then includes the load).
func embed(o *opts) (func(), error) {
	n, r, ok := strings.Cut(o.embed, ",")
	users, err1 := strconv.Atoi(n)
	rooms, err2 := strconv.Atoi(r)
	if !ok || err1 != nil || err2 != nil {
		return nil, fmt.Errorf("-embed %q: want USERS,ROOMS", o.embed)
	}
	slog.SetDefault(slog.New(slog.DiscardHandler)) // sipgo's stray-response notes
	srv, err := server.New(server.Config{Users: server.GeneratedUsers(users, o.domain), Generated: true,
		Rooms: rooms, Domain: o.domain, Listen: []string{"udp:127.0.0.1:0"}, UnauthRate: -1})
	if err != nil {
		return nil, err
	}
	if err := srv.Start(context.Background()); err != nil {
		return nil, err
	}
	o.target = srv.Addr("udp")
	o.serverPid = os.Getpid()
	return func() { srv.Close() }, nil
}

// heapFigures prints the live heap after a GC (and writes the profile) when the
// server runs in this process.
func heapFigures(o opts, phase string) {
	if o.embed == "" {
		return
	}
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	fmt.Printf("embedded_heap_kib_%s %d\nembedded_heap_objects_%s %d\n", phase, ms.HeapAlloc/1024, phase, ms.HeapObjects)
	if o.heapProf == "" {
		return
	}
	f, err := os.Create(o.heapProf + "." + phase)
	if err != nil {
		fmt.Fprintln(os.Stderr, "scaleload:", err)
		return
	}
	defer f.Close()
	_ = pprof.WriteHeapProfile(f)
}
