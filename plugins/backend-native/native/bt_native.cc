// Hot tfjs-wasm kernels in native code. Every function works in place on the wasm heap: JavaScript
// passes the heap's ArrayBuffer and byte offsets of inputs and of an already allocated output, so no
// tensor data is copied between the wasm heap and this addon.
#include <napi.h>
#include <cblas.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <vector>

namespace {

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

// batchMatMul(heap, a, b, out, M, N, K, transA, transB, aOffsets, bOffsets):
// out[i] = op(A at aOffsets[i]) x op(B at bOffsets[i]), row-major, offsets in elements; one sgemm per batch.
Napi::Value BatchMatMul(const Napi::CallbackInfo& info) {
  uint8_t* heap = HeapBase(info[0]);
  const float* a = At<float>(heap, info[1]);
  const float* b = At<float>(heap, info[2]);
  float* out = At<float>(heap, info[3]);
  const int M = Int(info, 4), N = Int(info, 5), K = Int(info, 6);
  const bool transA = info[7].As<Napi::Boolean>().Value();
  const bool transB = info[8].As<Napi::Boolean>().Value();
  Napi::Int32Array aOff = info[9].As<Napi::Int32Array>();
  Napi::Int32Array bOff = info[10].As<Napi::Int32Array>();
  const size_t batch = aOff.ElementLength();
  const int lda = transA ? M : K, ldb = transB ? K : N;
  for (size_t i = 0; i < batch; ++i) {
    cblas_sgemm(CblasRowMajor, transA ? CblasTrans : CblasNoTrans, transB ? CblasTrans : CblasNoTrans, M, N, K, 1.0f,
                a + aOff[i], lda, b + bOff[i], ldb, 0.0f, out + static_cast<size_t>(i) * M * N, N);
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

Napi::Value SetThreads(const Napi::CallbackInfo& info) {
  openblas_set_num_threads(Int(info, 0));
  return info.Env().Undefined();
}

Napi::Value Info(const Napi::CallbackInfo& info) {
  Napi::Object o = Napi::Object::New(info.Env());
  o.Set("blas", Napi::String::New(info.Env(), openblas_get_config()));
  o.Set("threads", Napi::Number::New(info.Env(), openblas_get_num_threads()));
  return o;
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  exports.Set("batchMatMul", Napi::Function::New(env, BatchMatMul));
  exports.Set("biasActivation", Napi::Function::New(env, BiasActivation));
  exports.Set("transpose", Napi::Function::New(env, Transpose));
  exports.Set("setThreads", Napi::Function::New(env, SetThreads));
  exports.Set("info", Napi::Function::New(env, Info));
  return exports;
}

}  // namespace

NODE_API_MODULE(bt_native, Init)
