import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import { type Finding, type K8sObject, ref } from './types.ts';

/**
 * Schema validation of rendered objects, two ways:
 *  - values: the JSON-schema validators that kubernetes-models generates from the Kubernetes
 *    OpenAPI spec (and @kubernetes-models/* from each CRD's schema): required fields, types,
 *    formats;
 *  - field names: those schemas allow unknown properties (an API server in Strict field
 *    validation, the default of `kubectl apply`, does not), so a typo like `readinesProbe` would
 *    pass. The same packages' TypeScript declarations are generated from the same spec, so the
 *    objects are type-checked as object literals of those types: TypeScript's excess-property
 *    check reports every field the API does not know, at any depth.
 */

/** API groups served by a CRD and the @kubernetes-models package with their schemas. */
const CRD_PACKAGES: Record<string, string> = {
  'monitoring.coreos.com': '@kubernetes-models/prometheus-operator',
  'argoproj.io': '@kubernetes-models/argo-rollouts',
  'gateway.networking.k8s.io': '@kubernetes-models/gateway-api',
  'cert-manager.io': '@kubernetes-models/cert-manager',
};

/** Module that defines apiVersion/kind, or undefined when no package knows the group. */
function modelModule(apiVersion: string, kind: string): string | undefined {
  const slash = apiVersion.indexOf('/');
  const group = slash === -1 ? '' : apiVersion.slice(0, slash);
  const version = slash === -1 ? apiVersion : apiVersion.slice(slash + 1);
  if (!/^[A-Z][A-Za-z0-9]*$/.test(kind) || !/^v[0-9a-z]+$/.test(version)) return undefined;
  const crdPackage = CRD_PACKAGES[group];
  if (crdPackage) return `${crdPackage}/${group}/${version}/${kind}`;
  if (group.includes('.') && !group.endsWith('.k8s.io')) return undefined;
  return group === '' ? `kubernetes-models/${version}/${kind}` : `kubernetes-models/${group}/${version}/${kind}`;
}

type ModelConstructor = new (data: unknown) => { validate(): void };

const constructors = new Map<string, Promise<ModelConstructor | undefined>>();

async function loadConstructor(apiVersion: string, kind: string): Promise<ModelConstructor | undefined> {
  const module = modelModule(apiVersion, kind);
  if (!module) return undefined;
  let loading = constructors.get(module);
  if (!loading) {
    loading = import(/* @vite-ignore */ module).then(
      (loaded: Record<string, unknown>) => {
        const candidate = loaded[kind];
        return typeof candidate === 'function' ? (candidate as ModelConstructor) : undefined;
      },
      () => undefined,
    );
    constructors.set(module, loading);
  }
  return loading;
}

/** Validates every object's values against its schema. */
export async function validateValues(objects: readonly K8sObject[]): Promise<Finding[]> {
  const findings: Finding[] = [];
  for (const object of objects) {
    const Model = await loadConstructor(object.apiVersion, object.kind);
    if (!Model) {
      findings.push({
        rule: 'schema/known-kind',
        object: ref(object),
        message: `no schema for ${object.apiVersion} ${object.kind} (add its @kubernetes-models package to CRD_PACKAGES)`,
      });
      continue;
    }
    try {
      new Model(object).validate();
    } catch (error) {
      findings.push({
        rule: 'schema/values',
        object: ref(object),
        message: error instanceof Error ? error.message : String(error),
      });
    }
  }
  return findings;
}

const declarationFiles = new Map<string, ts.SourceFile>();
let previousProgram: ts.Program | undefined;

/** Checks that every field name of every object exists in its type (see the module comment). */
export function validateFieldNames(objects: readonly K8sObject[]): Finding[] {
  const findings: Finding[] = [];
  const fileName = fileURLToPath(new URL('../__rendered_objects__.ts', import.meta.url));
  const lines: string[] = [];
  const owners: { firstLine: number; object: K8sObject }[] = [];
  objects.forEach((object, index) => {
    const module = modelModule(object.apiVersion, object.kind);
    if (!module) return; // reported by validateValues
    lines.push(`import type { I${object.kind} as T${index} } from '${module}';`);
  });
  objects.forEach((object, index) => {
    if (!modelModule(object.apiVersion, object.kind)) return;
    owners.push({ firstLine: lines.length, object });
    lines.push(...`export const o${index}: T${index} = ${JSON.stringify(object, null, 1)};`.split('\n'));
  });
  const source = lines.join('\n');

  const options: ts.CompilerOptions = {
    strict: true,
    noEmit: true,
    skipLibCheck: true,
    module: ts.ModuleKind.ESNext,
    moduleResolution: ts.ModuleResolutionKind.Bundler,
    target: ts.ScriptTarget.ES2022,
    lib: ['lib.es2022.d.ts'],
    types: [],
  };
  const host = ts.createCompilerHost(options, true);
  const getSourceFile = host.getSourceFile.bind(host);
  host.getSourceFile = (name, languageVersion, onError, shouldCreate) => {
    if (name === fileName) return ts.createSourceFile(name, source, languageVersion, true);
    // The declaration files never change during a run: parse each once (the mutation tests run
    // this dozens of times).
    let cached = declarationFiles.get(name);
    if (!cached) {
      cached = getSourceFile(name, languageVersion, onError, shouldCreate);
      if (cached) declarationFiles.set(name, cached);
    }
    return cached;
  };
  const fileExists = host.fileExists.bind(host);
  host.fileExists = (name) => name === fileName || fileExists(name);
  const readFile = host.readFile.bind(host);
  host.readFile = (name) => (name === fileName ? source : readFile(name));

  const program = ts.createProgram([fileName], options, host, previousProgram);
  previousProgram = program;
  const file = program.getSourceFile(fileName);
  const diagnostics = [...program.getSyntacticDiagnostics(file), ...program.getSemanticDiagnostics(file)];
  for (const diagnostic of diagnostics) {
    const message = ts.flattenDiagnosticMessageText(diagnostic.messageText, ' ');
    let owner = 'rendered objects';
    let where = '';
    if (diagnostic.file && diagnostic.start !== undefined) {
      const { line } = diagnostic.file.getLineAndCharacterOfPosition(diagnostic.start);
      const found = [...owners].reverse().find((candidate) => candidate.firstLine <= line);
      if (found) owner = ref(found.object);
      where = ` (at: ${lines[line]?.trim() ?? ''})`;
    }
    findings.push({ rule: 'schema/field-names', object: owner, message: `${message}${where}` });
  }
  return findings;
}
