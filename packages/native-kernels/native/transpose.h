// Permutes a tensor of 4-byte elements (float32 / int32 bits are copied, never interpreted).
#pragma once

#include <cstdint>

namespace qlip {

constexpr int kMaxTransposeRank = 8;

// out = transpose(in, perm): out shape[j] = shape[perm[j]]. rank <= kMaxTransposeRank; in and out must not
// overlap. Multi-threaded through the SGEMM pool when the tensor is large.
void transpose(const uint32_t* in, uint32_t* out, const int64_t* shape, const int* perm, int rank);

}  // namespace qlip
