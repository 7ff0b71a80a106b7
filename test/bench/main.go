// Command bench measures Nestor's syncer and operator against real API
// servers it starts from the envtest binaries, and compares each figure
// with what the host API server itself takes. `make bench` runs it;
// docs/bench.md says what each figure means.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"go.uber.org/zap/zapcore"
	logf "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
)

// flags are the bench's knobs.
type flags struct {
	pods, vcs, scale int
	rawObjects       int
	concurrency      []int
	idle             time.Duration
	statusSamples    int
	statusTimeout    time.Duration
	timeout          time.Duration
	scenarios        map[string]bool
	out, nestor, dir string
	keep             bool
	// syncerFlags and operatorFlags are added to the components' own.
	syncerFlags, operatorFlags []string
	// values are every flag's, for the report.
	values map[string]string
}

// scenarioNames are the scenarios, in the order they run.
var scenarioNames = []string{"limit", "syncer", "operator", "growth"}

func parseFlags(args []string) (flags, error) {
	var f flags
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.IntVar(&f.pods, "pods", 2000, "pods the syncer scenario syncs, each with a secret and a configMap of its own")
	fs.IntVar(&f.vcs, "vcs", 200, "VirtualClusters the operator scenario brings up")
	fs.IntVar(&f.scale, "scale", 4, "the growth scenario runs the syncer and the operator again at this many times -pods and -vcs")
	fs.IntVar(&f.rawObjects, "raw-objects", 1000, "pods the limit scenario writes per client and verb")
	concurrency := fs.String("concurrency", "1,8,32,0", "concurrencies of the limit scenario, comma-separated; 0 sends every request at once")
	fs.DurationVar(&f.idle, "idle", time.Minute, "how long each component is watched doing nothing after its work")
	fs.IntVar(&f.statusSamples, "status-samples", 200, "host pod status changes timed until the virtual pod shows them")
	fs.DurationVar(&f.statusTimeout, "status-timeout", 10*time.Second, "how long a status change may take to show before it counts as lost")
	fs.DurationVar(&f.timeout, "timeout", 30*time.Minute, "how long a component may take to finish its work")
	scenarios := fs.String("scenarios", strings.Join(scenarioNames, ","), "scenarios to run, comma-separated")
	fs.StringVar(&f.out, "out", "bench.json", "file the report is written to, as JSON")
	fs.StringVar(&f.nestor, "nestor", "", "nestor binary to measure; built from ./cmd when empty")
	fs.StringVar(&f.dir, "dir", "", "directory of the API servers' and components' files and logs; a temporary one, removed after a run without errors, when empty")
	fs.BoolVar(&f.keep, "keep", false, "keep -dir's files after the run")
	syncerFlags := fs.String("syncer-flags", "", "flags added to `nestor syncer`'s, space-separated, such as \"--workers=1\"")
	operatorFlags := fs.String("operator-flags", "", "flags added to `nestor manager`'s, space-separated")
	if err := fs.Parse(args); err != nil {
		return f, err
	}
	f.values = map[string]string{}
	fs.VisitAll(func(fl *flag.Flag) { f.values[fl.Name] = fl.Value.String() })
	for _, s := range strings.Split(*concurrency, ",") {
		c, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || c < 0 {
			return f, fmt.Errorf("-concurrency: %q is not a concurrency", s)
		}
		f.concurrency = append(f.concurrency, c)
	}
	f.syncerFlags, f.operatorFlags = strings.Fields(*syncerFlags), strings.Fields(*operatorFlags)
	f.scenarios = map[string]bool{}
	for _, s := range strings.Split(*scenarios, ",") {
		s = strings.TrimSpace(s)
		if !slices.Contains(scenarioNames, s) {
			return f, fmt.Errorf("-scenarios: no scenario %q (there are %s)", s, strings.Join(scenarioNames, ", "))
		}
		f.scenarios[s] = true
	}
	if f.pods < 1 || f.vcs < 1 || f.rawObjects < 1 || f.statusSamples < 1 || f.scale < 1 {
		return f, errors.New("-pods, -vcs, -raw-objects, -status-samples and -scale must be at least 1")
	}
	return f, nil
}

// bench is one run.
type bench struct {
	flags  flags
	report report
	// root is the module's directory: the CRDs and the operator's role
	// are read from it, and nestor is built in it.
	root, dir, nestor string
	log               io.Writer
}

func main() {
	if err := run(os.Args[1:]); err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(os.Stderr, "bench:", err)
		}
		os.Exit(1)
	}
}

func run(args []string) error {
	f, err := parseFlags(args)
	if err != nil {
		return err
	}
	cores, err := machineCores()
	if err != nil {
		return fmt.Errorf("counting the machine's cores: %w", err)
	}
	b := &bench{flags: f, log: os.Stderr, report: report{Started: time.Now().UTC(), CPUs: cores, Flags: f.values}}
	if b.root, err = moduleRoot(); err != nil {
		return err
	}
	if b.dir = f.dir; b.dir == "" {
		if b.dir, err = os.MkdirTemp("", "nestor-bench-"); err != nil {
			return err
		}
	}
	b.logf("files and logs in %s", b.dir)
	if b.nestor = f.nestor; b.nestor == "" {
		b.nestor = filepath.Join(b.dir, "nestor")
		b.logf("building %s", b.nestor)
		build := exec.Command("go", "build", "-o", b.nestor, "./cmd")
		build.Dir, build.Stdout, build.Stderr = b.root, os.Stderr, os.Stderr
		if err := build.Run(); err != nil {
			return fmt.Errorf("building nestor: %w", err)
		}
	}
	// envtest and the clients log through controller-runtime: errors only,
	// the figures are the output.
	logf.SetLogger(zap.New(zap.WriteTo(os.Stderr), zap.Level(zapcore.ErrorLevel)))
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	b.runScenarios(ctx)

	if err := b.report.writeTable(os.Stdout); err != nil {
		return err
	}
	if err := b.report.writeJSON(f.out); err != nil {
		return err
	}
	b.logf("report written to %s", f.out)
	if len(b.report.Errors) > 0 {
		b.logf("files and logs kept in %s", b.dir)
		return fmt.Errorf("%d scenarios failed", len(b.report.Errors))
	}
	if !f.keep && f.dir == "" {
		return os.RemoveAll(b.dir)
	}
	return nil
}

// runScenarios runs the chosen scenarios in order; a failed one is
// reported and the rest still run.
func (b *bench) runScenarios(ctx context.Context) {
	fail := func(scenario string, err error) {
		b.logf("%s: %v", scenario, err)
		b.report.Errors = append(b.report.Errors, scenario+": "+err.Error())
	}
	if b.flags.scenarios["limit"] {
		if err := b.limit(ctx); err != nil {
			fail(limitScenario, err)
		}
	}
	var small, large *syncerRun
	var smallOp, largeOp *operatorRun
	syncerAt := func(scenario string, pods int) *syncerRun {
		return measure(scenario, func() (*syncerRun, error) { return b.syncer(ctx, scenario, pods) }, b.syncerFigures, fail)
	}
	operatorAt := func(scenario string, vcs int) *operatorRun {
		return measure(scenario, func() (*operatorRun, error) { return b.operator(ctx, scenario, vcs) }, b.operatorFigures, fail)
	}
	n, m := b.flags.pods, b.flags.vcs
	if b.flags.scenarios["syncer"] {
		small = syncerAt(fmt.Sprintf("2 syncer N=%d", n), n)
	}
	if b.flags.scenarios["operator"] {
		smallOp = operatorAt(fmt.Sprintf("3 operator M=%d", m), m)
	}
	if b.flags.scenarios["growth"] && b.flags.scale > 1 {
		large = syncerAt(fmt.Sprintf("4 syncer N=%d", n*b.flags.scale), n*b.flags.scale)
		largeOp = operatorAt(fmt.Sprintf("4 operator M=%d", m*b.flags.scale), m*b.flags.scale)
		b.growthFigures(small, large, smallOp, largeOp)
	}
}

// measure runs a scenario and reports its figures, or its failure.
func measure[R any](scenario string, run func() (*R, error), figures func(string, *R), fail func(string, error)) *R {
	r, err := run()
	if err != nil {
		fail(scenario, err)
		return nil
	}
	figures(scenario, r)
	return r
}

func (b *bench) logf(format string, args ...any) {
	fmt.Fprintf(b.log, "%s "+format+"\n", append([]any{time.Now().Format("15:04:05")}, args...)...)
}

// stop stops API servers, logging what fails: the figures are taken.
func (b *bench) stop(servers ...*apiServer) {
	if err := stopAll(servers...); err != nil {
		b.logf("stopping API servers: %v", err)
	}
}

// moduleRoot is the nearest directory above the working directory whose
// go.mod is Nestor's.
func moduleRoot() (string, error) {
	wd, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for dir := wd; ; dir = filepath.Dir(dir) {
		if data, err := os.ReadFile(filepath.Join(dir, "go.mod")); err == nil && strings.HasPrefix(string(data), "module github.com/nestor-dev/nestor\n") {
			return dir, nil
		}
		if filepath.Dir(dir) == dir {
			return "", errors.New("run the bench inside Nestor's repository: no go.mod of github.com/nestor-dev/nestor above the working directory")
		}
	}
}
