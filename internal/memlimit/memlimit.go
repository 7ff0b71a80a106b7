// Package memlimit gives the Go runtime a soft memory limit below its
// container's, so that the garbage collector works harder as memory nears
// the limit instead of letting the heap grow to twice what is live (the
// default pacing) and the container be killed for it.
package memlimit

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
)

// The runtime's limit leaves a tenth of the container's, and at least
// minHeadroom, for what the runtime does not count, such as the binary's
// mapped pages: about 40 MiB for nestor (docs/bench.md).
const minHeadroom = 64 << 20

// noLimit is at or below what cgroup v1 reports when no limit is set (the
// largest int64 rounded down to a page, whatever the page size) and far
// above any real one.
const noLimit = 1 << 62

// Set gives the runtime a soft limit below the container's memory limit,
// read from /sys/fs/cgroup, unless GOMEMLIMIT is set or there is no limit.
// It returns the limit set, 0 when it set none.
func Set() (int64, error) {
	soft, err := softLimit(os.Getenv("GOMEMLIMIT"), os.ReadFile, os.DirFS("/sys/fs/cgroup"))
	if soft > 0 {
		debug.SetMemoryLimit(soft)
	}
	return soft, err
}

// softLimit is the limit Set gives, from GOMEMLIMIT's value, a way to read
// /proc/self/cgroup and the cgroup file system.
func softLimit(gomemlimit string, readFile func(string) ([]byte, error), cgroup fs.FS) (int64, error) {
	if gomemlimit != "" {
		return 0, nil // the runtime has read it already
	}
	self, err := readFile("/proc/self/cgroup")
	if errors.Is(err, fs.ErrNotExist) {
		return 0, nil // not Linux, or no cgroups: no container limit to keep to
	}
	if err != nil {
		return 0, fmt.Errorf("reading the process's cgroup: %w", err)
	}
	v2, v1 := cgroupPaths(string(self))
	limit, err := containerLimit(cgroup, v2, v1)
	if err != nil || limit == 0 {
		return 0, err
	}
	headroom := max(limit/10, minHeadroom)
	if limit <= 2*headroom {
		return limit / 2, nil
	}
	return limit - headroom, nil
}

// cgroupPaths are the process's cgroup v2 path and its cgroup v1 memory
// controller's, from /proc/self/cgroup, as paths in the hierarchy's file
// system: "." for the root, which is what a container with a cgroup
// namespace of its own sees.
func cgroupPaths(procSelfCgroup string) (v2, v1 string) {
	v2, v1 = ".", "."
	for line := range strings.Lines(procSelfCgroup) {
		id, rest, _ := strings.Cut(strings.TrimSpace(line), ":")
		controllers, p, _ := strings.Cut(rest, ":")
		p = strings.TrimPrefix(path.Clean("/"+p), "/")
		if p == "" {
			p = "."
		}
		switch {
		case id == "0" && controllers == "":
			v2 = p
		case slices.Contains(strings.Split(controllers, ","), "memory"):
			v1 = p
		}
	}
	return v2, v1
}

// containerLimit is the lowest memory limit on the process's cgroup or any
// above it, cgroup v2's (memory.max) if any is set, else cgroup v1's; 0
// when there is none. A container that sees only its own cgroup finds its
// limit at the root.
func containerLimit(cgroup fs.FS, v2, v1 string) (int64, error) {
	limit, err := lowestLimit(cgroup, v2, "memory.max")
	if err != nil || limit > 0 {
		return limit, err
	}
	return lowestLimit(cgroup, path.Join("memory", v1), "memory.limit_in_bytes")
}

// lowestLimit is the lowest limit in the files named file in dir and every
// directory above it.
func lowestLimit(cgroup fs.FS, dir, file string) (int64, error) {
	var lowest int64
	for {
		limit, err := readLimit(cgroup, path.Join(dir, file))
		if err != nil {
			return 0, err
		}
		if limit > 0 && (lowest == 0 || limit < lowest) {
			lowest = limit
		}
		if dir == "." {
			return lowest, nil
		}
		dir = path.Dir(dir)
	}
}

// readLimit reads one limit file: 0 when it is absent or says there is no
// limit.
func readLimit(cgroup fs.FS, name string) (int64, error) {
	data, err := fs.ReadFile(cgroup, name)
	if errors.Is(err, fs.ErrNotExist) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("reading the memory limit in /sys/fs/cgroup/%s: %w", name, err)
	}
	v := strings.TrimSpace(string(data))
	if v == "max" {
		return 0, nil
	}
	limit, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("the memory limit in /sys/fs/cgroup/%s, %q: %w", name, v, err)
	}
	if limit >= noLimit {
		return 0, nil
	}
	return limit, nil
}
