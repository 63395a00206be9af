package server

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"
	"testing"

	"github.com/valyala/fasthttp"
	"sigs.k8s.io/yaml"

	"github.com/sluice-serving/sluice/tensor"
)

// renderRoute is the path a route of a known kind is served at; ok is false
// for routeNone.
func renderRoute(r route) (string, bool) {
	model := func(m, v string) string {
		p := "/v2/models/" + m
		if v != "" {
			p += "/versions/" + v
		}
		return p
	}
	switch r.kind {
	case routeServerMeta:
		return "/v2", true
	case routeLive:
		return "/v2/health/live", true
	case routeReady:
		return "/v2/health/ready", true
	case routeMetrics:
		return "/metrics", true
	case routeRepoIndex:
		return "/v2/repository/index", true
	case routeAdminAutoscale:
		return "/v2/admin/autoscale", true
	case routeAdminFleet:
		return "/v2/admin/fleet", true
	case routeStats:
		if r.model == "" {
			return "/v2/models/stats", true
		}
		return model(r.model, r.version) + "/stats", true
	case routeModelMeta:
		return model(r.model, r.version), true
	case routeModelReady:
		return model(r.model, r.version) + "/ready", true
	case routeInfer:
		return model(r.model, r.version) + "/infer", true
	case routeCard:
		return model(r.model, r.version) + "/card", true
	case routeRepoLoad:
		return "/v2/repository/models/" + r.model + "/load", true
	case routeRepoUnload:
		return "/v2/repository/models/" + r.model + "/unload", true
	case routeAdminRollout:
		return "/v2/admin/models/" + r.model + "/rollout", true
	case routeAdminAction:
		return "/v2/admin/models/" + r.model + "/rollout/" + r.version, true
	case routeAdminTraffic:
		return "/v2/admin/models/" + r.model + "/traffic", true
	case routeAdminDrift:
		return "/v2/admin/models/" + r.model + "/drift", true
	}
	return "", false
}

// FuzzParseRoute: parseRoute never panics, names no model or version with a
// '/', and a route of a known kind re-renders to a path that parses back
// to the same route.
func FuzzParseRoute(f *testing.F) {
	for _, p := range []string{
		"/v2", "/v2/", "/v2/health/live", "/v2/health/ready", "/metrics",
		"/v2/models/stats", "/v2/repository/index", "/v2/admin/autoscale",
		"/v2/models/student-success", "/v2/models/student-success/ready",
		"/v2/models/student-success/infer", "/v2/models/student-success/stats",
		"/v2/models/student-success/card", "/v2/models/student-success/versions/3",
		"/v2/models/student-success/versions/3/infer", "/v2/models/m/versions/3/ready",
		"/v2/models/m/versions/", "/v2/models/m/versions", "/v2/models/m/versions/3/",
		"/v2/models/m/", "/v2/models//infer", "/v2/models/m/infer/extra",
		"/v2/repository/models/m/load", "/v2/repository/models/m/unload",
		"/v2/repository/models//load", "/v2/repository/models/m/load/x",
		"/v2/admin/models/m/rollout", "/v2/admin/models/m/rollout/promote",
		"/v2/admin/models/m/rollout/", "/v2/admin/models/m/traffic",
		"/v2/admin/models//rollout", "/v2/admin/models/m", "/v2/admin/models/m/rollout/a/b",
		"/v2/admin/models/m/drift", "/v2/admin/models/m/drift/", "/v2/admin/models//drift", "/v2/admin/models/m/drift/x",
		"/v2/models/versions/versions/1", "/v2/models/m/versions/versions/stats",
		"", "/", "//", "/v2//", "/V2/models/m", "/v2/models/\xff\x00/infer",
		"/v2/models/m%2Fx/infer", "/v2/models/ready", "/v2/models/infer",
	} {
		f.Add([]byte(p))
	}
	f.Fuzz(func(t *testing.T, path []byte) {
		r := parseRoute(path)
		if strings.Contains(r.model, "/") || strings.Contains(r.version, "/") {
			t.Fatalf("parseRoute(%q) = %+v: a '/' in the model or version", path, r)
		}
		if r.kind != routeNone && r.kind != routeServerMeta && r.kind != routeLive && r.kind != routeReady &&
			r.kind != routeMetrics && r.kind != routeRepoIndex && r.kind != routeAdminAutoscale && r.kind != routeAdminFleet &&
			!(r.kind == routeStats && r.model == "") && r.model == "" {
			t.Fatalf("parseRoute(%q) = %+v: a model endpoint without a model", path, r)
		}
		p, ok := renderRoute(r)
		if !ok {
			return
		}
		if r.kind == routeModelMeta && r.version == "" && r.model == "stats" {
			// Known ambiguity of the v2 protocol: /v2/models/stats is the
			// all-models statistics endpoint, so a model named "stats" has
			// no unversioned metadata path. Reported in issue 13.
			return
		}
		if back := parseRoute([]byte(p)); back != r {
			t.Fatalf("parseRoute(%q) = %+v, renders as %q, which parses to %+v", path, r, p, back)
		}
	})
}

// FuzzAPIKeys: the key-list parser never panics; a built keyring holds
// the SHA-256 of each key, never its text; an error never quotes a key or
// hash given in the list; presentedKey reads Bearer (any case) before
// Sluice-Api-Key, and only a configured key authenticates.
func FuzzAPIKeys(f *testing.F) {
	sum := sha256.Sum256([]byte("s3cret-team-b-key"))
	hexSum := hex.EncodeToString(sum[:])
	for _, doc := range []string{
		"- name: team-a\n  key: s3cret-team-a-key\n",
		"- name: team-a\n  key_sha256: " + hexSum + "\n  models: [student-success]\n  rate: 50\n  burst: 100\n",
		`[{"name":"a","key":"s3cret-team-a-key"},{"name":"b","key_sha256":"` + hexSum + `","rate":2.5}]`,
		"- name: a\n  key: s3cret-team-a-key\n- name: b\n  key: s3cret-team-a-key\n", // same key twice
		"- name: a\n  key: s3cret-team-a-key\n  key_sha256: " + hexSum + "\n",        // both
		"- name: a\n  key_sha256: zz-not-hex-s3cret\n",
		"- name: a\n  key: s3cret-team-a-key\n  rate: -1\n",
		"- name: a\n  key: s3cret-team-a-key\n  rate: fast\n",
		"- name: a\n  key: s3cret-team-a-key\n  burst: 1e400\n",
		"- name: a\n  key: [s3cret-team-a-key]\n",
		"- name: a\n  key: {s3cret-team-a-key: 1}\n",
		"- name: a\n  kye: s3cret-team-a-key\n",
		"- name: a\n  key: s3cret-team-a-key\n  key: s3cret-other-key-2\n",
		"- name: a\n  key: 123456789012345678901234567890\n",
		"- key: s3cret-team-a-key\n",
		"name: a\nkey: s3cret-team-a-key\n",
		"- name: a\n\tkey: s3cret-team-a-key\n",
		"- {name: a, key: 's3cret-team-a-key}\n",
		"", "[]", "null", "- null\n", "- name: a\n  key: \"\"\n",
	} {
		f.Add(doc, "Bearer s3cret-team-a-key", "")
	}
	f.Add("- name: a\n  key: k\n", "bearer k", "")
	f.Add("- name: a\n  key: k\n", "", "k")
	f.Add("- name: a\n  key: k\n", "Bearer ", "k")
	f.Add("- name: a\n  key: k\n", "Basic k", "k")
	f.Fuzz(func(t *testing.T, doc, authz, altKey string) {
		kr, err := loadKeys(Config{APIKeys: doc})
		secrets := givenSecrets(doc)
		if err != nil {
			if kr != nil {
				t.Fatalf("loadKeys(%q) returned a keyring with error %v", doc, err)
			}
			for _, s := range secrets {
				if strings.Contains(err.Error(), s) {
					t.Fatalf("loadKeys(%q): error %q quotes the key text %q", doc, err, s)
				}
			}
			return
		}
		if kr == nil {
			return // no entries: inference is open
		}
		var entries []keyEntry
		if err := yaml.Unmarshal([]byte(doc), &entries); err != nil {
			t.Fatalf("loadKeys accepted %q, which a lenient decode rejects: %v", doc, err)
		}
		if len(entries) != len(kr.keys) {
			t.Fatalf("%d entries built into %d keys", len(entries), len(kr.keys))
		}
		for i, k := range kr.keys {
			e := entries[i]
			want := sha256.Sum256([]byte(e.Key))
			if e.Key == "" {
				h, _ := hex.DecodeString(e.KeySHA256)
				copy(want[:], h)
			}
			if k.hash != want || k.name != e.Name {
				t.Fatalf("entry %d %+v built as %q %x", i, e, k.name, k.hash)
			}
			// The hash is checked above; the rest of what is kept must not
			// hold the key's text (unless the name or a model holds it too).
			if len(e.Key) >= 8 && !strings.Contains(e.Name, e.Key) && !containsAny(e.Models, e.Key) {
				if kept := fmt.Sprintf("%q %q %+v", k.name, k.models, k.limit); strings.Contains(kept, e.Key) {
					t.Fatalf("keyring keeps the plaintext key %q: %s", e.Key, kept)
				}
			}
		}

		var h fasthttp.RequestHeader
		h.Set("Authorization", authz)
		h.Set(APIKeyHeader, altKey)
		got := string(presentedKey(&h))
		auth, alt := string(h.Peek("Authorization")), string(h.Peek(APIKeyHeader))
		want := alt
		if len(auth) > 7 && strings.EqualFold(auth[:7], "Bearer ") {
			want = auth[7:]
		}
		if got != want {
			t.Fatalf("presentedKey(Authorization %q, %s %q) = %q, want %q", auth, APIKeyHeader, alt, got, want)
		}
		k, err := kr.authenticate([]byte(got))
		sumGot := sha256.Sum256([]byte(got))
		var match *apiKey
		for _, c := range kr.keys {
			if c.hash == sumGot && got != "" {
				match = c
			}
		}
		if k != match {
			t.Fatalf("authenticate(%q) = %v, want %v", got, k, match)
		}
		if (err == nil) != (match != nil) {
			t.Fatalf("authenticate(%q): key %v, error %v", got, k, err)
		}
		if err != nil {
			if st := statusOf(err); st != fasthttp.StatusUnauthorized {
				t.Fatalf("authenticate(%q): status %d, want 401 (%v)", got, st, err)
			}
			if got != "" && strings.Contains(err.Error(), got) && !strings.Contains("the API key presented is not one of the configured keys", got) {
				t.Fatalf("authenticate error %q quotes the key presented", err)
			}
		}
	})
}

func containsAny(list []string, s string) bool {
	for _, v := range list {
		if strings.Contains(v, s) {
			return true
		}
	}
	return false
}

// givenSecrets is the text of each key and key_sha256 value a lenient
// decode finds in doc, where an error would leak it: at least 8
// characters, and not also written as a name, a model or a field name
// (which errors may quote).
func givenSecrets(doc string) []string {
	var entries []map[string]any
	if yaml.Unmarshal([]byte(doc), &entries) != nil {
		return nil
	}
	var secrets, others []string
	for _, e := range entries {
		for field, v := range e {
			others = append(others, field)
			s, isString := v.(string)
			if field != "key" && field != "key_sha256" || !isString {
				others = append(others, fmt.Sprint(v))
				continue
			}
			secrets = append(secrets, s)
		}
	}
	var out []string
	for _, s := range secrets {
		if len(s) >= 8 && !containsAny(others, s) && !strings.Contains(keysBoilerplate, s) {
			out = append(out, s)
		}
	}
	return out
}

// keysBoilerplate is the fixed text of the key-list errors.
const keysBoilerplate = "server.api_keys: an entry has a field of the wrong type; expected a YAML or JSON list of {name, key_sha256 or key, models, rate, burst} " +
	"no name; expected a name that logs and errors can show expected exactly one of key and key_sha256 " +
	"key_sha256: expected 64 hex digits, the SHA-256 of the key same name or key as ; expected each key once expected 0 or more"

// FuzzAdminToken: authorize never panics, and passes a call only when its
// Authorization header is exactly "Bearer " and the admin token; without a
// token it passes loopback only. A refusal is a 401 or 403, never a 500.
func FuzzAdminToken(f *testing.F) {
	f.Add("t0ken-admin", "Bearer t0ken-admin", false)
	f.Add("t0ken-admin", "bearer t0ken-admin", false)
	f.Add("t0ken-admin", "Bearer t0ken-admin ", false)
	f.Add("t0ken-admin", "Bearer  t0ken-admin", false)
	f.Add("t0ken-admin", "Bearer t0ken-admi", false)
	f.Add("t0ken-admin", "Bearer ", false)
	f.Add("t0ken-admin", "", false)
	f.Add("t0ken-admin", "Basic dDBrZW4=", false)
	f.Add("", "Bearer ", true)
	f.Add("", "", false)
	f.Add("\x00", "Bearer \x00", false)
	f.Add("tok\r\nX-Evil: 1", "Bearer tok\r\nX-Evil: 1", false)
	f.Fuzz(func(t *testing.T, token, authz string, onLoopback bool) {
		addr := "0.0.0.0:8000"
		if onLoopback {
			addr = "127.0.0.1:8000"
		}
		s := &Server{cfg: Config{Addr: addr, AdminToken: token}}
		var ctx fasthttp.RequestCtx
		if authz != "" {
			ctx.Request.Header.Set("Authorization", authz)
		}
		err := s.authorize(&ctx)
		sent := string(ctx.Request.Header.Peek("Authorization"))
		pass := token == "" && onLoopback || token != "" && sent == "Bearer "+token
		if (err == nil) != pass {
			t.Fatalf("token %q, loopback %v, Authorization %q (set %q): error %v, want pass %v", token, onLoopback, sent, authz, err, pass)
		}
		if err != nil {
			if st := statusOf(err); st != fasthttp.StatusUnauthorized && st != fasthttp.StatusForbidden {
				t.Fatalf("authorize: status %d (%v), want 401 or 403", st, err)
			}
			if k := tensor.KindOf(err); k == tensor.Internal {
				t.Fatalf("authorize: internal error %v", err)
			}
			if len(token) >= 8 && strings.Contains(err.Error(), token) && !strings.Contains(adminBoilerplate, token) {
				t.Fatalf("authorize error %q quotes the admin token", err)
			}
		}
	})
}

// adminBoilerplate is the fixed text of authorize's errors.
const adminBoilerplate = "the admin and repository APIs are disabled: set server.admin_token, or listen on loopback " +
	"the admin and repository APIs need an Authorization: Bearer <server.admin_token> header " +
	"the bearer token is not the admin token"
