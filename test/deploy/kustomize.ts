// A minimal Kustomize renderer for the tests of deploy/kubernetes: the features those kustomizations
// use, done the way kustomize v5 does them (resources, components, namespace, images, config map and
// secret generators with their content-hash name suffix and the references to them, `$patch: delete`).
// Anything else in a kustomization is an error rather than silently ignored, so the tests never pass
// on a render kustomize would not produce. When kubectl is installed, test/deploy/manifests.test.ts
// also compares this render with `kubectl kustomize`.
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { basename, join, resolve } from 'node:path';
import { parseAllDocuments } from 'yaml';
import type { IDeployment } from 'kubernetes-models/apps/v1/Deployment';
import type { IPodSpec } from 'kubernetes-models/v1/PodSpec';

/** A Kubernetes object as parsed from YAML. */
export type K8sObject = {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string>; [k: string]: unknown };
  [k: string]: unknown;
};

interface Generator {
  name: string;
  type?: string;
  envs?: string[];
  files?: string[];
  literals?: string[];
  options?: { disableNameSuffixHash?: boolean };
}

interface Kustomization {
  apiVersion?: string;
  kind?: string;
  namespace?: string;
  resources?: string[];
  components?: string[];
  images?: { name: string; newName?: string; newTag?: string }[];
  configMapGenerator?: Generator[];
  secretGenerator?: Generator[];
  patches?: { path: string }[];
}

const SUPPORTED = new Set([
  'apiVersion',
  'kind',
  'namespace',
  'resources',
  'components',
  'images',
  'configMapGenerator',
  'secretGenerator',
  'patches',
]);
const GENERATOR_KEYS = new Set(['name', 'type', 'envs', 'files', 'literals', 'options']);

/** Kinds without a namespace (those these manifests could contain). */
const CLUSTER_SCOPED = new Set([
  'Namespace',
  'ClusterRole',
  'ClusterRoleBinding',
  'CustomResourceDefinition',
  'ClusterIssuer',
  'PriorityClass',
  'StorageClass',
]);

/** Generated objects: their name before the hash suffix, so that references can be rewritten. */
const originalNames = new WeakMap<K8sObject, string>();

/** Parses every YAML document of a file (empty documents skipped); a syntax error throws naming the file. */
export function readYamlObjects(file: string): K8sObject[] {
  const docs = parseAllDocuments(readFileSync(file, 'utf8'));
  const out: K8sObject[] = [];
  for (const doc of docs) {
    if (doc.errors.length > 0) throw new Error(`${file}: ${doc.errors.map((e) => e.message).join('; ')}`);
    const value = doc.toJS() as K8sObject | null;
    if (value !== null) out.push(value);
  }
  return out;
}

function readKustomization(dir: string): Kustomization {
  const file = ['kustomization.yaml', 'kustomization.yml', 'Kustomization']
    .map((f) => join(dir, f))
    .find((f) => existsSync(f));
  if (!file) throw new Error(`${dir}: no kustomization.yaml`);
  const k = readYamlObjects(file)[0] as unknown as Kustomization;
  for (const key of Object.keys(k))
    if (!SUPPORTED.has(key)) throw new Error(`${file}: "${key}" is not supported by the test renderer`);
  for (const g of [...(k.configMapGenerator ?? []), ...(k.secretGenerator ?? [])]) {
    for (const key of Object.keys(g))
      if (!GENERATOR_KEYS.has(key)) throw new Error(`${file}: generator ${g.name}: "${key}" is not supported`);
  }
  return k;
}

/** Go's encoding/json: keys sorted, and <, >, & and U+2028/9 escaped as \u00XX (kustomize hashes that text). */
function goJson(value: unknown): string {
  if (value === null || typeof value !== 'object') {
    return JSON.stringify(value).replace(
      /[<>&\u2028\u2029]/g,
      (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`,
    );
  }
  if (Array.isArray(value)) return `[${value.map(goJson).join(',')}]`;
  const entries = Object.entries(value as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return `{${entries.map(([k, v]) => `${goJson(k)}:${goJson(v)}`).join(',')}}`;
}

/**
 * kustomize's hasher (api/hasher): sha256 of {kind, name, data} (+ type for a Secret), the first 10 hex
 * digits with 0 1 3 a e swapped for letters. Its name is looked up as one field called "metadata/name",
 * which no object has, so the name hashes as "" (as `kubectl kustomize` v5.5 does: compared in the test).
 */
export function nameSuffixHash(obj: K8sObject): string {
  const encoded: Record<string, unknown> =
    obj.kind === 'ConfigMap'
      ? { kind: 'ConfigMap', name: '', data: obj.data ?? {} }
      : { kind: 'Secret', type: obj.type, name: '', data: obj.data ?? {} };
  const hex = createHash('sha256').update(goJson(encoded)).digest('hex').slice(0, 10);
  const swap: Record<string, string> = { '0': 'g', '1': 'h', '3': 'k', a: 'm', e: 't' };
  return [...hex].map((c) => swap[c] ?? c).join('');
}

/** A dotenv file as kustomize reads one: `KEY=value` lines, blank and `#` lines skipped, values kept as written. */
function readEnvFile(file: string): [string, string][] {
  return readFileSync(file, 'utf8')
    .split('\n')
    .map((line) => line.replace(/^\s+/, ''))
    .filter((line) => line !== '' && !line.startsWith('#'))
    .map((line) => {
      const eq = line.indexOf('=');
      if (eq <= 0)
        throw new Error(`${file}: "${line}" is not KEY=value (kustomize would read KEY from its own environment)`);
      return [line.slice(0, eq), line.slice(eq + 1)];
    });
}

/** Base64 as kustomize's kyaml writes Secret data: past 70 characters, in lines of 70, each ending in a newline. */
function kyamlBase64(value: string): string {
  const encoded = Buffer.from(value, 'utf8').toString('base64');
  if (encoded.length <= 70) return encoded;
  return `${(encoded.match(/.{1,70}/g) ?? []).join('\n')}\n`;
}

function generate(dir: string, g: Generator, kind: 'ConfigMap' | 'Secret'): K8sObject {
  const data: Record<string, string> = {};
  const put = (key: string, value: string, from: string): void => {
    if (key in data) throw new Error(`${from}: key ${key} given twice in ${g.name}`);
    data[key] = value;
  };
  for (const env of g.envs ?? []) for (const [k, v] of readEnvFile(join(dir, env))) put(k, v, env);
  for (const spec of g.files ?? []) {
    const [key, path] = spec.includes('=') ? (spec.split('=', 2) as [string, string]) : [basename(spec), spec];
    put(key, readFileSync(join(dir, path), 'utf8'), spec);
  }
  for (const literal of g.literals ?? []) {
    const eq = literal.indexOf('=');
    put(literal.slice(0, eq), literal.slice(eq + 1), literal);
  }
  const obj: K8sObject =
    kind === 'ConfigMap'
      ? { apiVersion: 'v1', kind, metadata: { name: g.name }, data }
      : {
          apiVersion: 'v1',
          kind,
          metadata: { name: g.name },
          type: g.type ?? 'Opaque',
          data: Object.fromEntries(Object.entries(data).map(([k, v]) => [k, kyamlBase64(v)])),
        };
  if (!g.options?.disableNameSuffixHash) {
    const original = obj.metadata.name;
    obj.metadata.name = `${original}-${nameSuffixHash(obj)}`;
    originalNames.set(obj, original);
  }
  return obj;
}

/** The pod template of a workload (the kinds these manifests use), or undefined for any other object. */
export function podSpecOf(obj: K8sObject): IPodSpec | undefined {
  if (obj.kind === 'Pod') return obj.spec as IPodSpec | undefined;
  // Deployment, StatefulSet, DaemonSet, ReplicaSet and Job share the spec.template.spec shape.
  if (['Deployment', 'StatefulSet', 'DaemonSet', 'ReplicaSet', 'Job'].includes(obj.kind))
    return (obj as unknown as IDeployment).spec?.template.spec;
  return undefined;
}

/** A pod's reference to a ConfigMap or Secret by name (and key, for a single variable). */
export interface NameReference {
  kind: 'ConfigMap' | 'Secret';
  name: string | undefined;
  key?: string;
  rename(name: string): void;
}

/** Every ConfigMap/Secret name a pod spec refers to: volumes, projected volumes, envFrom, env, image pull secrets. */
export function podReferences(pod: IPodSpec): NameReference[] {
  const refs: NameReference[] = [];
  const add = (kind: NameReference['kind'], holder: { name?: string }, key?: string): void => {
    refs.push({ kind, name: holder.name, ...(key ? { key } : {}), rename: (n) => void (holder.name = n) });
  };
  for (const v of pod.volumes ?? []) {
    if (v.configMap) add('ConfigMap', v.configMap);
    const secret = v.secret;
    if (secret) refs.push({ kind: 'Secret', name: secret.secretName, rename: (n) => void (secret.secretName = n) });
    for (const s of v.projected?.sources ?? []) {
      if (s.configMap) add('ConfigMap', s.configMap);
      if (s.secret) add('Secret', s.secret);
    }
  }
  for (const c of [...(pod.initContainers ?? []), ...pod.containers]) {
    for (const e of c.envFrom ?? []) {
      if (e.configMapRef) add('ConfigMap', e.configMapRef);
      if (e.secretRef) add('Secret', e.secretRef);
    }
    for (const e of c.env ?? []) {
      if (e.valueFrom?.configMapKeyRef) add('ConfigMap', e.valueFrom.configMapKeyRef, e.valueFrom.configMapKeyRef.key);
      if (e.valueFrom?.secretKeyRef) add('Secret', e.valueFrom.secretKeyRef, e.valueFrom.secretKeyRef.key);
    }
  }
  for (const s of pod.imagePullSecrets ?? []) add('Secret', s);
  return refs;
}

function applyImages(objects: K8sObject[], images: NonNullable<Kustomization['images']>): void {
  for (const obj of objects) {
    const pod = podSpecOf(obj);
    for (const c of [...(pod?.initContainers ?? []), ...(pod?.containers ?? [])]) {
      // name[:tag][@digest]; a registry's port is a colon before the last slash, not a tag.
      const m = /^(.*?)(?::([^:/@]+))?(@.+)?$/.exec(c.image ?? '');
      const [name = '', tag, digest = ''] = m ? m.slice(1) : [];
      const rule = images.find((i) => i.name === name);
      if (rule) c.image = `${rule.newName ?? name}${rule.newTag ? `:${rule.newTag}` : tag ? `:${tag}` : ''}${digest}`;
    }
  }
}

function applyPatches(dir: string, objects: K8sObject[], patches: NonNullable<Kustomization['patches']>): K8sObject[] {
  let out = objects;
  for (const p of patches) {
    for (const patch of readYamlObjects(join(dir, p.path))) {
      if ((patch as Record<string, unknown>).$patch !== 'delete')
        throw new Error(`${p.path}: only "$patch: delete" patches are supported by the test renderer`);
      const match = (o: K8sObject): boolean =>
        o.kind === patch.kind &&
        (originalNames.get(o) ?? o.metadata.name) === patch.metadata.name &&
        (!patch.metadata.namespace || o.metadata.namespace === patch.metadata.namespace);
      if (!out.some(match)) throw new Error(`${p.path}: no ${patch.kind} ${patch.metadata.name} to delete`);
      out = out.filter((o) => !match(o));
    }
  }
  return out;
}

/** Points pod references to generated objects' original names at their suffixed names. */
function fixNameReferences(objects: K8sObject[]): void {
  const generated = objects.filter((o) => originalNames.has(o));
  for (const obj of objects) {
    const pod = podSpecOf(obj);
    for (const ref of pod ? podReferences(pod) : []) {
      const target = generated.find(
        (g) =>
          g.kind === ref.kind && originalNames.get(g) === ref.name && g.metadata.namespace === obj.metadata.namespace,
      );
      if (target) ref.rename(target.metadata.name);
    }
  }
}

/** Adds a kustomization's resources, generated objects and components to `objects`, then runs its transformers over all. */
function build(dir: string, objects: K8sObject[], stack: string[]): K8sObject[] {
  const root = resolve(dir);
  if (stack.includes(root)) throw new Error(`${root}: kustomization cycle`);
  const k = readKustomization(root);
  let out = [...objects];
  for (const r of k.resources ?? []) {
    const path = resolve(root, r);
    out.push(...(statSync(path).isDirectory() ? build(path, [], [...stack, root]) : readYamlObjects(path)));
  }
  for (const g of k.configMapGenerator ?? []) out.push(generate(root, g, 'ConfigMap'));
  for (const g of k.secretGenerator ?? []) out.push(generate(root, g, 'Secret'));
  // A component works on what its parent accumulated so far: its resources join them, its transformers run over all.
  for (const c of k.components ?? []) {
    const path = resolve(root, c);
    if (readKustomization(path).kind !== 'Component')
      throw new Error(`${path}: listed under components but not kind: Component`);
    out = build(path, out, [...stack, root]);
  }
  return transform(root, k, out);
}

function transform(dir: string, k: Kustomization, input: K8sObject[]): K8sObject[] {
  let objects = input;
  if (k.patches) objects = applyPatches(dir, objects, k.patches);
  if (k.namespace) for (const o of objects) if (!CLUSTER_SCOPED.has(o.kind)) o.metadata.namespace = k.namespace;
  if (k.images) applyImages(objects, k.images);
  fixNameReferences(objects);
  const seen = new Set<string>();
  for (const o of objects) {
    const id = `${o.apiVersion}/${o.kind}/${o.metadata.namespace ?? ''}/${o.metadata.name}`;
    if (seen.has(id)) throw new Error(`${dir}: ${id} defined twice`);
    seen.add(id);
  }
  return objects;
}

/** Renders the kustomization in `dir` as `kubectl kustomize dir` would, for the features listed above. */
export function renderKustomization(dir: string): K8sObject[] {
  return build(dir, [], []);
}
