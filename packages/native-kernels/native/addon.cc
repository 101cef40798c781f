// Node-API surface: gemm() reads and writes the wasm heap (a Float32Array over WebAssembly memory) in place.
#include <napi.h>

#include <cmath>
#include <string>

#include "blas.h"
#include "elementwise.h"
#include "napi_args.h"
#include "optim.h"
#include "sgemm.h"
#include "transpose.h"

namespace qlip {
// addon_norm.cc: layerNorm, layerNormGrad.
void addNormExports(Napi::Env env, Napi::Object exports);
// addon_attention.cc: attention, attentionGrad.
void addAttentionExports(Napi::Env env, Napi::Object exports);
}  // namespace qlip

namespace {

using qlip::fits;
using qlip::heapArg;
using qlip::num;
using qlip::operand;

// Layout of the Float64Array parameter block passed to gemm(); mirrored in src/native.ts.
enum Param : int {
  kAOff, kBOff, kCOff, kBatch, kM, kN, kK, kTransA, kTransB, kAItems, kBItems,
  kAct, kBiasOff, kBiasLen, kPreluOff, kPreluLen, kAlpha, kParamCount
};

Napi::Value Gemm(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 2 || !info[0].IsTypedArray() || !info[1].IsTypedArray()) {
    throw Napi::TypeError::New(env, "gemm(heap: Float32Array, params: Float64Array, aIdx?, bIdx?)");
  }
  auto heapArr = info[0].As<Napi::TypedArray>();
  auto parArr = info[1].As<Napi::TypedArray>();
  if (heapArr.TypedArrayType() != napi_float32_array || parArr.TypedArrayType() != napi_float64_array) {
    throw Napi::TypeError::New(env, "gemm: heap must be a Float32Array and params a Float64Array");
  }
  auto heap = info[0].As<Napi::Float32Array>();
  auto par = info[1].As<Napi::Float64Array>();
  if (par.ElementLength() < kParamCount) throw Napi::RangeError::New(env, "gemm: params block too short");
  const double* p = par.Data();
  float* base = heap.Data();
  const size_t len = heap.ElementLength();

  qlip::BatchedGemm g;
  g.batch = static_cast<int64_t>(p[kBatch]);
  g.M = static_cast<int64_t>(p[kM]);
  g.N = static_cast<int64_t>(p[kN]);
  g.K = static_cast<int64_t>(p[kK]);
  g.transA = p[kTransA] != 0;
  g.transB = p[kTransB] != 0;
  const double aItems = p[kAItems], bItems = p[kBItems];
  if (g.batch < 0 || g.M < 0 || g.N < 0 || g.K < 0 || aItems < 1 || bItems < 1) {
    throw Napi::RangeError::New(env, "gemm: negative size or empty operand batch");
  }
  const double mk = static_cast<double>(g.M) * g.K, kn = static_cast<double>(g.K) * g.N;
  if (!fits(p[kAOff], aItems * mk, len) || !fits(p[kBOff], bItems * kn, len) ||
      !fits(p[kCOff], static_cast<double>(g.batch) * g.M * g.N, len)) {
    throw Napi::RangeError::New(env, "gemm: operand lies outside the heap");
  }
  g.a = base + static_cast<size_t>(p[kAOff]);
  g.b = base + static_cast<size_t>(p[kBOff]);
  g.c = base + static_cast<size_t>(p[kCOff]);

  // Explicit broadcast maps (general numpy-style batch broadcasting), validated against the item counts.
  auto indexArg = [&](size_t i, double items, const int32_t** out, bool* broadcast) {
    if (info.Length() > i && info[i].IsTypedArray()) {
      auto arr = info[i].As<Napi::Int32Array>();
      if (arr.TypedArrayType() != napi_int32_array || static_cast<int64_t>(arr.ElementLength()) != g.batch) {
        throw Napi::RangeError::New(env, "gemm: batch index map must be an Int32Array of length batch");
      }
      for (size_t k = 0; k < arr.ElementLength(); ++k) {
        if (arr[k] < 0 || arr[k] >= items) throw Napi::RangeError::New(env, "gemm: batch index out of range");
      }
      *out = arr.Data();
    } else if (items == 1) {
      *broadcast = true;
    } else if (items != static_cast<double>(g.batch)) {
      throw Napi::RangeError::New(env, "gemm: operand batch must be 1 or equal the output batch");
    }
  };
  indexArg(2, aItems, &g.aIdx, &g.aBroadcast);
  indexArg(3, bItems, &g.bIdx, &g.bBroadcast);

  qlip::Epilogue ep;
  ep.act = static_cast<int>(p[kAct]);
  if (ep.act < qlip::kLinear || ep.act > qlip::kElu) throw Napi::RangeError::New(env, "gemm: unknown activation");
  ep.alpha = static_cast<float>(p[kAlpha]);
  auto vecArg = [&](int offIdx, int lenIdx, const float** ptr, int64_t* n) {
    if (p[offIdx] < 0) return;
    const double count = p[lenIdx];
    if ((count != 1 && count != static_cast<double>(g.N)) || !fits(p[offIdx], count, len)) {
      throw Napi::RangeError::New(env, "gemm: bias/prelu weights must hold 1 or N values inside the heap");
    }
    *ptr = base + static_cast<size_t>(p[offIdx]);
    *n = static_cast<int64_t>(count);
  };
  vecArg(kBiasOff, kBiasLen, &ep.bias, &ep.biasLen);
  vecArg(kPreluOff, kPreluLen, &ep.prelu, &ep.preluLen);
  if (ep.act == qlip::kPrelu && !ep.prelu) throw Napi::RangeError::New(env, "gemm: prelu needs weights");
  const bool plain = ep.act == qlip::kLinear && !ep.bias;
  g.ep = plain ? nullptr : &ep;

  qlip::run(g);
  return env.Undefined();
}

// transpose(heap, inOff, outOff, shape: Int32Array, perm: Int32Array): 4-byte elements, offsets in elements.
Napi::Value Transpose(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 5 || !info[0].IsTypedArray() || !info[1].IsNumber() || !info[2].IsNumber() ||
      !info[3].IsTypedArray() || !info[4].IsTypedArray()) {
    throw Napi::TypeError::New(env, "transpose(heap: Float32Array, inOff, outOff, shape: Int32Array, perm: Int32Array)");
  }
  auto heapArr = info[0].As<Napi::TypedArray>();
  auto shapeArr = info[3].As<Napi::TypedArray>();
  auto permArr = info[4].As<Napi::TypedArray>();
  if (heapArr.TypedArrayType() != napi_float32_array || shapeArr.TypedArrayType() != napi_int32_array ||
      permArr.TypedArrayType() != napi_int32_array) {
    throw Napi::TypeError::New(env, "transpose: heap must be a Float32Array, shape and perm Int32Arrays");
  }
  auto heap = info[0].As<Napi::Float32Array>();
  auto shape = info[3].As<Napi::Int32Array>();
  auto perm = info[4].As<Napi::Int32Array>();
  const int rank = static_cast<int>(shape.ElementLength());
  if (rank > qlip::kMaxTransposeRank || static_cast<int>(perm.ElementLength()) != rank) {
    throw Napi::RangeError::New(env, "transpose: rank must be at most 8 and perm as long as shape");
  }
  int64_t dims[qlip::kMaxTransposeRank];
  int p[qlip::kMaxTransposeRank];
  bool seen[qlip::kMaxTransposeRank] = {};
  double total = 1;
  for (int d = 0; d < rank; ++d) {
    if (shape[d] < 0 || perm[d] < 0 || perm[d] >= rank || seen[perm[d]]) {
      throw Napi::RangeError::New(env, "transpose: negative dim or perm is not a permutation of 0..rank-1");
    }
    seen[perm[d]] = true;
    dims[d] = shape[d];
    p[d] = perm[d];
    total *= shape[d];
  }
  const double inOff = info[1].As<Napi::Number>().DoubleValue();
  const double outOff = info[2].As<Napi::Number>().DoubleValue();
  const size_t len = heap.ElementLength();
  if (!fits(inOff, total, len) || !fits(outOff, total, len)) {
    throw Napi::RangeError::New(env, "transpose: operand lies outside the heap");
  }
  if (total > 0 && inOff < outOff + total && outOff < inOff + total) {
    throw Napi::RangeError::New(env, "transpose: input and output overlap");
  }
  auto* base = reinterpret_cast<uint32_t*>(heap.Data());
  qlip::transpose(base + static_cast<size_t>(inOff), base + static_cast<size_t>(outOff), dims, p, rank);
  return env.Undefined();
}

// unary(heap, op, inOff, outOff, n): out = op(in) elementwise (op codes: native/elementwise.h).
Napi::Value Unary(const Napi::CallbackInfo& info) {
  auto heap = heapArg(info, 4, "unary(heap: Float32Array, op, inOff, outOff, n)");
  const double op = num(info, 1), n = num(info, 4);
  if (op < 0 || op >= qlip::kUnaryCount || std::floor(op) != op) {
    throw Napi::RangeError::New(info.Env(), "unary: unknown op");
  }
  qlip::unary(static_cast<int>(op), operand(info, heap, 2, n, "unary"), operand(info, heap, 3, n, "unary"),
              static_cast<int64_t>(n));
  return info.Env().Undefined();
}

// binary(heap, op, aOff, bOff, outOff, shape, aStrides, bStrides: Int32Array): out = a op b, broadcast by
// strides (0 along a broadcast dimension); out is dense.
Napi::Value Binary(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const char* sig = "binary(heap: Float32Array, op, aOff, bOff, outOff, shape, aStrides, bStrides: Int32Array)";
  auto heap = heapArg(info, 4, sig);
  if (info.Length() < 8) throw Napi::TypeError::New(env, sig);
  auto ints = [&](size_t i) {
    if (!info[i].IsTypedArray() || info[i].As<Napi::TypedArray>().TypedArrayType() != napi_int32_array) {
      throw Napi::TypeError::New(env, sig);
    }
    return info[i].As<Napi::Int32Array>();
  };
  auto shapeArr = ints(5), saArr = ints(6), sbArr = ints(7);
  const int rank = static_cast<int>(shapeArr.ElementLength());
  if (rank < 1 || rank > qlip::kMaxBinaryRank || static_cast<int>(saArr.ElementLength()) != rank ||
      static_cast<int>(sbArr.ElementLength()) != rank) {
    throw Napi::RangeError::New(env, "binary: rank must be 1 to 8 and the strides as long as the shape");
  }
  const double op = num(info, 1), aOff = num(info, 2), bOff = num(info, 3), outOff = num(info, 4);
  if (op < 0 || op >= qlip::kBinaryCount || std::floor(op) != op) throw Napi::RangeError::New(env, "binary: unknown op");
  int64_t shape[qlip::kMaxBinaryRank], sa[qlip::kMaxBinaryRank], sb[qlip::kMaxBinaryRank];
  double total = 1, spanA = 1, spanB = 1;  // elements reached: 1 + sum (dim - 1) * stride
  for (int d = 0; d < rank; ++d) {
    if (shapeArr[d] < 0 || saArr[d] < 0 || sbArr[d] < 0) throw Napi::RangeError::New(env, "binary: negative size or stride");
    shape[d] = shapeArr[d];
    sa[d] = saArr[d];
    sb[d] = sbArr[d];
    total *= shape[d];
    if (shape[d] > 0) {
      spanA += static_cast<double>(shape[d] - 1) * sa[d];
      spanB += static_cast<double>(shape[d] - 1) * sb[d];
    }
  }
  if (sa[rank - 1] > 1 || sb[rank - 1] > 1) throw Napi::RangeError::New(env, "binary: innermost strides must be 0 or 1");
  const size_t len = heap.ElementLength();
  if (total > 0 && (!fits(aOff, spanA, len) || !fits(bOff, spanB, len) || !fits(outOff, total, len))) {
    throw Napi::RangeError::New(env, "binary: operand lies outside the heap");
  }
  if (total == 0) return env.Undefined();
  float* base = heap.Data();
  qlip::binary(static_cast<int>(op), base + static_cast<size_t>(aOff), base + static_cast<size_t>(bOff),
               base + static_cast<size_t>(outOff), shape, sa, sb, rank);
  return env.Undefined();
}

// gelu(heap, xOff, outOff, n): exact GELU. geluGrad(heap, dyOff, xOff, outOff, n): its input gradient.
Napi::Value Gelu(const Napi::CallbackInfo& info) {
  auto heap = heapArg(info, 3, "gelu(heap: Float32Array, xOff, outOff, n)");
  const double n = num(info, 3);
  qlip::gelu(operand(info, heap, 1, n, "gelu"), operand(info, heap, 2, n, "gelu"), static_cast<int64_t>(n));
  return info.Env().Undefined();
}

Napi::Value GeluGrad(const Napi::CallbackInfo& info) {
  auto heap = heapArg(info, 4, "geluGrad(heap: Float32Array, dyOff, xOff, outOff, n)");
  const double n = num(info, 4);
  qlip::geluGrad(operand(info, heap, 1, n, "geluGrad"), operand(info, heap, 2, n, "geluGrad"),
                 operand(info, heap, 3, n, "geluGrad"), static_cast<int64_t>(n));
  return info.Env().Undefined();
}

// adamw(heap, offsets: Float64Array [p, g, m0, v0, p1, m1, v1] (m0, v0: -1 for zero moments), n,
//       consts: Float64Array [beta1, beta2, lr, weightDecay, bc1, bc2, eps]): one fused AdamW step.
Napi::Value AdamW(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const char* sig = "adamw(heap: Float32Array, offsets: Float64Array(7), n, consts: Float64Array(7))";
  auto isF64 = [&](size_t i) {
    return info.Length() > i && info[i].IsTypedArray() &&
           info[i].As<Napi::TypedArray>().TypedArrayType() == napi_float64_array &&
           info[i].As<Napi::Float64Array>().ElementLength() >= 7;
  };
  if (info.Length() < 4 || !info[0].IsTypedArray() ||
      info[0].As<Napi::TypedArray>().TypedArrayType() != napi_float32_array || !isF64(1) || !info[2].IsNumber() ||
      !isF64(3)) {
    throw Napi::TypeError::New(env, sig);
  }
  auto heap = info[0].As<Napi::Float32Array>();
  const double* off = info[1].As<Napi::Float64Array>().Data();
  const double* c = info[3].As<Napi::Float64Array>().Data();
  const double n = num(info, 2);
  const size_t len = heap.ElementLength();
  const bool moments = off[2] >= 0 && off[3] >= 0;
  for (int k = 0; k < 7; ++k) {
    if ((k == 2 || k == 3) && !moments) continue;
    if (std::floor(n) != n || !fits(off[k], n, len)) throw Napi::RangeError::New(env, "adamw: operand lies outside the heap");
  }
  float* base = heap.Data();
  auto at = [&](int k) { return base + static_cast<size_t>(off[k]); };
  qlip::AdamWStep s;
  s.beta1 = static_cast<float>(c[0]);
  s.oneMinusBeta1 = static_cast<float>(1 - c[0]);
  s.beta2 = static_cast<float>(c[1]);
  s.oneMinusBeta2 = static_cast<float>(1 - c[1]);
  s.lr = static_cast<float>(c[2]);
  s.decay = c[3] != 0;
  s.keep = static_cast<float>(1 - c[2] * c[3]);
  s.bc1 = static_cast<float>(c[4]);
  s.bc2 = static_cast<float>(c[5]);
  s.eps = static_cast<float>(c[6]);
  qlip::adamw(at(0), at(1), moments ? at(2) : nullptr, moments ? at(3) : nullptr, at(4), at(5), at(6),
              static_cast<int64_t>(n), s);
  return env.Undefined();
}

// sum(heap, inOff, outOff, outer, reduce, inner): out[o, i] = sum_r in[o, r, i].
Napi::Value Sum(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto heap = heapArg(info, 5, "sum(heap: Float32Array, inOff, outOff, outer, reduce, inner)");
  const double inOff = num(info, 1), outOff = num(info, 2), outer = num(info, 3), reduce = num(info, 4),
               inner = num(info, 5);
  for (double d : {outer, reduce, inner}) {
    if (d < 0 || std::floor(d) != d) throw Napi::RangeError::New(env, "sum: sizes must be whole numbers >= 0");
  }
  const size_t len = heap.ElementLength();
  const double nIn = outer * reduce * inner, nOut = outer * inner;
  if (!fits(inOff, nIn, len) || !fits(outOff, nOut, len)) {
    throw Napi::RangeError::New(env, "sum: operand lies outside the heap");
  }
  if (nIn > 0 && nOut > 0 && inOff < outOff + nOut && outOff < inOff + nIn) {
    throw Napi::RangeError::New(env, "sum: input and output overlap");
  }
  float* base = heap.Data();
  qlip::reduceSum(base + static_cast<size_t>(inOff), base + static_cast<size_t>(outOff),
                  static_cast<int64_t>(outer), static_cast<int64_t>(reduce), static_cast<int64_t>(inner));
  return env.Undefined();
}

Napi::Value GetIsa(const Napi::CallbackInfo& info) {
  return Napi::String::New(info.Env(), qlip::isaName(qlip::currentIsa()));
}

bool parseIsa(const std::string& s, qlip::Isa* out) {
  if (s == "avx512") *out = qlip::Isa::Avx512;
  else if (s == "avx2") *out = qlip::Isa::Avx2;
  else if (s == "portable") *out = qlip::Isa::Portable;
  else return false;
  return true;
}

Napi::Value SetIsa(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  qlip::Isa isa;
  if (info.Length() < 1 || !info[0].IsString() || !parseIsa(info[0].As<Napi::String>().Utf8Value(), &isa)) {
    throw Napi::TypeError::New(env, "setIsa: expected 'avx512', 'avx2' or 'portable'");
  }
  return Napi::Boolean::New(env, qlip::setIsa(isa));
}

Napi::Value SupportedIsas(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Array out = Napi::Array::New(env);
  uint32_t n = 0;
  for (qlip::Isa isa : {qlip::Isa::Avx512, qlip::Isa::Avx2, qlip::Isa::Portable}) {
    if (qlip::isaSupported(isa)) out.Set(n++, Napi::String::New(env, qlip::isaName(isa)));
  }
  return out;
}

Napi::Value GetThreads(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), qlip::threadCount()); }

Napi::Value SetThreads(const Napi::CallbackInfo& info) {
  if (info.Length() < 1 || !info[0].IsNumber()) throw Napi::TypeError::New(info.Env(), "setThreads: expected a number");
  qlip::setThreadCount(info[0].As<Napi::Number>().Int32Value());
  return Napi::Number::New(info.Env(), qlip::threadCount());
}

Napi::Object BlasObject(Napi::Env env, const qlip::BlasInfo& b) {
  Napi::Object o = Napi::Object::New(env);
  o.Set("loaded", Napi::Boolean::New(env, b.loaded));
  o.Set("path", Napi::String::New(env, b.path));
  o.Set("config", Napi::String::New(env, b.config));
  o.Set("core", Napi::String::New(env, b.core));
  o.Set("error", Napi::String::New(env, b.error));
  o.Set("active", Napi::Boolean::New(env, qlip::blasActive()));
  return o;
}

// blasLoad(path: string): opens OpenBLAS ('' = the usual sonames); returns what blasInfo() returns.
Napi::Value BlasLoad(const Napi::CallbackInfo& info) {
  if (info.Length() < 1 || !info[0].IsString()) throw Napi::TypeError::New(info.Env(), "blasLoad(path: string)");
  return BlasObject(info.Env(), qlip::blasLoad(info[0].As<Napi::String>().Utf8Value()));
}

Napi::Value BlasInfo(const Napi::CallbackInfo& info) { return BlasObject(info.Env(), qlip::blasInfo()); }

// blasEnable(on): routes products through the loaded BLAS or the addon's own kernel; returns whether active.
Napi::Value BlasEnable(const Napi::CallbackInfo& info) {
  if (info.Length() < 1 || !info[0].IsBoolean()) throw Napi::TypeError::New(info.Env(), "blasEnable(on: boolean)");
  qlip::blasEnable(info[0].As<Napi::Boolean>().Value());
  return Napi::Boolean::New(info.Env(), qlip::blasActive());
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  exports.Set("gemm", Napi::Function::New(env, Gemm));
  exports.Set("transpose", Napi::Function::New(env, Transpose));
  exports.Set("unary", Napi::Function::New(env, Unary));
  exports.Set("binary", Napi::Function::New(env, Binary));
  exports.Set("gelu", Napi::Function::New(env, Gelu));
  exports.Set("geluGrad", Napi::Function::New(env, GeluGrad));
  exports.Set("adamw", Napi::Function::New(env, AdamW));
  exports.Set("sum", Napi::Function::New(env, Sum));
  qlip::addNormExports(env, exports);
  qlip::addAttentionExports(env, exports);
  exports.Set("getIsa", Napi::Function::New(env, GetIsa));
  exports.Set("setIsa", Napi::Function::New(env, SetIsa));
  exports.Set("supportedIsas", Napi::Function::New(env, SupportedIsas));
  exports.Set("blasLoad", Napi::Function::New(env, BlasLoad));
  exports.Set("blasInfo", Napi::Function::New(env, BlasInfo));
  exports.Set("blasEnable", Napi::Function::New(env, BlasEnable));
  exports.Set("getThreads", Napi::Function::New(env, GetThreads));
  exports.Set("setThreads", Napi::Function::New(env, SetThreads));
  // Join the workers before the environment goes away: a joinable std::thread at exit aborts the process.
  napi_add_env_cleanup_hook(env, [](void*) { qlip::shutdownThreads(); }, nullptr);
  return exports;
}

}  // namespace

NODE_API_MODULE(qlip_native, Init)
