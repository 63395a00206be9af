package config

import (
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/sluice-serving/sluice/server"
)

func TestAccessKeysLoadFromFileAndEnvironment(t *testing.T) {
	got, err := Load(parse(t, "-config", filepath.Join("testdata", "access.yaml")), nil)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]server.RateLimit{"student-success": {Rate: 100, Burst: 20}, "ppocr-cls": {Rate: 2.5}}
	if !reflect.DeepEqual(got.Server.ModelRateLimits, want) {
		t.Errorf("model_rate_limits = %+v, want %+v", got.Server.ModelRateLimits, want)
	}
	if !strings.Contains(got.Server.APIKeys, "name: team-a") {
		t.Errorf("api_keys = %q, want the inline list", got.Server.APIKeys)
	}
	env := []string{`SLUICE_API_KEYS=[{"name": "ci", "key": "k"}]`}
	got, err = Load(parse(t), env)
	if err != nil || !strings.Contains(got.Server.APIKeys, `"ci"`) {
		t.Errorf("SLUICE_API_KEYS gave api_keys %q, err %v", got.Server.APIKeys, err)
	}
}

func TestBadAccessConfigurationNamesTheKey(t *testing.T) {
	tests := []struct {
		name string
		args []string
		env  []string
		want string
	}{
		{"cert without key", []string{"-server.tls_cert_file", "c.pem"}, nil, "server.tls_key_file"},
		{"missing keys file", []string{"-server.api_keys_file", "/nonexistent-keys.yaml"}, nil, "server.api_keys_file"},
		{"key and hash", nil, []string{`SLUICE_API_KEYS=[{"name": "a", "key": "k", "key_sha256": "00"}]`}, `api key 1 ("a")`},
		{"zero model rate", []string{"-config", filepath.Join("testdata", "bad-model-rate.yaml")}, nil, "server.model_rate_limits.slow"},
		{"misspelt field", nil, []string{`SLUICE_SERVER_API_KEYS=[{"name": "a", "kye": "k"}]`}, "server.api_keys"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Load(parse(t, tt.args...), tt.env)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("err = %v, want one naming %q", err, tt.want)
			}
		})
	}
}
