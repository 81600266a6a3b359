/**
 * Renders the macro benchmark as a bar chart: each throughput metric as a ratio to the kernel VTEP in the same
 * run (1.0 = kernel speed), one bar per mode. Writes SVG (no dependency) and converts it to PNG with
 * rsvg-convert when present (apt package librsvg2-bin, installed by scripts/install-deps.sh --bench).
 */
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';

const METRICS = [
  ['tcp1_gbps', 'TCP 1 stream'],
  ['tcp4_gbps', 'TCP 4 streams'],
  ['udp64_kpps', 'UDP 64 B pps'],
  ['udp1400_gbps', 'UDP 1400 B'],
] as const;
const COLORS: Record<string, string> = { kernel: '#888888', 'vxlan-user': '#1f77b4', 'vxlan-user-udp': '#2ca02c', naive: '#d62728' };

/**
 * What one group of bars is drawn from: a mode and its median of each charted metric. macro.ts's Summary has
 * this shape; declaring it here keeps the chart from importing the benchmark that imports it.
 */
export interface ChartSeries {
  readonly mode: string;
  readonly median: Readonly<Record<(typeof METRICS)[number][0], number>>;
}

export function renderChart(summaries: readonly ChartSeries[], basePath: string, env: { node: string; cpu: string; date: string }): string {
  const kernel = summaries.find((s) => s.mode === 'kernel');
  const W = 760;
  const H = 420;
  const left = 60;
  const bottom = 340;
  const top = 60;
  const groupW = (W - left - 20) / METRICS.length;
  const barW = Math.min(40, (groupW - 20) / Math.max(1, summaries.length));
  const ratio = (s: ChartSeries, k: (typeof METRICS)[number][0]): number => (kernel ? s.median[k] / kernel.median[k] : s.median[k]);
  const maxR = Math.max(1, ...summaries.flatMap((s) => METRICS.map(([k]) => ratio(s, k) || 0)));
  const y = (r: number): number => bottom - ((bottom - top) * r) / maxR;
  const out: string[] = [];
  out.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" font-family="sans-serif" font-size="12">`);
  out.push(`<rect width="${W}" height="${H}" fill="white"/>`);
  out.push(`<text x="${W / 2}" y="24" text-anchor="middle" font-size="16">vxlan-user vs kernel VTEP — throughput as a ratio to the kernel (same run)</text>`);
  out.push(`<text x="${W / 2}" y="42" text-anchor="middle" fill="#555">node ${env.node}, ${escape(env.cpu)}, ${env.date.slice(0, 10)}; median of runs</text>`);
  for (let t = 0; t <= maxR + 1e-9; t += maxR > 2 ? 0.5 : 0.25) {
    out.push(`<line x1="${left}" x2="${W - 20}" y1="${y(t)}" y2="${y(t)}" stroke="#eee"/>`);
    out.push(`<text x="${left - 6}" y="${y(t) + 4}" text-anchor="end">${t.toFixed(2)}×</text>`);
  }
  METRICS.forEach(([k, label], gi) => {
    const gx = left + gi * groupW + 10;
    summaries.forEach((s, si) => {
      const r = ratio(s, k) || 0;
      const x = gx + si * barW;
      out.push(`<rect x="${x}" y="${y(r)}" width="${barW - 4}" height="${bottom - y(r)}" fill="${COLORS[s.mode] ?? '#2ca02c'}"/>`);
      out.push(`<text x="${x + (barW - 4) / 2}" y="${y(r) - 4}" text-anchor="middle" font-size="10">${r.toFixed(2)}</text>`);
    });
    out.push(`<text x="${gx + (summaries.length * barW) / 2}" y="${bottom + 18}" text-anchor="middle">${label}</text>`);
  });
  out.push(`<line x1="${left}" x2="${W - 20}" y1="${bottom}" y2="${bottom}" stroke="#333"/>`);
  summaries.forEach((s, i) => {
    out.push(`<rect x="${left + i * 150}" y="${H - 40}" width="12" height="12" fill="${COLORS[s.mode] ?? '#2ca02c'}"/>`);
    out.push(`<text x="${left + i * 150 + 18}" y="${H - 30}">${s.mode}</text>`);
  });
  out.push('</svg>');
  writeFileSync(`${basePath}.svg`, out.join('\n'));
  try {
    execFileSync('rsvg-convert', ['-o', `${basePath}.png`, `${basePath}.svg`]);
    return `${basePath}.png`;
  } catch {
    return `${basePath}.svg (rsvg-convert missing: PNG not rendered)`;
  }
}

function escape(s: string): string {
  return s.replace(/[<>&]/g, (c) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;' })[c]!);
}
