import type { LrRangeResult } from './lrRangeTest.js';

const WIDTH = 720;
const HEIGHT = 450;
const MARGIN = { left: 70, right: 20, top: 36, bottom: 50 };

function escape(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

function niceNumber(v: number): string {
  return Math.abs(v) >= 1e4 || (Math.abs(v) < 1e-2 && v !== 0) ? v.toExponential(1) : Number(v.toPrecision(3)).toString();
}

/**
 * The range test as an SVG: raw loss (grey) and smoothed loss (blue) against the learning rate on
 * a log axis, with the suggestion marked. The loss axis is cut at 4× the lowest smoothed loss (where the test stops) so
 * that the divergence does not flatten the part that matters.
 */
export function lrPlotSvg(result: LrRangeResult): string {
  const { lrs, losses, smoothed, suggestion } = result;
  const finite = smoothed.filter(Number.isFinite);
  const best = Math.min(...finite);
  const low = Math.min(best, ...losses.filter(Number.isFinite));
  const high = best > 0 ? Math.min(Math.max(...finite), 4 * best) : Math.max(...finite);
  const pad = (high - low) * 0.05 || Math.abs(low) * 0.05 || 1;
  const [y0, y1] = [low - pad, high + pad];
  const x0 = Math.log10(lrs[0]);
  const x1 = lrs.length > 1 ? Math.log10(lrs.at(-1)!) : x0 + 1;
  const plotW = WIDTH - MARGIN.left - MARGIN.right;
  const plotH = HEIGHT - MARGIN.top - MARGIN.bottom;
  const sx = (lr: number) => MARGIN.left + ((Math.log10(lr) - x0) / (x1 - x0 || 1)) * plotW;
  const sy = (loss: number) => MARGIN.top + (1 - (loss - y0) / (y1 - y0)) * plotH;
  const line = (values: number[]) =>
    values
      .map((v, i) => (Number.isFinite(v) ? `${sx(lrs[i]).toFixed(1)},${sy(Math.min(Math.max(v, y0 - 10 * (y1 - y0)), y1 + 10 * (y1 - y0))).toFixed(1)}` : ''))
      .filter(Boolean)
      .join(' ');
  const parts: string[] = [];
  parts.push(`<rect width="${WIDTH}" height="${HEIGHT}" fill="white"/>`);
  parts.push(`<defs><clipPath id="plot"><rect x="${MARGIN.left}" y="${MARGIN.top}" width="${plotW}" height="${plotH}"/></clipPath></defs>`);
  for (let e = Math.ceil(x0); e <= Math.floor(x1); e++) {
    const x = sx(10 ** e);
    parts.push(`<line x1="${x}" y1="${MARGIN.top}" x2="${x}" y2="${MARGIN.top + plotH}" stroke="#e5e5e5"/>`);
    parts.push(`<text x="${x}" y="${MARGIN.top + plotH + 18}" font-size="12" text-anchor="middle">1e${e}</text>`);
  }
  for (let k = 0; k <= 4; k++) {
    const v = low + ((high - low) * k) / 4;
    const y = sy(v);
    parts.push(`<line x1="${MARGIN.left}" y1="${y}" x2="${MARGIN.left + plotW}" y2="${y}" stroke="#e5e5e5"/>`);
    parts.push(`<text x="${MARGIN.left - 6}" y="${y + 4}" font-size="12" text-anchor="end">${escape(niceNumber(v))}</text>`);
  }
  parts.push(`<rect x="${MARGIN.left}" y="${MARGIN.top}" width="${plotW}" height="${plotH}" fill="none" stroke="#444"/>`);
  parts.push(`<g clip-path="url(#plot)">`);
  parts.push(`<polyline points="${line(losses)}" fill="none" stroke="#bbbbbb" stroke-width="1"/>`);
  parts.push(`<polyline points="${line(smoothed)}" fill="none" stroke="#1f77b4" stroke-width="2"/>`);
  if (suggestion) {
    const x = sx(suggestion.lr);
    parts.push(`<line x1="${x}" y1="${MARGIN.top}" x2="${x}" y2="${MARGIN.top + plotH}" stroke="#d62728" stroke-dasharray="5,4" stroke-width="1.5"/>`);
    parts.push(`<circle cx="${x}" cy="${sy(smoothed[suggestion.index])}" r="5" fill="#d62728"/>`);
  }
  parts.push('</g>');
  const title = suggestion ? `LR range test — suggested lr ${suggestion.lr.toExponential(2)} (steepest descent)` : 'LR range test — no suggestion';
  parts.push(`<text x="${MARGIN.left}" y="22" font-size="14" font-weight="bold">${escape(title)}</text>`);
  parts.push(`<text x="${MARGIN.left + plotW / 2}" y="${HEIGHT - 12}" font-size="12" text-anchor="middle">learning rate (log scale)</text>`);
  parts.push(`<text transform="translate(16 ${MARGIN.top + plotH / 2}) rotate(-90)" font-size="12" text-anchor="middle">loss (grey: raw, blue: smoothed)</text>`);
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${HEIGHT}" font-family="sans-serif">${parts.join('')}</svg>`;
}

/** Renders the plot to a PNG file with sharp. */
export async function writeLrPlot(file: string, result: LrRangeResult): Promise<void> {
  const { default: sharp } = await import('sharp');
  await sharp(Buffer.from(lrPlotSvg(result))).png().toFile(file);
}
