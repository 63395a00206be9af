package client

import "testing"

func TestSumMetricsByNameAndModel(t *testing.T) {
	text := []byte(`# HELP go_goroutines Number of goroutines.
# TYPE go_goroutines gauge
go_goroutines 27
process_resident_memory_bytes 9.1e+07
sluice_instance_busy_seconds_total{model="ppocr-cls",version="1"} 1.5
sluice_instance_busy_seconds_total{model="ppocr-cls",version="2"} 0.5
sluice_instance_busy_seconds_total{model="student-success",version="1"} 4
sluice_instance_busy_seconds_total_extra 100
not a sample line
`)
	m := SumMetrics(text)
	for key, want := range map[string]float64{
		"go_goroutines":                                               27,
		"process_resident_memory_bytes":                               9.1e7,
		"sluice_instance_busy_seconds_total":                          6,
		`sluice_instance_busy_seconds_total{model="ppocr-cls"}`:       2,
		`sluice_instance_busy_seconds_total{model="student-success"}`: 4,
		"sluice_instance_busy_seconds_total_extra":                    100,
	} {
		if m[key] != want {
			t.Errorf("%s: %v, want %v", key, m[key], want)
		}
	}
}
