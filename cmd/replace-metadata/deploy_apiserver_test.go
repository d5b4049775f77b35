//go:build linux

package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/yaml"
)

// kubeVersion is the Kubernetes that .ci/kube/build.sh builds.
const kubeVersion = "v1.34.4"

// kubeBinEnv names the folder that holds kube-apiserver, kubectl and etcd;
// unset, it is the folder .ci/kube/build.sh fills by default.
const kubeBinEnv = "REPLACE_METADATA_KUBE_BIN"

// restrictedNamespace enforces the restricted Pod Security Standard, and
// warns and audits by it too: enforce refuses Pods, while Jobs and
// CronJobs, whose pods come later, only get warnings.
const restrictedNamespace = `apiVersion: v1
kind: Namespace
metadata:
  name: restricted
  labels:
    pod-security.kubernetes.io/enforce: restricted
    pod-security.kubernetes.io/warn: restricted
    pod-security.kubernetes.io/audit: restricted
`

// TestDeployAPIServer applies deploy/kubernetes/ to a real kube-apiserver
// with kubectl apply --dry-run=server: the server's own validation,
// defaulting and admission (Pod Security among them) see every manifest,
// and nothing is stored. It does so in the default namespace and in one
// that enforces the restricted Pod Security Standard, and fails on any
// error or warning, and on any field the server drops (as it does, without
// a word, with fields of features it has turned off).
func TestDeployAPIServer(t *testing.T) {
	t.Parallel()
	bin := kubeBinDir(t)
	k := startAPIServer(t, bin)
	sent := sentManifests(t)

	for _, ns := range []struct {
		name  string
		setup string // applied for real before the dry run
	}{
		{"default", ""},
		{"restricted", restrictedNamespace},
	} {
		t.Run(ns.name, func(t *testing.T) {
			// With no controller-manager, nothing creates a namespace's
			// default ServiceAccount, and Pods need it to be admitted.
			setup := ns.setup
			if setup != "" {
				setup += "---\n"
			}
			setup += "apiVersion: v1\nkind: ServiceAccount\nmetadata:\n  name: default\n  namespace: " + ns.name + "\n"
			if _, stderr, err := k.kubectl(t, setup, "apply", "-f", "-"); err != nil {
				t.Fatalf("set up namespace %s: %v\n%s", ns.name, err, stderr)
			}

			stdout, stderr, err := k.kubectl(t, "", "apply", "--dry-run=server", "--validate=strict",
				"--warnings-as-errors", "-n", ns.name, "-f", deployDir, "-o", "json")
			if err != nil || len(bytes.TrimSpace(stderr)) > 0 {
				t.Fatalf("kubectl apply --dry-run=server -n %s -f %s: %v\n%s", ns.name, deployDir, err, stderr)
			}
			checkAnswers(t, sent, stdout, ns.name)

			if ns.setup == "" {
				return
			}
			// The namespace must really refuse what the Standard forbids,
			// and kubectl must really fail on a warning, or the dry run
			// above proves nothing.
			_, stderr, err = k.kubectl(t, unconfinedPod, "apply", "--dry-run=server", "-n", ns.name, "-f", "-")
			if err == nil || !bytes.Contains(stderr, []byte(`violates PodSecurity "restricted`)) {
				t.Errorf("an unconfined Pod in namespace %s: %v, want it refused by Pod Security\n%s", ns.name, err, stderr)
			}
			_, stderr, err = k.kubectl(t, unconfinedJob, "apply", "--dry-run=server", "--warnings-as-errors", "-n", ns.name, "-f", "-")
			if err == nil || !bytes.Contains(stderr, []byte(`would violate PodSecurity "restricted`)) {
				t.Errorf("an unconfined Job in namespace %s: %v, want a Pod Security warning that fails kubectl\n%s", ns.name, err, stderr)
			}
		})
	}
}

// unconfinedPod and unconfinedJob set no securityContext at all.
const (
	unconfinedPod = `apiVersion: v1
kind: Pod
metadata:
  name: unconfined
spec:
  containers:
    - name: c
      image: busybox:1.37
`
	unconfinedJob = `apiVersion: batch/v1
kind: Job
metadata:
  name: unconfined
spec:
  template:
    spec:
      restartPolicy: Never
      containers:
        - name: c
          image: busybox:1.37
`
)

// kubeBinDir returns the folder that holds etcd, kube-apiserver and
// kubectl. Without them the test skips, or fails when CI is set: CI must
// not pass by skipping.
func kubeBinDir(t *testing.T) string {
	t.Helper()
	dir, from := os.Getenv(kubeBinEnv), kubeBinEnv
	if dir == "" {
		cache, err := os.UserCacheDir()
		if err != nil {
			t.Fatalf("no %s and no cache folder: %v", kubeBinEnv, err)
		}
		dir, from = filepath.Join(cache, "replace-metadata", "kube-"+kubeVersion, "bin"), "the cache folder, as "+kubeBinEnv+" is unset"
	}
	var missing []string
	for _, name := range []string{"etcd", "kube-apiserver", "kubectl"} {
		if st, err := os.Stat(filepath.Join(dir, name)); err != nil || st.IsDir() || st.Mode()&0o111 == 0 {
			missing = append(missing, name)
		}
	}
	if len(missing) > 0 {
		msg := fmt.Sprintf("no %s in %s (%s): run .ci/kube/build.sh to build them there",
			strings.Join(missing, ", "), dir, from)
		if os.Getenv("CI") != "" {
			t.Fatalf("%s (CI is set, so this fails instead of skipping)", msg)
		}
		t.Skip(msg)
	}
	return dir
}

// kube is a running kube-apiserver and the kubeconfig that reaches it.
type kube struct {
	bin        string // kubectl's folder
	kubeconfig string
	home       string // kubectl's HOME and cache: never the user's
}

// kubectl runs kubectl against the server, with stdin as its input.
func (k *kube) kubectl(t *testing.T, stdin string, args ...string) (stdout, stderr []byte, err error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	args = append([]string{"--kubeconfig", k.kubeconfig, "--cache-dir", filepath.Join(k.home, "cache"),
		"--request-timeout", "30s"}, args...)
	cmd := exec.CommandContext(ctx, filepath.Join(k.bin, "kubectl"), args...)
	// No preferences of the user's (~/.kube/kuberc) change what apply does.
	cmd.Env = append(os.Environ(), "HOME="+k.home, "KUBERC=off", "KUBECONFIG=")
	cmd.Stdin = strings.NewReader(stdin)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err = cmd.Run()
	return out.Bytes(), errOut.Bytes(), err
}

// startAPIServer starts etcd and kube-apiserver on free loopback ports,
// with their data in temporary folders, and stops both when the test ends.
func startAPIServer(t *testing.T, bin string) *kube {
	t.Helper()
	dir := t.TempDir()
	etcdURL := startEtcd(t, bin, dir)

	// A static token for kubectl (a member of system:masters), and the
	// key pair that signs service account tokens, which the server needs
	// to start even though no pod ever runs.
	token := "replace-metadata-test-token"
	tokens := filepath.Join(dir, "tokens.csv")
	if err := os.WriteFile(tokens, []byte(token+`,admin,admin,"system:masters"`+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	saKey := filepath.Join(dir, "sa.key")
	if out, err := exec.Command("openssl", "genrsa", "-out", saKey, "2048").CombinedOutput(); err != nil {
		t.Fatalf("openssl genrsa: %v\n%s", err, out)
	}
	certDir := filepath.Join(dir, "certs")

	var last string
	for range 3 {
		port, err := freePorts(1)
		if err != nil {
			t.Fatal(err)
		}
		addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port[0]))
		p, err := startProcess(t, filepath.Join(bin, "kube-apiserver"), filepath.Join(dir, "kube-apiserver.log"),
			"--etcd-servers", etcdURL,
			"--bind-address", "127.0.0.1",
			"--advertise-address", "127.0.0.1",
			"--secure-port", strconv.Itoa(port[0]),
			"--cert-dir", certDir, // a self-signed serving certificate, made at start
			"--token-auth-file", tokens,
			"--authorization-mode", "RBAC",
			"--service-account-key-file", saKey,
			"--service-account-signing-key-file", saKey,
			"--service-account-issuer", "https://kubernetes.default.svc",
			"--service-cluster-ip-range", "10.0.0.0/24",
		)
		if err != nil {
			t.Fatal(err)
		}
		// Ready once every post-start hook has run (RBAC's bootstrap roles
		// among them), with the certificate it generated as the only CA.
		var c *http.Client
		err = p.waitReady(2*time.Minute, func() bool {
			if c == nil {
				pem, err := os.ReadFile(filepath.Join(certDir, "apiserver.crt"))
				if err != nil {
					return false // not written yet
				}
				pool := x509.NewCertPool()
				pool.AppendCertsFromPEM(pem)
				c = &http.Client{Timeout: 5 * time.Second,
					Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
			}
			return getOK(c, "https://"+addr+"/readyz", token)
		})
		if c != nil {
			c.CloseIdleConnections()
		}
		if errors.Is(err, errExited) {
			last = fmt.Sprintf("%v\n%s", err, p.tail())
			continue // most likely the port was taken meanwhile: another one
		}
		if err != nil {
			t.Fatalf("kube-apiserver: %v\n%s", err, p.tail())
		}

		k := &kube{bin: bin, kubeconfig: filepath.Join(dir, "kubeconfig"), home: filepath.Join(dir, "home")}
		kubeconfig := fmt.Sprintf(`apiVersion: v1
kind: Config
clusters:
  - name: test
    cluster:
      server: https://%s
      certificate-authority: %s
users:
  - name: admin
    user:
      token: %s
contexts:
  - name: test
    context:
      cluster: test
      user: admin
      namespace: default
current-context: test
`, addr, filepath.Join(certDir, "apiserver.crt"), token)
		if err := os.WriteFile(k.kubeconfig, []byte(kubeconfig), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Mkdir(k.home, 0o700); err != nil {
			t.Fatal(err)
		}
		return k
	}
	t.Fatalf("kube-apiserver did not start: %s", last)
	return nil
}

// startEtcd starts a one-member etcd and returns its client URL.
func startEtcd(t *testing.T, bin, dir string) string {
	t.Helper()
	var last string
	for try := range 3 {
		ports, err := freePorts(2)
		if err != nil {
			t.Fatal(err)
		}
		client := "http://127.0.0.1:" + strconv.Itoa(ports[0])
		peer := "http://127.0.0.1:" + strconv.Itoa(ports[1])
		p, err := startProcess(t, filepath.Join(bin, "etcd"), filepath.Join(dir, fmt.Sprintf("etcd-%d.log", try)),
			"--name", "test",
			"--data-dir", filepath.Join(dir, fmt.Sprintf("etcd-%d", try)),
			"--listen-client-urls", client,
			"--advertise-client-urls", client,
			"--listen-peer-urls", peer,
			"--initial-advertise-peer-urls", peer,
			"--initial-cluster", "test="+peer,
			"--logger", "zap",
			"--log-level", "warn",
		)
		if err != nil {
			t.Fatal(err)
		}
		c := &http.Client{Timeout: 5 * time.Second}
		err = p.waitReady(time.Minute, func() bool { return getOK(c, client+"/health", "") })
		c.CloseIdleConnections()
		if errors.Is(err, errExited) {
			last = fmt.Sprintf("%v\n%s", err, p.tail())
			continue // most likely a port was taken meanwhile: others
		}
		if err != nil {
			t.Fatalf("etcd: %v\n%s", err, p.tail())
		}
		return client
	}
	t.Fatalf("etcd did not start: %s", last)
	return ""
}

// freePorts returns n distinct loopback ports that were free a moment ago.
func freePorts(n int) ([]int, error) {
	var ports []int
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		defer l.Close() // held until all are picked, so they differ
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

// process is a server the test started; it is stopped when the test ends.
type process struct {
	name   string
	log    string
	exited chan struct{}
	err    error // Wait's, once exited is closed
}

var errExited = errors.New("exited before it was ready")

func startProcess(t *testing.T, bin, log string, args ...string) (*process, error) {
	t.Helper()
	f, err := os.Create(log)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = f, f
	// Killed with the test binary, even when a timeout's panic skips the
	// cleanups.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	p := &process{name: filepath.Base(bin), log: log, exited: make(chan struct{})}
	go func() { p.err = cmd.Wait(); close(p.exited) }()
	t.Cleanup(func() {
		// SIGTERM first, for a clean shutdown; SIGKILL if it hangs.
		cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-p.exited:
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
			<-p.exited
		}
	})
	return p, nil
}

// waitReady polls ready until it holds, the process exits (errExited) or
// the timeout passes.
func (p *process) waitReady(timeout time.Duration, ready func() bool) error {
	deadline := time.Now().Add(timeout)
	for {
		select {
		case <-p.exited:
			return fmt.Errorf("%s %w: %v", p.name, errExited, p.err)
		default:
		}
		if ready() {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s not ready after %v", p.name, timeout)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// tail is the end of the process's log, for a failure's message.
func (p *process) tail() string {
	b, _ := os.ReadFile(p.log)
	if len(b) > 8000 {
		b = b[len(b)-8000:]
	}
	return string(b)
}

func getOK(c *http.Client, url, token string) bool {
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		return false
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := c.Do(req)
	if err != nil {
		return false
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

// sentDoc is one manifest document as JSON, as kubectl sends it.
type sentDoc struct {
	name string // file#document
	key  string // kind/name
	obj  map[string]any
}

// sentManifests reads every document of deployDir as generic JSON, to
// compare with what the server answers.
func sentManifests(t *testing.T) []sentDoc {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(deployDir, "*.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var out []sentDoc
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		r := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(b)))
		for i := 1; ; i++ {
			doc, err := r.Read()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				t.Fatalf("%s: %v", f, err)
			}
			if isBlankYAML(doc) {
				continue
			}
			j, err := yaml.YAMLToJSON(doc)
			if err != nil {
				t.Fatalf("%s#%d: %v", f, i, err)
			}
			obj, err := decodeJSONObject(j)
			if err != nil {
				t.Fatalf("%s#%d: %v", f, i, err)
			}
			out = append(out, sentDoc{name: fmt.Sprintf("%s#%d", filepath.Base(f), i), key: objectKey(obj), obj: obj})
		}
	}
	return out
}

// checkAnswers checks that the server answered every manifest, in the
// namespace, with every field as it was sent.
func checkAnswers(t *testing.T, sent []sentDoc, stdout []byte, namespace string) {
	t.Helper()
	answer, err := decodeJSONObject(stdout)
	if err != nil {
		t.Fatalf("kubectl's answer: %v\n%s", err, stdout)
	}
	items := []any{answer}
	if answer["kind"] == "List" {
		items, _ = answer["items"].([]any)
	}
	got := map[string]map[string]any{}
	for _, it := range items {
		if o, ok := it.(map[string]any); ok {
			got[objectKey(o)] = o
		}
	}
	for _, s := range sent {
		o := got[s.key]
		if o == nil {
			t.Errorf("%s: the server's answer has no %s", s.name, s.key)
			continue
		}
		if meta, _ := o["metadata"].(map[string]any); meta["namespace"] != namespace {
			t.Errorf("%s: answered in namespace %v, want %s", s.name, meta["namespace"], namespace)
		}
		// The server adds defaults, but must keep every field sent: one it
		// drops is a field this version does not serve (a feature turned
		// off, a field from a newer API), and would do nothing.
		for _, d := range missingFields("", s.obj, o) {
			t.Errorf("%s: the server dropped or changed %s", s.name, d)
		}
	}
}

func decodeJSONObject(b []byte) (map[string]any, error) {
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber() // numbers compared as written, never as floats
	var obj map[string]any
	if err := d.Decode(&obj); err != nil {
		return nil, err
	}
	return obj, nil
}

func objectKey(o map[string]any) string {
	meta, _ := o["metadata"].(map[string]any)
	return fmt.Sprintf("%v/%v", o["kind"], meta["name"])
}

// missingFields lists the paths under which sent holds something that got
// does not: a key absent or a value changed. Lists must keep their length
// and order.
func missingFields(path string, sent, got any) []string {
	switch s := sent.(type) {
	case map[string]any:
		g, ok := got.(map[string]any)
		if !ok {
			return []string{fmt.Sprintf("%s: sent an object, got %v", path, got)}
		}
		var out []string
		for k, v := range s {
			gv, ok := g[k]
			if !ok {
				out = append(out, fmt.Sprintf("%s.%s: sent %v, got nothing", path, k, compact(v)))
				continue
			}
			out = append(out, missingFields(path+"."+k, v, gv)...)
		}
		return out
	case []any:
		g, ok := got.([]any)
		if !ok || len(g) != len(s) {
			return []string{fmt.Sprintf("%s: sent %v, got %v", path, compact(sent), compact(got))}
		}
		var out []string
		for i := range s {
			out = append(out, missingFields(fmt.Sprintf("%s[%d]", path, i), s[i], g[i])...)
		}
		return out
	default:
		if !reflect.DeepEqual(sent, got) {
			return []string{fmt.Sprintf("%s: sent %v, got %v", path, compact(sent), compact(got))}
		}
		return nil
	}
}

func compact(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	return string(b)
}
