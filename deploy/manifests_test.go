// Package deploy holds the Kubernetes, KEDA and Knative manifests; its test
// decodes every one strictly into the upstream API types and checks that
// every query names metrics Sluice exports.
package deploy

import (
	"bytes"
	"flag"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	wfv1 "github.com/argoproj/argo-workflows/v3/pkg/apis/workflow/v1alpha1"
	kedav1alpha1 "github.com/kedacore/keda/v2/apis/keda/v1alpha1"
	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	"github.com/prometheus/client_golang/prometheus"
	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	knativev1 "knative.dev/serving/pkg/apis/serving/v1"
	"sigs.k8s.io/yaml"

	"github.com/sluice-serving/sluice/autoscale"
	"github.com/sluice-serving/sluice/config"
	"github.com/sluice-serving/sluice/coordination"
	"github.com/sluice-serving/sluice/drift"
	"github.com/sluice-serving/sluice/grpcserver"
	"github.com/sluice-serving/sluice/registry"
	"github.com/sluice-serving/sluice/rollout"
	"github.com/sluice-serving/sluice/server"
)

// kustomization is the part of a kustomization.yaml the test checks.
type kustomization struct {
	APIVersion string   `json:"apiVersion"`
	Kind       string   `json:"kind"`
	Resources  []string `json:"resources"`
	Images     []struct {
		Name    string `json:"name"`
		NewName string `json:"newName"`
		NewTag  string `json:"newTag"`
	} `json:"images"`
	Patches []struct {
		Path string `json:"path"`
	} `json:"patches"`
	Configurations []string `json:"configurations"`
}

func manifests(t *testing.T) []string {
	var files []string
	err := filepath.WalkDir(".", func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() && strings.HasSuffix(p, ".yaml") && !strings.HasPrefix(p, "traces") {
			files = append(files, p)
		}
		return err
	})
	if err != nil || len(files) < 10 {
		t.Fatalf("found %d manifests: %v", len(files), err)
	}
	return files
}

func documents(t *testing.T, path string) [][]byte {
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var docs [][]byte
	for _, d := range bytes.Split(b, []byte("\n---")) {
		if len(bytes.TrimSpace(d)) > 0 {
			docs = append(docs, d)
		}
	}
	return docs
}

// typed returns the upstream type for an apiVersion and kind.
func typed(apiVersion, kind string) any {
	switch apiVersion + "/" + kind {
	case "apps/v1/Deployment":
		return &appsv1.Deployment{}
	case "apps/v1/StatefulSet":
		return &appsv1.StatefulSet{}
	case "policy/v1/PodDisruptionBudget":
		return &policyv1.PodDisruptionBudget{}
	case "v1/Service":
		return &corev1.Service{}
	case "v1/ConfigMap":
		return &corev1.ConfigMap{}
	case "autoscaling/v2/HorizontalPodAutoscaler":
		return &autoscalingv2.HorizontalPodAutoscaler{}
	case "monitoring.coreos.com/v1/PodMonitor":
		return &monitoringv1.PodMonitor{}
	case "keda.sh/v1alpha1/ScaledObject":
		return &kedav1alpha1.ScaledObject{}
	case "serving.knative.dev/v1/Service":
		return &knativev1.Service{}
	case "argoproj.io/v1alpha1/WorkflowTemplate":
		return &wfv1.WorkflowTemplate{}
	case "argoproj.io/v1alpha1/CronWorkflow":
		return &wfv1.CronWorkflow{}
	case "kustomize.config.k8s.io/v1beta1/Kustomization":
		return &kustomization{}
	case "argoproj.io/v1alpha1/EventSource":
		return &eventSource{}
	case "argoproj.io/v1alpha1/Sensor":
		return &sensor{}
	}
	return nil
}

// eventSource and sensor are the parts of Argo Events' EventSource and
// Sensor (argoproj.io/v1alpha1) that deploy/pipeline/events uses, with the
// published field names: Argo Events is not a Go module this repository
// can fetch, and strict decoding into these still catches a misspelt or
// misplaced field.
type eventSource struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata"`
	Spec              struct {
		Service struct {
			Ports []corev1.ServicePort `json:"ports"`
		} `json:"service"`
		Webhook map[string]struct {
			Port     string `json:"port"`
			Endpoint string `json:"endpoint"`
			Method   string `json:"method"`
		} `json:"webhook"`
	} `json:"spec"`
}

type sensor struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata"`
	Spec              struct {
		Dependencies []struct {
			Name            string `json:"name"`
			EventSourceName string `json:"eventSourceName"`
			EventName       string `json:"eventName"`
			Filters         struct {
				Data []struct {
					Path  string   `json:"path"`
					Type  string   `json:"type"`
					Value []string `json:"value"`
				} `json:"data"`
			} `json:"filters"`
		} `json:"dependencies"`
		Triggers []struct {
			Template struct {
				Name         string `json:"name"`
				ArgoWorkflow struct {
					Operation string `json:"operation"`
					Source    struct {
						Resource wfv1.Workflow `json:"resource"`
					} `json:"source"`
				} `json:"argoWorkflow"`
			} `json:"template"`
		} `json:"triggers"`
	} `json:"spec"`
}

func TestManifestsDecodeStrictly(t *testing.T) {
	for _, path := range manifests(t) {
		for i, doc := range documents(t, path) {
			var head struct {
				APIVersion string `json:"apiVersion"`
				Kind       string `json:"kind"`
			}
			if err := yaml.Unmarshal(doc, &head); err != nil {
				t.Fatalf("%s[%d]: %v", path, i, err)
			}
			obj := typed(head.APIVersion, head.Kind)
			if obj == nil {
				t.Errorf("%s[%d]: no upstream type for %s %s", path, i, head.APIVersion, head.Kind)
				continue
			}
			if err := yaml.UnmarshalStrict(doc, obj); err != nil {
				t.Errorf("%s[%d] (%s): %v", path, i, head.Kind, err)
				continue
			}
			check(t, path, obj)
		}
	}
}

// check holds what strict decoding cannot: files a kustomization names
// exist, and the shipped sluice.yaml is a valid configuration.
func check(t *testing.T, path string, obj any) {
	switch o := obj.(type) {
	case *kustomization:
		for _, r := range o.Resources {
			if _, err := os.Stat(filepath.Join(filepath.Dir(path), r)); err != nil {
				t.Errorf("%s: resource %s: %v", path, r, err)
			}
		}
		for _, p := range o.Patches {
			if _, err := os.Stat(filepath.Join(filepath.Dir(path), p.Path)); err != nil {
				t.Errorf("%s: patch %s: %v", path, p.Path, err)
			}
		}
		for _, c := range o.Configurations {
			if _, err := os.Stat(filepath.Join(filepath.Dir(path), c)); err != nil {
				t.Errorf("%s: configuration %s: %v", path, c, err)
			}
		}
		for _, im := range o.Images {
			if im.NewTag != server.Version && !strings.HasPrefix(im.NewTag, server.Version+"-") {
				t.Errorf("%s: image %s tagged %q; the one version is %s (server.Version, the Makefile's VERSION)", path, im.Name, im.NewTag, server.Version)
			}
		}
	case *corev1.ConfigMap:
		if cfg, ok := o.Data["sluice.yaml"]; ok {
			f := filepath.Join(t.TempDir(), "sluice.yaml")
			os.WriteFile(f, []byte(cfg), 0o644)
			fs := flag.NewFlagSet("t", flag.ContinueOnError)
			fs.SetOutput(io.Discard)
			config.Flags(fs)
			fs.Parse([]string{"-config", f})
			if _, err := config.Load(fs, nil); err != nil {
				t.Errorf("%s: sluice.yaml: %v", path, err)
			}
		}
	}
}

// exported lists the metric names Sluice registers, with a histogram's
// _bucket, _sum and _count series.
func exported(t *testing.T) map[string]bool {
	reg := &recorder{names: map[string]bool{}}
	cfg := registry.DefaultConfig()
	cfg.Path = t.TempDir()
	log := slog.New(slog.DiscardHandler)
	models, err := registry.New(cfg, log, reg)
	if err != nil {
		t.Fatal(err)
	}
	ctl, err := rollout.New(models, filepath.Join(cfg.Path, ".sluice"), log, reg)
	if err != nil {
		t.Fatal(err)
	}
	if err := autoscale.Register(reg, autoscale.NewRecommender(autoscale.DefaultConfig())); err != nil {
		t.Fatal(err)
	}
	mon, err := drift.New(models, drift.DefaultConfig(), filepath.Join(cfg.Path, ".sluice", "drift"), log, reg)
	if err != nil {
		t.Fatal(err)
	}
	defer mon.Close()
	srv := server.New(server.DefaultConfig(), models, ctl, prometheus.NewRegistry(), log)
	reg.MustRegister(srv.Collectors()...)
	gs, err := grpcserver.New(grpcserver.Config{}, models, ctl, srv.Gate(), log)
	if err != nil {
		t.Fatal(err)
	}
	reg.MustRegister(gs.Collectors()...)
	// The coordinator registers its metrics when made; it dials etcd only
	// when it runs, so none is needed here.
	cc := coordination.DefaultConfig()
	cc.Endpoints, cc.Replica = []string{"http://127.0.0.1:2379"}, "test"
	coord, err := coordination.New(cc, models, ctl, log, reg)
	if err != nil {
		t.Fatal(err)
	}
	coord.Close()
	return reg.names
}

// recorder is a Registerer that keeps the names of what is registered.
type recorder struct{ names map[string]bool }

var fqName = regexp.MustCompile(`fqName: "([a-z_:]+)"`)

func (r *recorder) Register(c prometheus.Collector) error {
	ch := make(chan *prometheus.Desc, 64)
	go func() { c.Describe(ch); close(ch) }()
	for d := range ch {
		if m := fqName.FindStringSubmatch(d.String()); m != nil {
			for _, suffix := range []string{"", "_bucket", "_sum", "_count"} {
				r.names[m[1]+suffix] = true
			}
		}
	}
	return nil
}
func (r *recorder) MustRegister(cs ...prometheus.Collector) {
	for _, c := range cs {
		r.Register(c)
	}
}
func (r *recorder) Unregister(prometheus.Collector) bool { return true }

var metricName = regexp.MustCompile(`\b(?:sluice|nv_inference)_[a-z_]+\b`)

// TestQueriesNameExportedMetrics: every sluice_* or nv_inference_* name in
// a manifest or in docs/metrics.md is one Sluice exports.
func TestQueriesNameExportedMetrics(t *testing.T) {
	names := exported(t)
	files := append(manifests(t), filepath.Join("..", "docs", "metrics.md"), filepath.Join("..", "docs", "autoscaling.md"))
	seen := 0
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range metricName.FindAllString(string(b), -1) {
			if strings.HasPrefix(m, "sluice_concurrency_per_pod") || strings.HasPrefix(m, "sluice_admin") {
				continue // the adapter's name for a query, and the secret's key
			}
			seen++
			if !names[m] {
				t.Errorf("%s names %s, which Sluice does not export", f, m)
			}
		}
	}
	if seen < 10 {
		t.Errorf("only %d metric names found in the manifests and docs", seen)
	}
}
