package memlimit

import (
	"fmt"
	"io/fs"
	"testing"
	"testing/fstest"
)

// line is a cgroup file holding value.
func line(value string) *fstest.MapFile { return &fstest.MapFile{Data: []byte(value + "\n")} }

func TestContainerLimit(t *testing.T) {
	for _, tc := range []struct {
		name    string
		v2, v1  string
		files   fstest.MapFS
		want    int64
		wantErr bool
	}{
		{"cgroup v2 limit", ".", ".", fstest.MapFS{"memory.max": line("536870912")}, 536870912, false},
		{"cgroup v2 without a limit", ".", ".", fstest.MapFS{"memory.max": line("max")}, 0, false},
		{"cgroup v1 limit", ".", ".", fstest.MapFS{"memory/memory.limit_in_bytes": line("268435456")}, 268435456, false},
		{"cgroup v1 without a limit", ".", ".", fstest.MapFS{"memory/memory.limit_in_bytes": line("9223372036854771712")}, 0, false},
		{"v2 wins over v1", ".", ".", fstest.MapFS{
			"memory.max":                   line("1048576"),
			"memory/memory.limit_in_bytes": line("2097152"),
		}, 1048576, false},
		{"own cgroup's limit", "kubepods/pod1/c1", ".", fstest.MapFS{
			"kubepods/pod1/c1/memory.max": line("1048576"),
			"kubepods/pod1/memory.max":    line("max"),
		}, 1048576, false},
		{"a parent's lower limit", "kubepods/pod1/c1", ".", fstest.MapFS{
			"kubepods/pod1/c1/memory.max": line("max"),
			"kubepods/pod1/memory.max":    line("2097152"),
			"kubepods/memory.max":         line("4194304"),
		}, 2097152, false},
		{"cgroup v1, own cgroup", ".", "process_api/abc", fstest.MapFS{
			"memory/memory.limit_in_bytes":                 line("9223372036854771712"),
			"memory/process_api/abc/memory.limit_in_bytes": line("3145728"),
		}, 3145728, false},
		{"cgroup v1, a container's own at the root", ".", "kubepods/pod1/c1", fstest.MapFS{
			"memory/memory.limit_in_bytes": line("3145728"),
		}, 3145728, false},
		{"a parent's limit below its child's", "kubepods/pod1/c1", ".", fstest.MapFS{
			"kubepods/pod1/c1/memory.max": line("4194304"),
			"kubepods/pod1/memory.max":    line("2097152"),
		}, 2097152, false},
		{"cgroup v1 without a limit, 64 KiB pages", ".", ".", fstest.MapFS{
			"memory/memory.limit_in_bytes": line("9223372036854710272"),
		}, 0, false},
		{"no cgroup files", ".", ".", fstest.MapFS{}, 0, false},
		{"garbage", ".", ".", fstest.MapFS{"memory.max": line("lots")}, 0, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := containerLimit(tc.files, tc.v2, tc.v1)
			if (err != nil) != tc.wantErr {
				t.Fatalf("err = %v, want an error: %t", err, tc.wantErr)
			}
			if got != tc.want {
				t.Errorf("limit = %d, want %d", got, tc.want)
			}
		})
	}
}

func TestCgroupPaths(t *testing.T) {
	for _, tc := range []struct{ in, v2, v1 string }{
		{"0::/\n", ".", "."},
		{"0::/kubepods/burstable/pod1/abc\n", "kubepods/burstable/pod1/abc", "."},
		{"9:name=systemd:/\n4:memory:/process_api/abc\n1:cpu:/\n0::/\n", ".", "process_api/abc"},
		{"5:cpu,memory:/docker/abc\n", ".", "docker/abc"},
		{"", ".", "."},
	} {
		if v2, v1 := cgroupPaths(tc.in); v2 != tc.v2 || v1 != tc.v1 {
			t.Errorf("cgroupPaths(%q) = %q, %q; want %q, %q", tc.in, v2, v1, tc.v2, tc.v1)
		}
	}
}

func TestSoftLimit(t *testing.T) {
	const mib = 1 << 20
	self := func(text string) func(string) ([]byte, error) {
		return func(name string) ([]byte, error) {
			if name != "/proc/self/cgroup" {
				t.Errorf("read %s, want /proc/self/cgroup", name)
			}
			return []byte(text), nil
		}
	}
	limited := func(bytes int64) fstest.MapFS {
		return fstest.MapFS{"kubepods/c1/memory.max": line(fmt.Sprint(bytes))}
	}
	for _, tc := range []struct {
		name       string
		gomemlimit string
		readFile   func(string) ([]byte, error)
		cgroup     fstest.MapFS
		want       int64
		wantErr    bool
	}{
		{"a tenth left free", "", self("0::/kubepods/c1\n"), limited(2048 * mib), 2048*mib - 2048*mib/10, false},
		{"at least 64 MiB left free", "", self("0::/kubepods/c1\n"), limited(512 * mib), 448 * mib, false},
		{"half of a small limit", "", self("0::/kubepods/c1\n"), limited(100 * mib), 50 * mib, false},
		{"GOMEMLIMIT wins", "300MiB", self("0::/kubepods/c1\n"), limited(512 * mib), 0, false},
		{"no limit", "", self("0::/kubepods/c1\n"), fstest.MapFS{}, 0, false},
		{"no cgroups", "", func(string) ([]byte, error) { return nil, fs.ErrNotExist }, limited(512 * mib), 0, false},
		{"unreadable cgroup", "", func(string) ([]byte, error) { return nil, fs.ErrPermission }, limited(512 * mib), 0, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := softLimit(tc.gomemlimit, tc.readFile, tc.cgroup)
			if (err != nil) != tc.wantErr {
				t.Fatalf("err = %v, want an error: %t", err, tc.wantErr)
			}
			if got != tc.want {
				t.Errorf("soft limit = %d MiB, want %d MiB", got/mib, tc.want/mib)
			}
		})
	}
}
