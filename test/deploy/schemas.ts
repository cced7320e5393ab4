// Kubernetes schema validation of rendered objects with the kubernetes-models packages (the
// Kubernetes OpenAPI schemas, and cert-manager's and the Prometheus Operator's CRD schemas).
import type { K8sObject } from './kustomize.js';

/** The package whose models cover an API group; core and built-in groups are in kubernetes-models. */
const PACKAGE_OF_GROUP: Record<string, string> = {
  'cert-manager.io': '@kubernetes-models/cert-manager',
  'monitoring.coreos.com': '@kubernetes-models/prometheus-operator',
};

type ModelClass = { prototype: { validate(this: unknown): void } };

async function modelOf(obj: K8sObject): Promise<ModelClass> {
  const [group = '', version = ''] = obj.apiVersion.includes('/') ? obj.apiVersion.split('/') : ['', obj.apiVersion];
  const pkg = PACKAGE_OF_GROUP[group] ?? 'kubernetes-models';
  const path = group ? `${pkg}/${group}/${version}/${obj.kind}` : `${pkg}/${version}/${obj.kind}`;
  try {
    const mod = (await import(path)) as Record<string, ModelClass>;
    const model = mod[obj.kind];
    if (!model) throw new Error(`${path} exports no ${obj.kind}`);
    return model;
  } catch (err) {
    throw new Error(`no schema for ${obj.apiVersion} ${obj.kind} (${(err as Error).message})`);
  }
}

/**
 * Wraps `value` so that every property the validator reads is recorded. The generated validators
 * read exactly the properties their schema declares and enumerate the keys of maps (labels, data,
 * resources.limits), so a key of a non-map object that was never read is one the schema does not
 * know: a typo (`livenesProbe`) the schemas alone accept, and the apiserver's strict field
 * validation (kubectl's default) would refuse.
 */
function readTracker(): { wrap<T>(value: T, path: string): T; unread(): string[] } {
  const records: { path: string; value: object; read: Set<string>; enumerated: boolean }[] = [];
  const proxies = new WeakMap<object, object>();
  const wrap = <T>(value: T, path: string): T => {
    if (typeof value !== 'object' || value === null) return value;
    const known = proxies.get(value);
    if (known) return known as T;
    const record = { path, value: value as object, read: new Set<string>(), enumerated: false };
    records.push(record);
    const proxy = new Proxy(value, {
      get(target, key, receiver) {
        const v: unknown = Reflect.get(target, key, receiver);
        if (typeof key !== 'string' || !Object.hasOwn(target, key)) return v;
        record.read.add(key);
        return wrap(v, `${path}/${key}`);
      },
      ownKeys(target) {
        record.enumerated = true;
        return Reflect.ownKeys(target);
      },
    });
    proxies.set(value, proxy);
    return proxy;
  };
  const unread = (): string[] =>
    records
      .filter((r) => !Array.isArray(r.value) && !r.enumerated)
      .flatMap((r) =>
        Object.keys(r.value)
          .filter((k) => !r.read.has(k))
          .map((k) => `${r.path}/${k}`),
      );
  return { wrap, unread };
}

/** Schema problems of one object (empty when valid): schema errors, then unknown fields. */
export async function schemaProblems(obj: K8sObject): Promise<string[]> {
  const where = `${obj.kind} ${obj.metadata?.name}`;
  let model: ModelClass;
  try {
    model = await modelOf(obj);
  } catch (err) {
    return [`${where}: ${(err as Error).message}`];
  }
  // A copy: the validator may not modify, but the renders are shared between tests.
  const copy = structuredClone(obj);
  if (copy.kind === 'Secret' && copy.data) {
    // kustomize writes long base64 in lines of 70; the apiserver's decoder (Go's base64) skips the
    // newlines, the schema's "byte" format does not.
    copy.data = Object.fromEntries(
      Object.entries(copy.data as Record<string, string>).map(([k, v]) => [k, v.replace(/[\r\n]/g, '')]),
    );
  }
  const tracker = readTracker();
  try {
    model.prototype.validate.call(tracker.wrap(copy, ''));
  } catch (err) {
    return [`${where}: ${(err as Error).message}`];
  }
  return tracker.unread().map((path) => `${where}: unknown field ${path}`);
}
