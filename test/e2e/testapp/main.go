// Command testapp is the one program in the end-to-end suite's workload
// images (docs/e2e.md): static, so an image needs nothing else.
//
//	testapp pause                   sleep until signalled (the pod sandbox image)
//	testapp serve ADDR FILE         answer GET / with FILE's contents, $GREETING and $TOKEN
//	testapp get URL WANT TIMEOUT    GET URL until the body contains WANT, print it
//	testapp tick                    print "tick N" twice a second, until signalled
//	testapp crash MESSAGE MARKER    print MESSAGE and exit 1, unless file MARKER exists: then run until signalled
//	testapp tty                     say whether stdin is a terminal, then echo its lines until "exit"
//	testapp resolve NAME WANT TIMEOUT
//	                                look NAME up until its addresses hold WANT, print them;
//	                                WANT "-" says NAME must not exist
//	testapp pods NAMESPACE          list NAMESPACE's pods through the in-cluster config, print and keep their names
package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"slices"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
)

func main() {
	if len(os.Args) < 2 {
		usage()
	}
	switch args := os.Args[2:]; os.Args[1] {
	case "pause":
		ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
		defer stop()
		<-ctx.Done()
	case "serve":
		if len(args) != 2 {
			usage()
		}
		serve(args[0], args[1])
	case "get":
		if len(args) != 3 {
			usage()
		}
		get(args[0], args[1], duration(args[2]))
	case "resolve":
		if len(args) != 3 {
			usage()
		}
		resolve(args[0], args[1], duration(args[2]))
	case "tick":
		for i := 1; ; i++ {
			fmt.Printf("tick %d\n", i)
			time.Sleep(500 * time.Millisecond)
		}
	case "crash":
		if len(args) != 2 {
			usage()
		}
		// Once: a second start finds the marker and keeps running, so that
		// the crashed container stays the previous one.
		if _, err := os.Stat(args[1]); err == nil {
			fmt.Println("running again")
			ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
			defer stop()
			<-ctx.Done()
			return
		}
		if err := os.WriteFile(args[1], nil, 0o644); err != nil {
			fail(err)
		}
		fmt.Println(args[0])
		os.Exit(1)
	case "tty":
		echo()
	case "pods":
		if len(args) != 1 {
			usage()
		}
		pods(args[0])
	default:
		usage()
	}
}

// echo tells a terminal on stdin apart (kubectl exec -t), then repeats
// each line it reads.
func echo() {
	_, err := unix.IoctlGetTermios(int(os.Stdin.Fd()), unix.TCGETS)
	fmt.Printf("tty=%t\n", err == nil)
	lines := bufio.NewScanner(os.Stdin)
	for lines.Scan() {
		line := strings.TrimSpace(lines.Text())
		if line == "exit" {
			return
		}
		fmt.Printf("echo: %s\n", line)
	}
}

// pods lists the pods of namespace as an in-cluster client does: the
// API server of KUBERNETES_SERVICE_HOST and _PORT, the mounted token and
// CA. The names go to the termination message too, which the pod's status
// carries.
func pods(namespace string) {
	cfg, err := rest.InClusterConfig()
	if err != nil {
		fail(err)
	}
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		fail(err)
	}
	list, err := cs.CoreV1().Pods(namespace).List(context.Background(), metav1.ListOptions{})
	if err != nil {
		fail(fmt.Errorf("listing pods at %s: %w", cfg.Host, err))
	}
	names := make([]string, 0, len(list.Items))
	for _, p := range list.Items {
		names = append(names, p.Name)
	}
	out := "pods: " + strings.Join(names, " ")
	fmt.Println(out)
	if err := os.WriteFile("/dev/termination-log", []byte(out), 0o644); err != nil {
		fail(err)
	}
}

func serve(addr, file string) {
	http.HandleFunc("/", func(w http.ResponseWriter, _ *http.Request) {
		data, err := os.ReadFile(file)
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		host, _ := os.Hostname()
		fmt.Fprintf(w, "file=%s env=%s token=%s host=%s\n", strings.TrimSpace(string(data)), os.Getenv("GREETING"), os.Getenv("TOKEN"), host)
	})
	srv := &http.Server{Addr: addr, ReadHeaderTimeout: 5 * time.Second}
	go func() {
		ch := make(chan os.Signal, 1)
		signal.Notify(ch, syscall.SIGTERM, syscall.SIGINT)
		<-ch
		_ = srv.Close()
	}()
	if err := srv.ListenAndServe(); err != nil && err != http.ErrServerClosed {
		fail(err)
	}
}

// get retries until the answer is what the test wants: the Service may not
// route to the pods yet when the client starts.
func get(url, want string, timeout time.Duration) {
	c := &http.Client{Timeout: 3 * time.Second}
	deadline := time.Now().Add(timeout)
	for {
		body, err := fetch(c, url)
		if err == nil && strings.Contains(body, want) {
			fmt.Print(body)
			return
		}
		if time.Now().After(deadline) {
			fail(fmt.Errorf("GET %s: want a body with %q; last: %q, %v", url, want, body, err))
		}
		time.Sleep(time.Second)
	}
}

// resolve looks name up through the pod's resolver (its search path too)
// until the answer is what the test wants: an address, or that there is no
// such name.
func resolve(name, want string, timeout time.Duration) {
	deadline := time.Now().Add(timeout)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		addrs, err := net.DefaultResolver.LookupHost(ctx, name)
		cancel()
		var dnsErr *net.DNSError
		switch {
		case want == "-" && errors.As(err, &dnsErr) && dnsErr.IsNotFound:
			fmt.Printf("%s: no such name\n", name)
			return
		case want != "-" && err == nil && slices.Contains(addrs, want):
			fmt.Printf("%s: %v\n", name, addrs)
			return
		}
		if time.Now().After(deadline) {
			fail(fmt.Errorf("looking up %s: want %q; last: %v, %v", name, want, addrs, err))
		}
		time.Sleep(time.Second)
	}
}

func fetch(c *http.Client, url string) (string, error) {
	resp, err := c.Get(url)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return string(b), fmt.Errorf("status %s", resp.Status)
	}
	return string(b), err
}

func duration(s string) time.Duration {
	d, err := time.ParseDuration(s)
	if err != nil {
		fail(err)
	}
	return d
}

func usage() {
	fmt.Fprintln(os.Stderr, "usage: testapp pause | serve ADDR FILE | get URL WANT TIMEOUT | resolve NAME WANT TIMEOUT | pods NAMESPACE | tick | crash MESSAGE MARKER | tty")
	os.Exit(2)
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "testapp:", err)
	os.Exit(1)
}
