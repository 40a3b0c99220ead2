package deploy

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	kjson "sigs.k8s.io/json"
	"sigs.k8s.io/kustomize/api/krusty"
	kusttypes "sigs.k8s.io/kustomize/api/types"
	"sigs.k8s.io/kustomize/kyaml/filesys"
	"sigs.k8s.io/yaml"
)

const kubeDir = "kubernetes"

// kinds are the object kinds the manifests may hold, each with the Go type
// it must decode into strictly.
var kinds = map[string]func() any{
	"v1/ConfigMap":                           func() any { return &corev1.ConfigMap{} },
	"v1/Secret":                              func() any { return &corev1.Secret{} },
	"v1/Service":                             func() any { return &corev1.Service{} },
	"v1/ServiceAccount":                      func() any { return &corev1.ServiceAccount{} },
	"apps/v1/Deployment":                     func() any { return &appsv1.Deployment{} },
	"autoscaling/v2/HorizontalPodAutoscaler": func() any { return &autoscalingv2.HorizontalPodAutoscaler{} },
	"policy/v1/PodDisruptionBudget":          func() any { return &policyv1.PodDisruptionBudget{} },
	"networking.k8s.io/v1/NetworkPolicy":     func() any { return &networkingv1.NetworkPolicy{} },
	"keda.sh/v1alpha1/ScaledObject":          func() any { return &scaledObject{} },
	"monitoring.coreos.com/v1/PodMonitor":    func() any { return &podMonitor{} },
}

type object struct {
	where      string // file, or build and object
	apiVersion string
	kind       string
	name       string
	v          any
}

// decodeObjects splits a multi-document YAML stream and decodes each
// document strictly (unknown or duplicate fields fail) into its API type.
func decodeObjects(where string, data []byte) ([]object, error) {
	r := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(data)))
	var out []object
	for i := 0; ; i++ {
		doc, err := r.Read()
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return nil, fmt.Errorf("%s: document %d: %w", where, i, err)
		}
		if len(bytes.TrimSpace(stripComments(doc))) == 0 {
			continue
		}
		var tm metav1.TypeMeta
		if err := yaml.Unmarshal(doc, &tm); err != nil {
			return nil, fmt.Errorf("%s: document %d: %w", where, i, err)
		}
		newV, ok := kinds[tm.APIVersion+"/"+tm.Kind]
		if !ok {
			return nil, fmt.Errorf("%s: document %d: %s %s is not a kind these tests know; add its type to kinds", where, i, tm.APIVersion, tm.Kind)
		}
		v := newV()
		if err := unmarshalStrict(doc, v); err != nil {
			return nil, fmt.Errorf("%s: %s: does not decode strictly into %T: %w", where, tm.Kind, v, err)
		}
		name := v.(metav1.Object).GetName()
		if name == "" {
			return nil, fmt.Errorf("%s: a %s without a name", where, tm.Kind)
		}
		out = append(out, object{where: where + ": " + tm.Kind + " " + name, apiVersion: tm.APIVersion, kind: tm.Kind, name: name, v: v})
	}
}

// unmarshalStrict decodes YAML as the API server receives it from kubectl:
// converted to JSON without knowing the target type (so `value: 80` stays a
// number and fails for a string field, as it would on apply), then decoded
// case-sensitively, failing on unknown and duplicate fields.
func unmarshalStrict(doc []byte, v any) error {
	j, err := yaml.YAMLToJSONStrict(doc)
	if err != nil {
		return err
	}
	strict, err := kjson.UnmarshalStrict(j, v)
	if err != nil {
		return err
	}
	return errors.Join(strict...)
}

func stripComments(doc []byte) []byte {
	var b bytes.Buffer
	for _, l := range strings.Split(string(doc), "\n") {
		if !strings.HasPrefix(strings.TrimSpace(l), "#") {
			b.WriteString(l)
			b.WriteString("\n")
		}
	}
	return b.Bytes()
}

// kustomizationFiles returns every kustomization.yaml under kubernetes/,
// decoded strictly, by directory (relative to kubernetes/).
func kustomizationFiles(t *testing.T) map[string]*kusttypes.Kustomization {
	t.Helper()
	out := map[string]*kusttypes.Kustomization{}
	err := filepath.WalkDir(kubeDir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || d.Name() != "kustomization.yaml" {
			return err
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		var k kusttypes.Kustomization
		if err := unmarshalStrict(data, &k); err != nil {
			return fmt.Errorf("%s: does not decode strictly into a kustomization: %w", p, err)
		}
		rel, _ := filepath.Rel(kubeDir, filepath.Dir(p))
		out[filepath.ToSlash(rel)] = &k
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(out) == 0 {
		t.Fatal("no kustomization.yaml under kubernetes/")
	}
	return out
}

func TestKustomizationFiles(t *testing.T) {
	ks := kustomizationFiles(t)
	referenced := map[string]bool{} // files under kubernetes/, slash-separated, relative
	for dir, k := range ks {
		where := path.Join(kubeDir, dir, "kustomization.yaml")
		switch {
		case k.Kind == kusttypes.KustomizationKind && k.APIVersion == kusttypes.KustomizationVersion:
		case k.Kind == kusttypes.ComponentKind && k.APIVersion == kusttypes.ComponentVersion:
		default:
			t.Errorf("%s: %s %s, want %s %s or %s %s", where, k.APIVersion, k.Kind,
				kusttypes.KustomizationVersion, kusttypes.KustomizationKind, kusttypes.ComponentVersion, kusttypes.ComponentKind)
		}
		if dep := k.CheckDeprecatedFields(); dep != nil && len(*dep) > 0 {
			t.Errorf("%s: deprecated fields: %v", where, *dep)
		}
		ref := func(what, p string) {
			full := path.Join(dir, p)
			st, err := os.Stat(filepath.Join(kubeDir, full))
			switch {
			case err != nil:
				t.Errorf("%s: %s %s: %v", where, what, p, err)
			case st.IsDir():
				if _, ok := ks[full]; !ok {
					t.Errorf("%s: %s %s is a directory without kustomization.yaml", where, what, p)
				}
			default:
				referenced[full] = true
			}
		}
		for _, r := range k.Resources {
			ref("resource", r)
		}
		for _, c := range k.Components {
			ref("component", c)
		}
		for _, p := range k.Patches {
			if p.Path != "" {
				ref("patch", p.Path)
			}
		}
		var gens []kusttypes.GeneratorArgs
		for _, c := range k.ConfigMapGenerator {
			gens = append(gens, c.GeneratorArgs)
		}
		for _, s := range k.SecretGenerator {
			gens = append(gens, s.GeneratorArgs)
		}
		for _, g := range gens {
			for _, f := range g.FileSources {
				_, f, _ = strings.Cut(f, "=")
				ref("generator file", f)
			}
			for _, f := range g.EnvSources {
				// secret.env holds real secrets: it is git-ignored and ships as
				// secret.env.example.
				if strings.HasSuffix(f, "secret.env") {
					ref("example of generator env file", f+".example")
					ignore, err := os.ReadFile(filepath.Join(kubeDir, dir, filepath.Dir(f), ".gitignore"))
					if err != nil || !slices.Contains(strings.Fields(string(ignore)), filepath.Base(f)) {
						t.Errorf("%s: %s is not git-ignored beside it", where, f)
					}
					continue
				}
				ref("generator env file", f)
			}
		}
	}
	// Every manifest is part of some kustomization: none lies around unused.
	err := filepath.WalkDir(kubeDir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(kubeDir, p)
		rel = filepath.ToSlash(rel)
		switch {
		case d.Name() == "kustomization.yaml", d.Name() == ".gitignore", d.Name() == "secret.env":
		case !referenced[rel]:
			t.Errorf("%s is listed in no kustomization.yaml", p)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestManifestFilesDecodeStrictly decodes every manifest file as written.
func TestManifestFilesDecodeStrictly(t *testing.T) {
	n := 0
	err := filepath.WalkDir(kubeDir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || d.Name() == "kustomization.yaml" || !strings.HasSuffix(p, ".yaml") {
			return err
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		objs, err := decodeObjects(p, data)
		if err != nil {
			t.Error(err)
		}
		if len(objs) == 0 {
			t.Errorf("%s holds no object", p)
		}
		n += len(objs)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%d objects decoded strictly", n)
}

// ---------------------------------------------------------------------------
// Kustomize builds

type kubeBuild struct {
	name string
	objs []object
}

// builds builds every overlay, the base, and the standalone overlay with the
// prometheus-operator component, on an in-memory copy of kubernetes/ in which
// secret.env is the shipped example.
func builds(t *testing.T) []kubeBuild {
	t.Helper()
	mem := filesys.MakeFsInMemory()
	const root = "/k"
	err := filepath.WalkDir(kubeDir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || d.Name() == "secret.env" {
			return err
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(kubeDir, p)
		dst := path.Join(root, filepath.ToSlash(rel))
		if err := mem.WriteFile(dst, data); err != nil {
			return err
		}
		if d.Name() == "secret.env.example" {
			return mem.WriteFile(strings.TrimSuffix(dst, ".example"), data)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	var targets []string
	for dir, k := range kustomizationFiles(t) {
		if k.Kind == kusttypes.KustomizationKind {
			targets = append(targets, dir)
		}
	}
	for comp, k := range kustomizationFiles(t) {
		if k.Kind != kusttypes.ComponentKind {
			continue
		}
		dir := "test-builds/standalone-with-" + path.Base(comp)
		kf := fmt.Sprintf("apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources: [../../overlays/standalone]\ncomponents: [../../%s]\n", comp)
		if err := mem.WriteFile(path.Join(root, dir, "kustomization.yaml"), []byte(kf)); err != nil {
			t.Fatal(err)
		}
		targets = append(targets, dir)
	}
	sort.Strings(targets)
	k := krusty.MakeKustomizer(krusty.MakeDefaultOptions())
	var out []kubeBuild
	for _, dir := range targets {
		m, err := k.Run(mem, path.Join(root, dir))
		if err != nil {
			t.Fatalf("kustomize build %s: %v", dir, err)
		}
		data, err := m.AsYaml()
		if err != nil {
			t.Fatal(err)
		}
		objs, err := decodeObjects("build "+dir, data)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, kubeBuild{name: dir, objs: objs})
	}
	return out
}

var buildsOnce []kubeBuild

func allBuilds(t *testing.T) []kubeBuild {
	t.Helper()
	if buildsOnce == nil {
		buildsOnce = builds(t)
	}
	return buildsOnce
}

func buildNamed(t *testing.T, name string) kubeBuild {
	t.Helper()
	for _, b := range allBuilds(t) {
		if b.name == name {
			return b
		}
	}
	t.Fatalf("no build %s", name)
	return kubeBuild{}
}

func TestKustomizeBuilds(t *testing.T) {
	want := []string{"overlays/sidecar", "overlays/sidecar-pre-1.29", "overlays/standalone"}
	var got []string
	for _, b := range allBuilds(t) {
		got = append(got, b.name)
		kinds := map[string]int{}
		for _, o := range b.objs {
			kinds[o.kind]++
		}
		t.Logf("%s: %v", b.name, kinds)
	}
	for _, w := range want {
		if !slices.Contains(got, w) {
			t.Errorf("no overlay %s (built: %v)", w, got)
		}
	}
}

// TestKubernetesInvariants checks every build for what makes wabridge work
// and run safely; see the check functions for each rule.
func TestKubernetesInvariants(t *testing.T) {
	for _, b := range allBuilds(t) {
		if b.name == "base" {
			continue
		}
		t.Run(strings.ReplaceAll(b.name, "/", "_"), func(t *testing.T) { checkBuild(t, b) })
	}
}

// ---------------------------------------------------------------------------
// Invariants

type index struct {
	b           kubeBuild
	configMaps  map[string]*corev1.ConfigMap
	secrets     map[string]*corev1.Secret
	deployments map[string]*appsv1.Deployment
	pods        map[string]*podInfo // by Deployment name
}

type podInfo struct {
	where   string
	tmpl    *corev1.PodTemplateSpec
	bridges []*bridge
	// onlyWabridge: every container runs wabridge (a standalone workload).
	onlyWabridge bool
}

type bridge struct {
	c        *corev1.Container
	cfg      *config
	sidecar  bool
	admin    int
	http     int // 0 unless the inbound half runs
	portByNm map[string]int
}

func newIndex(b kubeBuild) *index {
	ix := &index{b: b, configMaps: map[string]*corev1.ConfigMap{}, secrets: map[string]*corev1.Secret{},
		deployments: map[string]*appsv1.Deployment{}, pods: map[string]*podInfo{}}
	for _, o := range b.objs {
		switch v := o.v.(type) {
		case *corev1.ConfigMap:
			ix.configMaps[o.name] = v
		case *corev1.Secret:
			ix.secrets[o.name] = v
		case *appsv1.Deployment:
			ix.deployments[o.name] = v
		}
	}
	return ix
}

func checkBuild(t *testing.T, b kubeBuild) {
	ix := newIndex(b)
	names := make([]string, 0, len(ix.deployments))
	for n := range ix.deployments {
		names = append(names, n)
	}
	sort.Strings(names)
	if len(names) == 0 {
		t.Fatal("no Deployment")
	}
	for _, n := range names {
		d := ix.deployments[n]
		where := b.name + ": Deployment " + n
		sel, err := metav1.LabelSelectorAsSelector(d.Spec.Selector)
		if err != nil || !sel.Matches(labels.Set(d.Spec.Template.Labels)) {
			t.Errorf("%s: selector does not match the pod template's labels", where)
		}
		ix.pods[n] = checkPod(t, ix, where, &d.Spec.Template)
	}
	scaled := map[string]string{} // Deployment -> what scales it
	for _, o := range b.objs {
		switch v := o.v.(type) {
		case *autoscalingv2.HorizontalPodAutoscaler:
			checkHPA(t, ix, o.where, v, scaled)
		case *scaledObject:
			checkScaledObject(t, ix, o.where, v, scaled)
		case *corev1.Service:
			checkService(t, ix, o.where, v)
		case *podMonitor:
			checkPodMonitor(t, ix, o.where, v)
		}
	}
	for n, by := range scaled {
		if ix.deployments[n].Spec.Replicas != nil {
			t.Errorf("%s: Deployment %s sets replicas, which %s owns: every apply would reset it", b.name, n, by)
		}
	}
	checkPDBs(t, ix)
	checkNetworkPolicies(t, ix)
}

func checkPod(t *testing.T, ix *index, where string, tmpl *corev1.PodTemplateSpec) *podInfo {
	t.Helper()
	spec := &tmpl.Spec
	pi := &podInfo{where: where, tmpl: tmpl, onlyWabridge: true}
	if spec.AutomountServiceAccountToken == nil || *spec.AutomountServiceAccountToken {
		t.Errorf("%s: automountServiceAccountToken is not false (wabridge never calls the Kubernetes API)", where)
	}
	if spec.EnableServiceLinks == nil || *spec.EnableServiceLinks {
		t.Errorf("%s: enableServiceLinks is not false: Service links inject <SERVICE>_PORT... variables next to wabridge's own", where)
	}
	if spec.HostNetwork || spec.HostPID || spec.HostIPC {
		t.Errorf("%s: shares a host namespace", where)
	}
	type ctr struct {
		c       *corev1.Container
		sidecar bool
	}
	var all []ctr
	for i := range spec.InitContainers {
		c := &spec.InitContainers[i]
		if c.RestartPolicy == nil || *c.RestartPolicy != corev1.ContainerRestartPolicyAlways {
			t.Errorf("%s: init container %s is not a native sidecar (restartPolicy: Always)", where, c.Name)
		}
		all = append(all, ctr{c, true})
	}
	for i := range spec.Containers {
		c := &spec.Containers[i]
		if c.RestartPolicy != nil {
			t.Errorf("%s: container %s sets restartPolicy, which only init containers (native sidecars) may", where, c.Name)
		}
		all = append(all, ctr{c, false})
	}
	// A pod shared with an application: wabridge's readiness would become the
	// app's, so a readiness probe is optional there.
	shared := false
	for _, x := range all {
		repo, _, _ := imageTag(x.c.Image)
		if repo != wabridgeImage || len(x.c.Args) > 0 && commands[x.c.Args[0]] != nil && !commands[x.c.Args[0]].bridges() {
			shared = true
		}
	}
	for _, x := range all {
		c := x.c
		cw := where + ": container " + c.Name
		checkPinned(t, cw, c.Image)
		checkSecurity(t, cw, spec.SecurityContext, c.SecurityContext)
		checkResources(t, cw, c)
		repo, _, _ := imageTag(c.Image)
		if repo != wabridgeImage {
			pi.onlyWabridge = false
			continue
		}
		br := checkWabridgeContainer(t, ix, cw, c, x.sidecar)
		if br == nil {
			continue
		}
		if !br.cfg.cmd.bridges() {
			pi.onlyWabridge = false
			// An app beside the bridge talks to it over Kafka only.
			for _, e := range c.Env {
				if strings.Contains(e.Value, "localhost") || strings.Contains(e.Value, "127.0.0.1") {
					t.Errorf("%s: %s=%s: the app should reach wabridge over Kafka only", cw, e.Name, e.Value)
				}
			}
			continue
		}
		pi.bridges = append(pi.bridges, br)
		checkBridge(t, cw, spec, br, shared)
		// Scrape annotations point at the admin port.
		a := tmpl.Annotations
		if a["prometheus.io/scrape"] != "true" || a["prometheus.io/port"] != strconv.Itoa(br.admin) || a["prometheus.io/path"] != "/metrics" {
			t.Errorf("%s: prometheus.io annotations %v: want scrape \"true\", port %d, path /metrics", where, a, br.admin)
		}
	}
	if len(pi.bridges) > 1 {
		t.Errorf("%s: %d bridges in one pod", where, len(pi.bridges))
	}
	return pi
}

func checkSecurity(t *testing.T, where string, pod *corev1.PodSecurityContext, c *corev1.SecurityContext) {
	t.Helper()
	if c == nil {
		t.Errorf("%s: no securityContext", where)
		return
	}
	if pod == nil {
		pod = &corev1.PodSecurityContext{}
	}
	nonRoot := c.RunAsNonRoot
	if nonRoot == nil {
		nonRoot = pod.RunAsNonRoot
	}
	if nonRoot == nil || !*nonRoot {
		t.Errorf("%s: runAsNonRoot is not true", where)
	}
	uid := c.RunAsUser
	if uid == nil {
		uid = pod.RunAsUser
	}
	if uid == nil || *uid != 65532 {
		t.Errorf("%s: runAsUser is not 65532 (the image's nonroot user)", where)
	}
	if c.AllowPrivilegeEscalation == nil || *c.AllowPrivilegeEscalation {
		t.Errorf("%s: allowPrivilegeEscalation is not false", where)
	}
	if c.Privileged != nil && *c.Privileged {
		t.Errorf("%s: privileged", where)
	}
	if c.ReadOnlyRootFilesystem == nil || !*c.ReadOnlyRootFilesystem {
		t.Errorf("%s: readOnlyRootFilesystem is not true", where)
	}
	if c.Capabilities == nil || !slices.Contains(c.Capabilities.Drop, "ALL") || len(c.Capabilities.Add) > 0 {
		t.Errorf("%s: capabilities should drop ALL and add none", where)
	}
	sp := c.SeccompProfile
	if sp == nil {
		sp = pod.SeccompProfile
	}
	if sp == nil || sp.Type != corev1.SeccompProfileTypeRuntimeDefault {
		t.Errorf("%s: seccompProfile is not RuntimeDefault", where)
	}
}

func checkResources(t *testing.T, where string, c *corev1.Container) {
	t.Helper()
	for _, r := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
		req, okReq := c.Resources.Requests[r]
		lim, okLim := c.Resources.Limits[r]
		if !okReq || req.IsZero() {
			t.Errorf("%s: no %s request", where, r)
		}
		if !okLim || lim.IsZero() {
			t.Errorf("%s: no %s limit", where, r)
		}
		if okReq && okLim && req.Cmp(lim) > 0 {
			t.Errorf("%s: %s request %s above its limit %s", where, r, req.String(), lim.String())
		}
	}
}

// checkWabridgeContainer resolves the configuration of a container running
// the wabridge image: only variables its subcommand reads.
func checkWabridgeContainer(t *testing.T, ix *index, where string, c *corev1.Container, sidecar bool) *bridge {
	t.Helper()
	if len(c.Command) > 0 {
		t.Errorf("%s: sets command %v; the image's ENTRYPOINT is the binary, pass the subcommand in args", where, c.Command)
	}
	sub := "run"
	var cmd []string
	if err := json.Unmarshal([]byte(dockerfile.final().last("CMD")), &cmd); err == nil && len(cmd) > 0 {
		sub = cmd[0]
	}
	if len(c.Args) > 0 {
		sub = c.Args[0]
	}
	h := commands[sub]
	if h == nil {
		t.Errorf("%s: args %v: %q is not a wabridge subcommand", where, c.Args, sub)
		return nil
	}
	cfg := newConfig(h)
	for _, ef := range c.EnvFrom {
		switch {
		case ef.ConfigMapRef != nil:
			cm := ix.configMaps[ef.ConfigMapRef.Name]
			if cm == nil {
				t.Errorf("%s: envFrom ConfigMap %s does not exist", where, ef.ConfigMapRef.Name)
				continue
			}
			for k, v := range cm.Data {
				cfg.setVar(t, where+" (envFrom ConfigMap "+cm.Name+")", ef.Prefix+k, v)
			}
		case ef.SecretRef != nil:
			s := ix.secrets[ef.SecretRef.Name]
			if s == nil {
				t.Errorf("%s: envFrom Secret %s does not exist", where, ef.SecretRef.Name)
				continue
			}
			for k := range s.Data {
				cfg.setVar(t, where+" (envFrom Secret "+s.Name+")", ef.Prefix+k, "(secret)")
			}
		}
	}
	for _, e := range c.Env {
		val := e.Value
		if vf := e.ValueFrom; vf != nil {
			switch {
			case vf.ConfigMapKeyRef != nil:
				cm := ix.configMaps[vf.ConfigMapKeyRef.Name]
				v, ok := "", false
				if cm != nil {
					v, ok = cm.Data[vf.ConfigMapKeyRef.Key]
				}
				if !ok {
					t.Errorf("%s: %s from ConfigMap %s key %s, which does not exist", where, e.Name, vf.ConfigMapKeyRef.Name, vf.ConfigMapKeyRef.Key)
				}
				val = v
			case vf.SecretKeyRef != nil:
				s := ix.secrets[vf.SecretKeyRef.Name]
				ok := false
				if s != nil {
					_, ok = s.Data[vf.SecretKeyRef.Key]
					if !ok {
						_, ok = s.StringData[vf.SecretKeyRef.Key]
					}
				}
				if !ok {
					t.Errorf("%s: %s from Secret %s key %s, which does not exist", where, e.Name, vf.SecretKeyRef.Name, vf.SecretKeyRef.Key)
				}
				val = "(secret)"
			default:
				val = "(downward API)"
			}
		}
		cfg.setVar(t, where, e.Name, val)
	}
	br := &bridge{c: c, cfg: cfg, sidecar: sidecar, portByNm: map[string]int{}}
	for _, p := range c.Ports {
		if p.Name != "" {
			br.portByNm[p.Name] = int(p.ContainerPort)
		}
	}
	return br
}

// port resolves a probe's or Service's port against the container's ports.
func (br *bridge) port(p intstr.IntOrString) int {
	if p.Type == intstr.String {
		return br.portByNm[p.StrVal]
	}
	return p.IntValue()
}

func (br *bridge) declares(port int) bool {
	for _, p := range br.c.Ports {
		if int(p.ContainerPort) == port {
			return true
		}
	}
	return false
}

func checkBridge(t *testing.T, where string, spec *corev1.PodSpec, br *bridge, shared bool) {
	t.Helper()
	cfg := br.cfg
	host, admin := cfg.listenAddr(t, "WABRIDGE_ADMIN_ADDR")
	br.admin = admin
	if !allInterfaces(host) {
		t.Errorf("%s: WABRIDGE_ADMIN_ADDR listens on %s only: the kubelet's probes and Prometheus could not reach it", where, host)
	}
	if !br.declares(admin) {
		t.Errorf("%s: the admin port %d (WABRIDGE_ADMIN_ADDR) is not a containerPort", where, admin)
	}
	if cfg.runsInbound() {
		h, p := cfg.listenAddr(t, "WABRIDGE_HTTP_ADDR")
		br.http = p
		if !allInterfaces(h) {
			t.Errorf("%s: WABRIDGE_HTTP_ADDR listens on %s only", where, h)
		}
		if !br.declares(p) {
			t.Errorf("%s: the webhook port %d (WABRIDGE_HTTP_ADDR) is not a containerPort", where, p)
		}
		if !cfg.set["WEBHOOK_TOKEN"] {
			t.Errorf("%s: runs the inbound half without WEBHOOK_TOKEN: anyone could post webhooks", where)
		}
	} else {
		for _, p := range br.c.Ports {
			if int(p.ContainerPort) != admin {
				t.Errorf("%s: declares port %d, but runs no webhook listener", where, p.ContainerPort)
			}
		}
	}
	if cfg.runsOutbound() && !cfg.set["D360_API_KEY"] && !cfg.set["D360_API_KEYS"] {
		t.Errorf("%s: runs the outbound half without D360_API_KEY: wabridge run would exit at start", where)
	}

	// Probes: the endpoints the admin listener serves (internal/app/app.go).
	probe := func(kind string, p *corev1.Probe, paths ...string) {
		if p == nil {
			t.Errorf("%s: no %s probe", where, kind)
			return
		}
		g := p.HTTPGet
		if g == nil {
			t.Errorf("%s: %s probe is not an httpGet (distroless has no shell for exec probes)", where, kind)
			return
		}
		if !slices.Contains(paths, g.Path) || br.port(g.Port) != admin || (g.Scheme != "" && g.Scheme != corev1.URISchemeHTTP) {
			t.Errorf("%s: %s probe GET %s %s on port %s (%d): want %v over HTTP on the admin port %d", where, kind, g.Scheme, g.Path, g.Port.String(), br.port(g.Port), paths, admin)
		}
	}
	probe("liveness", br.c.LivenessProbe, "/healthz")
	if br.c.ReadinessProbe != nil || !shared {
		probe("readiness", br.c.ReadinessProbe, "/readyz")
	}
	probe("startup", br.c.StartupProbe, "/healthz", "/readyz")
	if sp := br.c.StartupProbe; sp != nil {
		period, failures := sp.PeriodSeconds, sp.FailureThreshold
		if period == 0 {
			period = 10
		}
		if failures == 0 {
			failures = 3
		}
		window := time.Duration(period*failures) * time.Second
		if st := cfg.duration(t, "WABRIDGE_STARTUP_TIMEOUT"); window <= st {
			t.Errorf("%s: startupProbe gives up after %s, before WABRIDGE_STARTUP_TIMEOUT (%s) ends wabridge's own wait", where, window, st)
		}
	}

	// Shutdown: SIGTERM comes after preStop; the kubelet kills at
	// terminationGracePeriodSeconds.
	var preStop time.Duration
	if l := br.c.Lifecycle; l != nil && l.PreStop != nil {
		switch {
		case l.PreStop.Sleep != nil:
			preStop = time.Duration(l.PreStop.Sleep.Seconds) * time.Second
		case l.PreStop.Exec != nil:
			t.Errorf("%s: preStop exec: the image has no shell or sleep binary", where)
		}
	}
	grace := cfg.duration(t, "WABRIDGE_SHUTDOWN_GRACE")
	if spec.TerminationGracePeriodSeconds == nil {
		t.Errorf("%s: terminationGracePeriodSeconds not set", where)
	} else if tg := time.Duration(*spec.TerminationGracePeriodSeconds) * time.Second; tg <= preStop+grace {
		t.Errorf("%s: terminationGracePeriodSeconds %s is not longer than preStop %s + WABRIDGE_SHUTDOWN_GRACE %s: SIGKILL would cut the shutdown short", where, tg, preStop, grace)
	}

	// GOMEMLIMIT below the memory limit.
	if v, ok := cfg.env["GOMEMLIMIT"]; ok && cfg.set["GOMEMLIMIT"] {
		n, err := parseGoMemLimit(v)
		lim := br.c.Resources.Limits[corev1.ResourceMemory]
		if err != nil {
			t.Errorf("%s: GOMEMLIMIT=%s: %v", where, v, err)
		} else if n >= lim.Value() {
			t.Errorf("%s: GOMEMLIMIT=%s is not below the memory limit %s", where, v, lim.String())
		}
	}
	// Requests from the measured figures: the outbound half peaks at 52-60 MB
	// with the default 256 commands in flight.
	if cfg.runsOutbound() && cfg.int(t, "WABRIDGE_MAX_IN_FLIGHT") >= 256 {
		if req := br.c.Resources.Requests[corev1.ResourceMemory]; req.Cmp(resource.MustParse("64Mi")) < 0 {
			t.Errorf("%s: memory request %s is below the outbound half's measured peak (52-60 MB at 256 in flight)", where, req.String())
		}
	}
}

func parseGoMemLimit(s string) (int64, error) {
	m := regexp.MustCompile(`^(\d+)(B|KiB|MiB|GiB|TiB)?$`).FindStringSubmatch(s)
	if m == nil {
		return 0, fmt.Errorf("not a Go memory limit")
	}
	n, _ := strconv.ParseInt(m[1], 10, 64)
	shift := map[string]uint{"": 0, "B": 0, "KiB": 10, "MiB": 20, "GiB": 30, "TiB": 40}[m[2]]
	return n << shift, nil
}

// theBridge returns the one bridge of a Deployment's pods.
func (ix *index) theBridge(t *testing.T, where, deployment string) *bridge {
	t.Helper()
	pi := ix.pods[deployment]
	if pi == nil {
		t.Errorf("%s: targets Deployment %s, which is not in the build", where, deployment)
		return nil
	}
	if len(pi.bridges) != 1 {
		t.Errorf("%s: Deployment %s runs %d bridges", where, deployment, len(pi.bridges))
		return nil
	}
	return pi.bridges[0]
}

// checkHPA: the inbound half scales on CPU or request rate; never the
// outbound half (KEDA does, on lag).
func checkHPA(t *testing.T, ix *index, where string, h *autoscalingv2.HorizontalPodAutoscaler, scaled map[string]string) {
	t.Helper()
	ref := h.Spec.ScaleTargetRef
	if ref.Kind != "Deployment" || ref.APIVersion != "apps/v1" {
		t.Errorf("%s: scales a %s %s", where, ref.APIVersion, ref.Kind)
		return
	}
	if by, ok := scaled[ref.Name]; ok {
		t.Errorf("%s: Deployment %s is already scaled by %s", where, ref.Name, by)
	}
	scaled[ref.Name] = "HorizontalPodAutoscaler " + h.Name
	br := ix.theBridge(t, where, ref.Name)
	if br == nil {
		return
	}
	if br.cfg.env["WABRIDGE_ONLY"] != "inbound" {
		t.Errorf("%s: scales %s, which runs WABRIDGE_ONLY=%q; the outbound half scales on consumer lag (KEDA)", where, ref.Name, br.cfg.env["WABRIDGE_ONLY"])
	}
	if h.Spec.MinReplicas == nil || *h.Spec.MinReplicas < 2 {
		t.Errorf("%s: minReplicas below 2: one pod restarting would refuse webhooks", where)
	}
	if len(h.Spec.Metrics) == 0 {
		t.Errorf("%s: no metrics", where)
	}
}

// checkScaledObject: KEDA's Kafka trigger watches the group and topic the
// outbound half really consumes, on the brokers it really uses.
func checkScaledObject(t *testing.T, ix *index, where string, so *scaledObject, scaled map[string]string) {
	t.Helper()
	ref := so.Spec.ScaleTargetRef
	if ref == nil || ref.Name == "" {
		t.Errorf("%s: no scaleTargetRef", where)
		return
	}
	if (ref.Kind != "" && ref.Kind != "Deployment") || (ref.APIVersion != "" && ref.APIVersion != "apps/v1") {
		t.Errorf("%s: scales a %s %s", where, ref.APIVersion, ref.Kind)
	}
	if by, ok := scaled[ref.Name]; ok {
		t.Errorf("%s: Deployment %s is already scaled by %s", where, ref.Name, by)
	}
	scaled[ref.Name] = "ScaledObject " + so.Name
	br := ix.theBridge(t, where, ref.Name)
	if br == nil {
		return
	}
	cfg := br.cfg
	if cfg.env["WABRIDGE_ONLY"] != "outbound" {
		t.Errorf("%s: scales %s on consumer lag, but it runs WABRIDGE_ONLY=%q", where, ref.Name, cfg.env["WABRIDGE_ONLY"])
	}
	if len(so.Spec.Triggers) != 1 || so.Spec.Triggers[0].Type != "kafka" {
		t.Fatalf("%s: want one trigger of type kafka", where)
	}
	md := so.Spec.Triggers[0].Metadata
	for k := range md {
		if !kafkaTriggerMetadata[k] {
			t.Errorf("%s: kafka trigger metadata %q is not a parameter of KEDA's kafka scaler", where, k)
		}
	}
	for key, env := range map[string]string{"bootstrapServers": "KAFKA_BROKERS", "consumerGroup": "WABRIDGE_GROUP_ID", "topic": "WABRIDGE_TOPIC_COMMANDS"} {
		if md[key] != cfg.env[env] {
			t.Errorf("%s: %s %q, but the pods' %s is %q", where, key, md[key], env, cfg.env[env])
		}
	}
	// The outbound worker starts a new group at the earliest offset
	// (outbound/worker.go: ConsumeResetOffset AtStart).
	if md["offsetResetPolicy"] != "earliest" {
		t.Errorf("%s: offsetResetPolicy %q: wabridge reads a new group from the earliest offset", where, md["offsetResetPolicy"])
	}
	if n, err := strconv.Atoi(md["lagThreshold"]); err != nil || n < 1 {
		t.Errorf("%s: lagThreshold %q: want a positive integer", where, md["lagThreshold"])
	}
	if so.Spec.MaxReplicaCount == nil {
		t.Errorf("%s: no maxReplicaCount (KEDA's default is 100)", where)
	} else if p := cfg.int(t, "WABRIDGE_TOPIC_PARTITIONS"); int(*so.Spec.MaxReplicaCount) > p {
		t.Errorf("%s: maxReplicaCount %d above the command topic's %d partitions: the extra consumers would sit idle", where, *so.Spec.MaxReplicaCount, p)
	}
	if mn := so.Spec.MinReplicaCount; mn != nil && so.Spec.MaxReplicaCount != nil && *mn > *so.Spec.MaxReplicaCount {
		t.Errorf("%s: minReplicaCount above maxReplicaCount", where)
	}
}

// checkService: it selects wabridge pods and its target ports are theirs.
func checkService(t *testing.T, ix *index, where string, s *corev1.Service) {
	t.Helper()
	sel := labels.SelectorFromSet(s.Spec.Selector)
	var matched []*podInfo
	for _, pi := range ix.pods {
		if len(s.Spec.Selector) > 0 && sel.Matches(labels.Set(pi.tmpl.Labels)) {
			matched = append(matched, pi)
		}
	}
	if len(matched) == 0 {
		t.Errorf("%s: selects no pod", where)
	}
	for _, pi := range matched {
		for _, sp := range s.Spec.Ports {
			ok := false
			for _, br := range pi.bridges {
				tp := sp.TargetPort
				if tp.Type == intstr.Int && tp.IntVal == 0 {
					tp = intstr.FromInt32(sp.Port)
				}
				if p := br.port(tp); p != 0 && br.declares(p) && (p == br.http) {
					ok = true
				}
			}
			if !ok {
				t.Errorf("%s: port %s (target %s) is not the webhook listener of %s", where, sp.Name, sp.TargetPort.String(), pi.where)
			}
		}
	}
}

// checkPodMonitor: it selects wabridge pods, on their admin port.
func checkPodMonitor(t *testing.T, ix *index, where string, pm *podMonitor) {
	t.Helper()
	sel, err := metav1.LabelSelectorAsSelector(&pm.Spec.Selector)
	if err != nil {
		t.Fatalf("%s: %v", where, err)
	}
	n := 0
	for _, pi := range ix.pods {
		if !sel.Matches(labels.Set(pi.tmpl.Labels)) {
			continue
		}
		n++
		for _, ep := range pm.Spec.PodMetricsEndpoints {
			for _, br := range pi.bridges {
				if br.portByNm[ep.Port] != br.admin || ep.Path != "/metrics" {
					t.Errorf("%s: endpoint port %q path %q: want the admin port (%d) and /metrics of %s", where, ep.Port, ep.Path, br.admin, pi.where)
				}
			}
		}
	}
	if n == 0 {
		t.Errorf("%s: selects no pod", where)
	}
}

// checkPDBs: every standalone wabridge workload has a budget that still
// lets a node drain.
func checkPDBs(t *testing.T, ix *index) {
	t.Helper()
	var pdbs []*policyv1.PodDisruptionBudget
	for _, o := range ix.b.objs {
		if p, ok := o.v.(*policyv1.PodDisruptionBudget); ok {
			pdbs = append(pdbs, p)
			if p.Spec.MaxUnavailable == nil && p.Spec.MinAvailable == nil {
				t.Errorf("%s: neither maxUnavailable nor minAvailable", o.where)
			}
			if p.Spec.MaxUnavailable != nil && p.Spec.MaxUnavailable.IntValue() < 1 && p.Spec.MaxUnavailable.Type == intstr.Int {
				t.Errorf("%s: maxUnavailable 0 blocks every node drain", o.where)
			}
		}
	}
	for name, pi := range ix.pods {
		if !pi.onlyWabridge {
			continue // an app's pod: its budget is the app's business
		}
		n := 0
		for _, p := range pdbs {
			sel, err := metav1.LabelSelectorAsSelector(p.Spec.Selector)
			if err == nil && sel.Matches(labels.Set(pi.tmpl.Labels)) {
				n++
			}
		}
		if n != 1 {
			t.Errorf("%s: Deployment %s is covered by %d PodDisruptionBudgets, want 1", ix.b.name, name, n)
		}
	}
}

// peerNS is where an address lives, as far as a NetworkPolicy can tell:
// the namespace of a cluster Service name (name.namespace.svc[...]), or ""
// for anything outside the cluster.
func peerNS(host string) string {
	parts := strings.Split(host, ".")
	if len(parts) >= 3 && parts[2] == "svc" {
		return parts[1]
	}
	return ""
}

// checkNetworkPolicies: every wabridge pod is under a policy for both
// directions that lets in webhooks (inbound) and metrics (from the monitoring
// namespace only) and lets out DNS, Kafka, the registry and (outbound) the
// 360dialog API.
func checkNetworkPolicies(t *testing.T, ix *index) {
	t.Helper()
	var nps []*networkingv1.NetworkPolicy
	for _, o := range ix.b.objs {
		if p, ok := o.v.(*networkingv1.NetworkPolicy); ok {
			nps = append(nps, p)
		}
	}
	for name, pi := range ix.pods {
		if len(pi.bridges) == 0 {
			continue
		}
		where := ix.b.name + ": pods of Deployment " + name
		var mine []*networkingv1.NetworkPolicy
		types := map[networkingv1.PolicyType]bool{}
		for _, p := range nps {
			sel, err := metav1.LabelSelectorAsSelector(&p.Spec.PodSelector)
			if err == nil && sel.Matches(labels.Set(pi.tmpl.Labels)) {
				mine = append(mine, p)
				for _, ty := range p.Spec.PolicyTypes {
					types[ty] = true
				}
			}
		}
		if len(mine) == 0 {
			t.Errorf("%s: no NetworkPolicy selects them", where)
			continue
		}
		if !types[networkingv1.PolicyTypeIngress] || !types[networkingv1.PolicyTypeEgress] {
			t.Errorf("%s: policies restrict %v; want Ingress and Egress", where, types)
		}
		br := pi.bridges[0]
		// Egress.
		egress := func(what string, proto corev1.Protocol, port int, ns string) {
			for _, p := range mine {
				for _, r := range p.Spec.Egress {
					if portAllowed(r.Ports, proto, port, br) && peerAllowed(r.To, ns) {
						return
					}
				}
			}
			dest := "outside the cluster"
			if ns != "" {
				dest = "namespace " + ns
			}
			t.Errorf("%s: egress to %s (%s %d, %s) is not allowed", where, what, proto, port, dest)
		}
		egress("DNS", corev1.ProtocolUDP, 53, "kube-system")
		egress("DNS", corev1.ProtocolTCP, 53, "kube-system")
		for _, b := range hostPorts(t, br.cfg.env["KAFKA_BROKERS"]) {
			h, p, _ := strings.Cut(b, ":")
			n, _ := strconv.Atoi(p)
			egress("Kafka "+b, corev1.ProtocolTCP, n, peerNS(h))
		}
		h, p := urlHostPort(t, br.cfg.env["SCHEMA_REGISTRY_URL"])
		egress("the schema registry", corev1.ProtocolTCP, p, peerNS(h))
		if br.cfg.runsOutbound() {
			h, p := urlHostPort(t, br.cfg.env["D360_BASE_URL"])
			egress("the 360dialog API "+h, corev1.ProtocolTCP, p, peerNS(h))
		}
		// Ingress: what is allowed in is served, and the admin port only
		// from the monitoring namespace.
		adminFromMonitoring, webhook := false, false
		for _, np := range mine {
			for _, r := range np.Spec.Ingress {
				if len(r.Ports) == 0 {
					t.Errorf("%s: NetworkPolicy %s lets in every port", where, np.Name)
				}
				for _, pp := range r.Ports {
					port := 0
					if pp.Port != nil {
						port = br.port(*pp.Port)
					}
					switch {
					case port == br.admin:
						if len(r.From) == 0 || !peerAllowed(r.From, monitoringNamespace) || peerAllowed(r.From, "some-other-namespace") {
							t.Errorf("%s: NetworkPolicy %s lets the admin port in from beyond the %s namespace", where, np.Name, monitoringNamespace)
						}
						adminFromMonitoring = true
					case port != 0 && port == br.http:
						webhook = true
					default:
						t.Errorf("%s: NetworkPolicy %s lets in port %v, which wabridge does not serve", where, np.Name, pp.Port)
					}
				}
			}
		}
		if !adminFromMonitoring {
			t.Errorf("%s: Prometheus (namespace %s) cannot reach the admin port", where, monitoringNamespace)
		}
		if br.cfg.runsInbound() && !webhook {
			t.Errorf("%s: webhooks cannot reach port %d", where, br.http)
		}
	}
}

func portAllowed(ports []networkingv1.NetworkPolicyPort, proto corev1.Protocol, port int, br *bridge) bool {
	if len(ports) == 0 {
		return true
	}
	for _, p := range ports {
		pr := corev1.ProtocolTCP
		if p.Protocol != nil {
			pr = *p.Protocol
		}
		if pr != proto {
			continue
		}
		if p.Port == nil {
			return true
		}
		lo := p.Port.IntValue()
		hi := lo
		if p.EndPort != nil {
			hi = int(*p.EndPort)
		}
		if p.Port.Type == intstr.Int && port >= lo && port <= hi {
			return true
		}
	}
	return false
}

// peerAllowed reports whether the peers admit an address in namespace ns
// ("" for outside the cluster).
func peerAllowed(peers []networkingv1.NetworkPolicyPeer, ns string) bool {
	if len(peers) == 0 {
		return true
	}
	for _, p := range peers {
		switch {
		case ns == "" && p.IPBlock != nil:
			return true
		case ns != "" && p.NamespaceSelector != nil:
			sel, err := metav1.LabelSelectorAsSelector(p.NamespaceSelector)
			if err == nil && sel.Matches(labels.Set{"kubernetes.io/metadata.name": ns}) {
				return true
			}
		}
	}
	return false
}

// ---------------------------------------------------------------------------
// The sidecar overlays

func TestSidecar(t *testing.T) {
	ix := newIndex(buildNamed(t, "overlays/sidecar"))
	for name, d := range ix.deployments {
		ix.pods[name] = checkPod(t, ix, name, &d.Spec.Template)
	}
	n := 0
	for name, pi := range ix.pods {
		spec := pi.tmpl.Spec
		if len(spec.InitContainers) != 1 {
			t.Errorf("%s: want wabridge as the one init container (native sidecar)", name)
			continue
		}
		sc := spec.InitContainers[0]
		if len(pi.bridges) != 1 || pi.bridges[0].c.Name != sc.Name || !pi.bridges[0].sidecar {
			t.Errorf("%s: the native sidecar is not the bridge", name)
			continue
		}
		n++
		if sc.StartupProbe == nil {
			t.Errorf("%s: the sidecar has no startupProbe: the app would start before wabridge is up", name)
		}
		if len(spec.Containers) == 0 || pi.onlyWabridge {
			t.Errorf("%s: no app container beside the sidecar", name)
		}
	}
	if n == 0 {
		t.Fatal("no pod with wabridge as a native sidecar")
	}

	// Before 1.29: the same pod, wabridge an ordinary container.
	old := newIndex(buildNamed(t, "overlays/sidecar-pre-1.29"))
	for name, d := range old.deployments {
		pi := checkPod(t, old, name, &d.Spec.Template)
		if len(d.Spec.Template.Spec.InitContainers) != 0 {
			t.Errorf("pre-1.29 %s: still has init containers", name)
		}
		if len(pi.bridges) != 1 || pi.bridges[0].sidecar {
			t.Errorf("pre-1.29 %s: wabridge is not an ordinary container", name)
		}
		if want := ix.deployments[name]; want == nil || len(want.Spec.Template.Spec.Containers)+1 != len(d.Spec.Template.Spec.Containers) {
			t.Errorf("pre-1.29 %s: containers differ from the sidecar overlay's beyond wabridge", name)
		}
	}
}
