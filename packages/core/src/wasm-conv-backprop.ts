import * as tf from '@tensorflow/tfjs-core';

/**
 * `Conv2DBackpropFilter` for the tfjs wasm backend, computed on the host.
 *
 * The wasm backend ships `Conv2D` and `Conv2DBackpropInput` but not the filter gradient, so training
 * any `tf.conv2d` weight (e.g. a PatchGAN discriminator) fails there. Measured against an im2col +
 * matMul convolution on wasm (4-layer k4 PatchGAN, batch 4, 64x64, channels 64/128/256): weight
 * gradients cost the same (1.81 s vs 1.85 s per step), and input gradients (the generator side, which
 * needs no filter gradient) are 25-35% faster with the native conv2d, so this kernel plus stock conv2d
 * wins overall.
 *
 * dW[ky, kx, ci, co] = sum over b, oy, ox of x[b, oy*sh + ky - top, ox*sw + kx - left, ci] * dy[b, oy, ox, co]
 * (channels-last only; dilations are 1, as the tfjs conv2d gradient itself requires).
 */

interface WasmBackendLike {
  readSync(dataId: object): ArrayLike<number>;
  makeOutput(shape: number[], dtype: tf.DataType): tf.TensorInfo;
  typedArrayFromHeap(t: tf.TensorInfo): Float32Array | Int32Array | Uint8Array;
}

interface BackpropFilterAttrs {
  strides: [number, number] | number;
  pad: 'valid' | 'same' | number | tf.backend_util.ExplicitPadding;
  dataFormat: 'NHWC' | 'NCHW';
  dimRoundingMode?: 'floor' | 'round' | 'ceil';
  filterShape: [number, number, number, number];
}

/**
 * Host computation of the filter gradient.
 * @param x `[B, H, W, Cin]` values, row-major
 * @param dy `[B, Ho, Wo, Cout]` values, row-major
 * @returns `[kh, kw, Cin, Cout]` values
 */
export function conv2dBackpropFilterHost(
  x: ArrayLike<number>,
  xShape: [number, number, number, number],
  dy: ArrayLike<number>,
  attrs: BackpropFilterAttrs,
): Float32Array {
  if (attrs.dataFormat === 'NCHW') {
    throw new Error(
      'wasm Conv2DBackpropFilter (core/wasm-conv-backprop.ts): only NHWC inputs are supported, got NCHW',
    );
  }
  const info = tf.backend_util.computeConv2DInfo(
    xShape,
    attrs.filterShape,
    attrs.strides,
    1,
    attrs.pad,
    attrs.dimRoundingMode,
    false,
    'channelsLast',
  );
  const {
    batchSize: nb,
    inHeight: h,
    inWidth: w,
    inChannels: ci,
    outHeight: ho,
    outWidth: wo,
    outChannels: co,
  } = info;
  const { filterHeight: kh, filterWidth: kw, strideHeight: sh, strideWidth: sw } = info;
  const top = info.padInfo.top;
  const left = info.padInfo.left;
  const dw = new Float32Array(kh * kw * ci * co);
  // Loop order keeps the innermost loop contiguous in both dy (one output pixel) and dW (one filter row).
  for (let b = 0; b < nb; b++) {
    for (let oy = 0; oy < ho; oy++) {
      for (let ox = 0; ox < wo; ox++) {
        const dyBase = ((b * ho + oy) * wo + ox) * co;
        for (let ky = 0; ky < kh; ky++) {
          const iy = oy * sh + ky - top;
          if (iy < 0 || iy >= h) continue;
          for (let kx = 0; kx < kw; kx++) {
            const ix = ox * sw + kx - left;
            if (ix < 0 || ix >= w) continue;
            const xBase = ((b * h + iy) * w + ix) * ci;
            const wBase = (ky * kw + kx) * ci * co;
            for (let c = 0; c < ci; c++) {
              const xv = x[xBase + c]!;
              if (xv === 0) continue;
              const row = wBase + c * co;
              for (let o = 0; o < co; o++) dw[row + o] += xv * dy[dyBase + o]!;
            }
          }
        }
      }
    }
  }
  return dw;
}

/** Register the kernel on the wasm backend unless it already has one. */
export function registerWasmConv2DBackpropFilter(): void {
  const have = tf.getKernelsForBackend('wasm').some((k) => k.kernelName === tf.Conv2DBackpropFilter);
  if (have) return;
  tf.registerKernel({
    kernelName: tf.Conv2DBackpropFilter,
    backendName: 'wasm',
    kernelFunc: ({ inputs, backend, attrs }) => {
      const { x, dy } = inputs as { x: tf.TensorInfo; dy: tf.TensorInfo };
      const a = attrs as unknown as BackpropFilterAttrs;
      const b = backend as unknown as WasmBackendLike;
      // readSync copies out of the wasm heap, so the later allocation cannot invalidate these arrays.
      const dw = conv2dBackpropFilterHost(
        b.readSync(x.dataId),
        x.shape as [number, number, number, number],
        b.readSync(dy.dataId),
        a,
      );
      const out = b.makeOutput([...a.filterShape], 'float32');
      b.typedArrayFromHeap(out).set(dw);
      return out;
    },
  });
}
