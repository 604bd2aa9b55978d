{
  "targets": [
    {
      "target_name": "bt_native",
      "sources": ["native/bt_native.cc"],
      "include_dirs": ["<!(node -p \"require('node-addon-api').include_dir\")", "<!@(pkg-config --cflags-only-I openblas | sed 's/-I//g')"],
      "libraries": ["<!@(pkg-config --libs openblas)"],
      "defines": ["NAPI_DISABLE_CPP_EXCEPTIONS", "NAPI_VERSION=8"],
      "cflags_cc": ["-O3", "-march=native", "-fno-math-errno", "-fopenmp", "-std=c++17"],
      "ldflags": ["-fopenmp"],
      "cflags_cc!": ["-fno-exceptions"]
    }
  ]
}
