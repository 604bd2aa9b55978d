/**
 * WGSL for the SDK's fused ops (FusedKernels.ts). Each shader binds its outputs, then its inputs,
 * then a uniform struct `P` (FusedProgram.ts). Sizes come in as uniforms, so one pipeline serves
 * every shape. Loops stride over the grid, so any size fits the 65535-workgroup limit.
 * The arithmetic follows the SDK's composite ops step by step, so that results agree with the
 * `cpu` backend to rounding.
 */

const out = (i: number, name: string) => `@group(0) @binding(${i}) var<storage, read_write> ${name}: array<f32>;`;
const inp = (i: number, name: string) => `@group(0) @binding(${i}) var<storage, read> ${name}: array<f32>;`;
const uniform = (i: number, fields: string) => `struct P { ${fields} }\n@group(0) @binding(${i}) var<uniform> p: P;`;

/** Threads per workgroup of the element-wise and row kernels. */
export const ELEMENTWISE_THREADS = 256;
export const ROW_THREADS = 128;
/** Column reductions: a workgroup covers this many channels with 4 lanes of rows each. */
export const COLUMN_TILE = 64;

const elementwise = (body: string) => `
@compute @workgroup_size(${ELEMENTWISE_THREADS})
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
  for (var i = gid.x; i < p.n; i += groups.x * ${ELEMENTWISE_THREADS}u) {
${body}
  }
}`;

/** tfjs's erf (Abramowitz & Stegun 7.1.26, the constants of backend_util.ERF_*). */
const ERF = `
fn erf_(v: f32) -> f32 {
  let a = abs(v);
  let t = 1.0 / (1.0 + 0.3275911 * a);
  let r = 1.0 - (((((1.061405429 * t - 1.453152027) * t) + 1.421413741) * t - 0.284496736) * t + 0.254829592) * t * exp(-a * a);
  return sign(v) * r;
}
fn normalCdf(v: f32) -> f32 { return (erf_(v * 0.7071067811865476) + 1.0) * 0.5; }`;

/** Sum over a workgroup of ROW_THREADS; every thread gets the total. Call from uniform control flow. */
const ROW_SUM = `
var<workgroup> rowPartial: array<f32, ${ROW_THREADS}>;
fn rowSum(value: f32, lane: u32) -> f32 {
  rowPartial[lane] = value;
  workgroupBarrier();
  for (var half = ${ROW_THREADS / 2}u; half > 0u; half = half >> 1u) {
    if (lane < half) { rowPartial[lane] = rowPartial[lane] + rowPartial[lane + half]; }
    workgroupBarrier();
  }
  let total = rowPartial[0];
  workgroupBarrier();
  return total;
}`;

const rowKernel = (body: string) => `${ROW_SUM}
@compute @workgroup_size(${ROW_THREADS})
fn main(@builtin(local_invocation_id) local: vec3<u32>, @builtin(workgroup_id) group: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
  let lane = local.x;
  for (var row = group.x; row < p.rows; row += groups.x) {
    let base = row * p.cols;
${body}
  }
}`;

export const GELU = `${out(0, 'y')}\n${inp(1, 'x')}\n${uniform(2, 'n: u32,')}\n${ERF}
${elementwise('    let v = x[i];\n    y[i] = v * normalCdf(v);')}`;

export const GELU_GRAD = `${out(0, 'dx')}\n${inp(1, 'dy')}\n${inp(2, 'x')}\n${uniform(3, 'n: u32,')}\n${ERF}
${elementwise('    let v = x[i];\n    let pdf = exp((v * v) * -0.5) * 0.3989422804014327;\n    dx[i] = dy[i] * (normalCdf(v) + v * pdf);')}`;

export const SOFTMAX_GRAD = `${out(0, 'dx')}\n${inp(1, 'dy')}\n${inp(2, 'y')}\n${uniform(3, 'rows: u32, cols: u32,')}
${rowKernel(`    var s = 0.0;
    for (var j = lane; j < p.cols; j += ${ROW_THREADS}u) { s += dy[base + j] * y[base + j]; }
    let dot = rowSum(s, lane);
    for (var j = lane; j < p.cols; j += ${ROW_THREADS}u) { dx[base + j] = dy[base + j] * y[base + j] - dot * y[base + j]; }`)}`;

export const LAYER_NORM = `${out(0, 'y')}\n${out(1, 'mean')}\n${out(2, 'rstd')}\n${inp(3, 'x')}\n${inp(4, 'gamma')}\n${inp(5, 'beta')}\n${uniform(6, 'rows: u32, cols: u32, eps: f32,')}
${rowKernel(`    var s = 0.0;
    for (var j = lane; j < p.cols; j += ${ROW_THREADS}u) { s += x[base + j]; }
    let mu = rowSum(s, lane) / f32(p.cols);
    var q = 0.0;
    for (var j = lane; j < p.cols; j += ${ROW_THREADS}u) { let d = x[base + j] - mu; q += d * d; }
    let r = 1.0 / sqrt(rowSum(q, lane) / f32(p.cols) + p.eps);
    for (var j = lane; j < p.cols; j += ${ROW_THREADS}u) { y[base + j] = ((x[base + j] - mu) * r) * gamma[j] + beta[j]; }
    if (lane == 0u) { mean[row] = mu; rstd[row] = r; }`)}`;

/** dx of layer norm; dgamma and dbeta come from the column reduction (COLUMN_PARTIALS.layerNormGrad). */
export const LAYER_NORM_GRAD_DX = `${out(0, 'dx')}\n${inp(1, 'dy')}\n${inp(2, 'x')}\n${inp(3, 'gamma')}\n${inp(4, 'mean')}\n${inp(5, 'rstd')}\n${uniform(6, 'rows: u32, cols: u32,')}
${rowKernel(`    let mu = mean[row];
    let r = rstd[row];
    var a = 0.0;
    var b = 0.0;
    for (var j = lane; j < p.cols; j += ${ROW_THREADS}u) {
      let g = dy[base + j] * gamma[j];
      a += g;
      b += g * ((x[base + j] - mu) * r);
    }
    let meanG = rowSum(a, lane) / f32(p.cols);
    let meanGX = rowSum(b, lane) / f32(p.cols);
    for (var j = lane; j < p.cols; j += ${ROW_THREADS}u) {
      let xhat = (x[base + j] - mu) * r;
      dx[base + j] = r * ((dy[base + j] * gamma[j] - meanG) - xhat * meanGX);
    }`)}`;

/**
 * Per-channel sums of one or two quantities over row chunks: output `[quantities, splits,
 * channels]`. A workgroup covers COLUMN_TILE channels (adjacent threads read adjacent memory) × 4
 * lanes of rows, in chunk `group.y` of the rows. With one split and one quantity the output is the
 * sum itself.
 */
function columnPartials(bindings: string, quantities: string, count: 1 | 2 = 2): string {
  const both = count === 2;
  const laneSum = (name: string) => `((${name}[local.x] + ${name}[${COLUMN_TILE}u + local.x]) + ${name}[${2 * COLUMN_TILE}u + local.x]) + ${name}[${3 * COLUMN_TILE}u + local.x]`;
  return `${out(0, 'partials')}\n${bindings}
var<workgroup> s1: array<f32, ${COLUMN_TILE * 4}>;
${both ? `var<workgroup> s2: array<f32, ${COLUMN_TILE * 4}>;` : ''}
@compute @workgroup_size(${COLUMN_TILE}, 4)
fn main(@builtin(local_invocation_id) local: vec3<u32>, @builtin(workgroup_id) group: vec3<u32>) {
  let c = group.x * ${COLUMN_TILE}u + local.x;
  let chunk = (p.rows + p.splits - 1u) / p.splits;
  let start = group.y * chunk;
  let end = min(p.rows, start + chunk);
  var a = 0.0;
  var b = 0.0;
  if (c < p.channels) {
    for (var row = start + local.y; row < end; row += 4u) {
      let i = row * p.channels + c;
${quantities}
      a += q1;
${both ? '      b += q2;' : ''}
    }
  }
  let slot = local.y * ${COLUMN_TILE}u + local.x;
  s1[slot] = a;
${both ? '  s2[slot] = b;' : ''}
  workgroupBarrier();
  if (local.y == 0u && c < p.channels) {
    let at = group.y * p.channels + c;
    partials[at] = ${laneSum('s1')};
${both ? `    partials[p.splits * p.channels + at] = ${laneSum('s2')};` : ''}
  }
}`;
}

const columnUniform = (i: number) => uniform(i, 'rows: u32, channels: u32, splits: u32, eps: f32,');

export const COLUMN_PARTIALS = {
  /** Σ x: the sum over every axis but the last (a bias gradient), one quantity. */
  sum: columnPartials(`${inp(1, 'x')}\n${columnUniform(2)}`, '      let q1 = x[i];', 1),
  /** Σ (x − x₀) and Σ (x − x₀)², shifted by the channel's first value so the variance does not cancel. */
  batchNormStats: columnPartials(`${inp(1, 'x')}\n${columnUniform(2)}`, '      let q1 = x[i] - x[c];\n      let q2 = q1 * q1;'),
  /** Σ dy and Σ dy·x̂ with the channel statistics. */
  batchNormGrad: columnPartials(
    `${inp(1, 'dy')}\n${inp(2, 'x')}\n${inp(3, 'mean')}\n${inp(4, 'variance')}\n${columnUniform(5)}`,
    '      let q1 = dy[i];\n      let q2 = dy[i] * ((x[i] - mean[c]) * (1.0 / sqrt(variance[c] + p.eps)));',
  ),
  /** Σ dy·x̂ (dgamma) and Σ dy (dbeta) with each row's statistics. */
  layerNormGrad: columnPartials(
    `${inp(1, 'dy')}\n${inp(2, 'x')}\n${inp(3, 'mean')}\n${inp(4, 'rstd')}\n${columnUniform(5)}`,
    '      let q1 = dy[i] * ((x[i] - mean[row]) * rstd[row]);\n      let q2 = dy[i];',
  ),
};

const finalize = (bindings: string, body: string, count: 1 | 2 = 2) => `${bindings}
@compute @workgroup_size(${ELEMENTWISE_THREADS})
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
  for (var c = gid.x; c < p.channels; c += groups.x * ${ELEMENTWISE_THREADS}u) {
    var a = 0.0;
    var b = 0.0;
    for (var s = 0u; s < p.splits; s++) {
      a += partials[s * p.channels + c];
${count === 2 ? '      b += partials[(p.splits + s) * p.channels + c];' : ''}
    }
${body}
  }
}`;

/** Mean and biased variance from the shifted sums. */
export const BATCH_NORM_STATS = finalize(
  `${out(0, 'mean')}\n${out(1, 'variance')}\n${inp(2, 'partials')}\n${inp(3, 'x')}\n${columnUniform(4)}`,
  '    let n = f32(p.rows);\n    mean[c] = x[c] + a / n;\n    variance[c] = max((b - a * a / n) / n, 0.0);',
);

/** The one column sum of COLUMN_PARTIALS.sum over its splits. */
export const COLUMN_SUM = finalize(`${out(0, 'sum')}\n${inp(1, 'partials')}\n${columnUniform(2)}`, '    sum[c] = a;', 1);

/** The two column sums as they are. */
export const COLUMN_SUMS = finalize(`${out(0, 'sumA')}\n${out(1, 'sumB')}\n${inp(2, 'partials')}\n${columnUniform(3)}`, '    sumA[c] = a;\n    sumB[c] = b;');

export const BATCH_NORM_APPLY = `${out(0, 'y')}\n${inp(1, 'x')}\n${inp(2, 'gamma')}\n${inp(3, 'beta')}\n${inp(4, 'mean')}\n${inp(5, 'variance')}\n${uniform(6, 'n: u32, channels: u32, eps: f32,')}
${elementwise('    let c = i % p.channels;\n    y[i] = ((x[i] - mean[c]) * (1.0 / sqrt(variance[c] + p.eps))) * gamma[c] + beta[c];')}`;

export const BATCH_NORM_GRAD_DX = `${out(0, 'dx')}\n${inp(1, 'dy')}\n${inp(2, 'x')}\n${inp(3, 'gamma')}\n${inp(4, 'mean')}\n${inp(5, 'variance')}\n${inp(6, 'dgamma')}\n${inp(7, 'dbeta')}\n${uniform(8, 'n: u32, channels: u32, eps: f32, count: f32,')}
${elementwise(`    let c = i % p.channels;
    let r = 1.0 / sqrt(variance[c] + p.eps);
    let xhat = (x[i] - mean[c]) * r;
    dx[i] = (gamma[c] * r) * ((dy[i] - dbeta[c] / p.count) - xhat * (dgamma[c] / p.count));`)}`;

/**
 * A batch norm's running statistics after a training batch, per channel, and its int32 batch
 * counter: written in place (runningMean, runningVar, count read-write) or into new outputs.
 */
export function runningStats(inPlace: boolean): string {
  const ints = (i: number, name: string, access: 'read' | 'read_write') => `@group(0) @binding(${i}) var<storage, ${access}> ${name}: array<i32>;`;
  const [rm, rv, n] = inPlace ? ['runningMean', 'runningVar', 'count'] : ['runningMeanOut', 'runningVarOut', 'countOut'];
  const bindings = inPlace
    ? [out(0, rm), out(1, rv), ints(2, n, 'read_write'), inp(3, 'mean'), inp(4, 'variance')]
    : [out(0, rm), out(1, rv), ints(2, n, 'read_write'), inp(3, 'runningMean'), inp(4, 'runningVar'), ints(5, 'count', 'read'), inp(6, 'mean'), inp(7, 'variance')];
  return `${bindings.join('\n')}
${uniform(bindings.length, 'n: u32, keep: f32, momentum: f32, varianceScale: f32,')}
@compute @workgroup_size(${ELEMENTWISE_THREADS})
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
  if (gid.x == 0u) { ${n}[0] = count[0] + 1; }
  for (var i = gid.x; i < p.n; i += groups.x * ${ELEMENTWISE_THREADS}u) {
    ${rm}[i] = runningMean[i] * p.keep + mean[i] * p.momentum;
    ${rv}[i] = runningVar[i] * p.keep + variance[i] * p.varianceScale;
  }
}`;
}

/**
 * One AdamW step of element i; `u` suffixes the per-parameter uniforms (decay, stepSize,
 * sqrtCorrection2). Its locals are named so that they shadow no array of adamInPlace (m1, v1, …).
 */
const adamUpdate = (read: { param: string; grad: string; m: string; v: string }, write: { param: string; m: string; v: string }, u = '') => `    let g = ${read.grad}[i];
    let mNext = ${read.m}[i] * p.beta1 + g * p.oneMinusBeta1;
    let vNext = ${read.v}[i] * p.beta2 + (g * g) * p.oneMinusBeta2;
    let denom = sqrt(vNext) / p.sqrtCorrection2${u} + p.eps;
    ${write.param}[i] = ${read.param}[i] * p.decay${u} - (mNext / denom) * p.stepSize${u};
    ${write.m}[i] = mNext;
    ${write.v}[i] = vNext;`;

export const ADAM = `${out(0, 'paramOut')}\n${out(1, 'mOut')}\n${out(2, 'vOut')}\n${inp(3, 'param')}\n${inp(4, 'grad')}\n${inp(5, 'm')}\n${inp(6, 'v')}
${uniform(7, 'n: u32, beta1: f32, oneMinusBeta1: f32, beta2: f32, oneMinusBeta2: f32, eps: f32, decay: f32, stepSize: f32, sqrtCorrection2: f32,')}
${elementwise(adamUpdate({ param: 'param', grad: 'grad', m: 'm', v: 'v' }, { param: 'paramOut', m: 'mOut', v: 'vOut' }))}`;

/**
 * AdamW steps of `count` parameters in one dispatch, each written in place: parameter j's param,
 * m and v at bindings 3j, 3j + 1, 3j + 2, its gradient at 3·count + j; uniforms: the shared betas
 * and eps, then per parameter its size, decay, step size and sqrt of the second bias correction.
 */
export function adamInPlace(count: number): string {
  const bindings: string[] = [];
  const fields = ['beta1: f32', 'oneMinusBeta1: f32', 'beta2: f32', 'oneMinusBeta2: f32', 'eps: f32'];
  const loops: string[] = [];
  for (let j = 0; j < count; j++) {
    bindings.push(out(3 * j, `param${j}`), out(3 * j + 1, `m${j}`), out(3 * j + 2, `v${j}`));
    fields.push(`n${j}: u32`, `decay${j}: f32`, `stepSize${j}: f32`, `sqrtCorrection2${j}: f32`);
    const names = { param: `param${j}`, m: `m${j}`, v: `v${j}` };
    loops.push(`  for (var i = gid.x; i < p.n${j}; i += stride) {\n${adamUpdate({ ...names, grad: `grad${j}` }, names, String(j))}\n  }`);
  }
  for (let j = 0; j < count; j++) bindings.push(inp(3 * count + j, `grad${j}`));
  return `${bindings.join('\n')}
${uniform(4 * count, `${fields.join(', ')},`)}
@compute @workgroup_size(${ELEMENTWISE_THREADS})
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
  let stride = groups.x * ${ELEMENTWISE_THREADS}u;
${loops.join('\n')}
}`;
}

/**
 * Attention of one query row per workgroup iteration (`row` = (b·heads + head)·n + i). q, k and v
 * are read from the packed projection [B, N, 3, heads, hd], outputs written as [B, N, heads, hd],
 * so no head splitting or merging copies run. The probability row is written once, then read back
 * by the same workgroup (storageBarrier) for the value mix.
 */
const ATTENTION_COMMON = `
fn qkvAt(b: u32, token: u32, part: u32, head: u32, e: u32) -> u32 { return ((b * p.n + token) * 3u + part) * p.d + head * p.hd + e; }
fn mergedAt(b: u32, token: u32, head: u32, e: u32) -> u32 { return (b * p.n + token) * p.d + head * p.hd + e; }
var<workgroup> rowMaxPartial: array<f32, ${ROW_THREADS}>;
fn rowMax(value: f32, lane: u32) -> f32 {
  rowMaxPartial[lane] = value;
  workgroupBarrier();
  for (var half = ${ROW_THREADS / 2}u; half > 0u; half = half >> 1u) {
    if (lane < half) { rowMaxPartial[lane] = max(rowMaxPartial[lane], rowMaxPartial[lane + half]); }
    workgroupBarrier();
  }
  let total = rowMaxPartial[0];
  workgroupBarrier();
  return total;
}`;

const attentionUniform = (i: number) => uniform(i, 'rows: u32, n: u32, heads: u32, hd: u32, d: u32, scale: f32,');

const attentionRowKernel = (body: string) => `${ROW_SUM}${ATTENTION_COMMON}
@compute @workgroup_size(${ROW_THREADS})
fn main(@builtin(local_invocation_id) local: vec3<u32>, @builtin(workgroup_id) group: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
  let lane = local.x;
  for (var row = group.x; row < p.rows; row += groups.x) {
    let bh = row / p.n;
    let b = bh / p.heads;
    let head = bh % p.heads;
    let i = row % p.n;
    let base = row * p.n;
${body}
  }
}`;

export const ATTENTION = `${out(0, 'o')}\n${out(1, 'probs')}\n${inp(2, 'qkv')}\n${attentionUniform(3)}
${attentionRowKernel(`    var m = -3.4028234663852886e38;
    for (var j = lane; j < p.n; j += ${ROW_THREADS}u) {
      var s = 0.0;
      for (var e = 0u; e < p.hd; e++) { s += (qkv[qkvAt(b, i, 0u, head, e)] * p.scale) * qkv[qkvAt(b, j, 1u, head, e)]; }
      probs[base + j] = s;
      m = max(m, s);
    }
    let rowMaximum = rowMax(m, lane);
    var total = 0.0;
    for (var j = lane; j < p.n; j += ${ROW_THREADS}u) { let t = exp(probs[base + j] - rowMaximum); probs[base + j] = t; total += t; }
    let denominator = rowSum(total, lane);
    for (var j = lane; j < p.n; j += ${ROW_THREADS}u) { probs[base + j] = probs[base + j] / denominator; }
    storageBarrier();
    for (var e = lane; e < p.hd; e += ${ROW_THREADS}u) {
      var acc = 0.0;
      for (var j = 0u; j < p.n; j++) { acc += probs[base + j] * qkv[qkvAt(b, j, 2u, head, e)]; }
      o[mergedAt(b, i, head, e)] = acc;
    }
    storageBarrier();`)}`;

/** Backward, pass 1 (rows of queries): dLogits = P⊙(dP − Σ dP⊙P)·scale with dP = dO·vᵀ, and dq = dLogits·k. */
export const ATTENTION_GRAD_QUERIES = `${out(0, 'dLogits')}\n${out(1, 'dq')}\n${inp(2, 'dy')}\n${inp(3, 'qkv')}\n${inp(4, 'probs')}\n${attentionUniform(5)}
${attentionRowKernel(`    var s = 0.0;
    for (var j = lane; j < p.n; j += ${ROW_THREADS}u) {
      var dp = 0.0;
      for (var e = 0u; e < p.hd; e++) { dp += dy[mergedAt(b, i, head, e)] * qkv[qkvAt(b, j, 2u, head, e)]; }
      dLogits[base + j] = dp;
      s += dp * probs[base + j];
    }
    let dot = rowSum(s, lane);
    for (var j = lane; j < p.n; j += ${ROW_THREADS}u) { dLogits[base + j] = probs[base + j] * (dLogits[base + j] - dot) * p.scale; }
    storageBarrier();
    for (var e = lane; e < p.hd; e += ${ROW_THREADS}u) {
      var acc = 0.0;
      for (var j = 0u; j < p.n; j++) { acc += dLogits[base + j] * qkv[qkvAt(b, j, 1u, head, e)]; }
      dq[mergedAt(b, i, head, e)] = acc;
    }
    storageBarrier();`)}`;

/** Backward, pass 2 (rows of keys, token j): dk = dLogitsᵀ·q and dv = Pᵀ·dO, packed with dq into dqkv. */
export const ATTENTION_GRAD_KEYS = `${out(0, 'dqkv')}\n${inp(1, 'dLogits')}\n${inp(2, 'probs')}\n${inp(3, 'dy')}\n${inp(4, 'qkv')}\n${inp(5, 'dq')}\n${attentionUniform(6)}
${ATTENTION_COMMON}
@compute @workgroup_size(${ROW_THREADS})
fn main(@builtin(local_invocation_id) local: vec3<u32>, @builtin(workgroup_id) group: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
  for (var row = group.x; row < p.rows; row += groups.x) {
    let bh = row / p.n;
    let b = bh / p.heads;
    let head = bh % p.heads;
    let j = row % p.n;
    let square = bh * p.n * p.n;
    for (var e = local.x; e < p.hd; e += ${ROW_THREADS}u) {
      var dk = 0.0;
      var dv = 0.0;
      for (var i = 0u; i < p.n; i++) {
        dk += dLogits[square + i * p.n + j] * qkv[qkvAt(b, i, 0u, head, e)];
        dv += probs[square + i * p.n + j] * dy[mergedAt(b, i, head, e)];
      }
      dqkv[qkvAt(b, j, 0u, head, e)] = dq[mergedAt(b, j, head, e)];
      dqkv[qkvAt(b, j, 1u, head, e)] = dk;
      dqkv[qkvAt(b, j, 2u, head, e)] = dv;
    }
  }
}`;
