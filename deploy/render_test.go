package deploy

import (
	"bytes"
	"testing"

	wfv1 "github.com/argoproj/argo-workflows/v3/pkg/apis/workflow/v1alpha1"
	appsv1 "k8s.io/api/apps/v1"
	knativev1 "knative.dev/serving/pkg/apis/serving/v1"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"
	"sigs.k8s.io/yaml"

	"github.com/sluice-serving/sluice/server"
)

type builtImage struct {
	dir, image, initImage string
	gpu                   bool
}

// builtImages is, for every kustomization, the image its workload runs
// (and its init container's, and whether it asks for a GPU).
// TestRenderedConfigurationsLoad fails for a kustomization missing here.
var builtImages = []builtImage{
	{"base", "sluice:" + server.Version, "", false},
	{"overlays/hpa", "sluice:" + server.Version, "", false},
	{"overlays/keda", "sluice:" + server.Version, "", false},
	{"overlays/gpu", "sluice:" + server.Version + "-gpu", "", true},
	{"overlays/fleet", "sluice:" + server.Version, "", false},
	{"overlays/fleet-external", "sluice:" + server.Version, "", false},
	{"knative", "sluice:" + server.Version, "sluice:" + server.Version + "-demo", false},
	{"pipeline", "sluice:" + server.Version, "", false},
}

// render builds a kustomization as `kubectl apply -k` would and returns its
// documents.
func render(t *testing.T, dir string) [][]byte {
	t.Helper()
	res, err := krusty.MakeKustomizer(krusty.MakeDefaultOptions()).Run(filesys.MakeFsOnDisk(), dir)
	if err != nil {
		t.Fatalf("kustomize build %s: %v", dir, err)
	}
	out, err := res.AsYaml()
	if err != nil {
		t.Fatal(err)
	}
	var docs [][]byte
	for _, d := range bytes.Split(out, []byte("\n---\n")) {
		if len(bytes.TrimSpace(d)) > 0 {
			docs = append(docs, d)
		}
	}
	return docs
}

// Every kustomization builds, and what it renders runs the image `make
// image` tagged with the one version: the CPU image for the base and its
// autoscaling overlays, the GPU image with a GPU for the GPU overlay, and the
// models image in Knative's init container.
func TestKustomizationsRenderTheBuiltImages(t *testing.T) {
	for _, tt := range builtImages {
		t.Run(tt.dir, func(t *testing.T) {
			seen := 0
			for _, doc := range render(t, tt.dir) {
				var head struct{ Kind string }
				if err := yaml.Unmarshal(doc, &head); err != nil {
					t.Fatal(err)
				}
				switch head.Kind {
				case "Deployment":
					var d appsv1.Deployment
					if err := yaml.UnmarshalStrict(doc, &d); err != nil {
						t.Fatal(err)
					}
					c := d.Spec.Template.Spec.Containers[0]
					_, gpu := c.Resources.Limits["nvidia.com/gpu"]
					if c.Image != tt.image || gpu != tt.gpu || c.StartupProbe == nil {
						t.Errorf("rendered image %q gpu %v startup probe %v, want %q gpu %v and a startup probe", c.Image, gpu, c.StartupProbe != nil, tt.image, tt.gpu)
					}
					seen++
				case "WorkflowTemplate":
					var w wfv1.WorkflowTemplate
					if err := yaml.UnmarshalStrict(doc, &w); err != nil {
						t.Fatal(err)
					}
					for _, tmpl := range w.Spec.Templates {
						if tmpl.Container != nil && tmpl.Container.Image != tt.image {
							t.Errorf("template %s: rendered image %q, want %q", tmpl.Name, tmpl.Container.Image, tt.image)
						}
					}
					seen++
				case "Service":
					var s knativev1.Service
					if yaml.Unmarshal(doc, &s) != nil || s.APIVersion != "serving.knative.dev/v1" {
						continue // the core Service of the base
					}
					spec := s.Spec.Template.Spec.PodSpec
					if spec.Containers[0].Image != tt.image || spec.InitContainers[0].Image != tt.initImage {
						t.Errorf("rendered images %q and init %q, want %q and %q", spec.Containers[0].Image, spec.InitContainers[0].Image, tt.image, tt.initImage)
					}
					seen++
				}
			}
			if seen != 1 {
				t.Errorf("rendered %d workloads, want 1", seen)
			}
		})
	}
}
