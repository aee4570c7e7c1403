package loadgen

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// ModuleRoot is the directory holding go.mod, found upwards from dir.
func ModuleRoot(dir string) (string, error) {
	dir, err := filepath.Abs(dir)
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("no go.mod above " + dir)
		}
		dir = parent
	}
}

// Build compiles the app in moduleRoot to out with the go command of the
// toolchain running this program.
func Build(moduleRoot, out string) error {
	return BuildPackage(moduleRoot, out, ".")
}

// BuildPackage compiles the main package pkg (a path relative to moduleRoot)
// to out, with any further go build flags.
func BuildPackage(moduleRoot, out, pkg string, flags ...string) error {
	//lint:ignore SA1019 this program runs under "go run" or "go test", with the toolchain that built it
	goBin := filepath.Join(runtime.GOROOT(), "bin", "go")
	if _, err := os.Stat(goBin); err != nil {
		goBin = "go"
	}
	cmd := exec.Command(goBin, append(append([]string{"build", "-o", out}, flags...), pkg)...)
	cmd.Dir = moduleRoot
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("building %s: %w", pkg, err)
	}
	return nil
}

// Server is a running app binary.
type Server struct {
	Bin, Dir, URL string
	Env           []string
	cmd           *exec.Cmd
	log           *os.File
	exited        chan struct{} // closed when the process has ended
	exitErr       error
}

// FreeAddr is a loopback address with a port free right now.
func FreeAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
}

// Superuser creates or updates a superuser in dataDir with the binary's own command.
func Superuser(bin, dataDir, email, password string) error {
	out, err := exec.Command(bin, "superuser", "upsert", email, password, "--dir", dataDir, "--dev=false").CombinedOutput()
	if err != nil {
		return fmt.Errorf("superuser upsert: %w: %s", err, out)
	}
	return nil
}

// Start serves dataDir on a free loopback port (never in dev mode, which
// logs every SQL statement) and waits until /api/health answers. The
// server's output goes to logPath.
func Start(bin, dataDir, logPath string, env []string) (*Server, error) {
	addr, err := FreeAddr()
	if err != nil {
		return nil, err
	}
	log, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	s := &Server{Bin: bin, Dir: dataDir, URL: "http://" + addr, Env: env, log: log}
	s.cmd = exec.Command(bin, "serve", "--http="+addr, "--dir="+dataDir, "--dev=false")
	s.cmd.Env = append(os.Environ(), env...)
	s.cmd.Stdout, s.cmd.Stderr = log, log
	if err := s.cmd.Start(); err != nil {
		log.Close()
		return nil, err
	}
	s.exited = make(chan struct{})
	go func() {
		s.exitErr = s.cmd.Wait()
		log.Close()
		close(s.exited)
	}()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-s.exited:
			return nil, fmt.Errorf("the server exited at start (%v); see %s", s.exitErr, logPath)
		default:
		}
		if res, err := http.Get(s.URL + "/api/health"); err == nil {
			res.Body.Close()
			if res.StatusCode == 200 {
				return s, nil
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	s.Kill()
	return nil, fmt.Errorf("the server did not answer /api/health within 30 s; see %s", logPath)
}

// PID is the server's process id.
func (s *Server) PID() int { return s.cmd.Process.Pid }

// Kill ends the server at once, as a crash or an OOM kill would. Kill and
// Stop may be called again on an ended server.
func (s *Server) Kill() {
	_ = s.cmd.Process.Signal(syscall.SIGKILL)
	<-s.exited
}

// Stop asks the server to shut down and waits for it.
func (s *Server) Stop() {
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.exited:
	case <-time.After(15 * time.Second):
		s.Kill()
	}
}

// ProcStatus reads the kB fields of /proc/PID/status (VmRSS, VmHWM, ...) and Threads.
func ProcStatus(pid int) (map[string]int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return nil, err
	}
	out := map[string]int64{}
	for _, line := range strings.Split(string(b), "\n") {
		name, value, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		f := strings.Fields(value)
		if len(f) == 0 {
			continue
		}
		if n, err := strconv.ParseInt(f[0], 10, 64); err == nil {
			out[name] = n
		}
	}
	return out, nil
}

// ResetPeakRSS restarts the VmHWM count of pid, so the next reading is the
// peak of what follows (Linux: clear_refs 5).
func ResetPeakRSS(pid int) error {
	return os.WriteFile(fmt.Sprintf("/proc/%d/clear_refs", pid), []byte("5"), 0)
}

// CPUTime is the user+system CPU time pid has used.
func CPUTime(pid int) (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// The command name may hold spaces: fields start after its closing parenthesis.
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	if len(f) < 13 {
		return 0, errors.New("short /proc stat")
	}
	utime, _ := strconv.ParseInt(f[11], 10, 64)
	stime, _ := strconv.ParseInt(f[12], 10, 64)
	const ticksPerSecond = 100 // USER_HZ on Linux
	return time.Duration(utime+stime) * time.Second / ticksPerSecond, nil
}

// Call sends a JSON request with an optional Authorization token and
// decodes a JSON answer into out (when not nil). A non-2xx answer is an error.
func Call(client *http.Client, method, url, token string, body, out any) error {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, url, rd)
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", token)
	}
	res, err := client.Do(req)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	raw, err := io.ReadAll(res.Body)
	if err != nil {
		return err
	}
	if res.StatusCode < 200 || res.StatusCode > 299 {
		return fmt.Errorf("%s %s: %d %s", method, url, res.StatusCode, raw)
	}
	if out != nil {
		return json.Unmarshal(raw, out)
	}
	return nil
}

// SuperuserToken signs in as a superuser and returns the auth token.
func SuperuserToken(client *http.Client, baseURL, email, password string) (string, error) {
	var out struct {
		Token string `json:"token"`
	}
	err := Call(client, http.MethodPost, baseURL+"/api/collections/_superusers/auth-with-password", "",
		map[string]string{"identity": email, "password": password}, &out)
	return out.Token, err
}
