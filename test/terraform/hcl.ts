import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from '@cdktf/hcl2json';

export type Json = string | number | boolean | null | Json[] | { [key: string]: Json };
export type JsonObject = { [key: string]: Json };

/** One Terraform directory (a module or an example), its .tf files parsed by hcl2json and merged. */
export interface TerraformDir {
  path: string;
  fileNames: string[];
  /** Keyed `type.name`. */
  resources: Map<string, JsonObject>;
  variables: Map<string, JsonObject>;
  outputs: Map<string, JsonObject>;
  locals: JsonObject;
  moduleCalls: Map<string, JsonObject>;
  terraformBlocks: JsonObject[];
  /** All parsed JSON, for scanning references. */
  text: string;
}

export function asObject(value: Json | undefined, what: string): JsonObject {
  if (value === null || value === undefined || typeof value !== 'object' || Array.isArray(value)) {
    throw new Error(`${what} is not an object: ${JSON.stringify(value)}`);
  }
  return value;
}

/** hcl2json turns every nested block into a list of objects. */
export function blocks(parent: JsonObject, name: string): JsonObject[] {
  const list = parent[name];
  if (list === undefined) return [];
  if (!Array.isArray(list)) throw new Error(`${name} is not a block list`);
  return list.map((item, index) => asObject(item, `${name}[${index}]`));
}

export function block(parent: JsonObject, name: string): JsonObject {
  const list = blocks(parent, name);
  if (list.length !== 1) throw new Error(`expected exactly one ${name} block, found ${list.length}`);
  return list[0]!;
}

/** A `dynamic "name"` block; hcl2json keys these by name under one `dynamic` object. */
export function dynamicBlock(parent: JsonObject, name: string): JsonObject {
  return block(asObject(parent.dynamic, `dynamic in ${JSON.stringify(Object.keys(parent))}`), name);
}

function single(entries: Json | undefined, what: string): JsonObject {
  if (!Array.isArray(entries) || entries.length !== 1)
    throw new Error(`${what} is declared ${JSON.stringify(entries)}`);
  return asObject(entries[0], what);
}

export async function loadTerraformDir(path: string): Promise<TerraformDir> {
  const fileNames = readdirSync(path)
    .filter((name) => name.endsWith('.tf'))
    .sort();
  const dir: TerraformDir = {
    path,
    fileNames,
    resources: new Map(),
    variables: new Map(),
    outputs: new Map(),
    locals: {},
    moduleCalls: new Map(),
    terraformBlocks: [],
    text: '',
  };
  for (const fileName of fileNames) {
    const parsed = (await parse(fileName, readFileSync(join(path, fileName), 'utf8'))) as JsonObject;
    dir.text += JSON.stringify(parsed);
    for (const [type, byName] of Object.entries(asObject(parsed.resource ?? {}, 'resource'))) {
      for (const [name, entries] of Object.entries(asObject(byName, type))) {
        dir.resources.set(`${type}.${name}`, single(entries, `${type}.${name}`));
      }
    }
    for (const [name, entries] of Object.entries(asObject(parsed.variable ?? {}, 'variable'))) {
      dir.variables.set(name, single(entries, `variable ${name}`));
    }
    for (const [name, entries] of Object.entries(asObject(parsed.output ?? {}, 'output'))) {
      dir.outputs.set(name, single(entries, `output ${name}`));
    }
    for (const [name, entries] of Object.entries(asObject(parsed.module ?? {}, 'module'))) {
      dir.moduleCalls.set(name, single(entries, `module ${name}`));
    }
    for (const locals of blocks(parsed, 'locals')) Object.assign(dir.locals, locals);
    dir.terraformBlocks.push(...blocks(parsed, 'terraform'));
  }
  return dir;
}

export function resource(dir: TerraformDir, address: string): JsonObject {
  const found = dir.resources.get(address);
  if (!found) throw new Error(`${dir.path} declares no ${address}`);
  return found;
}

export function variable(dir: TerraformDir, name: string): JsonObject {
  const found = dir.variables.get(name);
  if (!found) throw new Error(`${dir.path} declares no variable ${name}`);
  return found;
}

function lookup(path: string, scope: JsonObject): Json | undefined {
  let value: Json | undefined = scope;
  for (const part of path.split('.')) {
    if (value === null || typeof value !== 'object' || Array.isArray(value) || !(part in value))
      return undefined;
    value = value[part];
  }
  return value;
}

/**
 * Substitutes the plain references (`${var.x}`, `${each.value.y}`, ...) that `scope` can answer, the way Terraform
 * would; anything else (functions, resource attributes) stays as written. A string that is one reference becomes
 * the referenced value, so `"${each.value.burn_rate}"` evaluates to the number 14.4.
 */
export function evaluate(value: Json, scope: JsonObject): Json {
  if (Array.isArray(value)) return value.map((item) => evaluate(item, scope));
  if (value !== null && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([key, item]) => [key, evaluate(item, scope)]));
  }
  if (typeof value !== 'string') return value;
  const whole = /^\$\{([\w.]+)\}$/.exec(value);
  if (whole) return lookup(whole[1]!, scope) ?? value;
  return value.replace(/\$\{([\w.]+)\}/g, (reference, path: string) => {
    const found = lookup(path, scope);
    return found === undefined || typeof found === 'object' ? reference : String(found);
  });
}

/** Collapses whitespace so multi-line HCL expressions compare by content. */
export function squash(expression: Json | undefined): string {
  return String(expression).replace(/\s+/g, ' ');
}

/** The variables' declared defaults, as Terraform would use them. */
export function defaults(dir: TerraformDir): JsonObject {
  return Object.fromEntries(
    [...dir.variables]
      .filter(([, declared]) => 'default' in declared)
      .map(([name, declared]) => [name, declared.default!]),
  );
}

/** Locals evaluated against themselves and the given variables, as far as plain references go. */
export function resolvedLocals(dir: TerraformDir, vars: JsonObject): JsonObject {
  let locals = dir.locals;
  let previous = '';
  // Each pass resolves one more link of local-to-local chains; stop when nothing changes.
  while (JSON.stringify(locals) !== previous) {
    previous = JSON.stringify(locals);
    locals = asObject(evaluate(locals, { var: vars, local: locals }), 'locals');
  }
  return locals;
}
