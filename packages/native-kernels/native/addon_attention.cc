// Node-API entry points of the fused attention (attention.h): offsets are in float32 elements of the wasm
// heap view.
#include <napi.h>

#include <cmath>

#include "attention.h"
#include "napi_args.h"

namespace qlip {
namespace {

// Fused attention: dims Float64Array [batch, heads, tq, tk, hd, scale, causal], offsets (elements) of
// [q, k, v, o, p] for attention() and of [q, k, v, p, dout, dq, dk, dv] for attentionGrad().
AttentionShape attentionArgs(const Napi::CallbackInfo& info, size_t nOffsets, const char* sig, float** base,
                                   const double** off) {
  Napi::Env env = info.Env();
  auto isF64 = [&](size_t i, size_t n) {
    return info[i].IsTypedArray() && info[i].As<Napi::TypedArray>().TypedArrayType() == napi_float64_array &&
           info[i].As<Napi::Float64Array>().ElementLength() >= n;
  };
  if (info.Length() < 3 || !info[0].IsTypedArray() ||
      info[0].As<Napi::TypedArray>().TypedArrayType() != napi_float32_array || !isF64(1, 7) || !isF64(2, nOffsets)) {
    throw Napi::TypeError::New(env, sig);
  }
  auto heap = info[0].As<Napi::Float32Array>();
  const double* d = info[1].As<Napi::Float64Array>().Data();
  for (int i = 0; i < 5; ++i) {
    if (d[i] < 0 || std::floor(d[i]) != d[i]) throw Napi::RangeError::New(env, "attention: sizes must be whole numbers >= 0");
  }
  AttentionShape s{static_cast<int64_t>(d[0]), static_cast<int64_t>(d[1]), static_cast<int64_t>(d[2]),
                         static_cast<int64_t>(d[3]), static_cast<int64_t>(d[4]), static_cast<float>(d[5]), d[6] != 0};
  if (!(s.scale > 0) || s.tk == 0 || (s.causal && s.tk < s.tq)) {
    throw Napi::RangeError::New(env, "attention: needs scale > 0, at least one key, and tk >= tq when causal");
  }
  const double qn = d[0] * d[2] * d[1] * d[4], kn = d[0] * d[3] * d[1] * d[4], pn = d[0] * d[1] * d[2] * d[3];
  // Element counts of each offset slot: q-shaped, k-shaped or p-shaped.
  const double fwd[] = {qn, kn, kn, qn, pn}, bwd[] = {qn, kn, kn, pn, qn, qn, kn, kn};
  const double* counts = nOffsets == 5 ? fwd : bwd;
  const double* o = info[2].As<Napi::Float64Array>().Data();
  for (size_t i = 0; i < nOffsets; ++i) {
    if (!fits(o[i], counts[i], heap.ElementLength())) throw Napi::RangeError::New(env, "attention: operand lies outside the heap");
  }
  *base = heap.Data();
  *off = o;
  return s;
}

Napi::Value Attention(const Napi::CallbackInfo& info) {
  float* base;
  const double* o;
  const auto s = attentionArgs(info, 5, "attention(heap: Float32Array, dims: Float64Array(7), offsets: Float64Array(5))", &base, &o);
  auto at = [&](int i) { return base + static_cast<size_t>(o[i]); };
  attentionForward(s, at(0), at(1), at(2), at(3), at(4));
  return info.Env().Undefined();
}

Napi::Value AttentionGrad(const Napi::CallbackInfo& info) {
  float* base;
  const double* o;
  const auto s = attentionArgs(info, 8, "attentionGrad(heap: Float32Array, dims: Float64Array(7), offsets: Float64Array(8))", &base, &o);
  auto at = [&](int i) { return base + static_cast<size_t>(o[i]); };
  attentionBackward(s, at(0), at(1), at(2), at(3), at(4), at(5), at(6), at(7));
  return info.Env().Undefined();
}

}  // namespace

void addAttentionExports(Napi::Env env, Napi::Object exports) {
  exports.Set("attention", Napi::Function::New(env, Attention));
  exports.Set("attentionGrad", Napi::Function::New(env, AttentionGrad));
}

}  // namespace qlip
