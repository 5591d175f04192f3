package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/fwd-dev/fwd/internal/configedit"
	"github.com/fwd-dev/fwd/internal/dockerports"
	"github.com/fwd-dev/fwd/internal/ui"
	"github.com/fwd-dev/fwd/tunnel/config"
)

// portsOptions are the flags of fwd ports detect.
type portsOptions struct {
	target     string
	buildArgs  []string
	image      string
	targetHost string
	write      string
	project    string
	service    string
	addon      string
	output     outputFlag
}

func newPortsCmd(s streams) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "ports",
		Short: "Find the ports a Dockerfile or an image exposes, as catalog ports",
		Args:  cobra.NoArgs,
	}
	cmd.AddCommand(newPortsDetectCmd(s))
	return cmd
}

func newPortsDetectCmd(s streams) *cobra.Command {
	opts := &portsOptions{}
	cmd := &cobra.Command{
		Use:   "detect [PATH]",
		Short: "Read EXPOSE from a Dockerfile, a docker save tarball or an OCI layout, and print catalog ports",
		Long: `Reads the ports a container exposes and prints them as the ports: of a
service in gateway.yaml. PATH is a Dockerfile (default ./Dockerfile), a
directory holding one, a docker save tarball or an OCI image layout; with
--image and no PATH the image is read from the Docker daemon.

A Dockerfile is read with BuildKit's parser, as docker build reads it: the
last stage (or --target), ARG and ENV substituted (--build-arg overrides),
ranges and several ports per line. A bare port is HTTP, /tcp is TCP and
/udp is UDP; ports are named from a table of well-known ports (5432
postgres, 6379 redis, ...), else by their number.

--write adds the ports to a service or addon of a gateway.yaml, leaving
every other line as it was.`,
		Example: `  fwd ports detect
  fwd ports detect deploy/Dockerfile --target prod --build-arg PORT=8080 -o json
  docker save shop/api:1 -o api.tar && fwd ports detect api.tar
  fwd ports detect --write gateway.yaml --project shop --service api`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := opts.check(); err != nil {
				return err
			}
			path := ""
			if len(args) == 1 {
				path = args[0]
			}
			return runPortsDetect(cmd.Context(), opts, path, s)
		},
	}
	f := cmd.Flags()
	f.StringVar(&opts.target, "target", "", "the Dockerfile stage to read, as docker build --target (default: the last)")
	f.StringArrayVar(&opts.buildArgs, "build-arg", nil, "NAME=VALUE for an ARG, as docker build --build-arg (repeatable)")
	f.StringVar(&opts.image, "image", "", "the image: in a tarball or layout that holds several, which one; without PATH, read it from the Docker daemon")
	f.StringVar(&opts.targetHost, "target-host", "", "the host the gateway dials for each port (default: the --service or --addon name, else localhost)")
	f.StringVar(&opts.write, "write", "", "add the ports to this gateway.yaml (with --project and --service or --addon)")
	f.StringVarP(&opts.project, "project", "p", "", "with --write: the project")
	f.StringVar(&opts.service, "service", "", "with --write: the service that gets the ports (created if missing)")
	f.StringVar(&opts.addon, "addon", "", "with --write: the addon that gets the ports, instead of a service")
	opts.output.register(cmd, "yaml")
	return cmd
}

func (o *portsOptions) check() error {
	if err := o.output.validate(); err != nil {
		return err
	}
	switch {
	case o.service != "" && o.addon != "":
		return usageErrorf("--service and --addon both set: the ports go to one of them")
	case o.write != "" && o.project == "":
		return usageErrorf("--write needs --project: the project whose service gets the ports")
	case o.write != "" && o.service == "" && o.addon == "":
		return usageErrorf("--write needs --service NAME or --addon NAME: the one that gets the ports")
	}
	for _, kv := range o.buildArgs {
		if k, _, ok := strings.Cut(kv, "="); !ok || k == "" {
			return usageErrorf("--build-arg %q: use NAME=VALUE", kv)
		}
	}
	return nil
}

func runPortsDetect(ctx context.Context, o *portsOptions, path string, s streams) error {
	res, err := o.detect(ctx, path)
	if errors.Is(err, dockerports.ErrNoPorts) {
		return fmt.Errorf("%s exposes no ports: add EXPOSE lines to the Dockerfile, or write the ports: by hand", res.Source)
	}
	var syntax *dockerports.SyntaxError
	if errors.As(err, &syntax) {
		return &usageError{err}
	}
	if err != nil {
		return err
	}
	ports := o.catalogPorts(res.Ports)
	if o.write != "" {
		return o.writeConfig(ports, res, s)
	}
	switch o.output.format {
	case "json":
		return writeJSONLine(s.Out, portsJSON(res, ports))
	case "table":
		return portsTable(s.Out, res, ports)
	}
	return portsYAML(s.Out, res, ports)
}

// detect reads the source that path (and --image) name.
func (o *portsOptions) detect(ctx context.Context, path string) (dockerports.Result, error) {
	if path == "" && o.image != "" {
		return dockerports.FromDaemon(ctx, o.image)
	}
	if path == "" {
		path = "Dockerfile"
	}
	kind, file, err := dockerports.Kind(path)
	if errors.Is(err, os.ErrNotExist) {
		return dockerports.Result{}, usageErrorf("%s does not exist: give the path of a Dockerfile, a docker save tarball or an OCI layout", path)
	}
	if err != nil {
		return dockerports.Result{}, err
	}
	switch kind {
	case dockerports.KindTarball:
		return dockerports.FromTarball(file, o.image)
	case dockerports.KindLayout:
		return dockerports.FromLayout(file, o.image)
	}
	f, err := os.Open(file)
	if errors.Is(err, os.ErrNotExist) {
		return dockerports.Result{}, usageErrorf("no Dockerfile in %s: give its path", path)
	}
	if err != nil {
		return dockerports.Result{}, err
	}
	defer f.Close()
	return dockerports.FromDockerfile(f, file, dockerports.DockerfileOptions{Target: o.target, BuildArgs: o.buildArgMap()})
}

func (o *portsOptions) buildArgMap() map[string]string {
	m := map[string]string{}
	for _, kv := range o.buildArgs {
		k, v, _ := strings.Cut(kv, "=")
		m[k] = v
	}
	return m
}

// catalogPorts gives each port its target: the host the gateway dials,
// on the port's own number.
func (o *portsOptions) catalogPorts(ports []dockerports.Port) []configedit.Port {
	host := o.targetHost
	if host == "" {
		host = o.resourceName()
	}
	if host == "" {
		host = "localhost"
	}
	out := make([]configedit.Port, len(ports))
	for i, p := range ports {
		target := host + ":" + strconv.Itoa(int(p.Number))
		if strings.Contains(host, ":") {
			target = "[" + host + "]:" + strconv.Itoa(int(p.Number))
		}
		out[i] = configedit.Port{Name: p.Name, Number: p.Number, Protocol: p.Protocol, Targets: []string{target}}
	}
	return out
}

func (o *portsOptions) resourceName() string {
	if o.addon != "" {
		return o.addon
	}
	return o.service
}

func (o *portsOptions) writeConfig(ports []configedit.Port, res dockerports.Result, s streams) error {
	at := configedit.Place{Project: o.project, Kind: "services", Name: o.service}
	if o.addon != "" {
		at.Kind, at.Name = "addons", o.addon
	}
	added, kept, err := configedit.AddPortsToFile(o.write, at, ports, checkGatewayConfig(o.write))
	if err != nil {
		return err
	}
	if o.output.json() {
		return writeJSONLine(s.Out, map[string]any{"file": o.write, "added": portsJSONList(added), "kept": portsJSONList(kept), "notes": res.Notes})
	}
	styled := ui.Styled(s.Out)
	what := fmt.Sprintf("%s/%s", o.project, at.Name)
	if len(added) == 0 {
		ui.Status(s.Out, styled, ui.OK, fmt.Sprintf("%s in %s already has every port %s exposes: nothing to add", what, o.write, res.Source))
	} else {
		ui.Status(s.Out, styled, ui.OK, fmt.Sprintf("added %s to %s in %s", portNames(added), what, o.write))
	}
	if len(kept) > 0 {
		ui.Status(s.Out, styled, ui.Hint, fmt.Sprintf("kept the ports it had: %s", portNames(kept)))
	}
	for _, n := range res.Notes {
		ui.Status(s.Out, styled, ui.Warn, n)
	}
	return nil
}

// checkGatewayConfig refuses a change that breaks a config which loaded
// before it: a config that did not load is left to the user to fix.
func checkGatewayConfig(path string) func(old, new []byte) error {
	return func(old, new []byte) error {
		if _, err := config.Parse(path, old); err != nil {
			return nil
		}
		_, err := config.Parse(path, new)
		return err
	}
}

func portNames(ports []configedit.Port) string {
	var s []string
	for _, p := range ports {
		s = append(s, fmt.Sprintf("%s (%d/%s)", p.Name, p.Number, p.Protocol))
	}
	return strings.Join(s, ", ")
}

// portJSON is one port as -o json prints it: as in gateway.yaml.
type portJSON struct {
	Name     string   `json:"name"`
	Port     uint16   `json:"port"`
	Protocol string   `json:"protocol"`
	Targets  []string `json:"targets"`
}

func portsJSONList(ports []configedit.Port) []portJSON {
	out := []portJSON{}
	for _, p := range ports {
		out = append(out, portJSON{p.Name, p.Number, p.Protocol, p.Targets})
	}
	return out
}

func portsJSON(res dockerports.Result, ports []configedit.Port) map[string]any {
	out := map[string]any{"source": res.Source, "ports": portsJSONList(ports)}
	if res.Stage != "" {
		out["stage"] = res.Stage
	}
	if len(res.Notes) > 0 {
		out["notes"] = res.Notes
	}
	return out
}

// portsYAML prints what goes under a service in gateway.yaml, the notes
// as comments so that the whole of it can be pasted.
func portsYAML(w io.Writer, res dockerports.Result, ports []configedit.Port) error {
	from := res.Source
	if res.Stage != "" {
		from += ", stage " + res.Stage
	}
	var b strings.Builder
	fmt.Fprintf(&b, "# ports of %s (fwd ports detect); targets are what the gateway dials: check them\n", from)
	for _, n := range res.Notes {
		fmt.Fprintf(&b, "# note: %s\n", n)
	}
	b.WriteString(configedit.PortsBlock(ports))
	_, err := io.WriteString(w, b.String())
	return err
}

func portsTable(w io.Writer, res dockerports.Result, ports []configedit.Port) error {
	var rows [][]string
	for _, p := range ports {
		rows = append(rows, []string{p.Name, strconv.Itoa(int(p.Number)), p.Protocol, strings.Join(p.Targets, " ")})
	}
	if err := ui.Table(w, ui.Styled(w), []string{"name", "port", "protocol", "targets"}, rows); err != nil {
		return err
	}
	for _, n := range res.Notes {
		ui.Status(w, ui.Styled(w), ui.Warn, n)
	}
	return nil
}
