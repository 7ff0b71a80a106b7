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
	// A spinning process on a machine of several cores gets most of one;
	// a sleeping one none, to the tick.
	if cores["spin"] < 0.3 || cores["spin"] > 1.1 {
		t.Errorf("the spinning process used %.2f cores, want about 1", cores["spin"])
	}
	if cores["sleep"] > 0.02 {
		t.Errorf("the sleeping process used %.2f cores, want 0", cores["sleep"])
	}
	if cores["machine"] < cores["spin"]-0.1 {
		t.Errorf("the machine used %.2f cores, less than the spinning process's %.2f", cores["machine"], cores["spin"])
	}
}

func TestCoresUsedOverNoTime(t *testing.T) {
	s := cpuSample{at: time.Now(), procs: map[string]float64{"p": 1}}
	if got := coresUsed(s, s); len(got) != 0 {
		t.Errorf("coresUsed over no time = %v, want nothing", got)
	}
	later := cpuSample{at: s.at.Add(2 * time.Second), procs: map[string]float64{"p": 2}}
	if got := coresUsed(s, later)["p"]; math.Abs(got-0.5) > 1e-9 {
		t.Errorf("1 CPU second in 2 s = %v cores, want 0.5", got)
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
