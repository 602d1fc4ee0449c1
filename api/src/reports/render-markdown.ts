// The report as Markdown, readable as plain text: headings, a list of facts, and
// each tool's input and result in a fenced block whose fence is longer than any
// run of backticks inside it, so nothing the agent wrote can end it early.
import type { ReportEntry, ReportFooter, ReportHeader, ReportRenderer } from './report.ts';

export function fenced(text: string, info = ''): string {
  const longest = Math.max(0, ...[...text.matchAll(/`+/g)].map((m) => m[0].length));
  const fence = '`'.repeat(Math.max(3, longest + 1));
  return `${fence}${info}\n${text}\n${fence}\n`;
}

/** A line of text with Markdown's inline specials escaped. */
export function inline(text: string): string {
  return text.replace(/[\\`*_{}[\]()#+\-.!|<>]/g, '\\$&').replace(/\n/g, ' ');
}

function facts(header: ReportHeader): string[] {
  const u = header.usage;
  return [
    `- Task: ${inline(`${header.namespace}/${header.name}`)} (uid ${header.uid})`,
    `- Outcome: **${header.phase}**${header.reason ? ` (${inline(header.reason)})` : ''}${header.message ? `: ${inline(header.message)}` : ''}`,
    ...(header.model ? [`- Model: ${inline(header.model)}`] : []),
    `- Created: ${header.createdAt}`,
    ...(header.startTime ? [`- Started: ${header.startTime}`] : []),
    ...(header.completionTime ? [`- Finished: ${header.completionTime}`] : []),
    ...(header.duration ? [`- Duration: ${header.duration}`] : []),
    ...(header.attempts !== undefined ? [`- Attempts: ${header.attempts}`] : []),
    ...(u ? [`- Usage: ${u.inputTokens ?? 0} input, ${u.outputTokens ?? 0} output, ${u.cacheReadInputTokens ?? 0} cache read, ${u.cacheCreationInputTokens ?? 0} cache write tokens; ${u.turns ?? 0} turns`] : []),
    ...(u?.costUSD ? [`- Cost: $${u.costUSD}`] : []),
  ];
}

function entry(item: ReportEntry): string {
  switch (item.kind) {
    case 'tool_call':
      return `### Tool call ${item.number}: ${inline(item.tool)}\n\n${fenced(item.input, 'json')}${item.truncated ? '\n(input trimmed)\n' : ''}\n`;
    case 'tool_result':
      return `Result${item.number ? ` of call ${item.number}` : ''}${item.isError ? ' (error)' : ''}:\n\n${fenced(item.content)}${item.truncated ? '\n(result trimmed)\n' : ''}\n`;
    case 'message':
      return `**${item.role === 'assistant' ? 'Claude' : 'User'}:**\n\n${fenced(item.text, 'text')}\n`;
    case 'error':
      return `**Error (${inline(item.code)}):** ${inline(item.message)}\n\n`;
    case 'attempt_end':
      return `**Attempt ended: ${item.outcome}.** ${inline(item.message)}\n\n`;
  }
}

function end(footer: ReportFooter): string {
  const files = footer.filesChanged.length
    ? footer.filesChanged.map((f) => `- ${inline(f.path)} (${f.tools.join(', ')}; ${f.changes} change${f.changes === 1 ? '' : 's'})`).join('\n')
    : 'None.';
  return `\n## Files changed\n\n${files}\n\n## Final answer\n\n${footer.answer === null ? 'None.\n' : fenced(footer.answer, 'text')}\n`
    + `---\n${footer.toolCalls} tool calls, ${footer.events} events.\n`;
}

export function markdownRenderer(): ReportRenderer {
  return {
    contentType: 'text/markdown; charset=utf-8',
    begin: (header) => `# Report of task ${inline(header.name)}\n\n${facts(header).join('\n')}\n\n## Prompt\n\n${fenced(header.prompt, 'text')}\n## Tool calls\n\n`,
    entry,
    end,
  };
}
