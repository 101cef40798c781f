{
  "targets": [
    {
      "target_name": "qlip_native",
      "sources": ["native/addon.cc", "native/sgemm.cc", "native/kernels.cc", "native/transpose.cc", "native/elementwise.cc", "native/optim.cc", "native/blas.cc", "native/norm.cc", "native/addon_norm.cc", "native/attention.cc", "native/addon_attention.cc"],
      "depends": ["native/micro.inc", "native/tiles.inc", "native/kernels.h", "native/sgemm.h", "native/transpose.h", "native/elementwise.h", "native/gelu.inc", "native/optim.h", "native/blas.h", "native/norm.h", "native/norm.inc", "native/simd.inc", "native/parallel.h", "native/napi_args.h", "native/per_isa.inc", "native/attention.h", "native/attention.inc"],
      "libraries": ["-ldl"],
      "include_dirs": ["<!(node -p \"require('node-addon-api').include_dir\")"],
      "defines": ["NAPI_VERSION=8", "NAPI_CPP_EXCEPTIONS", "NODE_ADDON_API_DISABLE_DEPRECATED"],
      "cflags!": ["-fno-exceptions"],
      "cflags_cc!": ["-fno-exceptions", "-O2"],
      "cflags_cc": ["-std=c++17", "-O3", "-fexceptions", "-ffp-contract=fast", "-Wno-psabi"],
      "xcode_settings": {
        "GCC_ENABLE_CPP_EXCEPTIONS": "YES",
        "OTHER_CPLUSPLUSFLAGS": ["-std=c++17", "-O3", "-ffp-contract=fast"]
      }
    }
  ]
}
