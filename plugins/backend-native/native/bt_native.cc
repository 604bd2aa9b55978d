// Hot tfjs-wasm kernels in native code. Every function works in place on the wasm heap: JavaScript
// passes the heap's ArrayBuffer and byte offsets of inputs and of an already allocated output, so no
// tensor data is copied between the wasm heap and this addon.
#include <napi.h>
#include <cblas.h>

#include <omp.h>
#include <xmmintrin.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <vector>

namespace {

// Flushes denormal floats to zero while a kernel runs, restoring the caller's mode after: a
// denormal operand costs x86 cores a microcode assist (tens to hundreds of cycles), and gradients
// underflow into that range. JavaScript's own arithmetic keeps IEEE denormals.
class DenormalsAreZero {
 public:
  DenormalsAreZero() : saved_(_mm_getcsr()) { _mm_setcsr(saved_ | 0x8040); }
  ~DenormalsAreZero() { _mm_setcsr(saved_); }

 private:
  unsigned int saved_;
};

uint8_t* HeapBase(const Napi::Value& v) {
  Napi::ArrayBuffer buffer = v.As<Napi::ArrayBuffer>();
  return static_cast<uint8_t*>(buffer.Data());
}

template <typename T>
T* At(uint8_t* base, const Napi::Value& offset) {
  return reinterpret_cast<T*>(base + static_cast<size_t>(offset.As<Napi::Number>().Int64Value()));
}

int Int(const Napi::CallbackInfo& info, size_t i) { return info[i].As<Napi::Number>().Int32Value(); }
float Float(const Napi::CallbackInfo& info, size_t i) { return info[i].As<Napi::Number>().FloatValue(); }

std::vector<int64_t> Ints(const Napi::Value& v) {
  Napi::Int32Array a = v.As<Napi::Int32Array>();
  return std::vector<int64_t>(a.Data(), a.Data() + a.ElementLength());
}

// Below this many multiply-adds a product stays on the calling thread (waking a worker costs more).
constexpr int64_t kParallelMacs = int64_t{1} << 18;

// Row-major C = alpha·op(A)·op(B) + beta·C on the calling thread.
inline void Gemm(bool transA, bool transB, int64_t M, int64_t N, int64_t K, float alpha, const float* A, int64_t lda, const float* B, int64_t ldb, float beta, float* C, int64_t ldc) {
  cblas_sgemm(CblasRowMajor, transA ? CblasTrans : CblasNoTrans, transB ? CblasTrans : CblasNoTrans, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
}

// Gemm split between the OpenMP threads by rows of C (or by columns when C has few rows). OpenBLAS
// itself runs single-threaded: one pool of workers for every kernel, instead of OpenBLAS's pthreads
// spinning on the cores that the next element-wise kernel's OpenMP workers need.
void ParallelGemm(bool transA, bool transB, int64_t M, int64_t N, int64_t K, float alpha, const float* A, int64_t lda, const float* B, int64_t ldb, float beta, float* C, int64_t ldc) {
  const int nt = omp_in_parallel() ? 1 : omp_get_max_threads();
  if (nt < 2 || M * N * K < kParallelMacs) {
    Gemm(transA, transB, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
    return;
  }
  const bool byRows = M >= 16 * nt || M >= N;
#pragma omp parallel num_threads(nt)
  {
    DenormalsAreZero daz;
    const int64_t t = omp_get_thread_num(), n = omp_get_num_threads();
    if (byRows) {
      // Split on multiples of 16 rows, the sgemm kernels' register-block height.
      const int64_t blocks = (M + 15) / 16, b0 = blocks * t / n, b1 = blocks * (t + 1) / n;
      const int64_t m0 = std::min(M, b0 * 16), m1 = std::min(M, b1 * 16);
      if (m0 < m1) Gemm(transA, transB, m1 - m0, N, K, alpha, transA ? A + m0 : A + m0 * lda, lda, B, ldb, beta, C + m0 * ldc, ldc);
    } else {
      const int64_t blocks = (N + 15) / 16, b0 = blocks * t / n, b1 = blocks * (t + 1) / n;
      const int64_t n0 = std::min(N, b0 * 16), n1 = std::min(N, b1 * 16);
      if (n0 < n1) Gemm(transA, transB, M, n1 - n0, K, alpha, A, lda, transB ? B + n0 * ldb : B + n0, ldb, beta, C + n0, ldc);
    }
  }
}

// batchMatMul(heap, a, b, out, M, N, K, transA, transB, aOffsets, bOffsets):
// out[i] = op(A at aOffsets[i]) x op(B at bOffsets[i]), row-major, offsets in elements. Batches are
// shared between the threads; a single product is split by ParallelGemm.
Napi::Value BatchMatMul(const Napi::CallbackInfo& info) {
  DenormalsAreZero daz;
  uint8_t* heap = HeapBase(info[0]);
  const float* a = At<float>(heap, info[1]);
  const float* b = At<float>(heap, info[2]);
  float* out = At<float>(heap, info[3]);
  const int64_t M = Int(info, 4), N = Int(info, 5), K = Int(info, 6);
  const bool transA = info[7].As<Napi::Boolean>().Value();
  const bool transB = info[8].As<Napi::Boolean>().Value();
  Napi::Int32Array aOffsets = info[9].As<Napi::Int32Array>();
  Napi::Int32Array bOffsets = info[10].As<Napi::Int32Array>();
  const int32_t* aOff = aOffsets.Data();
  const int32_t* bOff = bOffsets.Data();
  const int64_t batch = static_cast<int64_t>(aOffsets.ElementLength());
  const int64_t lda = transA ? M : K, ldb = transB ? K : N;
  if (batch == 1) {
    ParallelGemm(transA, transB, M, N, K, 1.0f, a + aOff[0], lda, b + bOff[0], ldb, 0.0f, out, N);
    return info.Env().Undefined();
  }
  const bool parallel = omp_get_max_threads() > 1 && batch * M * N * K >= kParallelMacs;
#pragma omp parallel if (parallel)
  {
    DenormalsAreZero threadDaz;
#pragma omp for schedule(static)
    for (int64_t i = 0; i < batch; ++i) Gemm(transA, transB, M, N, K, 1.0f, a + aOff[i], lda, b + bOff[i], ldb, 0.0f, out + i * M * N, N);
  }
  return info.Env().Undefined();
}

// Activations of tfjs's fused kernels, by code: 0 linear, 1 relu, 2 relu6, 3 elu, 4 sigmoid, 5 leakyrelu.
inline float Activate(float x, int act, float alpha) {
  switch (act) {
    case 1: return x > 0 ? x : 0;
    case 2: return std::min(std::max(x, 0.0f), 6.0f);
    case 3: return x >= 0 ? x : std::expm1(x);
    case 4: return 1.0f / (1.0f + std::exp(-x));
    case 5: return x >= 0 ? x : alpha * x;
    default: return x;
  }
}

// biasActivation(heap, out, rows, cols, bias | -1, biasSize, act, alpha): bias of size cols or 1.
Napi::Value BiasActivation(const Napi::CallbackInfo& info) {
  DenormalsAreZero daz;
  uint8_t* heap = HeapBase(info[0]);
  float* out = At<float>(heap, info[1]);
  const int64_t rows = Int(info, 2), cols = Int(info, 3);
  const int64_t biasOffset = info[4].As<Napi::Number>().Int64Value();
  const int biasSize = Int(info, 5), act = Int(info, 6);
  const float alpha = Float(info, 7);
  const float* bias = biasOffset >= 0 ? reinterpret_cast<const float*>(heap + biasOffset) : nullptr;
  for (int64_t r = 0; r < rows; ++r) {
    float* row = out + r * cols;
    if (bias) {
      if (biasSize == 1) for (int64_t c = 0; c < cols; ++c) row[c] += bias[0];
      else for (int64_t c = 0; c < cols; ++c) row[c] += bias[c];
    }
    if (act) for (int64_t c = 0; c < cols; ++c) row[c] = Activate(row[c], act, alpha);
  }
  return info.Env().Undefined();
}

// Cache-blocked 2-D transpose of a rows x cols block with arbitrary strides (in elements).
template <typename T>
void Transpose2D(const T* in, T* out, int64_t rows, int64_t cols, int64_t inRow, int64_t outRow) {
  constexpr int64_t B = 32;
  for (int64_t r0 = 0; r0 < rows; r0 += B) {
    const int64_t r1 = std::min(rows, r0 + B);
    for (int64_t c0 = 0; c0 < cols; c0 += B) {
      const int64_t c1 = std::min(cols, c0 + B);
      for (int64_t r = r0; r < r1; ++r)
        for (int64_t c = c0; c < c1; ++c) out[c * outRow + r] = in[r * inRow + c];
    }
  }
}

// transpose(heap, x, out, shape, perm, bytesPerElement) for 4-byte elements (float32, int32).
Napi::Value Transpose(const Napi::CallbackInfo& info) {
  uint8_t* heap = HeapBase(info[0]);
  const uint32_t* x = At<uint32_t>(heap, info[1]);
  uint32_t* out = At<uint32_t>(heap, info[2]);
  std::vector<int64_t> shape = Ints(info[3]), perm = Ints(info[4]);
  const size_t rank = shape.size();
  // Merge input dims that stay adjacent and in order in the output, and drop size-1 dims.
  std::vector<int64_t> dims, order;  // dims: merged input dims; order: output order of merged dims
  {
    std::vector<int64_t> keep;
    for (size_t i = 0; i < rank; ++i) if (shape[perm[i]] != 1) keep.push_back(perm[i]);
    std::vector<std::vector<int64_t>> groups;
    for (size_t i = 0; i < keep.size(); ++i) {
      if (i > 0 && keep[i] == keep[i - 1] + 1) groups.back().push_back(keep[i]);
      else groups.push_back({keep[i]});
    }
    // Input order of the groups is by their first dim.
    std::vector<size_t> idx(groups.size());
    for (size_t g = 0; g < groups.size(); ++g) idx[g] = g;
    std::sort(idx.begin(), idx.end(), [&](size_t p, size_t q) { return groups[p][0] < groups[q][0]; });
    std::vector<int64_t> inPos(groups.size());
    for (size_t k = 0; k < idx.size(); ++k) inPos[idx[k]] = static_cast<int64_t>(k);
    dims.resize(groups.size());
    for (size_t g = 0; g < groups.size(); ++g) {
      int64_t size = 1;
      for (int64_t d : groups[g]) size *= shape[d];
      dims[inPos[g]] = size;
      order.push_back(inPos[g]);
    }
  }
  const size_t r = dims.size();
  int64_t total = 1;
  for (int64_t d : dims) total *= d;
  if (r <= 1) {
    std::memcpy(out, x, total * 4);
    return info.Env().Undefined();
  }
  std::vector<int64_t> inStride(r);
  inStride[r - 1] = 1;
  for (size_t i = r - 1; i-- > 0;) inStride[i] = inStride[i + 1] * dims[i + 1];
  std::vector<int64_t> outShape(r), outStride(r), strideIn(r);  // strideIn: input stride of each output dim
  for (size_t i = 0; i < r; ++i) { outShape[i] = dims[order[i]]; strideIn[i] = inStride[order[i]]; }
  outStride[r - 1] = 1;
  for (size_t i = r - 1; i-- > 0;) outStride[i] = outStride[i + 1] * outShape[i + 1];
  // The output dim that holds the input's contiguous dim; blocked against the output's last dim.
  size_t p = 0;
  for (size_t i = 0; i < r; ++i) if (order[i] == static_cast<int64_t>(r - 1)) p = i;
  // Iterate every other output dim, and do a blocked 2-D transpose of (dim p) x (last output dim).
  std::vector<int64_t> rest;
  for (size_t i = 0; i + 1 < r; ++i) if (i != p) rest.push_back(static_cast<int64_t>(i));
  int64_t outer = 1;
  for (int64_t i : rest) outer *= outShape[i];
  std::vector<int64_t> counter(rest.size(), 0);
  const bool rowCopy = p == r - 1;  // the contiguous dim stays last: copy whole rows
  const int64_t rows = outShape[r - 1], cols = rowCopy ? 1 : outShape[p];
  for (int64_t o = 0; o < outer; ++o) {
    int64_t inBase = 0, outBase = 0;
    for (size_t k = 0; k < rest.size(); ++k) {
      inBase += counter[k] * strideIn[rest[k]];
      outBase += counter[k] * outStride[rest[k]];
    }
    if (rowCopy) std::memcpy(out + outBase, x + inBase, rows * 4);
    // Input block: rows along output's last dim (input stride strideIn[r-1]), cols contiguous.
    else Transpose2D(x + inBase, out + outBase, rows, cols, strideIn[r - 1], outStride[p]);
    for (size_t k = rest.size(); k-- > 0;) {
      if (++counter[k] < outShape[rest[k]]) break;
      counter[k] = 0;
    }
  }
  return info.Env().Undefined();
}


// exp for float32 without libm calls, so that loops over it vectorise: Cephes' range reduction and
// polynomial (relative error about 2e-7 over the float range).
inline float ExpF(float x) {
  x = std::min(std::max(x, -87.33654f), 88.72283f);
  const float n = std::nearbyint(x * 1.44269504088896341f);
  const float r = x - n * 0.693359375f + n * 2.12194440e-4f;
  float p = 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  const float e = p * r * r + r + 1.0f;
  // 2^(n-1) * 2: n reaches 128 at the top of the range, where 2^n itself is not a float.
  int32_t bits = (static_cast<int32_t>(n) + 126) << 23;
  float scale;
  std::memcpy(&scale, &bits, 4);
  return e * scale * 2.0f;
}

// erf by Abramowitz & Stegun 7.1.26, the formula tfjs's own kernels use (absolute error 1.5e-7).
inline float ErfF(float x) {
  const float v = std::fabs(x);
  const float t = 1.0f / (1.0f + 0.3275911f * v);
  const float poly = ((((1.061405429f * t - 1.453152027f) * t + 1.421413741f) * t - 0.284496736f) * t + 0.254829592f) * t;
  const float y = 1.0f - poly * ExpF(-v * v);
  return std::copysign(y, x);
}

// Memory-bound element-wise work (a load or two and a store per element) stays on the calling thread
// below this many elements: measured on 2 cores, splitting it was slower up to a few million elements
// (waking a worker costs more than it saves while both cores share the memory bandwidth).
constexpr int64_t kParallelGrain = int64_t{1} << 22;
// Compute-bound element-wise work (erf, exp: tens of flops per element) pays for a worker much sooner.
constexpr int64_t kComputeGrain = int64_t{1} << 14;

// Runs body(begin, end) over [0, n) on the OpenMP threads, each with denormals flushed.
template <typename F>
void ParallelRange(int64_t n, F body, int64_t grain = kParallelGrain) {
  if (n < 2 * grain || omp_get_max_threads() < 2) {
    body(0, n);
    return;
  }
#pragma omp parallel
  {
    DenormalsAreZero daz;
    const int64_t t = omp_get_thread_num(), nt = omp_get_num_threads();
    const int64_t begin = n * t / nt, end = n * (t + 1) / nt;
    if (begin < end) body(begin, end);
  }
}

// Runs body(firstRow, endRow) over `rows` rows of `rowSize` elements on the OpenMP threads.
template <typename F>
void ParallelRows(int64_t rows, int64_t rowSize, F body, int64_t grain = kParallelGrain) {
  if (rows < 2 || rows * rowSize < 2 * grain || omp_get_max_threads() < 2) {
    body(0, rows);
    return;
  }
#pragma omp parallel
  {
    DenormalsAreZero daz;
    const int64_t t = omp_get_thread_num(), nt = omp_get_num_threads();
    const int64_t begin = rows * t / nt, end = rows * (t + 1) / nt;
    if (begin < end) body(begin, end);
  }
}

// unary(heap, op, x, out, n): 0 erf, 1 exp, 2 neg, 3 square, 4 sqrt, 5 rsqrt, 6 relu, 7 reciprocal, 8 log, 9 tanh.
Napi::Value Unary(const Napi::CallbackInfo& info) {
  DenormalsAreZero daz;
  uint8_t* heap = HeapBase(info[0]);
  const int op = Int(info, 1);
  const float* __restrict x = At<float>(heap, info[2]);
  float* __restrict out = At<float>(heap, info[3]);
  const int64_t n = info[4].As<Napi::Number>().Int64Value();
  ParallelRange(n, [&](int64_t begin, int64_t end) {
    float* __restrict o = out + begin;
    const float* __restrict in = x + begin;
    const int64_t m = end - begin;
    switch (op) {
      case 0: for (int64_t i = 0; i < m; ++i) o[i] = ErfF(in[i]); break;
      case 1: for (int64_t i = 0; i < m; ++i) o[i] = ExpF(in[i]); break;
      case 2: for (int64_t i = 0; i < m; ++i) o[i] = -in[i]; break;
      case 3: for (int64_t i = 0; i < m; ++i) o[i] = in[i] * in[i]; break;
      case 4: for (int64_t i = 0; i < m; ++i) o[i] = std::sqrt(in[i]); break;
      case 5: for (int64_t i = 0; i < m; ++i) o[i] = 1.0f / std::sqrt(in[i]); break;
      case 6: for (int64_t i = 0; i < m; ++i) o[i] = in[i] > 0 ? in[i] : 0.0f; break;
      case 7: for (int64_t i = 0; i < m; ++i) o[i] = 1.0f / in[i]; break;
      case 8: for (int64_t i = 0; i < m; ++i) o[i] = std::log(in[i]); break;
      case 9: for (int64_t i = 0; i < m; ++i) o[i] = std::tanh(in[i]); break;
    }
  }, op == 0 || op == 1 || op >= 8 ? kComputeGrain : kParallelGrain);
  return info.Env().Undefined();
}

template <int Op>
inline float Apply(float a, float b) {
  if constexpr (Op == 0) return a + b;
  if constexpr (Op == 1) return a - b;
  if constexpr (Op == 2) return a * b;
  if constexpr (Op == 3) return a / b;
  if constexpr (Op == 4) return (a - b) * (a - b);
  if constexpr (Op == 5) return a > b ? a : b;
  if constexpr (Op == 6) return a < b ? a : b;
  return 0;
}

// Inner loop of a broadcasting binary op: each input steps by 1 or stays (stride 0).
template <int Op>
void BinaryRow(const float* __restrict a, const float* __restrict b, float* __restrict out, int64_t n, int64_t sa, int64_t sb) {
  if (sa && sb) for (int64_t i = 0; i < n; ++i) out[i] = Apply<Op>(a[i], b[i]);
  else if (sa) { const float bv = b[0]; for (int64_t i = 0; i < n; ++i) out[i] = Apply<Op>(a[i], bv); }
  else if (sb) { const float av = a[0]; for (int64_t i = 0; i < n; ++i) out[i] = Apply<Op>(av, b[i]); }
  else { const float v = Apply<Op>(a[0], b[0]); for (int64_t i = 0; i < n; ++i) out[i] = v; }
}

// Strides of `shape` broadcast (right-aligned) against an output of rank r: 0 along broadcast dims.
std::vector<int64_t> BroadcastStrides(const std::vector<int64_t>& shape, size_t r) {
  std::vector<int64_t> strides(r, 0);
  int64_t s = 1;
  for (size_t k = 0; k < shape.size(); ++k) {
    const size_t i = shape.size() - 1 - k;
    strides[r - 1 - k] = shape[i] == 1 ? 0 : s;
    s *= shape[i];
  }
  return strides;
}

template <int Op>
void BinaryImpl(const float* a, const float* b, float* out, std::vector<int64_t> shape, std::vector<int64_t> sa, std::vector<int64_t> sb) {
  // Merge dims that both inputs walk in the same way, so the inner loop is as long as possible.
  std::vector<int64_t> ms{shape[0]}, ma{sa[0]}, mb{sb[0]};
  for (size_t i = 1; i < shape.size(); ++i) {
    if (ma.back() == sa[i] * shape[i] && mb.back() == sb[i] * shape[i]) {
      ms.back() *= shape[i];
      ma.back() = sa[i];
      mb.back() = sb[i];
    } else {
      ms.push_back(shape[i]);
      ma.push_back(sa[i]);
      mb.push_back(sb[i]);
    }
  }
  const size_t r = ms.size();
  const int64_t inner = ms[r - 1];
  int64_t outer = 1;
  for (size_t i = 0; i + 1 < r; ++i) outer *= ms[i];
  if (outer == 1) {
    // One long row: split it between the threads.
    ParallelRange(inner, [&](int64_t begin, int64_t end) {
      BinaryRow<Op>(a + (ma[r - 1] ? begin : 0), b + (mb[r - 1] ? begin : 0), out + begin, end - begin, ma[r - 1], mb[r - 1]);
    });
    return;
  }
  // Rows shared between the threads; each finds its first row's input offsets by decomposing it.
  ParallelRows(outer, inner, [&](int64_t o0, int64_t o1) {
    std::vector<int64_t> counter(r, 0);
    int64_t ao = 0, bo = 0;
    for (int64_t k = static_cast<int64_t>(r) - 2, rest = o0; k >= 0; --k) {
      counter[k] = rest % ms[k];
      rest /= ms[k];
      ao += counter[k] * ma[k];
      bo += counter[k] * mb[k];
    }
    for (int64_t o = o0; o < o1; ++o) {
      BinaryRow<Op>(a + ao, b + bo, out + o * inner, inner, ma[r - 1], mb[r - 1]);
      for (size_t k = r - 1; k-- > 0;) {
        ao += ma[k];
        bo += mb[k];
        if (++counter[k] < ms[k]) break;
        ao -= ma[k] * ms[k];
        bo -= mb[k] * ms[k];
        counter[k] = 0;
      }
    }
  });
}

// binary(heap, op, a, aShape, b, bShape, out, outShape): 0 add, 1 sub, 2 mul, 3 div, 4 squared difference, 5 max, 6 min.
Napi::Value Binary(const Napi::CallbackInfo& info) {
  DenormalsAreZero daz;
  uint8_t* heap = HeapBase(info[0]);
  const int op = Int(info, 1);
  const float* a = At<float>(heap, info[2]);
  std::vector<int64_t> aShape = Ints(info[3]);
  const float* b = At<float>(heap, info[4]);
  std::vector<int64_t> bShape = Ints(info[5]);
  float* out = At<float>(heap, info[6]);
  std::vector<int64_t> shape = Ints(info[7]);
  if (shape.empty()) shape.push_back(1);
  const size_t r = shape.size();
  auto sa = BroadcastStrides(aShape, r), sb = BroadcastStrides(bShape, r);
  switch (op) {
    case 0: BinaryImpl<0>(a, b, out, shape, sa, sb); break;
    case 1: BinaryImpl<1>(a, b, out, shape, sa, sb); break;
    case 2: BinaryImpl<2>(a, b, out, shape, sa, sb); break;
    case 3: BinaryImpl<3>(a, b, out, shape, sa, sb); break;
    case 4: BinaryImpl<4>(a, b, out, shape, sa, sb); break;
    case 5: BinaryImpl<5>(a, b, out, shape, sa, sb); break;
    case 6: BinaryImpl<6>(a, b, out, shape, sa, sb); break;
  }
  return info.Env().Undefined();
}

// Sum of a row in 8 float lanes (vectorised), blocks of 256 added in double: about 1e-7 relative error.
double SumRow(const float* __restrict row, int64_t n) {
  double total = 0;
  for (int64_t start = 0; start < n; start += 256) {
    const int64_t end = std::min(n, start + 256);
    float lanes[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    int64_t j = start;
    for (; j + 8 <= end; j += 8)
      for (int l = 0; l < 8; ++l) lanes[l] += row[j + l];
    float tail = 0;
    for (; j < end; ++j) tail += row[j];
    total += static_cast<double>(((lanes[0] + lanes[4]) + (lanes[1] + lanes[5])) + ((lanes[2] + lanes[6]) + (lanes[3] + lanes[7]))) + tail;
  }
  return total;
}

// reduce(heap, op, x, shape, reduceMask, out): 0 sum, 1 mean, 2 max, over the dims whose mask is 1,
// without transposing (tfjs-wasm transposes the reduced axes innermost first). Sums in double.
Napi::Value Reduce(const Napi::CallbackInfo& info) {
  DenormalsAreZero daz;
  uint8_t* heap = HeapBase(info[0]);
  const int op = Int(info, 1);
  const float* x = At<float>(heap, info[2]);
  std::vector<int64_t> shape = Ints(info[3]), mask = Ints(info[4]);
  float* out = At<float>(heap, info[5]);
  std::vector<int64_t> ms, mm;
  for (size_t i = 0; i < shape.size(); ++i) {
    if (shape[i] == 1) continue;
    if (!ms.empty() && mm.back() == mask[i]) ms.back() *= shape[i];
    else { ms.push_back(shape[i]); mm.push_back(mask[i]); }
  }
  int64_t outSize = 1, reduced = 1;
  for (size_t i = 0; i < ms.size(); ++i) (mm[i] ? reduced : outSize) *= ms[i];
  if (ms.empty()) { ms.push_back(1); mm.push_back(0); }
  const size_t r = ms.size();
  std::vector<double> acc(outSize, op == 2 ? -INFINITY : 0.0);
  std::vector<int64_t> ostride(r, 0);
  for (int64_t i = static_cast<int64_t>(r) - 1, s = 1; i >= 0; --i) if (!mm[i]) { ostride[i] = s; s *= ms[i]; }
  const int64_t inner = ms[r - 1];
  const bool innerReduced = mm[r - 1];
  int64_t outer = 1;
  for (size_t i = 0; i + 1 < r; ++i) outer *= ms[i];
  std::vector<int64_t> counter(r, 0);
  int64_t oo = 0;
  for (int64_t o = 0; o < outer; ++o) {
    const float* row = x + o * inner;
    if (innerReduced) {
      double v = op == 2 ? -INFINITY : 0.0;
      if (op == 2) for (int64_t j = 0; j < inner; ++j) v = std::max(v, static_cast<double>(row[j]));
      else v = SumRow(row, inner);
      acc[oo] = op == 2 ? std::max(acc[oo], v) : acc[oo] + v;
    } else {
      double* dst = acc.data() + oo;
      if (op == 2) for (int64_t j = 0; j < inner; ++j) dst[j] = std::max(dst[j], static_cast<double>(row[j]));
      else for (int64_t j = 0; j < inner; ++j) dst[j] += row[j];
    }
    for (size_t k = r - 1; k-- > 0;) {
      oo += ostride[k];
      if (++counter[k] < ms[k]) break;
      oo -= ostride[k] * ms[k];
      counter[k] = 0;
    }
  }
  const double scale = op == 1 ? 1.0 / static_cast<double>(reduced) : 1.0;
  for (int64_t i = 0; i < outSize; ++i) out[i] = static_cast<float>(acc[i] * scale);
  return info.Env().Undefined();
}

// unpack(heap, x, outer, num, inner, outs): out_i[o, :] = x[o, i, :] for 4-byte elements.
Napi::Value Unpack(const Napi::CallbackInfo& info) {
  uint8_t* heap = HeapBase(info[0]);
  const uint32_t* x = At<uint32_t>(heap, info[1]);
  const int64_t outer = Int(info, 2), num = Int(info, 3), inner = Int(info, 4);
  Napi::Float64Array outs = info[5].As<Napi::Float64Array>();
  for (int64_t i = 0; i < num; ++i) {
    uint32_t* out = reinterpret_cast<uint32_t*>(heap + static_cast<size_t>(outs[i]));
    for (int64_t o = 0; o < outer; ++o) std::memcpy(out + o * inner, x + (o * num + i) * inner, inner * 4);
  }
  return info.Env().Undefined();
}

// NHWC convolution geometry, as tfjs's computeConv2DInfo gives it.
struct ConvGeometry {
  int64_t b, h, w, c, oh, ow, co, kh, kw, sh, sw, pt, pl, dh, dw;
  int64_t K() const { return kh * kw * c; }
  bool Pointwise() const { return kh == 1 && kw == 1 && sh == 1 && sw == 1 && pt == 0 && pl == 0; }
};

ConvGeometry Geometry(const Napi::Value& v) {
  std::vector<int64_t> g = Ints(v);
  return {g[0], g[1], g[2], g[3], g[4], g[5], g[6], g[7], g[8], g[9], g[10], g[11], g[12], g[13], g[14]};
}

// Rows [row0, row0 + rows) of the im2col matrix (one row per output pixel, K = kh*kw*c columns).
void Im2Col(const float* x, const ConvGeometry& g, int64_t row0, int64_t rows, float* col) {
  const int64_t K = g.K();
  for (int64_t r = 0; r < rows; ++r) {
    const int64_t p = row0 + r, ox = p % g.ow, oy = (p / g.ow) % g.oh, n = p / (g.ow * g.oh);
    float* dst = col + r * K;
    for (int64_t ky = 0; ky < g.kh; ++ky) {
      const int64_t iy = oy * g.sh - g.pt + ky * g.dh;
      for (int64_t kx = 0; kx < g.kw; ++kx, dst += g.c) {
        const int64_t ix = ox * g.sw - g.pl + kx * g.dw;
        if (iy < 0 || iy >= g.h || ix < 0 || ix >= g.w) std::memset(dst, 0, g.c * 4);
        else std::memcpy(dst, x + ((n * g.h + iy) * g.w + ix) * g.c, g.c * 4);
      }
    }
  }
}

// Adds rows of a column-gradient matrix back onto the input gradient (the adjoint of Im2Col).
void Col2Im(const float* col, const ConvGeometry& g, int64_t row0, int64_t rows, float* dx) {
  const int64_t K = g.K();
  for (int64_t r = 0; r < rows; ++r) {
    const int64_t p = row0 + r, ox = p % g.ow, oy = (p / g.ow) % g.oh, n = p / (g.ow * g.oh);
    const float* src = col + r * K;
    for (int64_t ky = 0; ky < g.kh; ++ky) {
      const int64_t iy = oy * g.sh - g.pt + ky * g.dh;
      for (int64_t kx = 0; kx < g.kw; ++kx, src += g.c) {
        const int64_t ix = ox * g.sw - g.pl + kx * g.dw;
        if (iy < 0 || iy >= g.h || ix < 0 || ix >= g.w) continue;
        float* dst = dx + ((n * g.h + iy) * g.w + ix) * g.c;
        for (int64_t ci = 0; ci < g.c; ++ci) dst[ci] += src[ci];
      }
    }
  }
}

// Rows of im2col handled per sgemm: about 1 MB of scratch, which stays in the L2 cache.
int64_t ChunkRows(const ConvGeometry& g) { return std::max<int64_t>(g.ow, (int64_t{256} << 10) / std::max<int64_t>(1, g.K())); }

// Thread t's share [begin, end) of n items.
inline void ThreadShare(int64_t n, int64_t& begin, int64_t& end) {
  const int64_t t = omp_get_thread_num(), nt = omp_get_num_threads();
  begin = n * t / nt;
  end = n * (t + 1) / nt;
}

inline int ConvThreads(const ConvGeometry& g) {
  return g.b * g.oh * g.ow * g.K() * g.co >= kParallelMacs ? omp_get_max_threads() : 1;
}

// conv2d(heap, x, filter, out, geometry): out = im2col(x) · filter[K, co], output rows split between threads.
Napi::Value Conv2D(const Napi::CallbackInfo& info) {
  DenormalsAreZero daz;
  uint8_t* heap = HeapBase(info[0]);
  const float* x = At<float>(heap, info[1]);
  const float* f = At<float>(heap, info[2]);
  float* out = At<float>(heap, info[3]);
  const ConvGeometry g = Geometry(info[4]);
  const int64_t P = g.b * g.oh * g.ow, K = g.K();
  if (g.Pointwise()) {
    ParallelGemm(false, false, P, g.co, K, 1.0f, x, K, f, g.co, 0.0f, out, g.co);
    return info.Env().Undefined();
  }
  const int64_t chunk = ChunkRows(g);
#pragma omp parallel num_threads(ConvThreads(g))
  {
    DenormalsAreZero threadDaz;
    int64_t begin, end;
    ThreadShare(P, begin, end);
    std::vector<float> col(static_cast<size_t>(std::min(chunk, std::max<int64_t>(end - begin, 0)) * K));
    for (int64_t r0 = begin; r0 < end; r0 += chunk) {
      const int64_t rows = std::min(chunk, end - r0);
      Im2Col(x, g, r0, rows, col.data());
      Gemm(false, false, rows, g.co, K, 1.0f, col.data(), K, f, g.co, 0.0f, out + r0 * g.co, g.co);
    }
  }
  return info.Env().Undefined();
}

// conv2dBackpropInput(heap, dy, filter, dx, geometry): dx = col2im(dy · filterᵀ). Threads take whole
// images, so that the windows they add into dx never overlap.
Napi::Value Conv2DBackpropInput(const Napi::CallbackInfo& info) {
  DenormalsAreZero daz;
  uint8_t* heap = HeapBase(info[0]);
  const float* dy = At<float>(heap, info[1]);
  const float* f = At<float>(heap, info[2]);
  float* dx = At<float>(heap, info[3]);
  const ConvGeometry g = Geometry(info[4]);
  const int64_t P = g.b * g.oh * g.ow, K = g.K(), perImage = g.oh * g.ow;
  if (g.Pointwise()) {
    ParallelGemm(false, true, P, K, g.co, 1.0f, dy, g.co, f, g.co, 0.0f, dx, K);
    return info.Env().Undefined();
  }
  const int64_t chunk = ChunkRows(g);
#pragma omp parallel num_threads(ConvThreads(g))
  {
    DenormalsAreZero threadDaz;
    int64_t i0, i1;
    ThreadShare(g.b, i0, i1);
    const int64_t begin = i0 * perImage, end = i1 * perImage;
    std::memset(dx + i0 * g.h * g.w * g.c, 0, static_cast<size_t>((i1 - i0) * g.h * g.w * g.c) * 4);
    std::vector<float> col(static_cast<size_t>(std::min(chunk, std::max<int64_t>(end - begin, 0)) * K));
    for (int64_t r0 = begin; r0 < end; r0 += chunk) {
      const int64_t rows = std::min(chunk, end - r0);
      Gemm(false, true, rows, K, g.co, 1.0f, dy + r0 * g.co, g.co, f, g.co, 0.0f, col.data(), K);
      Col2Im(col.data(), g, r0, rows, dx);
    }
  }
  return info.Env().Undefined();
}

// conv2dBackpropFilter(heap, x, dy, df, geometry): df = im2col(x)ᵀ · dy. Each thread sums its share
// of output pixels into its own copy of df; the copies are added at the end.
Napi::Value Conv2DBackpropFilter(const Napi::CallbackInfo& info) {
  DenormalsAreZero daz;
  uint8_t* heap = HeapBase(info[0]);
  const float* x = At<float>(heap, info[1]);
  const float* dy = At<float>(heap, info[2]);
  float* df = At<float>(heap, info[3]);
  const ConvGeometry g = Geometry(info[4]);
  const int64_t P = g.b * g.oh * g.ow, K = g.K(), size = K * g.co;
  if (g.Pointwise()) {
    ParallelGemm(true, false, K, g.co, P, 1.0f, x, K, dy, g.co, 0.0f, df, g.co);
    return info.Env().Undefined();
  }
  const int64_t chunk = ChunkRows(g);
  const int nt = ConvThreads(g);
  std::vector<float> partial(static_cast<size_t>(std::max(0, nt - 1) * size));
  int team = 1;
#pragma omp parallel num_threads(nt)
  {
    DenormalsAreZero threadDaz;
    const int t = omp_get_thread_num();
    if (t == 0) team = omp_get_num_threads();
    float* mine = t == 0 ? df : partial.data() + (t - 1) * size;
    int64_t begin, end;
    ThreadShare(P, begin, end);
    if (begin >= end) std::memset(mine, 0, static_cast<size_t>(size) * 4);
    std::vector<float> col(static_cast<size_t>(std::min(chunk, std::max<int64_t>(end - begin, 0)) * K));
    for (int64_t r0 = begin; r0 < end; r0 += chunk) {
      const int64_t rows = std::min(chunk, end - r0);
      Im2Col(x, g, r0, rows, col.data());
      Gemm(true, false, K, g.co, rows, 1.0f, col.data(), K, dy + r0 * g.co, g.co, r0 == begin ? 0.0f : 1.0f, mine, g.co);
    }
  }
  for (int t = 1; t < team; ++t) {
    const float* p = partial.data() + (t - 1) * size;
    for (int64_t i = 0; i < size; ++i) df[i] += p[i];
  }
  return info.Env().Undefined();
}

// maxPoolGrad(heap, x, dy, dx, geometry): dy goes to the first maximum of each window (tfjs's rule:
// scan rows then columns, strict >), NHWC, no dilation.
Napi::Value MaxPoolGrad(const Napi::CallbackInfo& info) {
  DenormalsAreZero daz;
  uint8_t* heap = HeapBase(info[0]);
  const float* x = At<float>(heap, info[1]);
  const float* dy = At<float>(heap, info[2]);
  float* dx = At<float>(heap, info[3]);
  const ConvGeometry g = Geometry(info[4]);
  std::memset(dx, 0, static_cast<size_t>(g.b * g.h * g.w * g.c) * 4);
  std::vector<float> best(g.c);
  std::vector<int64_t> where(g.c);
  for (int64_t n = 0; n < g.b; ++n) {
    for (int64_t oy = 0; oy < g.oh; ++oy) {
      for (int64_t ox = 0; ox < g.ow; ++ox) {
        std::fill(best.begin(), best.end(), -INFINITY);
        std::fill(where.begin(), where.end(), -1);
        for (int64_t ky = 0; ky < g.kh; ++ky) {
          const int64_t iy = oy * g.sh - g.pt + ky;
          if (iy < 0 || iy >= g.h) continue;
          for (int64_t kx = 0; kx < g.kw; ++kx) {
            const int64_t ix = ox * g.sw - g.pl + kx;
            if (ix < 0 || ix >= g.w) continue;
            const int64_t base = ((n * g.h + iy) * g.w + ix) * g.c;
            const float* px = x + base;
            for (int64_t ci = 0; ci < g.c; ++ci) {
              if (px[ci] > best[ci]) {
                best[ci] = px[ci];
                where[ci] = base + ci;
              }
            }
          }
        }
        const float* d = dy + ((n * g.oh + oy) * g.ow + ox) * g.c;
        for (int64_t ci = 0; ci < g.c; ++ci) if (where[ci] >= 0) dx[where[ci]] += d[ci];
      }
    }
  }
  return info.Env().Undefined();
}

// ---- Fused ops of @bt-platform/sdk/nn (FusedKernel): one pass where tfjs runs a chain of kernels.

constexpr float kSqrtHalf = 0.70710678118654752f;
constexpr float kInvSqrt2Pi = 0.39894228040143268f;

// gelu(heap, x, y, n): y = x·Φ(x), exact (erf) form.
Napi::Value Gelu(const Napi::CallbackInfo& info) {
  DenormalsAreZero daz;
  uint8_t* heap = HeapBase(info[0]);
  const float* __restrict x = At<float>(heap, info[1]);
  float* __restrict y = At<float>(heap, info[2]);
  const int64_t n = info[3].As<Napi::Number>().Int64Value();
  ParallelRange(n, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) y[i] = 0.5f * x[i] * (1.0f + ErfF(x[i] * kSqrtHalf));
  }, kComputeGrain);
  return info.Env().Undefined();
}

// geluGrad(heap, dy, x, dx, n): dx = dy·(Φ(x) + x·φ(x)).
Napi::Value GeluGrad(const Napi::CallbackInfo& info) {
  DenormalsAreZero daz;
  uint8_t* heap = HeapBase(info[0]);
  const float* __restrict dy = At<float>(heap, info[1]);
  const float* __restrict x = At<float>(heap, info[2]);
  float* __restrict dx = At<float>(heap, info[3]);
  const int64_t n = info[4].As<Napi::Number>().Int64Value();
  ParallelRange(n, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) {
      const float v = x[i];
      dx[i] = dy[i] * (0.5f * (1.0f + ErfF(v * kSqrtHalf)) + v * kInvSqrt2Pi * ExpF(-0.5f * v * v));
    }
  }, kComputeGrain);
  return info.Env().Undefined();
}

// layerNorm(heap, x, gamma, beta, y, mean, rstd, rows, cols, eps): per row, two-pass mean and biased variance.
Napi::Value LayerNorm(const Napi::CallbackInfo& info) {
  DenormalsAreZero daz;
  uint8_t* heap = HeapBase(info[0]);
  const float* x = At<float>(heap, info[1]);
  const float* __restrict gamma = At<float>(heap, info[2]);
  const float* __restrict beta = At<float>(heap, info[3]);
  float* y = At<float>(heap, info[4]);
  float* mean = At<float>(heap, info[5]);
  float* rstd = At<float>(heap, info[6]);
  const int64_t rows = Int(info, 7), cols = Int(info, 8);
  const float eps = Float(info, 9);
  ParallelRows(rows, cols, [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      const float* __restrict xr = x + r * cols;
      float* __restrict yr = y + r * cols;
      float sum = 0;
#pragma omp simd reduction(+ : sum)
      for (int64_t c = 0; c < cols; ++c) sum += xr[c];
      const float mu = sum / static_cast<float>(cols);
      float sq = 0;
#pragma omp simd reduction(+ : sq)
      for (int64_t c = 0; c < cols; ++c) sq += (xr[c] - mu) * (xr[c] - mu);
      const float inv = 1.0f / std::sqrt(sq / static_cast<float>(cols) + eps);
      for (int64_t c = 0; c < cols; ++c) yr[c] = (xr[c] - mu) * inv * gamma[c] + beta[c];
      mean[r] = mu;
      rstd[r] = inv;
    }
  });
  return info.Env().Undefined();
}

// layerNormGrad(heap, dy, x, gamma, mean, rstd, dx, dgamma, dbeta, rows, cols):
// dx = rstd·(g − mean(g) − x̂·mean(g·x̂)) with g = dy·γ; dγ = Σ dy·x̂ and dβ = Σ dy over rows.
Napi::Value LayerNormGrad(const Napi::CallbackInfo& info) {
  DenormalsAreZero daz;
  uint8_t* heap = HeapBase(info[0]);
  const float* dy = At<float>(heap, info[1]);
  const float* x = At<float>(heap, info[2]);
  const float* __restrict gamma = At<float>(heap, info[3]);
  const float* mean = At<float>(heap, info[4]);
  const float* rstd = At<float>(heap, info[5]);
  float* dx = At<float>(heap, info[6]);
  float* __restrict dgamma = At<float>(heap, info[7]);
  float* __restrict dbeta = At<float>(heap, info[8]);
  const int64_t rows = Int(info, 9), cols = Int(info, 10);
  std::fill(dgamma, dgamma + cols, 0.0f);
  std::fill(dbeta, dbeta + cols, 0.0f);
  std::vector<float> xhat(cols), g(cols);
  const float inv = 1.0f / static_cast<float>(cols);
  for (int64_t r = 0; r < rows; ++r) {
    const float* __restrict xr = x + r * cols;
    const float* __restrict dyr = dy + r * cols;
    float* __restrict dxr = dx + r * cols;
    const float mu = mean[r], rs = rstd[r];
    float sumG = 0, sumGX = 0;
#pragma omp simd reduction(+ : sumG, sumGX)
    for (int64_t c = 0; c < cols; ++c) {
      const float xh = (xr[c] - mu) * rs;
      const float gc = dyr[c] * gamma[c];
      xhat[c] = xh;
      g[c] = gc;
      sumG += gc;
      sumGX += gc * xh;
      dgamma[c] += dyr[c] * xh;
      dbeta[c] += dyr[c];
    }
    const float a = sumG * inv, b = sumGX * inv;
    for (int64_t c = 0; c < cols; ++c) dxr[c] = rs * (g[c] - a - xhat[c] * b);
  }
  return info.Env().Undefined();
}

// softmax(heap, x, y, rows, cols): over the last axis, max-shifted.
Napi::Value Softmax(const Napi::CallbackInfo& info) {
  DenormalsAreZero daz;
  uint8_t* heap = HeapBase(info[0]);
  const float* x = At<float>(heap, info[1]);
  float* y = At<float>(heap, info[2]);
  const int64_t rows = Int(info, 3), cols = Int(info, 4);
  ParallelRows(rows, cols, [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      const float* __restrict xr = x + r * cols;
      float* __restrict yr = y + r * cols;
      float top = -INFINITY;
      for (int64_t c = 0; c < cols; ++c) top = std::max(top, xr[c]);
      float sum = 0;
#pragma omp simd reduction(+ : sum)
      for (int64_t c = 0; c < cols; ++c) {
        yr[c] = ExpF(xr[c] - top);
        sum += yr[c];
      }
      const float scale = 1.0f / sum;
      for (int64_t c = 0; c < cols; ++c) yr[c] *= scale;
    }
  }, kComputeGrain);
  return info.Env().Undefined();
}

// softmaxGrad(heap, dy, y, dx, rows, cols): dx = y·(dy − Σ dy·y) per row.
Napi::Value SoftmaxGrad(const Napi::CallbackInfo& info) {
  DenormalsAreZero daz;
  uint8_t* heap = HeapBase(info[0]);
  const float* dy = At<float>(heap, info[1]);
  const float* y = At<float>(heap, info[2]);
  float* dx = At<float>(heap, info[3]);
  const int64_t rows = Int(info, 4), cols = Int(info, 5);
  ParallelRows(rows, cols, [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      const float* __restrict dyr = dy + r * cols;
      const float* __restrict yr = y + r * cols;
      float* __restrict dxr = dx + r * cols;
      float dot = 0;
#pragma omp simd reduction(+ : dot)
      for (int64_t c = 0; c < cols; ++c) dot += dyr[c] * yr[c];
      for (int64_t c = 0; c < cols; ++c) dxr[c] = yr[c] * (dyr[c] - dot);
    }
  });
  return info.Env().Undefined();
}

// batchNorm(heap, x, gamma, beta, y, mean, variance, rows, channels, eps): statistics of each channel
// (the innermost axis) over the rows, summed in double; biased variance, two passes.
Napi::Value BatchNorm(const Napi::CallbackInfo& info) {
  DenormalsAreZero daz;
  uint8_t* heap = HeapBase(info[0]);
  const float* x = At<float>(heap, info[1]);
  const float* __restrict gamma = At<float>(heap, info[2]);
  const float* __restrict beta = At<float>(heap, info[3]);
  float* y = At<float>(heap, info[4]);
  float* __restrict mean = At<float>(heap, info[5]);
  float* __restrict variance = At<float>(heap, info[6]);
  const int64_t rows = Int(info, 7), C = Int(info, 8);
  const float eps = Float(info, 9);
  std::vector<double> acc(C, 0.0);
  for (int64_t r = 0; r < rows; ++r) {
    const float* __restrict xr = x + r * C;
    for (int64_t c = 0; c < C; ++c) acc[c] += xr[c];
  }
  for (int64_t c = 0; c < C; ++c) mean[c] = static_cast<float>(acc[c] / static_cast<double>(rows));
  std::fill(acc.begin(), acc.end(), 0.0);
  for (int64_t r = 0; r < rows; ++r) {
    const float* __restrict xr = x + r * C;
    for (int64_t c = 0; c < C; ++c) {
      const float d = xr[c] - mean[c];
      acc[c] += d * d;
    }
  }
  std::vector<float> scale(C), shift(C);
  for (int64_t c = 0; c < C; ++c) {
    variance[c] = static_cast<float>(acc[c] / static_cast<double>(rows));
    scale[c] = gamma[c] / std::sqrt(variance[c] + eps);
    shift[c] = beta[c] - mean[c] * scale[c];
  }
  ParallelRows(rows, C, [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      const float* __restrict xr = x + r * C;
      float* __restrict yr = y + r * C;
      for (int64_t c = 0; c < C; ++c) yr[c] = xr[c] * scale[c] + shift[c];
    }
  });
  return info.Env().Undefined();
}

// batchNormGrad(heap, dy, x, gamma, mean, variance, dx, dgamma, dbeta, rows, channels, eps):
// dβ = Σ dy, dγ = Σ dy·x̂ over the rows; dx = γ·rstd·(dy − dβ/n − x̂·dγ/n).
Napi::Value BatchNormGrad(const Napi::CallbackInfo& info) {
  DenormalsAreZero daz;
  uint8_t* heap = HeapBase(info[0]);
  const float* dy = At<float>(heap, info[1]);
  const float* x = At<float>(heap, info[2]);
  const float* __restrict gamma = At<float>(heap, info[3]);
  const float* __restrict mean = At<float>(heap, info[4]);
  const float* __restrict variance = At<float>(heap, info[5]);
  float* dx = At<float>(heap, info[6]);
  float* __restrict dgamma = At<float>(heap, info[7]);
  float* __restrict dbeta = At<float>(heap, info[8]);
  const int64_t rows = Int(info, 9), C = Int(info, 10);
  const float eps = Float(info, 11);
  std::vector<float> rstd(C);
  for (int64_t c = 0; c < C; ++c) rstd[c] = 1.0f / std::sqrt(variance[c] + eps);
  std::vector<double> sumDy(C, 0.0), sumDyXhat(C, 0.0);
  for (int64_t r = 0; r < rows; ++r) {
    const float* __restrict dyr = dy + r * C;
    const float* __restrict xr = x + r * C;
    for (int64_t c = 0; c < C; ++c) {
      sumDy[c] += dyr[c];
      sumDyXhat[c] += dyr[c] * ((xr[c] - mean[c]) * rstd[c]);
    }
  }
  const double n = static_cast<double>(rows);
  std::vector<float> a(C), b(C), e(C);
  for (int64_t c = 0; c < C; ++c) {
    dbeta[c] = static_cast<float>(sumDy[c]);
    dgamma[c] = static_cast<float>(sumDyXhat[c]);
    a[c] = gamma[c] * rstd[c];
    b[c] = static_cast<float>(sumDy[c] / n);
    e[c] = static_cast<float>(sumDyXhat[c] / n);
  }
  ParallelRows(rows, C, [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      const float* __restrict dyr = dy + r * C;
      const float* __restrict xr = x + r * C;
      float* __restrict dxr = dx + r * C;
      for (int64_t c = 0; c < C; ++c) dxr[c] = a[c] * (dyr[c] - b[c] - (xr[c] - mean[c]) * rstd[c] * e[c]);
    }
  });
  return info.Env().Undefined();
}

// adam(heap, param, grad, m, v, outParam, outM, outV, n, beta1, beta2, eps, decay, stepSize, sqrtCorrection2):
// one AdamW step, in the order of the optim plugin's composite form. Split between threads from the
// compute grain: with its square root and division it gained from 2 threads where Add did not.
Napi::Value Adam(const Napi::CallbackInfo& info) {
  DenormalsAreZero daz;
  uint8_t* heap = HeapBase(info[0]);
  const float* __restrict p = At<float>(heap, info[1]);
  const float* __restrict g = At<float>(heap, info[2]);
  const float* __restrict m = At<float>(heap, info[3]);
  const float* __restrict v = At<float>(heap, info[4]);
  float* __restrict p1 = At<float>(heap, info[5]);
  float* __restrict m1 = At<float>(heap, info[6]);
  float* __restrict v1 = At<float>(heap, info[7]);
  const int64_t n = info[8].As<Napi::Number>().Int64Value();
  const float beta1 = Float(info, 9), beta2 = Float(info, 10), eps = Float(info, 11);
  const float decay = Float(info, 12), stepSize = Float(info, 13), sqrtCorrection2 = Float(info, 14);
  ParallelRange(n, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) {
      const float mi = m[i] * beta1 + g[i] * (1.0f - beta1);
      const float vi = v[i] * beta2 + g[i] * g[i] * (1.0f - beta2);
      m1[i] = mi;
      v1[i] = vi;
      p1[i] = p[i] * decay - mi / (std::sqrt(vi) / sqrtCorrection2 + eps) * stepSize;
    }
  }, kComputeGrain);
  return info.Env().Undefined();
}

Napi::Value SetThreads(const Napi::CallbackInfo& info) {
  // OpenBLAS stays on one thread: the kernels split their products between OpenMP threads themselves.
  openblas_set_num_threads(1);
  omp_set_num_threads(Int(info, 0));
  return info.Env().Undefined();
}

// The widest vector extension the kernels were compiled for (-march=native): it sets the order of
// their sums, so two CPUs that differ here round the same run differently.
const char* VectorExtension() {
#if defined(__AVX512F__)
  return "AVX-512";
#elif defined(__AVX2__)
  return "AVX2";
#elif defined(__AVX__)
  return "AVX";
#elif defined(__SSE4_2__)
  return "SSE4.2";
#elif defined(__SSE2__)
  return "SSE2";
#elif defined(__ARM_NEON)
  return "NEON";
#else
  return "scalar";
#endif
}

Napi::Value Info(const Napi::CallbackInfo& info) {
  Napi::Object o = Napi::Object::New(info.Env());
  o.Set("blas", Napi::String::New(info.Env(), openblas_get_config()));
  o.Set("vectorExtension", Napi::String::New(info.Env(), VectorExtension()));
  o.Set("threads", Napi::Number::New(info.Env(), omp_get_max_threads()));
  return o;
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  exports.Set("batchMatMul", Napi::Function::New(env, BatchMatMul));
  exports.Set("biasActivation", Napi::Function::New(env, BiasActivation));
  exports.Set("transpose", Napi::Function::New(env, Transpose));
  exports.Set("unary", Napi::Function::New(env, Unary));
  exports.Set("binary", Napi::Function::New(env, Binary));
  exports.Set("reduce", Napi::Function::New(env, Reduce));
  exports.Set("unpack", Napi::Function::New(env, Unpack));
  exports.Set("conv2d", Napi::Function::New(env, Conv2D));
  exports.Set("conv2dBackpropInput", Napi::Function::New(env, Conv2DBackpropInput));
  exports.Set("conv2dBackpropFilter", Napi::Function::New(env, Conv2DBackpropFilter));
  exports.Set("maxPoolGrad", Napi::Function::New(env, MaxPoolGrad));
  exports.Set("gelu", Napi::Function::New(env, Gelu));
  exports.Set("geluGrad", Napi::Function::New(env, GeluGrad));
  exports.Set("layerNorm", Napi::Function::New(env, LayerNorm));
  exports.Set("layerNormGrad", Napi::Function::New(env, LayerNormGrad));
  exports.Set("softmax", Napi::Function::New(env, Softmax));
  exports.Set("softmaxGrad", Napi::Function::New(env, SoftmaxGrad));
  exports.Set("batchNorm", Napi::Function::New(env, BatchNorm));
  exports.Set("batchNormGrad", Napi::Function::New(env, BatchNormGrad));
  exports.Set("adam", Napi::Function::New(env, Adam));
  exports.Set("setThreads", Napi::Function::New(env, SetThreads));
  exports.Set("info", Napi::Function::New(env, Info));
  return exports;
}

}  // namespace

NODE_API_MODULE(bt_native, Init)
