package main

import (
	"math"
	"os"
	"os/exec"
	"testing"
	"time"
)

// TestCPUMeterSeesABusyProcess runs a process that spins for a while
// beside one that sleeps, and meters both and the machine.
func TestCPUMeterSeesABusyProcess(t *testing.T) {
	spin := exec.Command("sh", "-c", "while :; do :; done")
	sleep := exec.Command("sleep", "30")
	for _, c := range []*exec.Cmd{spin, sleep} {
		if err := c.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = c.Process.Kill(); _ = c.Wait() })
	}
	pids := map[string]int{"spin": spin.Process.Pid, "sleep": sleep.Process.Pid, "bench": os.Getpid()}
	from, err := sampleCPU(pids)
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(time.Second)
	to, err := sampleCPU(pids)
	if err != nil {
		t.Fatal(err)
	}
	cores := coresUsed(from, to)
	// A spinning process gets at most one core, and some of one even on a
	// machine that make test keeps busy; a sleeping one none, to the tick.
	if cores["spin"] < 0.05 || cores["spin"] > 1.1 {
		t.Errorf("the spinning process used %.2f cores, want some of one and no more", cores["spin"])
	}
	if cores["sleep"] > 0.02 {
		t.Errorf("the sleeping process used %.2f cores, want 0", cores["sleep"])
	}
	n, err := machineCores()
	if err != nil {
		t.Fatal(err)
	}
	if cores["machine"] < cores["spin"]-0.1 || cores["machine"] > float64(n)+0.1 {
		t.Errorf("the machine used %.2f cores, want between the spinning process's %.2f and all its %d", cores["machine"], cores["spin"], n)
	}
}

func TestCoresUsedOverNoTime(t *testing.T) {
	s := cpuSample{at: time.Now(), procs: map[string]float64{"p": 1}}
	if got := coresUsed(s, s); len(got) != 0 {
		t.Errorf("coresUsed over no time = %v, want nothing", got)
	}
	later := cpuSample{at: s.at.Add(2 * time.Second), procs: map[string]float64{"p": 2}, busy: 3}
	got := coresUsed(s, later)
	if math.Abs(got["p"]-0.5) > 1e-9 || math.Abs(got["machine"]-1.5) > 1e-9 {
		t.Errorf("1 and 3 CPU seconds in 2 s = %v, want p 0.5 and machine 1.5 cores", got)
	}
}

func TestProcessCPUReadsUtimeAndStime(t *testing.T) {
	// pid (comm) state ppid pgrp session tty tpgid flags minflt cminflt
	// majflt cmajflt utime stime cutime cstime ...: the command name holds
	// a space and a parenthesis, and the children's times must not count.
	stat := "123 (a b) c) S 1 123 123 0 -1 4194560 10 20 30 40 250 150 7000 8000 20 0 1 0"
	got, err := processCPU([]byte(stat))
	if err != nil {
		t.Fatal(err)
	}
	if got != 4 {
		t.Errorf("processCPU = %v s, want 4 (250 + 150 ticks)", got)
	}
	for _, bad := range []string{"123 no parenthesis", "123 (short) S 1 2 3", "123 (x) S 1 123 123 0 -1 0 0 0 0 0 many 1"} {
		if _, err := processCPU([]byte(bad)); err == nil {
			t.Errorf("processCPU(%q) took it", bad)
		}
	}
}

func TestMachineCPUCountsBusyTimeOnce(t *testing.T) {
	// user nice system idle iowait irq softirq steal guest guest_nice
	stat := "cpu  100 20 30 5000 400 5 6 7 900 90\n" +
		"cpu0 50 10 15 2500 200 2 3 3 450 45\n" +
		"cpu1 50 10 15 2500 200 3 3 4 450 45\n" +
		"intr 12345\nctxt 678\n"
	busy, cores, err := machineCPU(stat)
	if err != nil {
		t.Fatal(err)
	}
	// user+nice+system+irq+softirq+steal; idle and iowait are not busy,
	// and guest time is already in user and nice.
	if want := (100 + 20 + 30 + 5 + 6 + 7) / 100.0; math.Abs(busy-want) > 1e-9 {
		t.Errorf("busy = %v s, want %v", busy, want)
	}
	if cores != 2 {
		t.Errorf("cores = %d, want 2", cores)
	}
	if _, _, err := machineCPU("intr 1\n"); err == nil {
		t.Error("machineCPU took a /proc/stat without its cpu line")
	}
}

func TestFindProcessByArgument(t *testing.T) {
	arg := "--bench-marker=" + t.Name()
	// sh keeps the argument in its own command line, as $1.
	c := exec.Command("sh", "-c", "sleep 30; :", "sh", arg)
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Process.Kill(); _ = c.Wait() })
	pid, err := findProcess(arg)
	if err != nil {
		t.Fatal(err)
	}
	if pid != c.Process.Pid {
		t.Errorf("findProcess(%q) = %d, want %d", arg, pid, c.Process.Pid)
	}
	if _, err := findProcess("--no-such-argument-anywhere=" + t.Name()); err == nil {
		t.Error("findProcess found an argument no process has")
	}
}
