// Argument checks shared by the Node-API entry points (addon.cc, addon_norm.cc, addon_attention.cc).
#pragma once

#include <napi.h>

#include <cmath>
#include <cstddef>
#include <string>

namespace qlip {

// Whether [off, off + count) is a whole-number range inside a heap of len elements.
inline bool fits(double off, double count, size_t len) {
  return off >= 0 && count >= 0 && std::floor(off) == off && off + count <= static_cast<double>(len);
}

// The Float32Array heap of a call taking `numbers` numbers after it, type-checked; `sig` names the call in
// error messages.
inline Napi::Float32Array heapArg(const Napi::CallbackInfo& info, size_t numbers, const char* sig) {
  bool ok = info.Length() >= numbers + 1 && info[0].IsTypedArray() &&
            info[0].As<Napi::TypedArray>().TypedArrayType() == napi_float32_array;
  for (size_t i = 1; ok && i <= numbers; ++i) ok = info[i].IsNumber();
  if (!ok) throw Napi::TypeError::New(info.Env(), sig);
  return info[0].As<Napi::Float32Array>();
}

inline double num(const Napi::CallbackInfo& info, size_t i) { return info[i].As<Napi::Number>().DoubleValue(); }

// The heap pointer at offset argument i after checking that `count` elements from there lie on the heap (and
// that count is a whole number), else a RangeError naming `fn`.
inline float* operand(const Napi::CallbackInfo& info, Napi::Float32Array heap, size_t i, double count,
                      const char* fn) {
  const double off = num(info, i);
  if (std::floor(count) != count || !fits(off, count, heap.ElementLength())) {
    throw Napi::RangeError::New(info.Env(), std::string(fn) + ": operand lies outside the heap");
  }
  return heap.Data() + static_cast<size_t>(off);
}

}  // namespace qlip
