import {
  type BenchResults,
  cpuTotal,
  PATH_LABELS,
  PATHS,
  type PathName,
  WORKLOAD_LABELS,
  WORKLOADS,
} from './results.ts';

const COLORS: Record<PathName, string> = { backend: '#2b6cb0', frontend: '#38a169', nginx: '#dd6b20' };
const RATIO_TARGETS: Record<string, number> = {
  'get20:backend': 0.5,
  'post:backend': 0.35,
  'patch:backend': 0.35,
  'get20:nginx': 0.25,
};

const esc = (text: string) => text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

interface Bar {
  label: string;
  path: PathName;
  value: number;
  text: string;
  target?: number;
}

/** One panel of horizontal bars grouped by workload, with optional per-bar and global target marks. */
function panel(
  x: number,
  y: number,
  width: number,
  title: string,
  bars: Bar[],
  max: number,
  line?: { at: number; label: string },
): string {
  const labelW = 120;
  const barH = 14;
  const plotW = width - labelW - 60;
  const scale = (v: number) => (Math.min(v, max) / max) * plotW;
  const parts = [`<text x="${x}" y="${y}" font-weight="bold">${esc(title)}</text>`];
  let cy = y + 14;
  let group = '';
  for (const bar of bars) {
    if (bar.label !== group) {
      group = bar.label;
      cy += 8;
      parts.push(`<text x="${x}" y="${cy + barH}" font-size="11">${esc(bar.label)}</text>`);
    }
    const w = Number.isFinite(bar.value) ? Math.max(1, scale(bar.value)) : 0;
    parts.push(
      `<rect x="${x + labelW}" y="${cy}" width="${w.toFixed(1)}" height="${barH - 2}" fill="${COLORS[bar.path]}"/>`,
      `<text x="${x + labelW + w + 4}" y="${cy + barH - 3}" font-size="10">${esc(bar.text)}</text>`,
    );
    if (bar.target !== undefined) {
      const tx = x + labelW + scale(bar.target);
      parts.push(`<line x1="${tx}" x2="${tx}" y1="${cy - 2}" y2="${cy + barH}" stroke="#c53030" stroke-width="2"/>`);
    }
    cy += barH;
  }
  if (line !== undefined) {
    const lx = x + labelW + scale(line.at);
    parts.push(
      `<line x1="${lx}" x2="${lx}" y1="${y + 16}" y2="${cy + 4}" stroke="#c53030" stroke-dasharray="4 3"/>`,
      `<text x="${lx + 3}" y="${cy + 14}" font-size="10" fill="#c53030">${esc(line.label)}</text>`,
    );
  }
  return parts.join('\n');
}

/** An SVG chart of one run: throughput as a share of the ceiling, and p99 at half of each peak. */
export function renderChart(r: BenchResults): string {
  const ratioBars: Bar[] = [];
  const p99Bars: Bar[] = [];
  const cpuBars: Bar[] = [];
  for (const workload of WORKLOADS) {
    for (const path of PATHS) {
      const w = r.workloads.find((x) => x.workload === workload && x.path === path);
      if (!w) continue;
      ratioBars.push({
        label: WORKLOAD_LABELS[workload],
        path,
        value: w.ratio,
        text: `${(w.ratio * 100).toFixed(1)}% (${Math.round(w.rps).toLocaleString('en-US')}/s)`,
        target: RATIO_TARGETS[`${workload}:${path}`],
      });
      p99Bars.push({
        label: WORKLOAD_LABELS[workload],
        path,
        value: w.halfPeak.p99,
        text: `${w.halfPeak.p99.toFixed(2)} ms`,
      });
      cpuBars.push({
        label: WORKLOAD_LABELS[workload],
        path,
        value: cpuTotal(w),
        text: `${Math.round(cpuTotal(w))} us`,
      });
    }
  }
  const width = 1000;
  const rows = ratioBars.length * 14 + WORKLOADS.length * 8;
  const height = 2 * rows + 215;
  // Longer bars are cut at 60 ms (their value is written beside them) so the 10 ms mark stays readable.
  const maxP99 = Math.min(60, Math.max(12, ...p99Bars.map((b) => (Number.isFinite(b.value) ? b.value : 0))) * 1.1);
  const ceilingCpu = cpuTotal(r.ceiling);
  const maxCpu = Math.max(ceilingCpu, ...cpuBars.map((b) => b.value)) * 1.1;
  const legend = PATHS.map(
    (path, i) =>
      `<rect x="${20 + i * 200}" y="${height - 40}" width="12" height="12" fill="${COLORS[path]}"/>` +
      `<text x="${36 + i * 200}" y="${height - 30}" font-size="11">${esc(PATH_LABELS[path])}</text>`,
  ).join('\n');
  const m = r.machine;
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="12">
<title>tasktier benchmark (${r.mode}): req/s as a share of a bare node:http ceiling, by workload and path</title>
<rect width="100%" height="100%" fill="#fff"/>
<text x="20" y="24" font-size="15" font-weight="bold">tasktier benchmark (${r.mode}), ${esc(r.startedAt)}</text>
<text x="20" y="42" font-size="11">ceiling (bare node:http): ${Math.round(r.ceiling.rps).toLocaleString('en-US')} req/s; ${r.settings.connections} connections; ${esc(String(m.cpus))} x ${esc(String(m.cpuModel))}, node ${esc(r.runtime)}</text>
${panel(20, 70, 520, 'req/s as a share of the ceiling (red: target)', ratioBars, 1)}
${panel(540, 70, 440, 'p99 at half of its own peak rate', p99Bars, maxP99, { at: 10, label: 'target 10 ms' })}
${panel(20, rows + 120, 520, 'CPU time per request, all processes on the path', cpuBars, maxCpu, { at: ceilingCpu, label: `ceiling server ${ceilingCpu.toFixed(0)} us` })}
${legend}
<text x="620" y="${height - 30}" font-size="10">red marks: the performance targets</text>
</svg>
`;
}
