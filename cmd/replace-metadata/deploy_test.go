package main

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/yaml"
)

// deployDir holds the Kubernetes manifests that README's "Running on
// Kubernetes" applies.
const deployDir = "../../deploy/kubernetes"

// manifest is one YAML document of deployDir, decoded into its API type.
type manifest struct {
	name string // file#document, for messages
	file string
	obj  any // *batchv1.CronJob, *batchv1.Job, *corev1.ConfigMap, ...
}

// loadManifests decodes every document of every file in deployDir
// strictly: an unknown kind, an unknown field or a duplicate key fails.
func loadManifests(t *testing.T) []manifest {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(deployDir, "*"))
	if err != nil {
		t.Fatal(err)
	}
	var out []manifest
	for _, f := range files {
		ext := filepath.Ext(f)
		if ext != ".yaml" && ext != ".yml" {
			t.Errorf("%s: only .yaml manifests belong in %s", f, deployDir)
			continue
		}
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
			name := fmt.Sprintf("%s#%d", filepath.Base(f), i)
			obj, err := decodeManifest(doc)
			if err != nil {
				t.Errorf("%s: %v", name, err)
				continue
			}
			out = append(out, manifest{name: name, file: filepath.Base(f), obj: obj})
		}
	}
	return out
}

// isBlankYAML reports whether a document holds only comments and space.
func isBlankYAML(doc []byte) bool {
	for line := range strings.Lines(string(doc)) {
		line = strings.TrimSpace(line)
		if line != "" && !strings.HasPrefix(line, "#") && line != "---" {
			return false
		}
	}
	return true
}

func decodeManifest(doc []byte) (any, error) {
	var tm metav1.TypeMeta
	if err := yaml.Unmarshal(doc, &tm); err != nil {
		return nil, err
	}
	var obj any
	switch tm.APIVersion + " " + tm.Kind {
	case "batch/v1 CronJob":
		obj = &batchv1.CronJob{}
	case "batch/v1 Job":
		obj = &batchv1.Job{}
	case "v1 ConfigMap":
		obj = &corev1.ConfigMap{}
	case "v1 Secret":
		obj = &corev1.Secret{}
	case "v1 PersistentVolumeClaim":
		obj = &corev1.PersistentVolumeClaim{}
	case "v1 ServiceAccount":
		obj = &corev1.ServiceAccount{}
	case "v1 Pod":
		obj = &corev1.Pod{}
	default:
		return nil, fmt.Errorf("unknown kind %q of apiVersion %q", tm.Kind, tm.APIVersion)
	}
	if err := yaml.UnmarshalStrict(doc, obj); err != nil {
		return nil, fmt.Errorf("%s: %v", tm.Kind, err)
	}
	if obj.(metav1.Object).GetName() == "" {
		return nil, fmt.Errorf("%s has no metadata.name", tm.Kind)
	}
	return obj, nil
}

// TestDeployManifests decodes every manifest strictly, and checks that each
// Job and CronJob runs the tool as Kubernetes needs it to: its arguments
// parse with the tool's own parser, a retried pod resumes the same run, the
// tool writes only to a volume, and it stops cleanly before Kubernetes
// kills it.
func TestDeployManifests(t *testing.T) {
	t.Parallel()
	ms := loadManifests(t)
	files := map[string]bool{}
	for _, m := range ms {
		files[m.file] = true
	}
	for _, f := range []string{"cronjob.yaml", "job.yaml", "indexed-job.yaml"} {
		if !files[f] {
			t.Errorf("%s/%s is missing", deployDir, f)
		}
	}
	cluster := newCluster(ms)
	for _, m := range ms {
		t.Run(m.name, func(t *testing.T) {
			switch o := m.obj.(type) {
			case *batchv1.CronJob:
				checkCronJob(t, cluster, o)
			case *batchv1.Job:
				checkJob(t, cluster, m.file, o.Name, &o.Spec)
			case *corev1.Pod:
				checkPod(t, cluster, &o.Spec)
			case *corev1.ConfigMap:
				checkConfigMap(t, o)
			}
		})
	}
}

// cluster is what the manifests create, for checking references.
type cluster struct {
	configMaps map[string]*corev1.ConfigMap
	claims     map[string]bool
}

func newCluster(ms []manifest) *cluster {
	c := &cluster{configMaps: map[string]*corev1.ConfigMap{}, claims: map[string]bool{}}
	for _, m := range ms {
		switch o := m.obj.(type) {
		case *corev1.ConfigMap:
			c.configMaps[o.Name] = o
		case *corev1.PersistentVolumeClaim:
			c.claims[o.Name] = true
		}
	}
	return c
}

func checkConfigMap(t *testing.T, cm *corev1.ConfigMap) {
	doc, ok := cm.Data["config.yaml"]
	if !ok {
		return
	}
	cfg := defaults()
	if err := decodeConfig(strings.NewReader(doc), "configmap config.yaml", &cfg); err != nil {
		t.Fatalf("config.yaml does not decode with the tool's decoder: %v", err)
	}
	if err := cfg.check(); err != nil {
		t.Errorf("config.yaml: %v", err)
	}
	if cfg.SecretKeyFile != "" {
		t.Errorf("config.yaml sets secret_key_file %q, and the Jobs set CLERK_SECRET_KEY: the tool refuses both", cfg.SecretKeyFile)
	}
	if cfg.RunID != "" {
		t.Errorf("config.yaml sets run_id %q: every Job and every schedule would share one run", cfg.RunID)
	}
	if cfg.Metrics.PushgatewayURL == "" {
		t.Errorf("config.yaml has no metrics.pushgateway_url: the last-success alert needs it")
	}
}

func checkCronJob(t *testing.T, c *cluster, cj *batchv1.CronJob) {
	s := cj.Spec
	if s.ConcurrencyPolicy != batchv1.ForbidConcurrent {
		t.Errorf("concurrencyPolicy is %q, want Forbid: two runs at once would double the rate", s.ConcurrencyPolicy)
	}
	if s.StartingDeadlineSeconds == nil {
		t.Errorf("startingDeadlineSeconds is not set")
	}
	// The controller names each Job <cronjob>-<minutes since 1970>.
	if len(cj.Name) > 52 {
		t.Errorf("name %q is longer than 52 characters", cj.Name)
	}
	checkJob(t, c, "", cj.Name+"-29400180", &s.JobTemplate.Spec)
}

// checkJob checks a Job, on its own or a CronJob's template; jobName is
// its name, which pods see in their job-name label.
func checkJob(t *testing.T, c *cluster, file, jobName string, js *batchv1.JobSpec) {
	if js.BackoffLimit == nil {
		t.Errorf("backoffLimit is not set")
	}
	if js.ActiveDeadlineSeconds == nil {
		t.Errorf("activeDeadlineSeconds is not set")
	}
	if js.TTLSecondsAfterFinished == nil {
		t.Errorf("ttlSecondsAfterFinished is not set")
	}
	if p := js.PodReplacementPolicy; p != nil && *p != batchv1.Failed {
		t.Errorf("podReplacementPolicy is %q: a replacement pod would start while the old one still holds the run folder", *p)
	}
	indexed := js.CompletionMode != nil && *js.CompletionMode == batchv1.IndexedCompletion
	if file == "indexed-job.yaml" && !indexed {
		t.Errorf("completionMode is not Indexed")
	}
	completions := 1
	if js.Completions != nil {
		completions = int(*js.Completions)
	}
	pod := &js.Template.Spec
	if pod.RestartPolicy != corev1.RestartPolicyNever {
		t.Errorf("restartPolicy is %q, want Never (podFailurePolicy needs it)", pod.RestartPolicy)
	}
	checkPod(t, c, pod)

	for _, ctr := range pod.Containers {
		if !isTool(ctr) {
			continue
		}
		args := toolArgs(t, ctr)
		if len(args) == 0 {
			t.Errorf("container %s: no args: name a subcommand (run, validate, report)", ctr.Name)
			continue
		}
		switch args[0] {
		case "run", "validate":
			checkFailurePolicy(t, js, ctr.Name, indexed)
			// Each pod of an Indexed Job gets its own JOB_COMPLETION_INDEX;
			// a NonIndexed Job's pods get none.
			indexes := []string{""}
			if indexed {
				indexes = nil
				for i := range completions {
					indexes = append(indexes, strconv.Itoa(i))
				}
			}
			for _, index := range indexes {
				cfg := parseToolArgs(t, c, pod, ctr, jobName, index, args)
				if cfg == nil {
					break
				}
				checkRun(t, pod, js, ctr, cfg, indexed, completions, index)
			}
		case "report":
			if len(args) != 2 {
				t.Errorf("container %s: report takes one run folder, got %q", ctr.Name, args[1:])
				break
			}
			if v := volumeAt(pod, ctr, args[1]); v == nil || v.PersistentVolumeClaim == nil {
				t.Errorf("container %s: run folder %s is not on a PersistentVolumeClaim", ctr.Name, args[1])
			}
			if envVar(ctr, "CLERK_SECRET_KEY") != nil {
				t.Errorf("container %s: report needs no key, and gets one", ctr.Name)
			}
		default:
			t.Errorf("container %s: subcommand %q is not run, validate or report", ctr.Name, args[0])
		}
	}
}

// checkFailurePolicy: exit 1 (finished, failed rows need a person) and 2
// (usage error, a retry fails alike) end the Job, or in an Indexed Job the
// shard, without a retry; 4 (the key was refused) ends the whole Job, since
// no pod or shard could succeed with that key; 3 (stopped early) is retried
// and resumes.
func checkFailurePolicy(t *testing.T, js *batchv1.JobSpec, container string, indexed bool) {
	// The run's exit code when Clerk refuses the key (401, 403): 4, as
	// reports.ExitKeyRefused (not on this branch yet) says.
	if js.PodFailurePolicy == nil {
		t.Errorf("no podFailurePolicy: exit codes 1, 2 and %d would be retried", exitKeyRefused)
		return
	}
	// The first rule that matches a code decides, as in the Job controller.
	action := map[int32]batchv1.PodFailurePolicyAction{}
	for _, r := range js.PodFailurePolicy.Rules {
		e := r.OnExitCodes
		if e == nil || e.Operator != batchv1.PodFailurePolicyOnExitCodesOpIn ||
			(e.ContainerName != nil && *e.ContainerName != container) {
			continue
		}
		for _, v := range e.Values {
			if _, seen := action[v]; !seen {
				action[v] = r.Action
			}
		}
	}
	fail := batchv1.PodFailurePolicyActionFailJob
	if indexed {
		// One shard's failed rows must not stop the other shards.
		fail = batchv1.PodFailurePolicyActionFailIndex
		if js.BackoffLimitPerIndex == nil {
			t.Errorf("FailIndex needs backoffLimitPerIndex")
		}
	}
	if a := action[exitRows]; a != fail {
		t.Errorf("podFailurePolicy action on exit code %d is %q, want %s", exitRows, a, fail)
	}
	if a := action[exitUsage]; a != fail && a != batchv1.PodFailurePolicyActionFailJob {
		t.Errorf("podFailurePolicy action on exit code %d is %q, want %s", exitUsage, a, fail)
	}
	if a := action[exitKeyRefused]; a != batchv1.PodFailurePolicyActionFailJob {
		t.Errorf("podFailurePolicy action on exit code %d (key refused) is %q, want %s: every retry or shard would be refused too",
			exitKeyRefused, a, batchv1.PodFailurePolicyActionFailJob)
	}
	switch action[exitAborted] {
	case batchv1.PodFailurePolicyActionFailJob, batchv1.PodFailurePolicyActionFailIndex:
		t.Errorf("podFailurePolicy fails on exit code %d: a stopped run must be retried to resume", exitAborted)
	}
}

// parseToolArgs parses the container's arguments with the tool's own
// parser, in the environment the pod would have, with the config file
// taken from the ConfigMap it names.
func parseToolArgs(t *testing.T, c *cluster, pod *corev1.PodSpec, ctr corev1.Container, jobName, index string, args []string) *config {
	t.Helper()
	vars := podEnv(t, c, ctr, jobName)
	if index != "" {
		vars["JOB_COMPLETION_INDEX"] = index
	}
	args = slices.Clone(args[1:])
	for i, a := range args {
		args[i] = expandK8s(a, vars)
	}
	// The config file: from the ConfigMap mounted where --config (or
	// REPLACE_METADATA_CONFIG) points, written where the test can read it.
	cfgPath, at := "", -1
	for i, a := range args {
		switch {
		case (a == "--config" || a == "-config") && i+1 < len(args):
			cfgPath, at = args[i+1], i+1
		case strings.HasPrefix(a, "--config=") || strings.HasPrefix(a, "-config="):
			cfgPath, at = a[strings.Index(a, "=")+1:], i
		}
	}
	if at < 0 {
		cfgPath = vars[envPrefix+"CONFIG"]
	}
	if cfgPath == "" {
		t.Errorf("container %s: no --config: without one a missing mount silently means the defaults", ctr.Name)
		return nil
	}
	doc, err := configMapFile(c, pod, ctr, cfgPath)
	if err != nil {
		t.Errorf("container %s: config %s: %v", ctr.Name, cfgPath, err)
		return nil
	}
	local := filepath.Join(t.TempDir(), "config.yaml")
	if err := os.WriteFile(local, []byte(doc), 0o600); err != nil {
		t.Fatal(err)
	}
	switch {
	case at < 0:
		vars[envPrefix+"CONFIG"] = local
	case strings.Contains(args[at], "="):
		args[at] = args[at][:strings.Index(args[at], "=")+1] + local
	default:
		args[at] = local
	}
	cfg, err := loadConfig(newFlagSet(), args, func(k string) string { return vars[k] }, "")
	if err != nil {
		t.Errorf("container %s: args %q do not parse (JOB_COMPLETION_INDEX=%q): %v", ctr.Name, ctr.Args, index, err)
		return nil
	}
	return &cfg
}

// checkRun checks a run container's parsed config against its pod.
func checkRun(t *testing.T, pod *corev1.PodSpec, js *batchv1.JobSpec, ctr corev1.Container, cfg *config, indexed bool, completions int, index string) {
	// A retried pod must resume the run, so the run id comes from the
	// Job's name, the same for all its pods.
	if cfg.RunID == "" || !runIDRE.MatchString(cfg.RunID) {
		t.Errorf("container %s: run id %q: want the Job's name", ctr.Name, cfg.RunID)
	}
	if e := envVar(ctr, envPrefix+"RUN_ID"); e == nil || e.ValueFrom == nil || e.ValueFrom.FieldRef == nil ||
		!jobNameField[e.ValueFrom.FieldRef.FieldPath] {
		t.Errorf("container %s: %sRUN_ID is not set from the Job's name (fieldRef metadata.labels['batch.kubernetes.io/job-name']): a retried pod would start a new run", ctr.Name, envPrefix)
	}

	// The key: from a Secret, as CLERK_SECRET_KEY or a mounted file, never both.
	fromEnv := false
	if e := envVar(ctr, "CLERK_SECRET_KEY"); e != nil {
		if e.ValueFrom == nil || e.ValueFrom.SecretKeyRef == nil {
			t.Errorf("container %s: CLERK_SECRET_KEY is not from a secretKeyRef", ctr.Name)
		}
		fromEnv = true
	}
	fromFile := cfg.SecretKeyFile != ""
	if fromFile {
		if v := volumeAt(pod, ctr, cfg.SecretKeyFile); v == nil || v.Secret == nil {
			t.Errorf("container %s: secret_key_file %s is not on a Secret volume", ctr.Name, cfg.SecretKeyFile)
		}
	}
	switch {
	case cfg.Sandbox:
	case fromEnv && fromFile:
		t.Errorf("container %s: both CLERK_SECRET_KEY and secret_key_file: the tool refuses to start", ctr.Name)
	case !fromEnv && !fromFile:
		t.Errorf("container %s: no key: set CLERK_SECRET_KEY from a Secret or secret_key_file", ctr.Name)
	}

	// The root filesystem is read-only: the tool writes only under
	// report_dir, which must be a volume that outlives the pod.
	if v, m := mountAt(pod, ctr, cfg.ReportDir); v == nil || v.PersistentVolumeClaim == nil || m.ReadOnly {
		t.Errorf("container %s: report_dir %q is not on a writable PersistentVolumeClaim: a retried pod could not resume", ctr.Name, cfg.ReportDir)
	}
	if cfg.Input == "" || cfg.Input == "-" || volumeAt(pod, ctr, cfg.Input) == nil {
		t.Errorf("container %s: input %q is not a file on a volume", ctr.Name, cfg.Input)
	}

	// SIGTERM gives requests in flight grace_period, then the reports are
	// written: Kubernetes must wait longer than that before SIGKILL.
	grace := time.Duration(cfg.Grace) + 5*time.Second
	if g := pod.TerminationGracePeriodSeconds; g == nil || time.Duration(*g)*time.Second <= grace {
		t.Errorf("container %s: terminationGracePeriodSeconds must exceed grace_period (%v) by more than 5s", ctr.Name, time.Duration(cfg.Grace))
	}
	if d := time.Duration(cfg.Deadline); d > 0 && js.ActiveDeadlineSeconds != nil &&
		time.Duration(*js.ActiveDeadlineSeconds)*time.Second <= d+grace {
		t.Errorf("container %s: activeDeadlineSeconds ends the Job before the tool's own deadline (%v)", ctr.Name, d)
	}

	// Shards: one pod per shard, all at once (each takes rate/shard_count).
	switch {
	case indexed:
		if cfg.ShardCount != completions {
			t.Errorf("container %s: shard_count %d, completions %d", ctr.Name, cfg.ShardCount, completions)
		}
		if js.Parallelism == nil || int(*js.Parallelism) != completions {
			t.Errorf("parallelism is not completions (%d): the shards would not share the rate", completions)
		}
		if strconv.Itoa(cfg.ShardIndex) != index {
			t.Errorf("container %s: shard_index %d, JOB_COMPLETION_INDEX %s", ctr.Name, cfg.ShardIndex, index)
		}
	case cfg.ShardCount != 1:
		t.Errorf("container %s: shard_count %d in a Job that is not Indexed: every pod would be shard 0", ctr.Name, cfg.ShardCount)
	case completions != 1 || (js.Parallelism != nil && *js.Parallelism != 1):
		t.Errorf("a NonIndexed Job runs one pod: completions and parallelism must be 1")
	}

	if v := envVar(ctr, "GOMEMLIMIT"); v != nil && v.Value != "" {
		q, err := resource.ParseQuantity(strings.TrimSuffix(v.Value, "B"))
		limit := ctr.Resources.Limits.Memory()
		if err != nil || q.Cmp(*limit) >= 0 {
			t.Errorf("container %s: GOMEMLIMIT %s is not under the memory limit %s", ctr.Name, v.Value, limit)
		}
	}
}

// checkPod checks what every pod needs: non-root, a read-only root
// filesystem, no privilege escalation, resources, and volumes that exist.
func checkPod(t *testing.T, c *cluster, pod *corev1.PodSpec) {
	psc := pod.SecurityContext
	if psc == nil {
		psc = &corev1.PodSecurityContext{}
	}
	for _, ctr := range slices.Concat(pod.InitContainers, pod.Containers) {
		sc := ctr.SecurityContext
		if sc == nil {
			sc = &corev1.SecurityContext{}
		}
		nonRoot := psc.RunAsNonRoot
		if sc.RunAsNonRoot != nil {
			nonRoot = sc.RunAsNonRoot
		}
		user := psc.RunAsUser
		if sc.RunAsUser != nil {
			user = sc.RunAsUser
		}
		if nonRoot == nil || !*nonRoot || (user != nil && *user == 0) {
			t.Errorf("container %s: runAsNonRoot is not true", ctr.Name)
		}
		if sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem {
			t.Errorf("container %s: readOnlyRootFilesystem is not true", ctr.Name)
		}
		if sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation {
			t.Errorf("container %s: allowPrivilegeEscalation is not false", ctr.Name)
		}
		for _, name := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
			req, okReq := ctr.Resources.Requests[name]
			lim, okLim := ctr.Resources.Limits[name]
			if !okReq || !okLim {
				t.Errorf("container %s: %s request and limit must both be set", ctr.Name, name)
			} else if req.Cmp(lim) > 0 {
				t.Errorf("container %s: %s request %s is above its limit %s", ctr.Name, name, &req, &lim)
			}
		}
		for _, m := range ctr.VolumeMounts {
			if volume(pod, m.Name) == nil {
				t.Errorf("container %s: mounts volume %q, which the pod does not have", ctr.Name, m.Name)
			}
		}
	}
	for _, v := range pod.Volumes {
		switch {
		case v.ConfigMap != nil && c.configMaps[v.ConfigMap.Name] == nil:
			t.Errorf("volume %s: ConfigMap %q is not in %s", v.Name, v.ConfigMap.Name, deployDir)
		case v.PersistentVolumeClaim != nil && !c.claims[v.PersistentVolumeClaim.ClaimName]:
			t.Errorf("volume %s: PersistentVolumeClaim %q is not in %s", v.Name, v.PersistentVolumeClaim.ClaimName, deployDir)
		}
	}
}

// isTool reports whether a container runs this tool's image.
func isTool(ctr corev1.Container) bool {
	ref := ctr.Image
	if i := strings.IndexByte(ref, '@'); i >= 0 {
		ref = ref[:i]
	}
	if i := strings.LastIndex(ref, ":"); i > strings.LastIndex(ref, "/") {
		ref = ref[:i]
	}
	return path.Base(ref) == "replace-metadata"
}

// toolArgs is the command line after the program: the image's entrypoint
// is the tool, so a command, if any, must name it.
func toolArgs(t *testing.T, ctr corev1.Container) []string {
	if len(ctr.Command) == 0 {
		return ctr.Args
	}
	if path.Base(ctr.Command[0]) != "replace-metadata" {
		t.Errorf("container %s: command %q does not run replace-metadata", ctr.Name, ctr.Command)
		return nil
	}
	return slices.Concat(ctr.Command[1:], ctr.Args)
}

// jobNameField are the downward API fields that hold the Job's name: the
// same for every pod of a Job.
var jobNameField = map[string]bool{
	"metadata.labels['batch.kubernetes.io/job-name']": true,
	"metadata.labels['job-name']":                     true,
}

// podEnv is the container's environment as a pod of job jobName would see
// it, with stand-ins for what only the cluster knows.
func podEnv(t *testing.T, c *cluster, ctr corev1.Container, jobName string) map[string]string {
	t.Helper()
	vars := map[string]string{}
	for _, e := range ctr.Env {
		v := e.Value
		switch f := e.ValueFrom; {
		case f == nil:
			v = expandK8s(v, vars)
		case f.FieldRef != nil && jobNameField[f.FieldRef.FieldPath]:
			v = jobName
		case f.FieldRef != nil && f.FieldRef.FieldPath == "metadata.name":
			v = jobName + "-x7k2p" // differs between a Job's pods
		case f.FieldRef != nil:
			v = "stand-in"
		case f.SecretKeyRef != nil:
			v = "sk_test_standin"
		case f.ConfigMapKeyRef != nil:
			cm := c.configMaps[f.ConfigMapKeyRef.Name]
			if cm == nil {
				t.Errorf("env %s: ConfigMap %q is not in %s", e.Name, f.ConfigMapKeyRef.Name, deployDir)
				continue
			}
			v = cm.Data[f.ConfigMapKeyRef.Key]
		case f.ResourceFieldRef != nil:
			v = "1"
		}
		vars[e.Name] = v
	}
	return vars
}

var k8sVarRE = regexp.MustCompile(`\$\$|\$\(([A-Za-z_][A-Za-z0-9_.-]*)\)`)

// expandK8s expands $(VAR) as Kubernetes does in args and env values: a
// defined variable is replaced, an undefined one is left as is, $$ is $.
func expandK8s(s string, vars map[string]string) string {
	return k8sVarRE.ReplaceAllStringFunc(s, func(m string) string {
		if m == "$$" {
			return "$"
		}
		if v, ok := vars[m[2:len(m)-1]]; ok {
			return v
		}
		return m
	})
}

func envVar(ctr corev1.Container, name string) *corev1.EnvVar {
	for i := range ctr.Env {
		if ctr.Env[i].Name == name {
			return &ctr.Env[i]
		}
	}
	return nil
}

func volume(pod *corev1.PodSpec, name string) *corev1.Volume {
	for i := range pod.Volumes {
		if pod.Volumes[i].Name == name {
			return &pod.Volumes[i]
		}
	}
	return nil
}

// mountAt returns the volume and mount that hold file p in the container,
// the deepest mount first; nil when p is on the root filesystem.
func mountAt(pod *corev1.PodSpec, ctr corev1.Container, p string) (*corev1.Volume, *corev1.VolumeMount) {
	if !path.IsAbs(p) {
		p = path.Join("/data", p) // the image's WORKDIR
	}
	p = path.Clean(p)
	var best *corev1.VolumeMount
	for i, m := range ctr.VolumeMounts {
		mp := path.Clean(m.MountPath)
		if (p == mp || strings.HasPrefix(p, mp+"/") || mp == "/") && (best == nil || len(mp) > len(path.Clean(best.MountPath))) {
			best = &ctr.VolumeMounts[i]
		}
	}
	if best == nil {
		return nil, nil
	}
	return volume(pod, best.Name), best
}

func volumeAt(pod *corev1.PodSpec, ctr corev1.Container, p string) *corev1.Volume {
	v, _ := mountAt(pod, ctr, p)
	return v
}

// configMapFile returns the contents of file p, which must come from a
// ConfigMap volume.
func configMapFile(c *cluster, pod *corev1.PodSpec, ctr corev1.Container, p string) (string, error) {
	v, m := mountAt(pod, ctr, p)
	if v == nil || v.ConfigMap == nil {
		return "", fmt.Errorf("not on a ConfigMap volume")
	}
	cm := c.configMaps[v.ConfigMap.Name]
	if cm == nil {
		return "", fmt.Errorf("ConfigMap %q is not in %s", v.ConfigMap.Name, deployDir)
	}
	rel := strings.TrimPrefix(strings.TrimPrefix(path.Clean(p), path.Clean(m.MountPath)), "/")
	if m.SubPath != "" {
		rel = path.Join(m.SubPath, rel)
	}
	key := rel
	if len(v.ConfigMap.Items) > 0 {
		key = ""
		for _, it := range v.ConfigMap.Items {
			if it.Path == rel {
				key = it.Key
			}
		}
	}
	doc, ok := cm.Data[key]
	if !ok {
		return "", fmt.Errorf("ConfigMap %q has no key %q", cm.Name, key)
	}
	return doc, nil
}
