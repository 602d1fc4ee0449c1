// GET …/tasks/{name}/report: the run's report from Postgres, in the format the
// query (?format=json|md|html|pdf) or else the Accept header asks for, written
// to the response as it is rendered, with backpressure: a slow reader holds the
// rendering, not the memory.
import type { Request, Response } from 'express';
import { z } from 'zod';
import { readReportRecord, storedEvents } from '../../../packages/database/src/task-report.ts';
import type { Queryable } from '../../../packages/database/src/task-records.ts';
import { Problem, parseOr400 } from '../http/problem.ts';
import { printPdf, PdfUnavailable } from './pdf.ts';
import { renderReport, type ReportRenderer } from './report.ts';
import { htmlRenderer } from './render-html.ts';
import { jsonRenderer } from './render-json.ts';
import { markdownRenderer } from './render-markdown.ts';

export const reportFormats = ['json', 'md', 'html', 'pdf'] as const;
export type ReportFormat = (typeof reportFormats)[number];

export const ReportQuerySchema = z.object({
  format: z.enum(reportFormats).optional().describe('json, md, html or pdf; without it the Accept header chooses (JSON by default).'),
});

const mediaTypes: Record<string, ReportFormat> = {
  'application/json': 'json', 'text/markdown': 'md', 'text/html': 'html', 'application/pdf': 'pdf',
};

export interface ReportDeps {
  db: Queryable;
  pdf: { chromium: string; timeoutMs: number; concurrency: number };
}

const renderers: Record<Exclude<ReportFormat, 'pdf'>, () => ReportRenderer> = { json: jsonRenderer, md: markdownRenderer, html: htmlRenderer };
const flushAt = 16 * 1024;
let printing = 0;

export function chosenFormat(req: Request): ReportFormat {
  const query = parseOr400(ReportQuerySchema, req.query, 'the query', ['query']);
  if (query.format) return query.format;
  const accepted = req.accepts(Object.keys(mediaTypes));
  if (accepted === false) throw new Problem('bad-request', `cannot answer with ${req.get('accept')}: ask for ${Object.keys(mediaTypes).join(', ')} or use ?format=`);
  return mediaTypes[accepted] ?? 'json';
}

export async function sendReport(req: Request, res: Response, deps: ReportDeps, task: { namespace: string; name: string }): Promise<void> {
  const format = chosenFormat(req);
  const record = await readReportRecord(deps.db, task);
  if (!record) throw new Problem('not-found', 'no such task');
  const events = storedEvents(deps.db, record.uid);
  const filename = `${record.name}-report.${format}`;
  res.setHeader('Vary', 'Accept');
  res.setHeader('Content-Disposition', `${format === 'html' || format === 'json' ? 'inline' : 'attachment'}; filename="${filename}"`);
  res.setHeader('X-Content-Type-Options', 'nosniff');
  if (format === 'pdf') {
    if (printing >= deps.pdf.concurrency) throw new Problem('rate-limited', 'too many PDF reports are being printed; try again shortly');
    printing++;
    try {
      const printed = await printPdf(renderReport(record, events, htmlRenderer()), deps.pdf).catch((error: unknown) => {
        if (error instanceof PdfUnavailable) throw new Problem('not-implemented', `PDF reports are not available on this server: ${error.message}`);
        throw error;
      });
      res.status(200).type('application/pdf').setHeader('Content-Length', printed.bytes);
      await writeAll(res, printed.stream).finally(() => printed.stream.destroy());
    } finally {
      printing--;
    }
    return;
  }
  const renderer = renderers[format]();
  res.status(200).type(renderer.contentType);
  if (format === 'html') res.setHeader('Content-Security-Policy', 'default-src \'none\'; style-src \'unsafe-inline\'');
  let buffered = '';
  async function* chunks() {
    for await (const text of renderReport(record!, events, renderer)) {
      buffered += text;
      if (buffered.length >= flushAt) {
        yield buffered;
        buffered = '';
      }
    }
    if (buffered) yield buffered;
  }
  await writeAll(res, chunks());
}

/** Writes every chunk, waiting for 'drain' when the socket's buffer is full; stops when the client goes. */
async function writeAll(res: Response, chunks: AsyncIterable<string | Buffer>): Promise<void> {
  for await (const chunk of chunks) {
    if (res.destroyed) return;
    if (!res.write(chunk)) await drainedOrClosed(res);
  }
  res.end();
}

function drainedOrClosed(res: Response): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      res.off('drain', done);
      res.off('close', done);
      resolve();
    };
    res.on('drain', done);
    res.on('close', done);
  });
}
