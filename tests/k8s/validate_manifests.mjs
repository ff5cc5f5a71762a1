// Validates Kubernetes manifests offline against the Kubernetes API schemas that the npm package
// kubernetes-models bundles (compiled JSON-schema validators, one per kind; nothing is fetched),
// and refuses fields the schema does not know, as `kubeconform -strict` or the API server's
// strict field validation does (the bundled validators alone accept any unknown field).
//
//   node tests/k8s/validate_manifests.mjs --modules DIR FILE.yaml...
//
// DIR is the node_modules directory that tests/k8s/setup installed kubernetes-models and yaml
// into. Every document of every FILE must name an apiVersion and kind that kubernetes-models
// has; YAML is read as YAML 1.1, as Kubernetes reads it (0440 is octal). Prints one line per
// document, "ok FILE#N Kind/name" or "INVALID FILE#N Kind/name: problems", and exits 0 when every
// document is valid, 1 otherwise, 2 on bad usage or a missing package.
//
// Unknown fields: the validator is run on a proxy of the document that records every property
// the validator reads (and every object whose keys it enumerates: maps such as labels); a
// property of the document that it never read is not in the schema.
import { readFileSync, existsSync } from "node:fs";
import { join, resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { createRequire } from "node:module";

function usage(message) {
  console.error(`validate_manifests: ${message}`);
  console.error("usage: node validate_manifests.mjs --modules NODE_MODULES_DIR FILE.yaml...");
  process.exit(2);
}

const args = process.argv.slice(2);
const at = args.indexOf("--modules");
if (at < 0 || at + 1 >= args.length) usage("--modules DIR is required");
const modules = resolve(args[at + 1]);
const files = args.filter((_, i) => i !== at && i !== at + 1);
if (files.length === 0) usage("no manifest given");
const modelsDir = join(modules, "kubernetes-models");
if (!existsSync(join(modelsDir, "package.json")) || !existsSync(join(modules, "yaml"))) {
  usage(`kubernetes-models or yaml is not installed in ${modules} (run tests/k8s/setup)`);
}
const YAML = createRequire(join(modules, "noop.js"))("yaml");

// The kubernetes-models module of apiVersion/kind: "apps/v1" + Deployment ->
// apps/v1/Deployment.js; the core group "v1" + Service -> v1/Service.js.
async function modelOf(apiVersion, kind) {
  if (!/^[a-z0-9.]+(\/v[0-9a-z]+)?$/.test(apiVersion) || !/^[A-Za-z]+$/.test(kind)) return null;
  const file = join(modelsDir, apiVersion, `${kind}.js`);
  if (!existsSync(file)) return null;
  const mod = await import(pathToFileURL(file).href);
  return mod[kind] ?? null;
}

// A proxy of `node` (recursively) that records in `seen` what the validator reads.
function recording(node, seen) {
  if (node === null || typeof node !== "object") return node;
  const keys = new Set();
  seen.set(node, keys);
  const children = new Map();
  return new Proxy(node, {
    get(target, key, receiver) {
      if (typeof key === "string") keys.add(key);
      const value = Reflect.get(target, key, receiver);
      if (value === null || typeof value !== "object" || typeof key !== "string") return value;
      if (!children.has(key)) children.set(key, recording(value, seen));
      return children.get(key);
    },
    has(target, key) {
      if (typeof key === "string") keys.add(key);
      return Reflect.has(target, key);
    },
    ownKeys(target) {  // a map (additionalProperties): every key is the map's
      for (const k of Reflect.ownKeys(target)) if (typeof k === "string") keys.add(k);
      return Reflect.ownKeys(target);
    },
  });
}

// The paths of the properties of `node` that the validator never read.
function unknownFields(node, seen, path, out) {
  if (node === null || typeof node !== "object") return out;
  const keys = seen.get(node);
  if (keys === undefined) return out;  // below a field that is itself unknown, or a scalar's
  for (const [k, v] of Object.entries(node)) {
    const p = Array.isArray(node) ? `${path}[${k}]` : `${path}.${k}`;
    if (!Array.isArray(node) && !keys.has(k)) {
      out.push(`${p.slice(1)}: unknown field`);
    } else {
      unknownFields(v, seen, p, out);
    }
  }
  return out;
}

let bad = 0;
let count = 0;
for (const file of files) {
  const docs = YAML.parseAllDocuments(readFileSync(file, "utf8"), { version: "1.1" });
  let n = 0;
  for (const doc of docs) {
    n += 1;
    const where = `${file}#${n}`;
    if (doc.errors.length > 0) {
      console.log(`INVALID ${where}: YAML: ${doc.errors.map((e) => e.message).join("; ")}`);
      bad += 1;
      continue;
    }
    const obj = doc.toJS({ maxAliasCount: 100 });
    if (obj === null || obj === undefined) continue;  // an empty document
    count += 1;
    const name = `${obj.kind}/${obj.metadata?.name ?? "?"}`;
    const Model = await modelOf(String(obj.apiVersion ?? ""), String(obj.kind ?? ""));
    if (Model === null) {
      console.log(`INVALID ${where} ${name}: unknown apiVersion/kind ${obj.apiVersion}/${obj.kind}`);
      bad += 1;
      continue;
    }
    const problems = [];
    const seen = new WeakMap();
    try {
      Model.prototype.validate.call(recording(obj, seen));
    } catch (e) {
      problems.push(...String(e.message).split(/, (?=data)/));
    }
    unknownFields(obj, seen, "", problems);
    if (problems.length > 0) {
      console.log(`INVALID ${where} ${name}: ${problems.join("; ")}`);
      bad += 1;
    } else {
      console.log(`ok ${where} ${name}`);
    }
  }
}
if (count === 0) usage("the files hold no manifest");
console.log(`${count - bad} valid, ${bad} invalid`);
process.exit(bad === 0 ? 0 : 1);
