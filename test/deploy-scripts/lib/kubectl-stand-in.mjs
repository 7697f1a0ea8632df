// A STAND-IN for kubectl, used by the deploy script tests because no Kubernetes API server can run
// on the test machine. It is not a fake cluster: it records every call (its arguments, one JSON
// array per line, in KUBECTL_STAND_IN_LOG) and answers from a fixture (KUBECTL_STAND_IN_FIXTURE):
// the first rule whose `match` (a regular expression over the space-joined arguments) matches and
// whose `times` is not used up gives stdout (`stdout`, or `json` serialized), stderr and the exit
// code. A rule with `real: true` runs the real kubectl instead (for `kubectl kustomize`, which needs
// no cluster). A call that no rule answers fails loudly with exit code 99.
import { spawnSync } from 'node:child_process';
import { appendFileSync, existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs';

const args = process.argv.slice(2);
const line = args.join(' ');
const {
  KUBECTL_STAND_IN_FIXTURE: fixturePath,
  KUBECTL_STAND_IN_LOG: logPath,
  KUBECTL_STAND_IN_REAL: real,
} = process.env;
appendFileSync(logPath, `${JSON.stringify(args)}\n`);
const rules = JSON.parse(readFileSync(fixturePath, 'utf8'));
const usesPath = `${logPath}.uses.json`;
const uses = existsSync(usesPath) ? JSON.parse(readFileSync(usesPath, 'utf8')) : {};

const index = rules.findIndex(
  (rule, position) =>
    new RegExp(rule.match).test(line) && (rule.times === undefined || (uses[position] ?? 0) < rule.times),
);
if (index === -1) {
  process.stderr.write(`kubectl stand-in: no fixture answers "kubectl ${line}"\n`);
  process.exit(99);
}
uses[index] = (uses[index] ?? 0) + 1;
// Whole or not at all: a script may run several kubectl calls at once (generate-helm-chart renders
// in parallel), and a reader must never see a half-written file.
writeFileSync(`${usesPath}.${process.pid}`, JSON.stringify(uses));
renameSync(`${usesPath}.${process.pid}`, usesPath);
const rule = rules[index];
if (rule.real) {
  const result = spawnSync(real, args, { stdio: 'inherit' });
  process.exit(result.status ?? 1);
}
if (rule.json !== undefined) process.stdout.write(JSON.stringify(rule.json));
if (rule.stdout) process.stdout.write(rule.stdout);
if (rule.stderr) process.stderr.write(rule.stderr);
process.exit(rule.exit ?? 0);
