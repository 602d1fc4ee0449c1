// Builders for the CRD's CEL validation rules (x-kubernetes-validations). Each
// takes the structural schema node the rule is attached to and checks that the
// fields it names exist, so renaming a field in the model breaks generation
// instead of leaving a rule that the apiserver refuses or that checks nothing.
import type { JsonSchema } from './structural.ts';

export interface CelRule {
  rule: string;
  message: string;
  /** Shown to users as e.g. "spec: Forbidden: ..." instead of "Invalid value". */
  reason?: 'FieldValueInvalid' | 'FieldValueForbidden' | 'FieldValueRequired' | 'FieldValueDuplicate';
  /** Where the error points, relative to the node, e.g. `.cancel`. */
  fieldPath?: string;
}

/** The spec stays as created, except `mutable` fields; absent and present differ. */
export function immutableExcept(node: JsonSchema, mutable: string[], message: string): CelRule {
  for (const name of mutable) field(node, name);
  const fixed = Object.keys(properties(node)).filter((name) => !mutable.includes(name));
  const rule = fixed.map((name) => {
    const f = field(node, name);
    return isRequired(node, name)
      ? `self.${f} == oldSelf.${f}`
      : `(has(self.${f}) == has(oldSelf.${f})) && (!has(self.${f}) || self.${f} == oldSelf.${f})`;
  }).join(' && ');
  return { rule, message, reason: 'FieldValueForbidden' };
}

/** A boolean that, once true, may be neither set back to false nor removed. */
export function staysTrue(node: JsonSchema, name: string, message: string): CelRule {
  const f = field(node, name);
  return {
    rule: `!has(oldSelf.${f}) || !oldSelf.${f} || (has(self.${f}) && self.${f})`,
    message,
    reason: 'FieldValueForbidden',
    fieldPath: `.${name}`,
  };
}

export function mutuallyExclusive(node: JsonSchema, names: string[]): CelRule {
  return { rule: `${countPresent(node, names)} <= 1`, message: `${list(names)} are mutually exclusive` };
}

export function exactlyOneOf(node: JsonSchema, names: string[]): CelRule {
  return { rule: `${countPresent(node, names)} == 1`, message: `exactly one of ${list(names)} must be set` };
}

/** A string field (when present) matches an RE2 pattern. */
export function matches(node: JsonSchema, name: string, pattern: string, message: string): CelRule {
  if (/['\\]/.test(pattern)) throw new Error(`pattern for ${name} must not need escaping in a CEL string: ${pattern}`);
  return whenPresent(node, name, (f) => `self.${f}.matches('${pattern}')`, message);
}

export function doesNotStartWith(node: JsonSchema, name: string, prefix: string, message: string): CelRule {
  if (/['\\]/.test(prefix)) throw new Error(`prefix for ${name} must not need escaping in a CEL string: ${prefix}`);
  return whenPresent(node, name, (f) => `!self.${f}.startsWith('${prefix}')`, message);
}

function whenPresent(node: JsonSchema, name: string, check: (f: string) => string, message: string): CelRule {
  const f = field(node, name);
  return { rule: isRequired(node, name) ? check(f) : `!has(self.${f}) || ${check(f)}`, message, fieldPath: `.${name}` };
}

function countPresent(node: JsonSchema, names: string[]): string {
  if (names.length < 2) throw new Error('a choice between fields needs at least two of them');
  return names.map((name) => `(has(self.${field(node, name)}) ? 1 : 0)`).join(' + ');
}

function list(names: string[]): string {
  return names.length === 2 ? `${names[0]} and ${names[1]}` : names.join(', ');
}

function properties(node: JsonSchema): Record<string, JsonSchema> {
  if (typeof node.properties !== 'object' || node.properties === null) throw new Error('CEL rules here need an object with properties');
  return node.properties as Record<string, JsonSchema>;
}

function isRequired(node: JsonSchema, name: string): boolean {
  return Array.isArray(node.required) && node.required.includes(name);
}

/** The field as CEL names it (Kubernetes escapes reserved words and some characters). */
function field(node: JsonSchema, name: string): string {
  if (!(name in properties(node))) throw new Error(`no field ${name} for a CEL rule (fields: ${Object.keys(properties(node)).join(', ')})`);
  return escapeCelField(name);
}

const celReserved = new Set(['true', 'false', 'null', 'in', 'as', 'break', 'const', 'continue', 'else', 'for', 'function',
  'if', 'import', 'let', 'loop', 'package', 'namespace', 'return', 'var', 'void', 'while']);

/** As in k8s.io/apiserver/pkg/cel Escape. */
export function escapeCelField(name: string): string {
  if (celReserved.has(name)) return `__${name}__`;
  if (!/^[a-zA-Z_.\-/][a-zA-Z0-9_.\-/]*$/.test(name)) throw new Error(`field ${name} cannot be named in CEL`);
  return name.replace(/__/g, '__underscores__').replace(/\./g, '__dot__').replace(/-/g, '__dash__').replace(/\//g, '__slash__');
}

/**
 * A URL field (required) that must be http(s) with a host and must not name a
 * link-local IP address (169.254.0.0/16, fe80::/10: the cloud metadata
 * endpoints). Hostnames and other addresses are the operator's to check: it
 * knows whether private addresses are allowed, and what a name resolves to.
 * The link-local check is a pattern, not CEL's ip(): the apiserver estimates
 * ip() of a parsed URL's host far over the cost budget.
 */
export function httpUrlNotLinkLocal(node: JsonSchema, name: string): CelRule[] {
  const f = field(node, name);
  if (!isRequired(node, name)) throw new Error(`${name} must be required for this rule`);
  const linkLocal = '^[a-zA-Z]+://([^/@]*@)?(169[.]254[.]|[[][fF][eE][89aAbB][0-9a-fA-F]*:)';
  return [
    {
      rule: `isURL(self.${f}) && url(self.${f}).getScheme() in ['http', 'https'] && url(self.${f}).getHostname() != ''`,
      message: 'must be an http:// or https:// URL with a host',
      fieldPath: `.${name}`,
    },
    {
      rule: `!self.${f}.matches('${linkLocal}')`,
      message: 'must not be a link-local address (169.254.0.0/16, fe80::/10)',
      reason: 'FieldValueForbidden',
      fieldPath: `.${name}`,
    },
  ];
}
