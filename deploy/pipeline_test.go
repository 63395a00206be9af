package deploy

import (
	"maps"
	"regexp"
	"slices"
	"testing"

	wfv1 "github.com/argoproj/argo-workflows/v3/pkg/apis/workflow/v1alpha1"
	corev1 "k8s.io/api/core/v1"
)

const (
	pipelineTemplate = "pipeline/workflowtemplate.yaml"
	pipelineCron     = "pipeline/cronworkflow.yaml"
)

// pipelineDAG is the stage order of `sluice pipeline run`: each task and
// the tasks it waits for.
var pipelineDAG = map[string][]string{
	"prep":     nil,
	"train":    {"prep"},
	"export":   {"train"},
	"evaluate": {"export"},
	"publish":  {"evaluate"},
}

// dagTasks returns the tasks of the template's entrypoint DAG by name.
func dagTasks(t *testing.T, wt *wfv1.WorkflowTemplate) map[string]wfv1.DAGTask {
	t.Helper()
	entry := wt.GetTemplateByName(wt.Spec.Entrypoint)
	if entry == nil || entry.DAG == nil {
		t.Fatalf("entrypoint %q is not a DAG template", wt.Spec.Entrypoint)
	}
	tasks := map[string]wfv1.DAGTask{}
	for _, task := range entry.DAG.Tasks {
		if task.Depends != "" {
			t.Errorf("task %s uses depends; the test reads dependencies", task.Name)
		}
		tasks[task.Name] = task
	}
	return tasks
}

// topological orders the tasks so each follows those it depends on; it
// returns fewer tasks than it was given when they form a cycle.
func topological(tasks map[string]wfv1.DAGTask) []string {
	var order []string
	done := map[string]bool{}
	for progress := true; progress; {
		progress = false
		for _, name := range slices.Sorted(maps.Keys(tasks)) {
			if !done[name] && allDone(tasks[name].Dependencies, done) {
				done[name], progress = true, true
				order = append(order, name)
			}
		}
	}
	return order
}

func allDone(names []string, done map[string]bool) bool {
	for _, n := range names {
		if !done[n] {
			return false
		}
	}
	return true
}

// ancestors returns every task name runs after.
func ancestors(tasks map[string]wfv1.DAGTask, name string) map[string]bool {
	seen := map[string]bool{}
	stack := slices.Clone(tasks[name].Dependencies)
	for len(stack) > 0 {
		n := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		if !seen[n] {
			seen[n] = true
			stack = append(stack, tasks[n].Dependencies...)
		}
	}
	return seen
}

// The DAG runs the stages in the order of `sluice pipeline run`, without
// a cycle, each on a template the WorkflowTemplate defines.
func TestPipelineDAGOrder(t *testing.T) {
	wt := decodeFile[wfv1.WorkflowTemplate](t, pipelineTemplate)
	tasks := dagTasks(t, wt)
	if len(tasks) != len(pipelineDAG) {
		t.Errorf("tasks %v, want %v", slices.Sorted(maps.Keys(tasks)), slices.Sorted(maps.Keys(pipelineDAG)))
	}
	for name, want := range pipelineDAG {
		got := slices.Sorted(slices.Values(tasks[name].Dependencies))
		if !slices.Equal(got, want) {
			t.Errorf("task %s depends on %v, want %v", name, got, want)
		}
	}
	if order := topological(tasks); len(order) != len(tasks) {
		t.Errorf("dependencies form a cycle: only %v can run", order)
	}
	for name, task := range tasks {
		if tmpl := wt.GetTemplateByName(task.Template); tmpl == nil || tmpl.Container == nil {
			t.Errorf("task %s runs template %q, which is not a container template of %s", name, task.Template, pipelineTemplate)
		}
	}
}

var fromTask = regexp.MustCompile(`^\{\{tasks\.([a-z0-9-]+)\.outputs\.artifacts\.([a-z0-9-]+)\}\}$`)

// Every artifact a stage takes is the output of a task it runs after, or
// one with a location of its own (the data prep reads).
func TestPipelineArtifactsFlowAlongTheDAG(t *testing.T) {
	wt := decodeFile[wfv1.WorkflowTemplate](t, pipelineTemplate)
	tasks := dagTasks(t, wt)
	passed := 0
	for name, task := range tasks {
		tmpl := wt.GetTemplateByName(task.Template)
		if tmpl == nil {
			t.Fatalf("task %s: no template %q", name, task.Template)
		}
		for _, in := range tmpl.Inputs.Artifacts {
			arg := task.Arguments.GetArtifactByName(in.Name)
			switch {
			case arg != nil:
				passed++
				checkFrom(t, wt, tasks, name, arg.From)
			case !in.HasLocation():
				t.Errorf("task %s: input artifact %s is neither passed nor located", name, in.Name)
			}
		}
		for _, arg := range task.Arguments.Artifacts {
			if tmpl.Inputs.GetArtifactByName(arg.Name) == nil {
				t.Errorf("task %s passes artifact %s, which template %s does not take", name, arg.Name, tmpl.Name)
			}
		}
	}
	if passed != 4 {
		t.Errorf("%d artifacts passed between tasks, want 4 (a run folder into each stage after prep)", passed)
	}
}

// checkFrom: a task's artifact comes from an output that a task it runs
// after declares.
func checkFrom(t *testing.T, wt *wfv1.WorkflowTemplate, tasks map[string]wfv1.DAGTask, name, from string) {
	t.Helper()
	m := fromTask.FindStringSubmatch(from)
	if m == nil {
		t.Errorf("task %s: artifact from %q, want {{tasks.NAME.outputs.artifacts.NAME}}", name, from)
		return
	}
	if !ancestors(tasks, name)[m[1]] {
		t.Errorf("task %s takes an artifact of %s, which it does not run after", name, m[1])
		return
	}
	src := wt.GetTemplateByName(tasks[m[1]].Template)
	if src == nil || src.Outputs.GetArtifactByName(m[2]) == nil {
		t.Errorf("task %s takes artifact %s of %s, which that task does not output", name, m[2], m[1])
	}
}

var workflowParameter = regexp.MustCompile(`\{\{workflow\.parameters\.([a-z0-9-]+)\}\}`)

// Every stage runs the Sluice image as its non-root user with resource
// requests, and names only parameters the template declares.
func TestPipelineStagesRunTheImage(t *testing.T) {
	wt := decodeFile[wfv1.WorkflowTemplate](t, pipelineTemplate)
	if sc := wt.Spec.SecurityContext; sc == nil || sc.RunAsNonRoot == nil || !*sc.RunAsNonRoot || sc.RunAsUser == nil || *sc.RunAsUser != 10001 {
		t.Errorf("security context %+v, want non-root as the image's user 10001", sc)
	}
	declared := map[string]bool{}
	for _, p := range wt.Spec.Arguments.Parameters {
		declared[p.Name] = p.Value != nil
	}
	for _, tmpl := range wt.Spec.Templates {
		c := tmpl.Container
		if c == nil {
			continue
		}
		_, cpu := c.Resources.Requests[corev1.ResourceCPU]
		_, mem := c.Resources.Requests[corev1.ResourceMemory]
		if c.Image != "sluice" || len(c.Args) < 2 || c.Args[0] != "pipeline" || c.Args[1] != tmpl.Name || !cpu || !mem {
			t.Errorf("template %s: image %q args %v requests %v, want image sluice running `pipeline %s` with cpu and memory requests", tmpl.Name, c.Image, c.Args, c.Resources.Requests, tmpl.Name)
		}
		for _, arg := range c.Args {
			for _, m := range workflowParameter.FindAllStringSubmatch(arg, -1) {
				if !declared[m[1]] {
					t.Errorf("template %s names parameter %s, which has no default in spec.arguments", tmpl.Name, m[1])
				}
			}
		}
	}
}

// evaluate reads and publish writes the repository the base Deployment
// serves, at the path their flags name.
func TestPipelineUsesTheModelRepository(t *testing.T) {
	wt := decodeFile[wfv1.WorkflowTemplate](t, pipelineTemplate)
	var claim string
	for _, v := range wt.Spec.Volumes {
		if v.Name == "models" && v.PersistentVolumeClaim != nil {
			claim = v.PersistentVolumeClaim.ClaimName
		}
	}
	if claim != "sluice-models" {
		t.Errorf("models volume claims %q, want sluice-models, the base Deployment's", claim)
	}
	for _, tt := range []struct {
		template string
		readOnly bool
	}{{"evaluate", true}, {"publish", false}} {
		t.Run(tt.template, func(t *testing.T) {
			tmpl := wt.GetTemplateByName(tt.template)
			if tmpl == nil || tmpl.Container == nil {
				t.Fatalf("no container template %s", tt.template)
			}
			c := *tmpl.Container
			if !mounts(c, "models", "/models") || !slices.Contains(c.Args, "/models") {
				t.Errorf("mounts %+v args %v, want the models volume at /models and -repository /models", c.VolumeMounts, c.Args)
			}
			for _, m := range c.VolumeMounts {
				if m.Name == "models" && m.ReadOnly != tt.readOnly {
					t.Errorf("models mounted read-only %v, want %v", m.ReadOnly, tt.readOnly)
				}
			}
		})
	}
}

// The CronWorkflow runs the WorkflowTemplate by name, one run at a time.
func TestPipelineCronRunsTheTemplate(t *testing.T) {
	wt := decodeFile[wfv1.WorkflowTemplate](t, pipelineTemplate)
	cw := decodeFile[wfv1.CronWorkflow](t, pipelineCron)
	ref := cw.Spec.WorkflowSpec.WorkflowTemplateRef
	if ref == nil || ref.Name != wt.Name || ref.ClusterScope {
		t.Errorf("workflowTemplateRef %+v, want the WorkflowTemplate %s", ref, wt.Name)
	}
	if cw.Spec.ConcurrencyPolicy != wfv1.ForbidConcurrent {
		t.Errorf("concurrencyPolicy %q, want Forbid: two runs would publish into one repository", cw.Spec.ConcurrencyPolicy)
	}
	if len(cw.Spec.Schedules) == 0 || cw.Spec.Schedule != "" {
		t.Errorf("schedules %v schedule %q, want schedules alone (schedule is deprecated)", cw.Spec.Schedules, cw.Spec.Schedule)
	}
}
