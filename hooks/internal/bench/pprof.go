package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
)

// pprofSource is added to the app's main package, for the bench's build
// only, by the go command's -overlay: the served binary then answers
// net/http/pprof on a loopback address of the bench's choosing. The
// product's source has no profiling endpoint.
const pprofSource = `package main

import (
	"net"
	"net/http"
	_ "net/http/pprof"
	"os"
	"runtime"
	"runtime/pprof"
	"strconv"
)

func init() {
	var cpu *os.File
	// A CPU profile from start to stop, to the file named by start's ?file.
	http.HandleFunc("/bench/cpuprofile/start", func(w http.ResponseWriter, r *http.Request) {
		f, err := os.Create(r.URL.Query().Get("file"))
		if err == nil {
			if err = pprof.StartCPUProfile(f); err == nil {
				cpu = f
				return
			}
			f.Close()
		}
		http.Error(w, err.Error(), http.StatusInternalServerError)
	})
	http.HandleFunc("/bench/cpuprofile/stop", func(w http.ResponseWriter, r *http.Request) {
		pprof.StopCPUProfile()
		if cpu != nil {
			cpu.Close()
			cpu = nil
		}
	})
	if rate, err := strconv.Atoi(os.Getenv("POCKETCLERK_BENCH_MEMPROFILERATE")); err == nil {
		runtime.MemProfileRate = rate
	}
	addr := os.Getenv("POCKETCLERK_BENCH_PPROF")
	if addr == "" {
		return
	}
	l, err := net.Listen("tcp", addr)
	if err != nil {
		panic(err)
	}
	go http.Serve(l, nil)
}
`

// pprofOverlay writes the overlay that adds pprofSource to the module
// root's package and returns the go build arguments that use it.
func pprofOverlay(root, dir string) ([]string, error) {
	src := filepath.Join(dir, "bench_pprof.go")
	if err := os.WriteFile(src, []byte(pprofSource), 0o644); err != nil {
		return nil, err
	}
	overlay, _ := json.Marshal(map[string]any{"Replace": map[string]string{filepath.Join(root, "zz_bench_pprof.go"): src}})
	path := filepath.Join(dir, "overlay.json")
	if err := os.WriteFile(path, overlay, 0o644); err != nil {
		return nil, err
	}
	return []string{"-overlay", path}, nil
}

// saveProfiles writes the served app's heap profile (after a collection),
// its text form with the runtime's memory statistics, and its goroutines,
// named after tag, to b.profileDir.
func (b *bench) saveProfiles(tag string) error {
	if b.pprofAddr == "" {
		return nil
	}
	for _, p := range []struct{ path, file string }{
		{"/debug/pprof/heap?gc=1", tag + ".heap.pb.gz"},
		{"/debug/pprof/heap?debug=1", tag + ".heap.txt"},
		{"/debug/pprof/goroutine?debug=1", tag + ".goroutine.txt"},
	} {
		res, err := http.Get("http://" + b.pprofAddr + p.path)
		if err != nil {
			return err
		}
		out, err := os.Create(filepath.Join(b.profileDir, p.file))
		if err != nil {
			res.Body.Close()
			return err
		}
		_, err = io.Copy(out, res.Body)
		res.Body.Close()
		if cerr := out.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return err
		}
	}
	fmt.Printf("profiles of the served app (%s) in %s\n", tag, b.profileDir)
	return nil
}

// cpuProfile runs f with the served app's CPU profiled to tag.cpu.pb.gz in
// b.profileDir (with -pprof; otherwise it only runs f).
func (b *bench) cpuProfile(tag string, f func()) error {
	if b.pprofAddr == "" {
		f()
		return nil
	}
	file := filepath.Join(b.profileDir, tag+".cpu.pb.gz")
	res, err := http.Get("http://" + b.pprofAddr + "/bench/cpuprofile/start?file=" + url.QueryEscape(file))
	if err != nil {
		return err
	}
	res.Body.Close()
	if res.StatusCode != http.StatusOK {
		return fmt.Errorf("starting the CPU profile: %s", res.Status)
	}
	f()
	res, err = http.Get("http://" + b.pprofAddr + "/bench/cpuprofile/stop")
	if err != nil {
		return err
	}
	res.Body.Close()
	return nil
}
