package main

import (
	"bufio"
	"fmt"
	"os"
	"strconv"
	"strings"

	"github.com/chatload/chatload/scenarios"
)

// Size bounds, checked before anything is allocated: a population that cannot
// fit in this machine's memory is a usage error (exit 2) naming the memory it
// would need, not minutes of swapping ended by the OOM killer.
//
// The costs are measured and rounded up (docs/performance.md, "Memory per
// logged-on user" and "Size bounds": 133 B per user in the generator and 425 B
// in the server for users that are not logged on, 18.5 KiB per logged-on user,
// 0.9 KiB per server room): they are for refusing what cannot work, not for
// predicting RSS.
const (
	// genPerUser: the generator's entry of a user (URI, credentials, its place
	// in the plan and in the tracker), logged on or not.
	genPerUser = 512
	// genPerLoggedOn: a user kept logged on (steady, fanout, churn, message,
	// history): its user agent, socket and buffers (18.5 KiB measured).
	genPerLoggedOn = 20 << 10
	// genPerOwnTransport: a logged-on user's own transport with
	// --transport-sharing per-user: sipgo's 32 KiB read buffer, the reader's
	// stack (61 to 85 KiB measured at 2,000 users, udp to tls).
	genPerOwnTransport = 96 << 10
	// servePerUser: the embedded server's account of a user (generated
	// credentials, digest state, a registration).
	servePerUser = 1 << 10
	// servePerRoom and genPerRoom: a room (members, history index; its URI and
	// roster in the generator).
	servePerRoom = 1 << 10
	genPerRoom   = 256
	// sizeBase: what a run or a server uses with no users (runtime, buffers).
	sizeBase = 64 << 20
	// maxUsersUnknownMemory bounds the users where the available memory cannot
	// be read.
	maxUsersUnknownMemory = 10_000_000
)

// memInfo returns the memory this process may still use: MemAvailable, lowered
// to the cgroup's limit minus its usage when there is one; ok false when neither
// can be read (not Linux). A variable for tests.
var memInfo = func() (avail uint64, ok bool) {
	if fh, err := os.Open("/proc/meminfo"); err == nil {
		sc := bufio.NewScanner(fh)
		for sc.Scan() {
			if v, found := strings.CutPrefix(sc.Text(), "MemAvailable:"); found {
				kb, err := strconv.ParseUint(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
				if err == nil {
					avail, ok = kb<<10, true
				}
			}
		}
		fh.Close()
	}
	// cgroup v2, then v1: a container's limit is lower than the host's memory.
	for _, p := range [][2]string{
		{"/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory.current"},
		{"/sys/fs/cgroup/memory/memory.limit_in_bytes", "/sys/fs/cgroup/memory/memory.usage_in_bytes"},
	} {
		limit, err1 := readUint(p[0])
		used, err2 := readUint(p[1])
		if err1 != nil || err2 != nil || limit >= 1<<60 {
			continue // "max", absent, or v1's "unlimited"
		}
		left := uint64(0)
		if limit > used {
			left = limit - used
		}
		if !ok || left < avail {
			avail, ok = left, true
		}
		break
	}
	return avail, ok
}

func readUint(path string) (uint64, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	return strconv.ParseUint(strings.TrimSpace(string(b)), 10, 64)
}

// runMemory estimates the memory a run of cfg needs with users users: the
// generator's, and with embedded (no --target) the server's too. It returns the
// bytes, what it counts per user, and the setting that weighs most (for the
// error).
func runMemory(cfg scenarios.Config, users int, embedded bool) (need uint64, perUser, flag string) {
	rooms := uint64(cfg.RoomCount())
	per := uint64(genPerUser)
	perUser = "generator " + iec(genPerUser)
	if cfg.KeepsLoggedOn() {
		per += genPerLoggedOn
		perUser = "generator " + iec(genPerUser+genPerLoggedOn) + " (logged on)"
		if perUserDefault(cfg.TransportSharing, cfg.Protocol, cfg.Transport) {
			per += genPerOwnTransport
			perUser = "generator " + iec(genPerUser+genPerLoggedOn+genPerOwnTransport) + " (logged on, a transport each)"
		}
	}
	perRoom := uint64(genPerRoom)
	need = sizeBase
	if embedded {
		per += servePerUser
		perRoom += servePerRoom
		perUser += " + embedded server " + iec(servePerUser)
		need += sizeBase
	}
	need += uint64(users)*per + rooms*perRoom
	flag = sizeFlag(cfg, users)
	if rooms*perRoom > uint64(users)*per {
		flag = "--rooms " + strconv.FormatUint(rooms, 10)
	}
	return need, perUser + " per user", flag
}

// checkSize refuses (exit 2) what needs more memory than this machine has
// available: what names the setting to lower, need is the estimate.
func checkSize(what string, users int, need uint64, perUser string) error {
	avail, ok := memInfo()
	if !ok {
		if users > maxUsersUnknownMemory {
			return usageErr("%s would need about %s of memory (%s); at most %d users where the available memory cannot be read",
				what, iec(need), perUser, maxUsersUnknownMemory)
		}
		return nil
	}
	if need <= avail {
		return nil
	}
	return usageErr("%s would need about %s of memory (%s), more than the %s available here",
		what, iec(need), perUser, iec(avail))
}

// checkRunSize is checkSize for chatload run of users users, before they are
// made; embedded: the embedded server runs beside it.
func checkRunSize(cfg scenarios.Config, users int, embedded bool) error {
	need, per, flag := runMemory(cfg, users, embedded)
	return checkSize(flag, users, need, per)
}

// sizeFlag names what sized a run's population of users, for the error.
func sizeFlag(cfg scenarios.Config, users int) string {
	switch {
	case cfg.UsersFile != "":
		return fmt.Sprintf("--users-file %s (%d users)", cfg.UsersFile, users)
	case cfg.Users > 0 && cfg.Users >= users:
		return "--users " + strconv.Itoa(cfg.Users)
	case cfg.Pairs > 0 && 2*cfg.Pairs == users:
		return fmt.Sprintf("--pairs %d (%d users)", cfg.Pairs, users)
	case cfg.RoomSize > 0:
		return fmt.Sprintf("--rooms %d x --room-size %d (%d users)", cfg.RoomCount(), cfg.RoomSize, users)
	}
	return fmt.Sprintf("%d users", users)
}

// checkServeSize is checkSize for chatload serve's generated users (its rooms
// are bounded by the server's own range check).
func checkServeSize(users, rooms int) error {
	need := uint64(sizeBase) + uint64(users)*servePerUser + uint64(max(rooms, 0))*servePerRoom
	return checkSize("--users "+strconv.Itoa(users), users, need, "server "+iec(servePerUser)+" per user")
}

// iec formats bytes as "1.5 GiB".
func iec(b uint64) string {
	const unit = 1024
	if b < unit {
		return strconv.FormatUint(b, 10) + " B"
	}
	div, exp := uint64(unit), 0
	for n := b / unit; n >= unit && exp < 5; n /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(b)/float64(div), "KMGTPE"[exp])
}
