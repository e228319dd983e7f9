package server

import (
	"go/build"
	"path/filepath"
	"strings"
	"testing"
)

// TestDependsOnWireModelsOnly: the embedded server speaks the protocols through
// their wire models (protocol/imc/wire, protocol/xccos/codec) and never reaches
// the engine or a driver, whatever it imports on the way.
func TestDependsOnWireModelsOnly(t *testing.T) {
	const mod = "github.com/chatload/chatload/"
	forbidden := map[string]bool{mod + "engine": true, mod + "protocol/imc": true, mod + "protocol/xccos": true}
	seen := map[string]bool{}
	var walk func(path string, via []string)
	walk = func(path string, via []string) {
		if seen[path] {
			return
		}
		seen[path] = true
		if forbidden[path] {
			t.Errorf("server imports %s (via %s)", path, strings.Join(via, " -> "))
			return
		}
		p, err := build.ImportDir(filepath.Join("..", strings.TrimPrefix(path, mod)), 0)
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		for _, imp := range p.Imports {
			if strings.HasPrefix(imp, mod) {
				walk(imp, append(via[:len(via):len(via)], imp))
			}
		}
	}
	walk(mod+"server", []string{"server"})
	if !seen[mod+"protocol/imc/wire"] || !seen[mod+"protocol/xccos/codec"] {
		t.Errorf("server imports %v; want the two wire models among them", seen)
	}
}
