{
  "targets": [
    {
      "target_name": "mapped_file",
      "sources": ["mapped_file.cc"],
      "cflags_cc": ["-O2", "-std=c++17", "-Wno-cast-function-type"]
    }
  ]
}
