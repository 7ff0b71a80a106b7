// Package memlimit gives the Go runtime a soft memory limit below the
// container's, so that the garbage collector works harder as memory nears
// the limit instead of letting the heap grow to twice what is live (the
// default pacing) and the container be killed for it.
package memlimit

import (
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"path"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
)

// Share is the part of the container's limit given to the Go runtime: the
// rest is for what the runtime does not count, such as the binary's pages.
const Share = 0.9

// unlimited is at or above what cgroup v1 reports when no limit is set
// (the largest page-aligned int64).
const unlimited = math.MaxInt64 &^ (1<<12 - 1)

// Set gives the runtime Share of the container's memory limit, read from
// /sys/fs/cgroup, unless GOMEMLIMIT says otherwise or there is no limit. It
// returns the limit set, 0 when it set none.
func Set() (int64, error) {
	if os.Getenv("GOMEMLIMIT") != "" {
		return 0, nil
	}
	self, err := os.ReadFile("/proc/self/cgroup")
	if err != nil {
		return 0, fmt.Errorf("reading the process's cgroup: %w", err)
	}
	v2, v1 := cgroupPaths(string(self))
	limit, err := containerLimit(os.DirFS("/sys/fs/cgroup"), v2, v1)
	if err != nil || limit == 0 {
		return 0, err
	}
	soft := int64(float64(limit) * Share)
	debug.SetMemoryLimit(soft)
	return soft, nil
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
		return 0, fmt.Errorf("reading the memory limit: %w", err)
	}
	v := strings.TrimSpace(string(data))
	if v == "max" {
		return 0, nil
	}
	limit, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("the memory limit in %s, %q: %w", name, v, err)
	}
	if limit >= unlimited {
		return 0, nil
	}
	return limit, nil
}
