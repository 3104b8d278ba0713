# SAFRL_SANITIZE=ON builds everything with ASan + UBSan; any report aborts the process so tests fail.
if(SAFRL_SANITIZE)
  add_compile_options(-fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer)
  add_link_options(-fsanitize=address,undefined)
endif()

# Fuzz builds instrument every target for coverage, so libFuzzer sees inside the libraries too.
if(SAFRL_FUZZ)
  add_compile_options(-fsanitize=fuzzer-no-link)
endif()
