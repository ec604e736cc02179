package server

import (
	"bytes"
	"encoding/json"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/linkbolt/linkbolt/store"
)

// These tests check the OpenAPI document against the route table and
// against itself: every route documented and nothing more, security as the
// route table sets it, every reference resolvable, and the document served
// as it is embedded.

// openAPIMethods are the OpenAPI path item keys that name operations.
var openAPIMethods = []string{"get", "put", "post", "delete", "options", "head", "patch", "trace"}

// specOperation is one operation of the OpenAPI document: a method in
// upper case and a path in OpenAPI form, such as "GET /{code}/".
type specOperation struct {
	method string
	path   string
}

func (op specOperation) String() string {
	return op.method + " " + op.path
}

// loadOpenAPISpec parses the embedded OpenAPI document.
func loadOpenAPISpec(t *testing.T) map[string]any {
	t.Helper()
	var spec map[string]any
	if err := json.Unmarshal(openAPIDocument, &spec); err != nil {
		t.Fatalf("openapi.json is not valid JSON: %v", err)
	}
	return spec
}

// jsonObject returns the object under key, failing the test when it is
// missing or not an object.
func jsonObject(t *testing.T, parent map[string]any, key string) map[string]any {
	t.Helper()
	v, ok := parent[key].(map[string]any)
	if !ok {
		t.Fatalf("%q is %T, want a JSON object", key, parent[key])
	}
	return v
}

// routeOperation turns a route pattern into the operation that documents
// it. ServeMux's "{$}" anchors a trailing slash, which OpenAPI writes as a
// plain "/".
func routeOperation(pattern string) specOperation {
	method, path, _ := strings.Cut(pattern, " ")
	return specOperation{method: method, path: strings.TrimSuffix(path, "{$}")}
}

// isRedirectRoute reports whether a route serves short codes. The document
// lists HEAD on these routes as operations of their own.
func isRedirectRoute(rt route) bool {
	return strings.Contains(rt.pattern, "{code}")
}

// tableOperations returns the operations the route table serves that the
// document must list, with the public flag of each.
func tableOperations() map[specOperation]bool {
	ops := map[specOperation]bool{}
	for _, rt := range (&Server{}).routeTable() {
		op := routeOperation(rt.pattern)
		ops[op] = rt.public
		if op.method == http.MethodGet && isRedirectRoute(rt) {
			ops[specOperation{method: http.MethodHead, path: op.path}] = rt.public
		}
	}
	return ops
}

// specOperations returns every operation object of the document by method
// and path.
func specOperations(t *testing.T, spec map[string]any) map[specOperation]map[string]any {
	t.Helper()
	ops := map[specOperation]map[string]any{}
	for path, item := range jsonObject(t, spec, "paths") {
		pathItem, ok := item.(map[string]any)
		if !ok {
			t.Fatalf("path item %q is %T, want a JSON object", path, item)
		}
		for _, method := range openAPIMethods {
			if v, ok := pathItem[method]; ok {
				op, ok := v.(map[string]any)
				if !ok {
					t.Fatalf("%s %s is %T, want a JSON object", method, path, v)
				}
				ops[specOperation{method: strings.ToUpper(method), path: path}] = op
			}
		}
	}
	return ops
}

func sortedOperations[V any](ops map[specOperation]V) []specOperation {
	keys := make([]specOperation, 0, len(ops))
	for op := range ops {
		keys = append(keys, op)
	}
	slices.SortFunc(keys, func(a, b specOperation) int {
		return strings.Compare(a.String(), b.String())
	})
	return keys
}

func TestOpenAPIDocumentHeader(t *testing.T) {
	spec := loadOpenAPISpec(t)
	if got := spec["openapi"]; got != "3.1.0" {
		t.Errorf("openapi = %v, want 3.1.0", got)
	}
	info := jsonObject(t, spec, "info")
	for _, key := range []string{"title", "version"} {
		if s, _ := info[key].(string); s == "" {
			t.Errorf("info.%s is missing or empty", key)
		}
	}

	ops := specOperations(t, spec)
	seen := map[string]specOperation{}
	for _, op := range sortedOperations(ops) {
		fields := ops[op]
		id, _ := fields["operationId"].(string)
		if id == "" {
			t.Errorf("%s has no operationId", op)
			continue
		}
		if first, dup := seen[id]; dup {
			t.Errorf("operationId %q is used by %s and %s", id, first, op)
		}
		seen[id] = op
		if s, _ := fields["summary"].(string); s == "" {
			t.Errorf("%s has no summary", op)
		}
	}
}

func TestOpenAPIMatchesRouteTable(t *testing.T) {
	spec := loadOpenAPISpec(t)
	documented := specOperations(t, spec)
	served := tableOperations()

	for _, op := range sortedOperations(served) {
		t.Run("route "+op.String(), func(t *testing.T) {
			if _, ok := documented[op]; !ok {
				t.Errorf("route %s is missing from openapi.json", op)
			}
		})
	}
	for _, op := range sortedOperations(documented) {
		t.Run("documented "+op.String(), func(t *testing.T) {
			if _, ok := served[op]; !ok {
				t.Errorf("openapi.json documents %s, which no route serves", op)
			}
		})
	}
}

func TestOpenAPIMaxClicksRange(t *testing.T) {
	// json.Number keeps the bounds exact, where float64 would round
	// 2^63 - 1 up to 2^63.
	var doc struct {
		Components struct {
			Schemas struct {
				MaxClicks struct {
					Minimum json.Number `json:"minimum"`
					Maximum json.Number `json:"maximum"`
				}
			}
		}
	}
	dec := json.NewDecoder(bytes.NewReader(openAPIDocument))
	dec.UseNumber()
	if err := dec.Decode(&doc); err != nil {
		t.Fatalf("openapi.json: %v", err)
	}
	bounds := doc.Components.Schemas.MaxClicks
	if bounds.Minimum != "1" {
		t.Errorf("MaxClicks minimum = %q, want 1", bounds.Minimum)
	}
	if want := strconv.FormatUint(store.MaxClickLimit, 10); string(bounds.Maximum) != want {
		t.Errorf("MaxClicks maximum = %q, want store.MaxClickLimit %s", bounds.Maximum, want)
	}
}

func TestOpenAPISecurity(t *testing.T) {
	spec := loadOpenAPISpec(t)
	global, _ := json.Marshal(spec["security"])
	if string(global) != `[{"bearerAuth":[]}]` {
		t.Errorf("global security = %s, want [{\"bearerAuth\":[]}]", global)
	}
	scheme := jsonObject(t, jsonObject(t, jsonObject(t, spec, "components"), "securitySchemes"), "bearerAuth")
	if scheme["type"] != "http" || scheme["scheme"] != "bearer" {
		t.Errorf("bearerAuth is type %v scheme %v, want http bearer", scheme["type"], scheme["scheme"])
	}

	documented := specOperations(t, spec)
	served := tableOperations()
	for _, op := range sortedOperations(served) {
		public := served[op]
		fields, ok := documented[op]
		if !ok {
			continue // TestOpenAPIMatchesRouteTable reports it.
		}
		t.Run(op.String(), func(t *testing.T) {
			security, hasSecurity := fields["security"]
			list, isList := security.([]any)
			emptyList := hasSecurity && isList && len(list) == 0
			if public && !emptyList {
				t.Errorf("public route has security %v, want []", security)
			}
			if !public && hasSecurity {
				t.Errorf("route that needs an API key sets security %v, want the global bearerAuth", security)
			}

			responses := jsonObject(t, fields, "responses")
			if _, ok := responses["401"]; ok == public {
				t.Errorf("401 documented = %v on a route with public = %v", ok, public)
			}
			write := op.method == http.MethodPost || op.method == http.MethodPut || op.method == http.MethodDelete
			if _, ok := responses["429"]; ok != write {
				t.Errorf("429 documented = %v, want %v: the rate limit applies to POST, PUT and DELETE", ok, write)
			}
		})
	}
}

// collectRefs adds every "$ref" value under v to refs, with the JSON
// pointers of the objects that contain it.
func collectRefs(v any, at string, refs map[string][]string) {
	switch v := v.(type) {
	case map[string]any:
		for key, child := range v {
			if key == "$ref" {
				if s, ok := child.(string); ok {
					refs[s] = append(refs[s], at)
				}
				continue
			}
			collectRefs(child, at+"/"+escapePointerToken(key), refs)
		}
	case []any:
		for i, child := range v {
			collectRefs(child, at+"/"+strconv.Itoa(i), refs)
		}
	}
}

func escapePointerToken(s string) string {
	return strings.ReplaceAll(strings.ReplaceAll(s, "~", "~0"), "/", "~1")
}

// resolvePointer follows an RFC 6901 JSON pointer from the document root.
func resolvePointer(doc any, pointer string) (any, bool) {
	if pointer == "" {
		return doc, true
	}
	if !strings.HasPrefix(pointer, "/") {
		return nil, false
	}
	cur := doc
	for token := range strings.SplitSeq(pointer[1:], "/") {
		token = strings.ReplaceAll(strings.ReplaceAll(token, "~1", "/"), "~0", "~")
		obj, ok := cur.(map[string]any)
		if !ok {
			return nil, false
		}
		if cur, ok = obj[token]; !ok {
			return nil, false
		}
	}
	return cur, true
}

func TestOpenAPIRefsResolve(t *testing.T) {
	spec := loadOpenAPISpec(t)
	refs := map[string][]string{}
	collectRefs(spec, "", refs)
	if len(refs) == 0 {
		t.Fatal("openapi.json has no $ref at all")
	}
	for ref, users := range refs {
		pointer, local := strings.CutPrefix(ref, "#")
		if !local {
			t.Errorf("$ref %q at %s is not local to the document", ref, users[0])
			continue
		}
		if _, ok := resolvePointer(spec, pointer); !ok {
			t.Errorf("$ref %q at %s does not resolve", ref, strings.Join(users, ", "))
		}
	}

	// A component that nothing refers to is a sign of a typo elsewhere.
	components := jsonObject(t, spec, "components")
	for _, kind := range []string{"schemas", "parameters", "headers", "responses", "requestBodies"} {
		for name := range jsonObject(t, components, kind) {
			if _, used := refs["#/components/"+kind+"/"+escapePointerToken(name)]; !used {
				t.Errorf("components.%s.%s is never referred to", kind, name)
			}
		}
	}
}

// parameterName returns the name and location ("in") of a parameter
// object, following a reference to the components.
func parameterName(spec map[string]any, param any) (name, in string) {
	obj, _ := param.(map[string]any)
	if ref, ok := obj["$ref"].(string); ok {
		target, _ := resolvePointer(spec, strings.TrimPrefix(ref, "#"))
		obj, _ = target.(map[string]any)
	}
	name, _ = obj["name"].(string)
	in, _ = obj["in"].(string)
	return name, in
}

func TestOpenAPIPathParameters(t *testing.T) {
	spec := loadOpenAPISpec(t)
	paths := jsonObject(t, spec, "paths")
	for op, fields := range specOperations(t, spec) {
		t.Run(op.String(), func(t *testing.T) {
			declared := map[string]bool{}
			var params []any
			if list, ok := jsonObject(t, paths, op.path)["parameters"].([]any); ok {
				params = append(params, list...)
			}
			if list, ok := fields["parameters"].([]any); ok {
				params = append(params, list...)
			}
			for _, p := range params {
				if name, in := parameterName(spec, p); in == "path" {
					declared[name] = true
				}
			}

			templated := map[string]bool{}
			for seg := range strings.SplitSeq(op.path, "/") {
				if name, ok := strings.CutPrefix(seg, "{"); ok {
					templated[strings.TrimSuffix(name, "}")] = true
				}
			}
			for name := range templated {
				if !declared[name] {
					t.Errorf("path parameter %q has no parameter object", name)
				}
			}
			for name := range declared {
				if !templated[name] {
					t.Errorf("path parameter %q is not in the path", name)
				}
			}
		})
	}
}

func TestOpenAPIServed(t *testing.T) {
	onDisk, err := os.ReadFile("openapi.json")
	if err != nil {
		t.Fatalf("read openapi.json: %v", err)
	}
	if !bytes.Equal(onDisk, openAPIDocument) {
		t.Fatal("embedded document differs from openapi.json on disk")
	}

	tests := []struct {
		name string
		opts Options
	}{
		{name: "open server", opts: Options{}},
		{name: "server with API keys", opts: Options{APIKeys: []string{"test-key"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := startAPI(t, tt.opts)
			resp := a.get(t, "/openapi.json")
			wantStatus(t, resp, http.StatusOK)
			if ct := resp.header.Get("Content-Type"); ct != "application/json" {
				t.Errorf("Content-Type = %q, want application/json", ct)
			}
			if !bytes.Equal(resp.body, onDisk) {
				t.Errorf("body (%d bytes) differs from openapi.json (%d bytes)", len(resp.body), len(onDisk))
			}
		})
	}
}
