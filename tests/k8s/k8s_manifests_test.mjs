// ctest k8s_manifests: every manifest of deploy/k8s is valid against the Kubernetes API schemas
// (validate_manifests.mjs, offline), and each of a set of broken copies of them is refused with
// the problem named: an unknown field at the top of a spec and deep in a container, a wrong type,
// a value outside an enum, a missing required field, an unknown kind.
//
//   node tests/k8s/k8s_manifests_test.mjs SOURCE_DIR
//
// The validator's packages come from DESFIRED_K8S_MODULES (default
// ${XDG_CACHE_HOME:-~/.cache}/desfired/k8s-validate/node_modules), installed by tests/k8s/setup;
// without them the test exits 77 (skipped), saying so. Never uses the network.
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { homedir, tmpdir } from "node:os";
import { join } from "node:path";

const source = process.argv[2];
if (!source) {
  console.error("usage: node k8s_manifests_test.mjs SOURCE_DIR");
  process.exit(2);
}
const cache = process.env.XDG_CACHE_HOME || join(homedir(), ".cache");
const modules = process.env.DESFIRED_K8S_MODULES || join(cache, "desfired", "k8s-validate", "node_modules");
if (!existsSync(join(modules, "kubernetes-models", "package.json"))) {
  console.log(`k8s_manifests: SKIP: the validator's packages are not in ${modules}; run tests/k8s/setup`);
  process.exit(77);
}
const validator = join(source, "tests", "k8s", "validate_manifests.mjs");
const dir = join(source, "deploy", "k8s");
const manifests = readdirSync(dir).filter((f) => /\.ya?ml$/.test(f)).sort();

let failed = 0;
let passed = 0;
function check(ok, what, detail = "") {  // returns ok
  if (ok) {
    passed += 1;
    console.log(`PASS ${what}`);
  } else {
    failed += 1;
    console.log(`FAIL ${what}${detail ? `\n     ${detail.replace(/\n/g, "\n     ")}` : ""}`);
  }
  return ok;
}
function validate(paths) {
  const r = spawnSync(process.execPath, [validator, "--modules", modules, ...paths], { encoding: "utf8" });
  return { code: r.status, out: `${r.stdout}${r.stderr}` };
}

// The manifests as they are.
check(manifests.length >= 2, `deploy/k8s holds the manifests (${manifests.join(", ")})`);
for (const f of manifests) {
  const r = validate([join(dir, f)]);
  check(r.code === 0 && !r.out.includes("INVALID"), `deploy/k8s/${f} is valid`, r.out);
}
const kinds = validate(manifests.map((f) => join(dir, f))).out;
for (const want of ["Deployment/desfired-parse", "Service/desfired-parse", "ConfigMap/desfired-parse",
                    "Job/desfired-central-migrate", "CronJob/desfired-central-verify"]) {
  check(kinds.includes(` ${want}`), `the manifests hold ${want}`, kinds);
}

// Broken copies: [file, text, replacement, what the validator must say].
const mutations = [
  ["parse-tier.yaml", "  replicas: 2\n", "  replicaz: 2\n", "spec.replicaz: unknown field"],
  ["parse-tier.yaml", "          resources:\n            requests: {cpu: 500m",
   "          resource:\n            requests: {cpu: 500m",
   "spec.template.spec.containers[0].resource: unknown field"],
  ["parse-tier.yaml", "  clusterIP: None\n", "  clusterIp: None\n", "spec.clusterIp: unknown field"],
  ["parse-tier.yaml", "        runAsNonRoot: true\n", "        runAsNonRoot: \"true\"\n",
   "runAsNonRoot must be boolean"],
  ["parse-tier.yaml", "            periodSeconds: 2\n", "            periodSeconds: two\n",
   "periodSeconds must be integer"],
  ["parse-tier.yaml", "          imagePullPolicy: IfNotPresent\n          command: [desfired",
   "          imagePullPolicy: Sometimes\n          command: [desfired",
   "imagePullPolicy must be equal to one of the allowed values"],
  ["parse-tier.yaml",
   "  selector:\n    matchLabels: {app.kubernetes.io/name: desfired, app.kubernetes.io/component: parse}\n  strategy:",
   "  strategy:", "data/spec must have required property selector"],
  ["parse-tier.yaml", "kind: Deployment\n", "kind: Deploymant\n", "unknown apiVersion/kind apps/v1/Deploymant"],
  ["central-ledger.yaml", "  ttlSecondsAfterFinished: 86400\n", "  ttlSecondsAfterFinish: 86400\n",
   "spec.ttlSecondsAfterFinish: unknown field"],
  ["central-ledger.yaml", "defaultMode: 0440}", "defaultMode: u+r}", "defaultMode must be integer"],
];
const tmp = mkdtempSync(join(tmpdir(), "k8s-manifests-"));
try {
  mutations.forEach(([file, from, to, want], i) => {
    const text = readFileSync(join(dir, file), "utf8");
    if (!check(text.includes(from), `mutation ${i + 1}: ${file} holds the text it changes`,
               JSON.stringify(from))) {
      return;
    }
    const path = join(tmp, `${i + 1}-${file}`);
    writeFileSync(path, text.replace(from, to));
    const r = validate([path]);
    check(r.code === 1 && r.out.includes(want), `mutation ${i + 1} refused: ${want}`, r.out);
  });
} finally {
  rmSync(tmp, { recursive: true, force: true });
}
console.log(`${passed} passed, ${failed} failed`);
process.exit(failed === 0 ? 0 : 1);
