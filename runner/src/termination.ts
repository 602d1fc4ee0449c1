// The one-line JSON summary written to the container's terminationMessagePath
// (/dev/termination-log), which Kubernetes shows as the termination message and
// the operator reads into the task status. Kubernetes keeps at most 4096 bytes,
// so the long fields are shortened until the line fits.
import fs from 'node:fs/promises';
import type { TerminationSummary } from '../../packages/contracts/src/termination-summary.ts';

export const terminationMessageMaxBytes = 4096;

export function terminationMessage(summary: TerminationSummary): string {
  let current = summary;
  // Shorten the result first, then the message, each to the longest start that fits.
  for (const field of ['result', 'message'] as const) {
    if (fits(current)) break;
    const text = current[field] ?? '';
    if (text === '') continue;
    const withStart = (keep: number): TerminationSummary => ({
      ...current,
      [field]: keep === 0 ? '' : `${text.slice(0, keep)}…`,
      ...(field === 'result' ? { resultTruncated: true } : {}),
    });
    let low = 0; // fits, or nothing of this field does
    let high = text.length; // does not fit
    while (high - low > 1) {
      const middle = Math.floor((low + high) / 2);
      if (fits(withStart(middle))) low = middle;
      else high = middle;
    }
    current = withStart(low);
  }
  return JSON.stringify(current);
}

function fits(summary: TerminationSummary): boolean {
  return Buffer.byteLength(JSON.stringify(summary)) <= terminationMessageMaxBytes;
}

export async function writeTerminationMessage(file: string, summary: TerminationSummary): Promise<void> {
  await fs.writeFile(file, `${terminationMessage(summary)}\n`);
}
