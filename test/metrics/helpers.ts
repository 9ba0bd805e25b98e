// Shared by the metrics tests.

/** The sample lines of a Prometheus text exposition (no # HELP / # TYPE lines). */
export function samples (text: string): string[] {
  return text.split('\n').filter((line) => line.length > 0 && !line.startsWith('#'))
}
