// Reading the CLI's stream-json events, which the runner passes through as
// they are: lenient accessors, since fields come and go between CLI versions.

export type JsonRecord = Record<string, unknown>;

export function record(value: unknown): JsonRecord | undefined {
  return value && typeof value === 'object' && !Array.isArray(value) ? value as JsonRecord : undefined;
}

/** The object blocks of an assistant or user event's `message.content` (a string content has none). */
export function contentBlocks(data: JsonRecord): JsonRecord[] {
  const content = record(data.message)?.content;
  if (!Array.isArray(content)) return [];
  const blocks: JsonRecord[] = [];
  for (const block of content as unknown[]) {
    const value = record(block);
    if (value) blocks.push(value);
  }
  return blocks;
}

export function stringOf(value: unknown): string | undefined {
  return typeof value === 'string' ? value : undefined;
}
