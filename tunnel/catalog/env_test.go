package catalog

import (
	"errors"
	"reflect"
	"strings"
	"testing"
)

func TestRenderEnv(t *testing.T) {
	r := Resource{Kind: Addon, Project: "shop", Name: "db",
		Env: map[string]string{
			"DATABASE_URL": `postgres://app:{{secret "db_password"}}@{{.Address}}:{{.Port "postgres"}}/app`,
			"DB_HOST":      "{{.Host}}",
		},
		Secrets: map[string]string{"db_password": "s3cr&t"},
	}
	d := NewEnvData("shop", "db", "127.1.2.3", "db", map[string]int{"postgres": 5432, "5432": 5432})
	got, err := RenderEnv(r, d)
	if err != nil {
		t.Fatal(err)
	}
	want := []EnvVar{{"DATABASE_URL", "postgres://app:s3cr&t@127.1.2.3:5432/app"}, {"DB_HOST", "db"}}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("RenderEnv = %v, want %v", got, want)
	}
}

func TestRenderEnvErrors(t *testing.T) {
	d := NewEnvData("shop", "db", "127.1.2.3", "db", map[string]int{"postgres": 5432})
	for _, tc := range []struct{ text, want string }{
		{`{{.Port "redis"}}`, `no port named "redis" (ports: postgres)`},
		{`{{secret "nope"}}`, `secret "nope" was not sent`},
		{`{{.Address`, "bad env template"},
		{`{{.Missing}}`, "bad env template"},
	} {
		r := Resource{Kind: Addon, Project: "shop", Name: "db", Env: map[string]string{"X": tc.text}}
		_, err := RenderEnv(r, d)
		if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "shop/addon:db X") {
			t.Errorf("%s: %v, want an error naming shop/addon:db X and %q", tc.text, err, tc.want)
		}
		if tc.want == "bad env template" && !errors.Is(err, ErrEnvTemplate) {
			t.Errorf("%s: %v does not match ErrEnvTemplate", tc.text, err)
		}
	}
}

func TestSecretsIn(t *testing.T) {
	got, err := SecretsIn("X", `{{secret "b"}}-{{if .Host}}{{secret "a"}}{{else}}{{secret "c"}}{{end}}{{secret "b"}}`)
	if err != nil || !reflect.DeepEqual(got, []string{"a", "b", "c"}) {
		t.Fatalf("SecretsIn = %v, %v; want a, b, c", got, err)
	}
	if _, err := SecretsIn("X", "{{"); !errors.Is(err, ErrEnvTemplate) {
		t.Fatalf("SecretsIn of a broken template: %v", err)
	}
}

// TestFilterDropsSecretsKeepsEnv: the client copy has the templates, and
// no secret the gateway's catalog might hold.
func TestFilterDropsSecretsKeepsEnv(t *testing.T) {
	c := Catalog{Projects: []Project{{Name: "shop", Addons: []Resource{{Kind: Addon, Project: "shop", Name: "db",
		Env: map[string]string{"URL": "x"}, Secrets: map[string]string{"p": "v"},
		Ports: []Port{{Port: 1, Targets: []string{"10.0.0.1:1"}}}}}}}}
	out := c.Filter(func(string) bool { return true })
	db := out.Projects[0].Addons[0]
	if db.Env["URL"] != "x" || db.Secrets != nil || db.Ports[0].Targets != nil {
		t.Fatalf("filtered %+v: want env kept, secrets and targets gone", db)
	}
}
