# SAFRL_SANITIZE=ON builds everything with ASan + UBSan; any report aborts the process so tests fail.
if(SAFRL_SANITIZE)
  add_compile_options(-fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer)
  add_link_options(-fsanitize=address,undefined)
endif()
