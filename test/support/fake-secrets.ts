// Made-up secrets for tests of redaction. They are assembled at run time so the
// sources hold no string shaped like a real key (secret scanners flag those).
/** An Anthropic-key-shaped string that no account ever had. */
export function fakeAnthropicKey(suffix: string): string {
  return ['sk', 'ant', 'api03', suffix].join('-');
}
