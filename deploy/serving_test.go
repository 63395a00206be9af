package deploy

import (
	"os"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	knativev1 "knative.dev/serving/pkg/apis/serving/v1"
	"sigs.k8s.io/yaml"

	"github.com/sluice-serving/sluice/server"
)

func decodeFile[T any](t *testing.T, path string) *T {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var v T
	if err := yaml.UnmarshalStrict(b, &v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return &v
}

func container(t *testing.T, spec corev1.PodSpec, what string) corev1.Container {
	t.Helper()
	if len(spec.Containers) == 0 {
		t.Fatalf("%s: no container", what)
	}
	return spec.Containers[0]
}

// The Deployment runs the image `make image` builds, gives model loading a
// startup probe, and mounts the repository where its config looks.
func TestDeploymentServesTheBuiltImage(t *testing.T) {
	d := decodeFile[appsv1.Deployment](t, "base/deployment.yaml")
	c := container(t, d.Spec.Template.Spec, "base/deployment.yaml")
	if c.Image != "sluice" {
		t.Errorf("image %q, want sluice (kustomization.yaml sets its registry and tag)", c.Image)
	}
	if c.StartupProbe == nil || c.StartupProbe.HTTPGet == nil || c.StartupProbe.HTTPGet.Path != "/v2/health/ready" {
		t.Errorf("startupProbe %+v, want one on /v2/health/ready", c.StartupProbe)
	}
	if c.LivenessProbe == nil || c.LivenessProbe.HTTPGet.Path != "/v2/health/live" {
		t.Errorf("livenessProbe %+v, want one on /v2/health/live", c.LivenessProbe)
	}
	if !mounts(c, "models", "/models") {
		t.Errorf("volume mounts %+v, want the models at /models", c.VolumeMounts)
	}
	if sc := d.Spec.Template.Spec.SecurityContext; sc == nil || sc.RunAsNonRoot == nil || !*sc.RunAsNonRoot || sc.RunAsUser == nil || *sc.RunAsUser != 10001 {
		t.Errorf("pod security context %+v, want non-root as the image's user 10001", sc)
	}
}

// The Knative Service serves models: an init container fills the volume
// Sluice serves from the models image.
func TestKnativeServiceHasModels(t *testing.T) {
	s := decodeFile[knativev1.Service](t, "knative/service.yaml")
	spec := s.Spec.Template.Spec.PodSpec
	c := container(t, spec, "knative/service.yaml")
	if c.Image != "sluice" || !mounts(c, "models", "/models") {
		t.Errorf("container %s mounts %+v, want image sluice with the models at /models", c.Image, c.VolumeMounts)
	}
	if len(spec.InitContainers) != 1 || spec.InitContainers[0].Image != "sluice-models" || !mounts(spec.InitContainers[0], "models", "/repository") {
		t.Errorf("init containers %+v, want one copying sluice-models' /models into the models volume", spec.InitContainers)
	}
	var found bool
	for _, v := range spec.Volumes {
		found = found || (v.Name == "models" && v.EmptyDir != nil)
	}
	if !found {
		t.Errorf("volumes %+v, want an emptyDir named models", spec.Volumes)
	}
}

// The GPU overlay asks for a GPU, lands on GPU nodes, tolerates their
// taint and runs the GPU image with the GPU build of ONNX Runtime.
func TestGPUOverlay(t *testing.T) {
	d := decodeFile[appsv1.Deployment](t, "overlays/gpu/deployment-gpu.yaml")
	spec := d.Spec.Template.Spec
	c := container(t, spec, "overlays/gpu/deployment-gpu.yaml")
	if q, ok := c.Resources.Limits["nvidia.com/gpu"]; !ok || q.Value() < 1 {
		t.Errorf("limits %v, want nvidia.com/gpu", c.Resources.Limits)
	}
	if len(spec.NodeSelector) == 0 || len(spec.Tolerations) == 0 || spec.Tolerations[0].Key != "nvidia.com/gpu" {
		t.Errorf("node selector %v, tolerations %+v: want GPU nodes and their taint tolerated", spec.NodeSelector, spec.Tolerations)
	}
	var lib bool
	for _, e := range c.Env {
		lib = lib || (e.Name == "SLUICE_RUNTIME_LIBRARY" && e.Value != "")
	}
	if !lib {
		t.Errorf("env %+v, want SLUICE_RUNTIME_LIBRARY naming the GPU build", c.Env)
	}
	k := decodeFile[kustomization](t, "overlays/gpu/kustomization.yaml")
	if len(k.Images) != 1 || k.Images[0].NewTag != server.Version+"-gpu" {
		t.Errorf("images %+v, want sluice at %s-gpu", k.Images, server.Version)
	}
}

func mounts(c corev1.Container, volume, path string) bool {
	for _, m := range c.VolumeMounts {
		if m.Name == volume && m.MountPath == path {
			return true
		}
	}
	return false
}
