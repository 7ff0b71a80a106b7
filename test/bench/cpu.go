package main

import (
	"bytes"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// clockTicks is USER_HZ, the unit of /proc's CPU times: 100 on every Linux
// architecture Go runs the bench on.
const clockTicks = 100

// cpuSample is the CPU time each of some processes, and the machine, had
// spent at one moment. The component and the API servers it talks to share
// the machine's cores, so what each spends over a phase shows which of them
// bounds the phase.
type cpuSample struct {
	at    time.Time
	procs map[string]float64 // name → CPU seconds
	busy  float64            // the machine's, CPU seconds over all its cores
}

// sampleCPU reads the CPU time of each named process and of the machine.
func sampleCPU(pids map[string]int) (cpuSample, error) {
	s := cpuSample{at: time.Now(), procs: map[string]float64{}}
	for name, pid := range pids {
		data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil {
			return s, fmt.Errorf("CPU time of %s: %w", name, err)
		}
		if s.procs[name], err = processCPU(data); err != nil {
			return s, fmt.Errorf("CPU time of %s, /proc/%d/stat: %w", name, pid, err)
		}
	}
	data, err := os.ReadFile("/proc/stat")
	if err != nil {
		return s, fmt.Errorf("the machine's CPU time: %w", err)
	}
	if s.busy, _, err = machineCPU(string(data)); err != nil {
		return s, fmt.Errorf("the machine's CPU time, /proc/stat: %w", err)
	}
	return s, nil
}

// coresUsed is what each process, and the machine as "machine", spent
// between a and b, in cores: CPU seconds per second.
func coresUsed(a, b cpuSample) map[string]float64 {
	wall := b.at.Sub(a.at).Seconds()
	out := map[string]float64{}
	if wall <= 0 {
		return out
	}
	for name, secs := range b.procs {
		out[name] = (secs - a.procs[name]) / wall
	}
	out["machine"] = (b.busy - a.busy) / wall
	return out
}

// processCPU is a process's user and system CPU time, in seconds, from its
// /proc/<pid>/stat.
func processCPU(stat []byte) (float64, error) {
	// The command name, in parentheses, may hold spaces and parentheses:
	// fields count from after its last closing one. utime and stime are
	// fields 14 and 15, the 12th and 13th after it.
	i := bytes.LastIndexByte(stat, ')')
	if i < 0 {
		return 0, errors.New("no command name")
	}
	fields := strings.Fields(string(stat[i+1:]))
	if len(fields) < 13 {
		return 0, errors.New("too few fields")
	}
	var ticks float64
	for _, f := range fields[11:13] {
		v, err := strconv.ParseFloat(f, 64)
		if err != nil {
			return 0, err
		}
		ticks += v
	}
	return ticks / clockTicks, nil
}

// machineCPU is the machine's busy CPU time, in seconds over all its
// cores, and how many cores it has, from /proc/stat: its first line sums
// every core (idle and iowait are not busy; steal is, as top counts it;
// guest time is already in user and nice), and each core has a line of
// its own.
func machineCPU(stat string) (busy float64, cores int, err error) {
	line, rest, _ := strings.Cut(stat, "\n")
	fields := strings.Fields(line)
	if len(fields) < 9 || fields[0] != "cpu" {
		return 0, 0, errors.New("no cpu line with 8 times")
	}
	for i, f := range fields[1:9] {
		v, err := strconv.ParseFloat(f, 64)
		if err != nil {
			return 0, 0, err
		}
		if i != 3 && i != 4 {
			busy += v
		}
	}
	for l := range strings.Lines(rest) {
		if name, _, _ := strings.Cut(l, " "); strings.HasPrefix(name, "cpu") && len(name) > 3 {
			cores++
		}
	}
	return busy / clockTicks, cores, nil
}

// machineCores is how many cores the machine has, all of them, not only
// those the bench may run on.
func machineCores() (int, error) {
	data, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, err
	}
	_, cores, err := machineCPU(string(data))
	return cores, err
}

// findProcess is the process whose command line has arg, exactly, among
// its arguments.
func findProcess(arg string) (int, error) {
	dirs, err := filepath.Glob("/proc/[0-9]*")
	if err != nil {
		return 0, err
	}
	for _, dir := range dirs {
		data, err := os.ReadFile(filepath.Join(dir, "cmdline"))
		if err != nil {
			continue // gone since the glob
		}
		for _, a := range bytes.Split(data, []byte{0}) {
			if string(a) == arg {
				return strconv.Atoi(filepath.Base(dir))
			}
		}
	}
	return 0, fmt.Errorf("no process has the argument %s", arg)
}

// meterCPU starts metering the CPU the component, named name, the API
// servers and the bench itself spend; the function it returns ends the
// phase and reports each one's, and the machine's, in cores.
func meterCPU(name string, proc *component, servers ...*apiServer) (func() (map[string]float64, error), error) {
	pids := map[string]int{name: proc.cmd.Process.Pid, "bench": os.Getpid()}
	for _, s := range servers {
		p, err := s.pids()
		if err != nil {
			return nil, err
		}
		maps.Copy(pids, p)
	}
	from, err := sampleCPU(pids)
	if err != nil {
		return nil, err
	}
	return func() (map[string]float64, error) {
		to, err := sampleCPU(pids)
		if err != nil {
			return nil, err
		}
		return coresUsed(from, to), nil
	}, nil
}
