/**
 * A picture of the dashboard from real data: each panel where the dashboard puts it (Grafana's
 * 24-column grid), its series as lines over the queried range. Not Grafana's rendering: enough to
 * see that every panel has data and what it looks like under load (docs/observability.md).
 */
export interface PanelData {
  title: string;
  unit: string;
  grid: { x: number; y: number; w: number; h: number };
  series: Array<{ name: string; points: Array<[number, number]> }>;
}

const COLUMN = 50;
const ROW = 28;
const COLORS = ['#73bf69', '#f2cc0c', '#5794f2', '#ff780a', '#b877d9', '#f2495c', '#8ab8ff', '#96d98d'];

function xmlText(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

function format(value: number, unit: string): string {
  if (unit === 'percentunit') return `${(value * 100).toFixed(1)}%`;
  if (unit === 'bytes')
    return value >= 2 ** 20 ? `${(value / 2 ** 20).toFixed(1)} MiB` : `${(value / 1024).toFixed(0)} KiB`;
  if (unit === 's') return value >= 60 ? `${(value / 60).toFixed(0)} min` : `${(value * 1000).toFixed(1)} ms`;
  return Math.abs(value) >= 100 ? value.toFixed(0) : value.toFixed(2);
}

export function dashboardSvg(title: string, panels: PanelData[]): string {
  const height = Math.max(...panels.map((panel) => (panel.grid.y + panel.grid.h) * ROW)) + 40;
  const width = 24 * COLUMN;
  const parts = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" font-family="sans-serif" font-size="11">`,
    `<title>${xmlText(`The ${title} dashboard, drawn from the data of a test run`)}</title>`,
    `<rect width="${width}" height="${height}" fill="#111217"/>`,
    `<text x="10" y="24" fill="#ccccdc" font-size="16">${xmlText(title)}</text>`,
  ];
  for (const panel of panels) {
    const x = panel.grid.x * COLUMN + 4;
    const y = panel.grid.y * ROW + 40;
    const w = panel.grid.w * COLUMN - 8;
    const h = panel.grid.h * ROW - 8;
    parts.push(`<rect x="${x}" y="${y}" width="${w}" height="${h}" rx="3" fill="#181b1f" stroke="#2c3235"/>`);
    parts.push(`<text x="${x + 8}" y="${y + 16}" fill="#ccccdc" font-size="12">${xmlText(panel.title)}</text>`);
    const points = panel.series.flatMap((series) => series.points);
    if (points.length === 0) continue;
    const [t0, t1] = [Math.min(...points.map((p) => p[0])), Math.max(...points.map((p) => p[0]))];
    const [v0, v1] = [Math.min(0, ...points.map((p) => p[1])), Math.max(...points.map((p) => p[1]))];
    const plot = { x: x + 8, y: y + 26, w: w - 16, h: h - 50 };
    const px = (t: number) => plot.x + ((t - t0) / Math.max(1e-9, t1 - t0)) * plot.w;
    const py = (v: number) => plot.y + plot.h - ((v - v0) / Math.max(1e-9, v1 - v0)) * plot.h;
    parts.push(`<text x="${plot.x}" y="${plot.y + 8}" fill="#8e8e8e">${xmlText(format(v1, panel.unit))}</text>`);
    panel.series.slice(0, COLORS.length).forEach((series, index) => {
      const color = COLORS[index]!;
      const path = series.points.map(([t, v]) => `${px(t).toFixed(1)},${py(v).toFixed(1)}`).join(' ');
      parts.push(`<polyline points="${path}" fill="none" stroke="${color}" stroke-width="1.5"/>`);
      const last = series.points.at(-1)?.[1] ?? Number.NaN;
      const legendY = y + h - 8;
      const legendX = x + 8 + (index % 3) * Math.floor((w - 16) / 3);
      if (index < 3)
        parts.push(
          `<text x="${legendX}" y="${legendY}" fill="${color}">${xmlText(`${series.name.slice(0, 38)} ${format(last, panel.unit)}`)}</text>`,
        );
    });
  }
  parts.push('</svg>');
  return `${parts.join('\n')}\n`;
}
