package deploy

import (
	"flag"
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"sigs.k8s.io/yaml"

	"github.com/sluice-serving/sluice/config"
)

// rendered is what a kustomization renders, decoded strictly into the
// upstream types, by name.
type rendered struct {
	deployments  map[string]*appsv1.Deployment
	statefulSets map[string]*appsv1.StatefulSet
	services     map[string]*corev1.Service
	configMaps   map[string]*corev1.ConfigMap
	budgets      map[string]*policyv1.PodDisruptionBudget
}

func renderObjects(t *testing.T, dir string) rendered {
	t.Helper()
	r := rendered{
		deployments:  map[string]*appsv1.Deployment{},
		statefulSets: map[string]*appsv1.StatefulSet{},
		services:     map[string]*corev1.Service{},
		configMaps:   map[string]*corev1.ConfigMap{},
		budgets:      map[string]*policyv1.PodDisruptionBudget{},
	}
	for _, doc := range render(t, dir) {
		var head struct{ APIVersion, Kind string }
		if err := yaml.Unmarshal(doc, &head); err != nil {
			t.Fatal(err)
		}
		switch head.APIVersion + "/" + head.Kind {
		case "apps/v1/Deployment":
			addStrict(t, dir, doc, r.deployments)
		case "apps/v1/StatefulSet":
			addStrict(t, dir, doc, r.statefulSets)
		case "v1/Service":
			addStrict(t, dir, doc, r.services)
		case "v1/ConfigMap":
			addStrict(t, dir, doc, r.configMaps)
		case "policy/v1/PodDisruptionBudget":
			addStrict(t, dir, doc, r.budgets)
		}
	}
	return r
}

// named is an object with a name.
type named interface{ GetName() string }

func addStrict[T any, P interface {
	*T
	named
}](t *testing.T, dir string, doc []byte, into map[string]P) {
	t.Helper()
	var v T
	if err := yaml.UnmarshalStrict(doc, &v); err != nil {
		t.Fatalf("%s: %v", dir, err)
	}
	into[P(&v).GetName()] = &v
}

// kustomizations lists the folders holding a kustomization (not a
// component), as `kubectl apply -k` takes them.
func kustomizations(t *testing.T) []string {
	var dirs []string
	err := filepath.WalkDir(".", func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() || d.Name() != "kustomization.yaml" {
			return err
		}
		k := decodeFile[kustomization](t, p)
		if k.Kind == "Kustomization" {
			dirs = append(dirs, filepath.ToSlash(filepath.Dir(p)))
		}
		return nil
	})
	if err != nil || len(dirs) < 8 {
		t.Fatalf("found %d kustomizations: %v", len(dirs), err)
	}
	return dirs
}

// podConfig is the configuration a pod of a workload serves with: its
// container's -config file from the rendered ConfigMap mounted there,
// under its environment as the kubelet would set it for a pod named pod.
type podConfig struct {
	cfg     config.Config
	environ []string
}

// loadPodConfig loads what the Sluice container of spec serves with, by
// the real loader; ok is false when the container takes no -config.
func loadPodConfig(t *testing.T, r rendered, spec corev1.PodSpec, pod string) (pc podConfig, ok bool) {
	t.Helper()
	c := spec.Containers[0]
	i := slices.Index(c.Args, "-config")
	if i < 0 || i+1 >= len(c.Args) {
		return pc, false
	}
	path := c.Args[i+1]
	var volume string
	for _, m := range c.VolumeMounts {
		if m.MountPath == filepath.Dir(path) && m.SubPath == "" {
			volume = m.Name
		}
	}
	var cmName string
	for _, v := range spec.Volumes {
		if v.Name == volume && v.ConfigMap != nil {
			cmName = v.ConfigMap.Name
		}
	}
	cm, found := r.configMaps[cmName]
	if !found {
		t.Fatalf("-config %s: no rendered ConfigMap mounted at %s (volume %q, ConfigMap %q)", path, filepath.Dir(path), volume, cmName)
	}
	data, found := cm.Data[filepath.Base(path)]
	if !found {
		t.Fatalf("-config %s: ConfigMap %s has no key %s", path, cmName, filepath.Base(path))
	}
	f := filepath.Join(t.TempDir(), filepath.Base(path))
	if err := os.WriteFile(f, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
	pc.environ = podEnv(t, c, pod)
	fs := flag.NewFlagSet("t", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	config.Flags(fs)
	if err := fs.Parse([]string{"-config", f}); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(fs, pc.environ)
	if err != nil {
		t.Fatalf("configuration of pod %s (ConfigMap %s and env %q): %v", pod, cmName, pc.environ, err)
	}
	pc.cfg = cfg
	return pc, true
}

// podEnv is the container's environment in a pod named pod in the
// namespace default: fieldRefs resolved, $(VAR) expanded as the kubelet
// does, and a secret's value standing for what the Secret holds.
func podEnv(t *testing.T, c corev1.Container, pod string) []string {
	t.Helper()
	if len(c.EnvFrom) > 0 {
		t.Errorf("container %s: envFrom is not simulated here", c.Name)
	}
	vals := map[string]string{}
	var environ []string
	for _, e := range c.Env {
		v := e.Value
		switch {
		case e.ValueFrom == nil:
			v = expand(v, vals)
		case e.ValueFrom.FieldRef != nil && e.ValueFrom.FieldRef.FieldPath == "metadata.name":
			v = pod
		case e.ValueFrom.FieldRef != nil && e.ValueFrom.FieldRef.FieldPath == "metadata.namespace":
			v = "default"
		case e.ValueFrom.SecretKeyRef != nil:
			v = "secret-" + e.ValueFrom.SecretKeyRef.Key
		default:
			t.Errorf("container %s: env %s: valueFrom %+v is not simulated here", c.Name, e.Name, e.ValueFrom)
			continue
		}
		vals[e.Name] = v
		environ = append(environ, e.Name+"="+v)
	}
	return environ
}

var envRef = regexp.MustCompile(`\$\(([A-Za-z_][A-Za-z0-9_]*)\)`)

// expand replaces $(VAR) with VAR's value where vals has it, as the
// kubelet expands env values and args.
func expand(s string, vals map[string]string) string {
	return envRef.ReplaceAllStringFunc(s, func(m string) string {
		if v, ok := vals[m[2:len(m)-1]]; ok {
			return v
		}
		return m
	})
}

// Every kustomization's Sluice pods start with a configuration the real
// loader accepts: the rendered ConfigMap under the rendered environment
// (every SLUICE_* variable names a key). Kustomizations are found on disk,
// so a new overlay is checked without being listed.
func TestRenderedConfigurationsLoad(t *testing.T) {
	for _, dir := range kustomizations(t) {
		t.Run(dir, func(t *testing.T) {
			if !slices.ContainsFunc(builtImages, func(b builtImage) bool { return b.dir == dir }) {
				t.Errorf("%s is not in builtImages (render_test.go)", dir)
			}
			r := renderObjects(t, dir)
			for name, d := range r.deployments {
				if _, ok := loadPodConfig(t, r, d.Spec.Template.Spec, name+"-5d8f7b9c6-x2x9k"); !ok {
					t.Errorf("deployment %s: its container takes no -config", name)
				}
			}
		})
	}
}

// etcdFlags reads a container's --flag=value arguments.
func etcdFlags(t *testing.T, c corev1.Container) map[string]string {
	t.Helper()
	flags := map[string]string{}
	args := c.Args
	if len(c.Command) > 1 {
		args = slices.Concat(c.Command[1:], c.Args)
	}
	for _, a := range args {
		k, v, ok := strings.Cut(strings.TrimPrefix(a, "--"), "=")
		if !ok || !strings.HasPrefix(a, "--") {
			t.Fatalf("etcd argument %q: want --flag=value", a)
		}
		if _, dup := flags[k]; dup {
			t.Fatalf("etcd flag --%s given twice", k)
		}
		flags[k] = v
	}
	return flags
}

// urlPort is the port of a one-URL flag value.
func urlPort(t *testing.T, flag, v string) int32 {
	t.Helper()
	u, err := url.Parse(v)
	if err != nil || strings.Contains(v, ",") || u.Port() == "" {
		t.Fatalf("--%s=%s: want one URL with a port (%v)", flag, v, err)
	}
	p, _ := strconv.Atoi(u.Port())
	return int32(p)
}

// selects reports whether every label of the selector is on labels.
func selects(selector, labels map[string]string) bool {
	if len(selector) == 0 {
		return false
	}
	for k, v := range selector {
		if labels[k] != v {
			return false
		}
	}
	return true
}

// containerPort resolves a probe's or a Service's target port.
func containerPort(c corev1.Container, p intstr.IntOrString) int32 {
	if p.Type == intstr.Int {
		return p.IntVal
	}
	for _, cp := range c.Ports {
		if cp.Name == p.StrVal {
			return cp.ContainerPort
		}
	}
	return -1
}

// The fleet overlay runs etcd as three members that bootstrap one cluster
// by their pods' names under the headless Service, and points three Sluice
// replicas, each named by its pod, at every member's client port.
func TestFleetOverlay(t *testing.T) {
	r := renderObjects(t, "overlays/fleet")
	if len(r.statefulSets) != 1 {
		t.Fatalf("rendered %d StatefulSets, want etcd's", len(r.statefulSets))
	}
	var sts *appsv1.StatefulSet
	for _, s := range r.statefulSets {
		sts = s
	}
	spec := sts.Spec.Template.Spec
	podLabels := sts.Spec.Template.Labels
	if sts.Spec.Replicas == nil || *sts.Spec.Replicas != 3 {
		t.Fatalf("etcd replicas %v, want 3", sts.Spec.Replicas)
	}
	if sts.Spec.PodManagementPolicy != appsv1.ParallelPodManagement {
		t.Errorf("podManagementPolicy %q, want Parallel: no member is ready before a quorum has met", sts.Spec.PodManagementPolicy)
	}
	if sts.Spec.Selector == nil || !selects(sts.Spec.Selector.MatchLabels, podLabels) {
		t.Errorf("selector %+v does not select the pod labels %v", sts.Spec.Selector, podLabels)
	}

	// The governing Service is headless and publishes members before they
	// are ready, so that they can find one another to become ready.
	headless, ok := r.services[sts.Spec.ServiceName]
	if !ok {
		t.Fatalf("serviceName %q: no such Service rendered", sts.Spec.ServiceName)
	}
	if headless.Spec.ClusterIP != corev1.ClusterIPNone || !headless.Spec.PublishNotReadyAddresses || !selects(headless.Spec.Selector, podLabels) {
		t.Errorf("Service %s: clusterIP %q, publishNotReadyAddresses %v, selector %v: want a headless Service publishing the etcd pods before they are ready",
			headless.Name, headless.Spec.ClusterIP, headless.Spec.PublishNotReadyAddresses, headless.Spec.Selector)
	}

	c := container(t, spec, "etcd StatefulSet")
	if ref := c.Image; !regexp.MustCompile(`^(quay\.io/coreos|registry\.k8s\.io|gcr\.io/etcd-development)/etcd:v?3\.\d+\.\d+(-\d+)?$`).MatchString(ref) {
		t.Errorf("etcd image %q, want a pinned etcd 3 release", ref)
	}
	flags := etcdFlags(t, c)
	clientPort := urlPort(t, "listen-client-urls", flags["listen-client-urls"])
	peerPort := urlPort(t, "listen-peer-urls", flags["listen-peer-urls"])

	// --name is the pod's name, from the downward API.
	nameVar := envRef.FindStringSubmatch(flags["name"])
	if nameVar == nil || nameVar[0] != flags["name"] {
		t.Fatalf("--name=%s: want $(VAR) naming a variable that holds the pod's name", flags["name"])
	}
	var fromPodName bool
	for _, e := range c.Env {
		fromPodName = fromPodName || (e.Name == nameVar[1] && e.ValueFrom != nil && e.ValueFrom.FieldRef != nil && e.ValueFrom.FieldRef.FieldPath == "metadata.name")
	}
	if !fromPodName {
		t.Errorf("env %+v: want %s from fieldRef metadata.name", c.Env, nameVar[1])
	}

	// --initial-cluster names exactly the three pods, each at its peer URL
	// under the headless Service, and each pod advertises that URL.
	want := map[string]string{}
	for i := range 3 {
		pod := fmt.Sprintf("%s-%d", sts.Name, i)
		want[pod] = fmt.Sprintf("http://%s.%s:%d", pod, headless.Name, peerPort)
	}
	got := map[string]string{}
	for _, m := range strings.Split(flags["initial-cluster"], ",") {
		name, u, _ := strings.Cut(m, "=")
		if _, dup := got[name]; dup {
			t.Errorf("--initial-cluster names %s twice", name)
		}
		got[name] = u
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("--initial-cluster=%s\nwant %v", flags["initial-cluster"], want)
	}
	for pod, peerURL := range want {
		vals := map[string]string{nameVar[1]: pod}
		if n := expand(flags["name"], vals); n != pod {
			t.Errorf("pod %s: --name expands to %s", pod, n)
		}
		if u := expand(flags["initial-advertise-peer-urls"], vals); u != peerURL {
			t.Errorf("pod %s advertises peer URL %s; --initial-cluster has %s", pod, u, peerURL)
		}
		if u, w := expand(flags["advertise-client-urls"], vals), fmt.Sprintf("http://%s.%s:%d", pod, headless.Name, clientPort); u != w {
			t.Errorf("pod %s advertises client URL %s, want %s", pod, u, w)
		}
	}
	if flags["initial-cluster-state"] != "new" || flags["initial-cluster-token"] == "" {
		t.Errorf("--initial-cluster-state=%s --initial-cluster-token=%s: want new and a token", flags["initial-cluster-state"], flags["initial-cluster-token"])
	}

	// The Services reach the ports etcd listens on.
	listening := map[int32]bool{clientPort: true, peerPort: true}
	if m, ok := flags["listen-metrics-urls"]; ok {
		listening[urlPort(t, "listen-metrics-urls", m)] = true
	}
	for _, p := range headless.Spec.Ports {
		if tp := containerPort(c, p.TargetPort); tp != clientPort && tp != peerPort {
			t.Errorf("Service %s port %s targets %d, which etcd does not serve peers or clients on", headless.Name, p.Name, tp)
		}
	}
	var clientService string
	for name, s := range r.services {
		if name == headless.Name || !selects(s.Spec.Selector, podLabels) {
			continue
		}
		for _, p := range s.Spec.Ports {
			if containerPort(c, p.TargetPort) == clientPort && s.Spec.ClusterIP != corev1.ClusterIPNone {
				clientService = name
			}
		}
	}
	if clientService == "" {
		t.Errorf("no client Service: want one with a cluster IP routing to the etcd client port %d", clientPort)
	}

	// Data on each member's own volume.
	var onClaim bool
	for _, m := range c.VolumeMounts {
		for _, pvc := range sts.Spec.VolumeClaimTemplates {
			onClaim = onClaim || (m.Name == pvc.Name && strings.HasPrefix(flags["data-dir"]+"/", strings.TrimSuffix(m.MountPath, "/")+"/"))
		}
	}
	if !onClaim {
		t.Errorf("--data-dir=%s is not on a volumeClaimTemplate's mount (%+v)", flags["data-dir"], c.VolumeMounts)
	}

	// Ready: etcd's own health, on a port it serves it on.
	if p := c.ReadinessProbe; p == nil || p.HTTPGet == nil || (p.HTTPGet.Path != "/readyz" && p.HTTPGet.Path != "/health") || !listening[containerPort(c, p.HTTPGet.Port)] {
		t.Errorf("readinessProbe %+v, want /readyz or /health on a port etcd listens on", p)
	}
	if c.Resources.Requests.Cpu().IsZero() || c.Resources.Requests.Memory().IsZero() || c.Resources.Limits.Memory().IsZero() {
		t.Errorf("resources %+v, want CPU and memory requests and a memory limit", c.Resources)
	}
	if sc := spec.SecurityContext; sc == nil || sc.RunAsNonRoot == nil || !*sc.RunAsNonRoot || sc.RunAsUser == nil || *sc.RunAsUser == 0 {
		t.Errorf("pod security context %+v, want non-root", sc)
	}

	// Voluntary disruptions take one member at a time.
	var budgeted bool
	for _, b := range r.budgets {
		if b.Spec.Selector != nil && selects(b.Spec.Selector.MatchLabels, podLabels) {
			budgeted = b.Spec.MaxUnavailable != nil && *b.Spec.MaxUnavailable == intstr.FromInt32(1)
		}
	}
	if !budgeted {
		t.Errorf("no PodDisruptionBudget with maxUnavailable 1 selects the etcd pods")
	}

	// Sluice: three replicas, every member's client URL, the pod's name.
	d, ok := r.deployments["sluice"]
	if !ok {
		t.Fatal("no sluice Deployment rendered")
	}
	if d.Spec.Replicas == nil || *d.Spec.Replicas != 3 {
		t.Errorf("sluice replicas %v, want 3", d.Spec.Replicas)
	}
	const pod = "sluice-5d8f7b9c6-x2x9k"
	pc, ok := loadPodConfig(t, r, d.Spec.Template.Spec, pod)
	if !ok {
		t.Fatal("the sluice container takes no -config")
	}
	coord := pc.cfg.Coordination
	members := map[string]bool{}
	for _, e := range coord.Endpoints {
		u, err := url.Parse(e)
		if err != nil || u.Scheme != "http" {
			t.Errorf("endpoint %q: want an http URL (%v)", e, err)
			continue
		}
		switch {
		case u.Hostname() == clientService && u.Port() == fmt.Sprint(r.services[clientService].Spec.Ports[0].Port):
			for p := range want {
				members[p] = true
			}
		case u.Port() == fmt.Sprint(clientPort) && strings.HasSuffix(u.Hostname(), "."+headless.Name):
			members[strings.TrimSuffix(u.Hostname(), "."+headless.Name)] = true
		default:
			t.Errorf("endpoint %s is neither an etcd pod's client URL nor the client Service", e)
		}
	}
	for p := range want {
		if !members[p] {
			t.Errorf("coordination.endpoints %q do not reach member %s", coord.Endpoints, p)
		}
	}
	if len(members) != len(want) {
		t.Errorf("coordination.endpoints %q name members %v; the StatefulSet has %d", coord.Endpoints, members, len(want))
	}
	if coord.Replica != pod {
		t.Errorf("coordination.replica %q in pod %s, want the pod's name (fieldRef metadata.name)", coord.Replica, pod)
	}

	// Neither workload's Services or budgets select the other's pods.
	for name, s := range r.services {
		if selects(s.Spec.Selector, podLabels) == selects(s.Spec.Selector, d.Spec.Template.Labels) {
			t.Errorf("Service %s selects %v: want etcd's pods or Sluice's, not both or neither", name, s.Spec.Selector)
		}
	}
}

// The overlay for an etcd that already runs sets only the coordination
// endpoints and each replica's name.
func TestFleetExternalOverlay(t *testing.T) {
	r := renderObjects(t, "overlays/fleet-external")
	if len(r.statefulSets) != 0 {
		t.Errorf("rendered %d StatefulSets; the external overlay runs no etcd", len(r.statefulSets))
	}
	base := renderObjects(t, "base")
	d, ok := r.deployments["sluice"]
	if !ok {
		t.Fatal("no sluice Deployment rendered")
	}
	if *d.Spec.Replicas != *base.deployments["sluice"].Spec.Replicas {
		t.Errorf("replicas %d, want the base's %d", *d.Spec.Replicas, *base.deployments["sluice"].Spec.Replicas)
	}
	const pod = "sluice-5d8f7b9c6-x2x9k"
	pc, ok := loadPodConfig(t, r, d.Spec.Template.Spec, pod)
	if !ok {
		t.Fatal("the sluice container takes no -config")
	}
	coord := pc.cfg.Coordination
	if !coord.Enabled() {
		t.Fatal("coordination.endpoints empty")
	}
	for _, e := range coord.Endpoints {
		if u, err := url.Parse(e); err != nil || u.Hostname() == "" || u.Port() == "" {
			t.Errorf("endpoint %q: want a URL with a host and port (%v)", e, err)
		}
	}
	if coord.Replica != pod {
		t.Errorf("coordination.replica %q in pod %s, want the pod's name (fieldRef metadata.name)", coord.Replica, pod)
	}
}
