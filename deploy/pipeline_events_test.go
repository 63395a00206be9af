package deploy

import (
	"encoding/json"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	wfv1 "github.com/argoproj/argo-workflows/v3/pkg/apis/workflow/v1alpha1"
	"sigs.k8s.io/yaml"

	"github.com/sluice-serving/sluice/drift"
)

// Argo Events' types are not a Go module this repository can fetch, so the
// EventSource and Sensor are read as plain maps and the fields that wire
// the loop together are checked by path.
func readDoc(t *testing.T, path string) map[string]any {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := yaml.Unmarshal(b, &doc); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return doc
}

// at walks doc along path (map keys, or list indexes as numbers).
func at(t *testing.T, doc any, path ...any) any {
	t.Helper()
	v := doc
	for i, p := range path {
		switch k := p.(type) {
		case string:
			m, ok := v.(map[string]any)
			if !ok {
				t.Fatalf("%v: not a map at %v", path[:i], v)
			}
			v = m[k]
		case int:
			l, ok := v.([]any)
			if !ok || k >= len(l) {
				t.Fatalf("%v: no item %d in %v", path[:i], k, v)
			}
			v = l[k]
		}
	}
	return v
}

// The Sensor listens to the EventSource's webhook, passes Sluice's drift
// events for student-success (and nothing else), and submits a Workflow of
// the pipeline's WorkflowTemplate.
func TestDriftEventsStartThePipeline(t *testing.T) {
	es := readDoc(t, "pipeline/events/eventsource.yaml")
	sensor := readDoc(t, "pipeline/events/sensor.yaml")
	if at(t, es, "kind") != "EventSource" || at(t, sensor, "kind") != "Sensor" {
		t.Fatalf("kinds %v and %v, want EventSource and Sensor", at(t, es, "kind"), at(t, sensor, "kind"))
	}
	hooks, _ := at(t, es, "spec", "webhook").(map[string]any)
	dep := at(t, sensor, "spec", "dependencies", 0)
	if at(t, dep, "eventSourceName") != at(t, es, "metadata", "name") || hooks[at(t, dep, "eventName").(string)] == nil {
		t.Errorf("the Sensor waits for %v/%v, which the EventSource (%v, webhooks %v) does not give",
			at(t, dep, "eventSourceName"), at(t, dep, "eventName"), at(t, es, "metadata", "name"), hooks)
	}
	hook := hooks[at(t, dep, "eventName").(string)]
	port := at(t, es, "spec", "service", "ports", 0, "targetPort")
	if at(t, hook, "port") != strings.TrimSpace(jsonOf(t, port)) || at(t, hook, "method") != "POST" {
		t.Errorf("webhook port %v method %v, want the Service's target port %v and POST", at(t, hook, "port"), at(t, hook, "method"), port)
	}

	// The filters match the event Sluice sends, as Argo Events wraps a
	// webhook's JSON body under "body".
	ev := drift.Event{SpecVersion: "1.0", Type: drift.EventType, Source: "/sluice/fleet", ID: "student-success-3-1", Time: time.Now(),
		Data: drift.EventData{Model: "student-success", Version: 3, State: "drifting"}}
	var body map[string]any
	if err := json.Unmarshal([]byte(jsonOf(t, ev)), &body); err != nil {
		t.Fatal(err)
	}
	payload := map[string]any{"body": body}
	for i := range at(t, dep, "filters", "data").([]any) {
		f := at(t, dep, "filters", "data", i)
		var got any = payload
		for _, k := range strings.Split(at(t, f, "path").(string), ".") {
			got = at(t, got, k)
		}
		want := at(t, f, "value").([]any)
		if !slices.Contains(want, got) {
			t.Errorf("filter %v: the event has %v, the filter passes %v", at(t, f, "path"), got, want)
		}
	}

	// The trigger submits a Workflow that runs the pipeline's template.
	wf := at(t, sensor, "spec", "triggers", 0, "template", "argoWorkflow")
	if at(t, wf, "operation") != "submit" {
		t.Errorf("operation %v, want submit", at(t, wf, "operation"))
	}
	var w wfv1.Workflow
	if err := yaml.UnmarshalStrict([]byte(jsonOf(t, at(t, wf, "source", "resource"))), &w); err != nil {
		t.Fatalf("the submitted resource is not a Workflow: %v", err)
	}
	tmpl := decodeFile[wfv1.WorkflowTemplate](t, pipelineTemplate)
	if w.Kind != "Workflow" || w.Spec.WorkflowTemplateRef == nil || w.Spec.WorkflowTemplateRef.Name != tmpl.Name || w.GenerateName == "" {
		t.Errorf("submitted %s %q from template %+v, want a Workflow with a generated name from %s", w.Kind, w.GenerateName, w.Spec.WorkflowTemplateRef, tmpl.Name)
	}
}

func jsonOf(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
