// A report's PDF: the HTML report printed by headless Chromium. Chosen over a
// PDF-drawing library (e.g. pdfkit) because the PDF is then the HTML page a
// person sees, from the one renderer that escapes what the agent wrote, with
// wrapping, pagination and Unicode text handled by a browser; Debian ships it
// (package chromium). The HTML is streamed to a file in a private temporary
// directory, so the API holds no more of a long report than one chunk; the
// browser prints a page whose CSP forbids every script and load (default-src
// 'none'; Debian's launcher does not pass --blink-settings through, so the CSP is
// what keeps scripts off).
import { spawn } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';

export interface PdfOptions {
  chromium: string;
  timeoutMs: number;
}

export class PdfUnavailable extends Error {}

export interface PrintedPdf {
  /** The PDF, from a file already removed: nothing is left on disk however the download ends. */
  stream: Readable;
  bytes: number;
}

export async function printPdf(html: AsyncIterable<string>, options: PdfOptions): Promise<PrintedPdf> {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'claude-report-'));
  const cleanup = () => fs.rm(dir, { recursive: true, force: true });
  try {
    const page = path.join(dir, 'report.html');
    const pdf = path.join(dir, 'report.pdf');
    await pipeline(Readable.from(html), createWriteStream(page, { mode: 0o600 }));
    await run(options.chromium, [
      '--headless', '--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage', '--no-first-run', '--disable-extensions',
      '--no-pdf-header-footer', `--user-data-dir=${path.join(dir, 'profile')}`,
      `--print-to-pdf=${pdf}`, `file://${page}`,
    ], options.timeoutMs, dir);
    const file = await fs.open(pdf, 'r');
    const { size } = await file.stat();
    return { stream: file.createReadStream(), bytes: size };
  } finally {
    // The open file stays readable after its directory is gone.
    await cleanup();
  }
}

function run(command: string, args: string[], timeoutMs: number, home: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { stdio: ['ignore', 'ignore', 'pipe'], env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: home } });
    let stderr = '';
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (chunk: string) => { if (stderr.length < 4000) stderr += chunk; });
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('error', (error: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      reject(error.code === 'ENOENT' ? new PdfUnavailable(`${command} is not installed`) : error);
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      if (code === 0) resolve();
      else reject(new Error(`${command} ${signal ? `was killed (${signal})` : `exited ${code}`}: ${stderr.trim().split('\n').slice(-3).join(' | ')}`));
    });
  });
}
