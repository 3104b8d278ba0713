# Project-wide warning flags, applied per target with safrl_warnings(target).
function(safrl_warnings target)
  target_compile_options(${target} PRIVATE -Wall -Wextra -Wpedantic -Wno-unused-parameter)
endfunction()
