// The report as one self-contained HTML page: inline CSS, no script, no external
// resource (a Content-Security-Policy says so to the browser), and every text
// the agent or the prompt wrote escaped. The PDF is this page, printed.
import type { ReportEntry, ReportFooter, ReportHeader, ReportRenderer } from './report.ts';

export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', '\'': '&#39;' })[c]!);
}

const style = `
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:#1b1f24;max-width:60rem;margin:2rem auto;padding:0 1rem}
h1{font-size:1.6rem;margin-bottom:.2rem}h2{border-bottom:1px solid #d0d7de;padding-bottom:.2rem;margin-top:2rem}
h3{font-size:1rem;margin:1.2rem 0 .3rem}dl{display:grid;grid-template-columns:max-content auto;gap:.2rem 1rem}dt{font-weight:600}dd{margin:0}
pre{background:#f6f8fa;border:1px solid #d0d7de;border-radius:4px;padding:.6rem;white-space:pre-wrap;word-break:break-word;font:12px/1.4 ui-monospace,Menlo,Consolas,monospace}
.error{color:#a40e26}.phase-Succeeded{color:#1a7f37}.phase-Failed,.phase-TimedOut,.phase-Cancelled{color:#a40e26}
.meta{color:#57606a;font-size:.85rem}table{border-collapse:collapse}td,th{border:1px solid #d0d7de;padding:.2rem .5rem;text-align:left}
@media print{body{margin:0;max-width:none}pre{break-inside:auto}}`;

const pre = (text: string) => `<pre>${escapeHtml(text)}</pre>\n`;
const fact = (term: string, value: string | number | undefined) => (value === undefined ? '' : `<dt>${term}</dt><dd>${escapeHtml(String(value))}</dd>`);

function begin(header: ReportHeader): string {
  const u = header.usage;
  const title = `Report of task ${header.namespace}/${header.name}`;
  return `<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(title)}</title><style>${style}</style></head><body>
<h1>${escapeHtml(title)}</h1>
<p class="meta">uid ${escapeHtml(header.uid)}</p>
<h2>Outcome</h2><dl>
<dt>Phase</dt><dd class="phase-${escapeHtml(header.phase)}"><strong>${escapeHtml(header.phase)}</strong></dd>
${fact('Reason', header.reason)}${fact('Message', header.message)}${fact('Model', header.model)}${fact('Created', header.createdAt)}
${fact('Started', header.startTime)}${fact('Finished', header.completionTime)}${fact('Duration', header.duration)}${fact('Attempts', header.attempts)}
</dl>
${u ? `<h2>Usage and cost</h2><dl>${fact('Input tokens', u.inputTokens)}${fact('Output tokens', u.outputTokens)}${fact('Cache read tokens', u.cacheReadInputTokens)}${fact('Cache write tokens', u.cacheCreationInputTokens)}${fact('Turns', u.turns)}${fact('Cost (USD)', u.costUSD)}</dl>` : ''}
${header.transitions.length ? `<h2>Phases</h2><table><tr><th>From</th><th>To</th><th>Reason</th><th>At</th></tr>${header.transitions.map((t) => `<tr><td>${escapeHtml(t.from ?? '')}</td><td>${escapeHtml(t.to)}</td><td>${escapeHtml(t.reason ?? '')}</td><td>${escapeHtml(t.at)}</td></tr>`).join('')}</table>` : ''}
<h2>Prompt</h2>
${pre(header.prompt)}<h2>Tool calls</h2>
`;
}

function entry(item: ReportEntry): string {
  switch (item.kind) {
    case 'tool_call':
      return `<h3>Tool call ${item.number}: ${escapeHtml(item.tool)} <span class="meta">${escapeHtml(item.time)}</span></h3>\n${pre(item.input)}${item.truncated ? '<p class="meta">input trimmed</p>\n' : ''}`;
    case 'tool_result':
      return `<p class="meta${item.isError ? ' error' : ''}">Result${item.number ? ` of call ${item.number}` : ''}${item.isError ? ' (error)' : ''}</p>\n${pre(item.content)}${item.truncated ? '<p class="meta">result trimmed</p>\n' : ''}`;
    case 'message':
      return `<p class="meta">${item.role === 'assistant' ? 'Claude' : 'User'}</p>\n${pre(item.text)}`;
    case 'error':
      return `<p class="error">Error (${escapeHtml(item.code)}): ${escapeHtml(item.message)}</p>\n`;
    case 'attempt_end':
      return `<p><strong>Attempt ended: ${escapeHtml(item.outcome)}.</strong> ${escapeHtml(item.message)}</p>\n`;
  }
}

function end(footer: ReportFooter): string {
  const files = footer.filesChanged.length
    ? `<ul>${footer.filesChanged.map((f) => `<li><code>${escapeHtml(f.path)}</code> (${escapeHtml(f.tools.join(', '))}; ${f.changes})</li>`).join('')}</ul>`
    : '<p>None.</p>';
  return `<h2>Files changed</h2>\n${files}\n<h2>Final answer</h2>\n${footer.answer === null ? '<p>None.</p>' : pre(footer.answer)}`
    + `<p class="meta">${footer.toolCalls} tool calls, ${footer.events} events.</p>\n</body></html>\n`;
}

export function htmlRenderer(): ReportRenderer {
  return { contentType: 'text/html; charset=utf-8', begin, entry, end };
}
