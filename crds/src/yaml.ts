// A small YAML emitter for plain JSON data (the CRD), so the generated file needs
// no YAML library. Strings that could read as anything but a string are written
// JSON-quoted, which is valid YAML; output depends only on the input.

export function toYaml(value: unknown): string {
  return `${block(value, 0).replace(/^\n/, '')}\n`;
}

/** The value after `key:` or `- `: inline for scalars and empty collections, else indented lines. */
function block(value: unknown, indent: number): string {
  const pad = '  '.repeat(indent);
  if (Array.isArray(value) && value.length > 0) {
    return value.map((item) => `\n${pad}- ${block(item, indent + 1).replace(/^\n\s*/, '')}`).join('');
  }
  if (isObject(value) && Object.keys(value).length > 0) {
    return Object.entries(value).map(([key, item]) => {
      const rendered = block(item, indent + 1);
      return `\n${pad}${scalar(key)}:${rendered.startsWith('\n') ? '' : ' '}${rendered}`;
    }).join('');
  }
  return scalar(value);
}

// Plain (unquoted) only when YAML 1.1 and 1.2 both read it as this very string.
const plainString = /^[A-Za-z][A-Za-z0-9._/-]*$/;
const wordsThatAreNotStrings = /^(y|yes|n|no|true|false|on|off|null)$/i;

function scalar(value: unknown): string {
  if (Array.isArray(value)) return '[]';
  if (isObject(value)) return '{}';
  if (value === null) return 'null';
  if (typeof value === 'boolean') return String(value);
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) throw new Error(`cannot write ${value} as YAML`);
    return String(value);
  }
  if (typeof value === 'string') {
    if (plainString.test(value) && !wordsThatAreNotStrings.test(value)) return value;
    // JSON escapes, with non-ASCII escaped too: YAML reads some Unicode line breaks raw.
    return JSON.stringify(value).replace(/[\u007f-\uffff]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
  }
  throw new Error(`cannot write a ${typeof value} as YAML`);
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
