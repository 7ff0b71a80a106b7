package memlimit

import (
	"testing"
	"testing/fstest"
)

func TestContainerLimit(t *testing.T) {
	for _, tc := range []struct {
		name    string
		v2, v1  string
		files   fstest.MapFS
		want    int64
		wantErr bool
	}{
		{"cgroup v2 limit", ".", ".", fstest.MapFS{"memory.max": {Data: []byte("536870912\n")}}, 536870912, false},
		{"cgroup v2 without a limit", ".", ".", fstest.MapFS{"memory.max": {Data: []byte("max\n")}}, 0, false},
		{"cgroup v1 limit", ".", ".", fstest.MapFS{"memory/memory.limit_in_bytes": {Data: []byte("268435456\n")}}, 268435456, false},
		{"cgroup v1 without a limit", ".", ".", fstest.MapFS{"memory/memory.limit_in_bytes": {Data: []byte("9223372036854771712\n")}}, 0, false},
		{"v2 wins over v1", ".", ".", fstest.MapFS{
			"memory.max":                   {Data: []byte("1048576\n")},
			"memory/memory.limit_in_bytes": {Data: []byte("2097152\n")},
		}, 1048576, false},
		{"own cgroup's limit", "kubepods/pod1/c1", ".", fstest.MapFS{
			"kubepods/pod1/c1/memory.max": {Data: []byte("1048576\n")},
			"kubepods/pod1/memory.max":    {Data: []byte("max\n")},
		}, 1048576, false},
		{"a parent's lower limit", "kubepods/pod1/c1", ".", fstest.MapFS{
			"kubepods/pod1/c1/memory.max": {Data: []byte("max\n")},
			"kubepods/pod1/memory.max":    {Data: []byte("2097152\n")},
			"kubepods/memory.max":         {Data: []byte("4194304\n")},
		}, 2097152, false},
		{"cgroup v1, own cgroup", ".", "process_api/abc", fstest.MapFS{
			"memory/memory.limit_in_bytes":                 {Data: []byte("9223372036854771712\n")},
			"memory/process_api/abc/memory.limit_in_bytes": {Data: []byte("3145728\n")},
		}, 3145728, false},
		{"cgroup v1, a container's own at the root", ".", "kubepods/pod1/c1", fstest.MapFS{
			"memory/memory.limit_in_bytes": {Data: []byte("3145728\n")},
		}, 3145728, false},
		{"no cgroup files", ".", ".", fstest.MapFS{}, 0, false},
		{"garbage", ".", ".", fstest.MapFS{"memory.max": {Data: []byte("lots\n")}}, 0, true},
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

func TestGOMEMLIMITWins(t *testing.T) {
	t.Setenv("GOMEMLIMIT", "100MiB")
	if got, err := Set(); got != 0 || err != nil {
		t.Errorf("Set with GOMEMLIMIT = %d, %v; want it left alone", got, err)
	}
}
