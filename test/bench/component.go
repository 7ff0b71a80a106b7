package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// component is a Nestor process under measurement: the nestor binary's
// syncer or manager subcommand, run as the product runs it, so that its
// memory is its own.
type component struct {
	cmd     *exec.Cmd
	done    chan struct{}
	err     error
	Started time.Time
	metrics string
	http    *http.Client

	mu       sync.Mutex
	maxDepth map[string]float64
	// endSampling stops sampling the queue depths.
	endSampling context.CancelFunc
}

// startComponent runs binary with args, logging to logFile. It serves its
// metrics on a free loopback port, whose queue depths are sampled until
// endSampling or stop.
func startComponent(ctx context.Context, binary string, args, env []string, logFile string) (*component, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	log, err := os.Create(logFile)
	if err != nil {
		return nil, err
	}
	c := &component{
		cmd:      exec.Command(binary, append(args, fmt.Sprintf("--metrics-bind-address=127.0.0.1:%d", port))...),
		done:     make(chan struct{}),
		metrics:  fmt.Sprintf("http://127.0.0.1:%d/metrics", port),
		http:     &http.Client{Timeout: 5 * time.Second},
		maxDepth: map[string]float64{},
	}
	c.cmd.Stdout, c.cmd.Stderr = log, log
	// Go's default memory pacing, whatever memory limit the bench itself
	// runs under: nestor would otherwise keep to that (internal/memlimit).
	c.cmd.Env = append(append(os.Environ(), "GOMEMLIMIT=off"), env...)
	if err := c.cmd.Start(); err != nil {
		log.Close()
		return nil, fmt.Errorf("starting %s: %w", binary, err)
	}
	c.Started = time.Now()
	go func() {
		c.err = c.cmd.Wait()
		log.Close()
		close(c.done)
	}()
	sampling, stop := context.WithCancel(ctx)
	c.endSampling = stop
	go c.sampleDepths(sampling)
	return c, nil
}

// exited reports, without waiting, how the process ended if it did.
func (c *component) exited() error {
	select {
	case <-c.done:
		return fmt.Errorf("%s exited: %v (see its log)", c.cmd.Args[1], c.err)
	default:
		return nil
	}
}

// stop ends the process: SIGTERM, then SIGKILL if it lingers.
func (c *component) stop() {
	c.endSampling()
	_ = c.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-c.done:
		return
	case <-time.After(10 * time.Second):
	}
	_ = c.cmd.Process.Kill()
	<-c.done
}

// peakRSS is the process's resident set high-water mark (VmHWM), in bytes.
func (c *component) peakRSS() (float64, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", c.cmd.Process.Pid))
	if err != nil {
		return 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "VmHWM:"); ok {
			kib, err := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 64)
			return kib * 1024, err
		}
	}
	return 0, errors.New("no VmHWM in /proc/<pid>/status")
}

// queues scrapes the process's workqueue metrics.
func (c *component) queues() (queues, error) { return scrapeQueues(c.http, c.metrics) }

// sampleDepths scrapes the queue depths every second until ctx ends,
// keeping each queue's deepest.
func (c *component) sampleDepths(ctx context.Context) {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		q, err := c.queues()
		if err != nil {
			continue // not serving yet, or between restarts
		}
		c.mu.Lock()
		for name, depth := range q["workqueue_depth"] {
			c.maxDepth[name] = max(c.maxDepth[name], depth)
		}
		c.mu.Unlock()
	}
}

// depths returns the deepest each queue was.
func (c *component) depths() map[string]float64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make(map[string]float64, len(c.maxDepth))
	for k, v := range c.maxDepth {
		out[k] = v
	}
	return out
}

// idle waits until every queue of the process is empty, twice in a row a
// second apart, or until timeout.
func (c *component) idle(ctx context.Context, timeout time.Duration) {
	deadline := time.Now().Add(timeout)
	empty := 0
	for empty < 2 && time.Now().Before(deadline) {
		select {
		case <-ctx.Done():
			return
		case <-time.After(time.Second):
		}
		q, err := c.queues()
		if err != nil {
			empty = 0
			continue
		}
		total := 0.0
		for _, d := range q["workqueue_depth"] {
			total += d
		}
		if total == 0 {
			empty++
		} else {
			empty = 0
		}
	}
}

// idleThenStop watches proc do nothing for -idle, then reads its peak
// RSS, which only a live process has, and stops it.
func (b *bench) idleThenStop(ctx context.Context, proc *component) (window, float64, error) {
	w := window{From: time.Now()}
	select {
	case <-ctx.Done():
		return w, 0, ctx.Err()
	case <-time.After(b.flags.idle):
	}
	w.To = time.Now()
	if err := proc.exited(); err != nil {
		return w, 0, err
	}
	rss, err := proc.peakRSS()
	proc.stop()
	return w, rss, err
}

// freePort asks the kernel for a free loopback port.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}
