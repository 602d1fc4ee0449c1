// What a report must never show: API keys, tokens and passwords the agent or the
// prompt happened to contain. Patterns of the well-known key formats, and the
// value after a word that names a secret; what is removed is replaced by a
// marker that says so.
const marker = '[redacted]';

const patterns: RegExp[] = [
  /sk-ant-[A-Za-z0-9_-]{8,}/g, // Anthropic
  /\bsk-[A-Za-z0-9_-]{20,}/g, // OpenAI-style
  /\bgh[pousr]_[A-Za-z0-9]{20,}/g, // GitHub
  /\bgithub_pat_[A-Za-z0-9_]{20,}/g,
  /\bxox[abprs]-[A-Za-z0-9-]{10,}/g, // Slack
  /\b(AKIA|ASIA)[A-Z0-9]{16}\b/g, // AWS access key id
  /\beyJ[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{10,}/g, // JWT
  /-----BEGIN [A-Z ]*PRIVATE KEY-----[\s\S]*?(-----END [A-Z ]*PRIVATE KEY-----|$)/g,
  /(?<=\b(bearer|basic)\s+)[A-Za-z0-9._~+/=-]{8,}/gi,
  /(?<=:\/\/[^/\s:@]+:)[^@\s/]+(?=@)/g, // the password in scheme://user:password@host
  // api_key=..., "password": "...", TOKEN: ..., x-api-key: ...
  /(?<=\b[\w-]*(api[_-]?key|apikey|secret|token|password|passwd|credentials?)["']?\s*[:=]\s*["']?)[^\s"',;]{4,}/gi,
];

export function redact(text: string): string {
  let out = text;
  for (const pattern of patterns) out = out.replace(pattern, marker);
  return out;
}
