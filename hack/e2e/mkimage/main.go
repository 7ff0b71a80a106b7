// Command mkimage packs static binaries into a single-layer image tarball in
// the `docker save` layout, which `ctr images import` loads: the end-to-end
// node has no registry and no Docker engine, and every image it runs is made
// this way from binaries built here (docs/e2e.md).
//
//	mkimage -o etcd.tar -tag registry.k8s.io/etcd:3.7.0 \
//	    -entrypoint /usr/local/bin/etcd bin/k8s/.../etcd=/usr/local/bin/etcd
package main

import (
	"archive/tar"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path"
	"runtime"
	"sort"
	"strings"
	"time"
)

type list []string

func (l *list) String() string     { return strings.Join(*l, ",") }
func (l *list) Set(v string) error { *l = append(*l, v); return nil }

func main() {
	var tags, entrypoint, cmd, links list
	out := flag.String("o", "", "the image tarball to write")
	user := flag.String("user", "", "the image's numeric user, such as 65532 (an image of one binary has no user database)")
	flag.Var(&tags, "tag", "a reference the image is known by (repeatable)")
	flag.Var(&entrypoint, "entrypoint", "one word of the entrypoint (repeatable)")
	flag.Var(&cmd, "cmd", "one word of the default arguments to the entrypoint (repeatable)")
	flag.Var(&links, "link", "a symbolic link, DEST=TARGET, such as /bin/sh=busybox (repeatable)")
	flag.Usage = func() {
		fmt.Fprintln(os.Stderr, "usage: mkimage -o FILE -tag REF [-entrypoint WORD]... [-cmd WORD]... [-user UID] [-link DEST=TARGET]... SRC=DEST...")
		flag.PrintDefaults()
	}
	flag.Parse()
	if *out == "" || len(tags) == 0 || flag.NArg() == 0 {
		flag.Usage()
		os.Exit(2)
	}
	if err := write(*out, tags, entrypoint, cmd, *user, flag.Args(), links); err != nil {
		fmt.Fprintln(os.Stderr, "mkimage:", err)
		os.Exit(1)
	}
}

func write(out string, tags, entrypoint, cmd []string, user string, files, links []string) error {
	layer, err := layerOf(files, links)
	if err != nil {
		return err
	}
	layerSum := sha256.Sum256(layer)
	config, err := json.Marshal(map[string]any{
		"architecture": runtime.GOARCH, // the binaries are built for this machine
		"os":           "linux",
		"config": map[string]any{
			"Entrypoint": entrypoint,
			"Cmd":        cmd,
			"User":       user,
			"Env":        []string{"PATH=/usr/local/bin:/usr/bin:/bin"},
		},
		"rootfs": map[string]any{"type": "layers", "diff_ids": []string{"sha256:" + hex.EncodeToString(layerSum[:])}},
	})
	if err != nil {
		return err
	}
	configSum := sha256.Sum256(config)
	configName := hex.EncodeToString(configSum[:]) + ".json"
	layerName := hex.EncodeToString(layerSum[:]) + "/layer.tar"
	manifest, err := json.Marshal([]map[string]any{{"Config": configName, "RepoTags": tags, "Layers": []string{layerName}}})
	if err != nil {
		return err
	}

	f, err := os.Create(out)
	if err != nil {
		return err
	}
	tw := tar.NewWriter(f)
	for _, e := range []struct {
		name string
		data []byte
	}{{configName, config}, {layerName, layer}, {"manifest.json", manifest}} {
		if err := add(tw, e.name, e.data, 0o644); err != nil {
			f.Close()
			return err
		}
	}
	if err := tw.Close(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// layerOf is a tar of the files, SRC=DEST each, and the symbolic links,
// DEST=TARGET each (a busybox's applets), with their parent directories, in
// a fixed order and with fixed times so the same binaries give the same
// image.
func layerOf(files, links []string) ([]byte, error) {
	dirs := map[string]bool{"tmp": true}
	// entry is a file to copy (from is its source) or a link (from is its target).
	type entry struct{ from, dest string }
	parse := func(specs []string, isLink bool) ([]entry, error) {
		var es []entry
		for _, spec := range specs {
			from, dest, ok := strings.Cut(spec, "=")
			if isLink { // DEST=TARGET
				from, dest = dest, from
			}
			if !ok || from == "" || !path.IsAbs(dest) {
				return nil, fmt.Errorf("%q: want SRC=/absolute/destination or /absolute/link=TARGET", spec)
			}
			dest = strings.TrimPrefix(path.Clean(dest), "/")
			es = append(es, entry{from, dest})
			for d := path.Dir(dest); d != "."; d = path.Dir(d) {
				dirs[d] = true
			}
		}
		return es, nil
	}
	fs, err := parse(files, false)
	if err != nil {
		return nil, err
	}
	ls, err := parse(links, true)
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	names := make([]string, 0, len(dirs))
	for d := range dirs {
		names = append(names, d)
	}
	sort.Strings(names)
	for _, d := range names {
		mode := int64(0o755)
		if d == "tmp" {
			mode = 0o1777
		}
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: d + "/", Mode: mode, ModTime: time.Unix(0, 0)}); err != nil {
			return nil, err
		}
	}
	for _, f := range fs {
		data, err := os.ReadFile(f.from)
		if err != nil {
			return nil, err
		}
		if err := add(tw, f.dest, data, 0o755); err != nil {
			return nil, err
		}
	}
	for _, l := range ls {
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeSymlink, Name: l.dest, Linkname: l.from, Mode: 0o777, ModTime: time.Unix(0, 0)}); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

func add(tw *tar.Writer, name string, data []byte, mode int64) error {
	if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: name, Mode: mode, Size: int64(len(data)), ModTime: time.Unix(0, 0)}); err != nil {
		return err
	}
	_, err := tw.Write(data)
	return err
}
