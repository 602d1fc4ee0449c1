// The report as one JSON document, written as it is read:
// {"report": header, "entries": [...], "toolCalls", "events", "filesChanged", "answer"}.
import type { ReportRenderer } from './report.ts';

export function jsonRenderer(): ReportRenderer {
  let first = true;
  return {
    contentType: 'application/json; charset=utf-8',
    begin: (header) => `{"report":${JSON.stringify(header)},"entries":[\n`,
    entry: (entry) => {
      const text = `${first ? '' : ',\n'}${JSON.stringify(entry)}`;
      first = false;
      return text;
    },
    end: (footer) => `\n],"toolCalls":${footer.toolCalls},"events":${footer.events},"filesChanged":${JSON.stringify(footer.filesChanged)},"answer":${JSON.stringify(footer.answer)}}\n`,
  };
}
