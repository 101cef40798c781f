// Node-API entry points of the row kernels (norm.h): offsets are in float32 elements of the wasm heap view.
#include <napi.h>

#include <cmath>
#include <string>

#include "napi_args.h"
#include "norm.h"

namespace qlip {
namespace {

// rows and d from the call's arguments at i and i + 1: whole numbers >= 0, else a RangeError naming `fn`.
void shapeArgs(const Napi::CallbackInfo& info, size_t i, const char* fn, int64_t* rows, int64_t* d) {
  const double r = num(info, i), c = num(info, i + 1);
  if (r < 0 || c < 0 || std::floor(r) != r || std::floor(c) != c) {
    throw Napi::RangeError::New(info.Env(), std::string(fn) + ": rows and d must be whole numbers >= 0");
  }
  *rows = static_cast<int64_t>(r);
  *d = static_cast<int64_t>(c);
}

// layerNorm(heap, xOff, gammaOff, betaOff, yOff, rows, d, eps)
Napi::Value LayerNorm(const Napi::CallbackInfo& info) {
  auto heap = heapArg(info, 7, "layerNorm(heap: Float32Array, xOff, gammaOff, betaOff, yOff, rows, d, eps)");
  int64_t rows, d;
  shapeArgs(info, 5, "layerNorm", &rows, &d);
  const double n = static_cast<double>(rows) * d;
  const float* x = operand(info, heap, 1, n, "layerNorm");
  const float* gamma = operand(info, heap, 2, d, "layerNorm");
  const float* beta = operand(info, heap, 3, d, "layerNorm");
  float* y = operand(info, heap, 4, n, "layerNorm");
  layerNorm(x, gamma, beta, y, rows, d, static_cast<float>(num(info, 7)));
  return info.Env().Undefined();
}

// layerNormGrad(heap, dyOff, xOff, gammaOff, dxOff, dgammaOff, dbetaOff, rows, d, eps)
Napi::Value LayerNormGrad(const Napi::CallbackInfo& info) {
  auto heap = heapArg(
      info, 9, "layerNormGrad(heap: Float32Array, dyOff, xOff, gammaOff, dxOff, dgammaOff, dbetaOff, rows, d, eps)");
  int64_t rows, d;
  shapeArgs(info, 7, "layerNormGrad", &rows, &d);
  const double n = static_cast<double>(rows) * d;
  const float* dy = operand(info, heap, 1, n, "layerNormGrad");
  const float* x = operand(info, heap, 2, n, "layerNormGrad");
  const float* gamma = operand(info, heap, 3, d, "layerNormGrad");
  float* dx = operand(info, heap, 4, n, "layerNormGrad");
  float* dgamma = operand(info, heap, 5, d, "layerNormGrad");
  float* dbeta = operand(info, heap, 6, d, "layerNormGrad");
  layerNormGrad(dy, x, gamma, dx, dgamma, dbeta, rows, d, static_cast<float>(num(info, 9)));
  return info.Env().Undefined();
}

}  // namespace

void addNormExports(Napi::Env env, Napi::Object exports) {
  exports.Set("layerNorm", Napi::Function::New(env, LayerNorm));
  exports.Set("layerNormGrad", Napi::Function::New(env, LayerNormGrad));
}

}  // namespace qlip
